//! Failed-login limiting, counted in the database so every instance of the
//! service shares one count. The rows live in `crate::db::login_attempts`;
//! the rules live here.
//!
//! An attempt is counted *before* its password is checked:
//! [`LoginLimiter::reserve`] counts the other attempts in the window and
//! records this one in a single transaction that attempts at the same
//! account or address run one at a time, so a burst of any size lets
//! through at most the limit — the check-then-hash-then-record order it
//! replaces let 300 concurrent guesses run 65 Argon2 verifications. A
//! refused attempt writes nothing. A wrong password leaves its row as a
//! failure; a right one clears the pair's rows.
//!
//! Three limits, so that an attacker at one address cannot lock the owner
//! out everywhere:
//! - per **(account, address)** pair: a few guesses, then that address waits
//!   for the oldest to leave the window — the owner at another address is
//!   not affected;
//! - per **address**, across accounts: an office behind one NAT still has
//!   room, a spray over many accounts does not;
//! - per **account**, across addresses: past a threshold each further
//!   attempt waits twice as long after the latest one, up to a cap. Many
//!   addresses are slowed together, never locked for good: the wait is
//!   capped and failures age out of the window.
//!
//! IPv6 clients are counted by their /64: one host usually holds a whole one,
//! and counting single addresses would give it 2^64 budgets.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::db::login_attempts::{self, AttemptCounts};
use crate::db::users::normalize_email;

/// How often an instance deletes the attempts that have left the window.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The limits; [`Policy::default`] is what the service runs with.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How long a failure counts.
    pub window: Duration,
    /// Failures per (account, address) pair in the window.
    pub per_pair: i64,
    /// Failures per address, across accounts, in the window.
    pub per_address: i64,
    /// Failures per account, across addresses, before backoff starts. Above
    /// `per_pair`, so that one address alone never slows the account.
    pub account_backoff_after: i64,
    /// The first backoff wait; each further failure doubles it.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for Policy {
    /// 5 per pair and 20 per address in 15 minutes (an office behind one
    /// NAT address still has room for a few mistyped passwords); an account
    /// is slowed after 10 failures from anywhere, 1 s doubling to 5 min.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            per_pair: 5,
            per_address: 20,
            account_backoff_after: 10,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(5 * 60),
        }
    }
}

/// Which limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Pair,
    Address,
    Account,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Pair => "pair",
            Limit::Address => "address",
            Limit::Account => "account",
        }
    }
}

/// Why and for how long an attempt is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub limit: Limit,
    pub wait: Duration,
    /// The account's failures in the window, from every address.
    pub account_failures: i64,
}

/// A counted attempt, before its password is checked. Leaving it alone
/// keeps it as a failure; see [`LoginLimiter::release`] and
/// [`LoginLimiter::succeeded`].
#[derive(Debug)]
#[must_use = "an attempt is a failure until released or succeeded"]
pub struct Reservation {
    id: i64,
    account_key: String,
    address: String,
}

/// The outcome of [`LoginLimiter::reserve`].
#[derive(Debug)]
pub enum Reserve {
    Granted(Reservation),
    Refused(Refusal),
}

#[derive(Debug, Default)]
pub struct LoginLimiter {
    policy: Policy,
    last_prune_ms: AtomicI64,
}

impl LoginLimiter {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            last_prune_ms: AtomicI64::new(0),
        }
    }

    /// Counts an attempt at `email` from `ip` at `now_ms` (Unix ms), or
    /// refuses it without counting it.
    pub async fn reserve(
        &self,
        db: &Db,
        email: &str,
        ip: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Reserve, sqlx::Error> {
        self.prune_now_and_then(db, now_ms).await;
        let account_key = account_key(email);
        let address = address_key(ip);
        let since_ms = now_ms - duration_ms(self.policy.window);
        let counted =
            login_attempts::insert_unless(db, &account_key, &address, now_ms, since_ms, |others| {
                decide(&self.policy, others, ip.is_some(), now_ms)
            })
            .await?;
        Ok(match counted {
            Ok(id) => Reserve::Granted(Reservation {
                id,
                account_key,
                address,
            }),
            Err(refusal) => Reserve::Refused(refusal),
        })
    }

    /// Withdraws an attempt whose password was never checked.
    pub async fn release(&self, db: &Db, reservation: Reservation) -> Result<(), sqlx::Error> {
        login_attempts::delete(db, reservation.id).await
    }

    /// A right password: the account's failures from this address are
    /// forgotten. Those from other addresses stay, so the owner logging in
    /// does not hand an attacker elsewhere a fresh budget.
    pub async fn succeeded(&self, db: &Db, reservation: Reservation) -> Result<(), sqlx::Error> {
        login_attempts::clear_pair(db, &reservation.account_key, &reservation.address).await
    }

    /// Deletes what has left the window, at most once per [`PRUNE_EVERY`]
    /// per instance, so the table stays the size of one window.
    async fn prune_now_and_then(&self, db: &Db, now_ms: i64) {
        let last = self.last_prune_ms.load(Ordering::Relaxed);
        if now_ms - last < duration_ms(PRUNE_EVERY)
            || self
                .last_prune_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let before_ms = now_ms - duration_ms(self.policy.window);
        if let Err(e) = login_attempts::prune(db, before_ms).await {
            // The next prune catches up; logins need not fail for this.
            tracing::warn!(error = %e, "cannot prune old login attempts");
        }
    }
}

/// Whether an attempt may go on, given the *other* attempts in the window.
/// When several limits refuse, the longest wait is the one reported.
pub fn decide(
    policy: &Policy,
    others: &AttemptCounts,
    address_known: bool,
    now_ms: i64,
) -> Option<Refusal> {
    let window_ms = duration_ms(policy.window);
    let until_oldest_leaves =
        |oldest: Option<i64>| oldest.map_or(0, |oldest| oldest + window_ms - now_ms);
    let mut refusals = Vec::with_capacity(3);
    if others.pair >= policy.per_pair {
        refusals.push((Limit::Pair, until_oldest_leaves(others.pair_oldest_ms)));
    }
    if address_known && others.address >= policy.per_address {
        refusals.push((
            Limit::Address,
            until_oldest_leaves(others.address_oldest_ms),
        ));
    }
    if let (Some(delay), Some(latest)) = (backoff(policy, others.account), others.account_latest_ms)
    {
        let ready_at = latest + duration_ms(delay);
        if now_ms < ready_at {
            refusals.push((Limit::Account, ready_at - now_ms));
        }
    }
    refusals
        .into_iter()
        .max_by_key(|(_, wait_ms)| *wait_ms)
        .map(|(limit, wait_ms)| Refusal {
            limit,
            // Never zero: a 429 must ask for some wait.
            wait: Duration::from_millis(wait_ms.max(1).unsigned_abs()),
            account_failures: others.account,
        })
}

/// How long after the latest failure the account's next attempt must wait,
/// once it has `failures` in the window; `None` below the threshold.
pub fn backoff(policy: &Policy, failures: i64) -> Option<Duration> {
    let doublings = failures.checked_sub(policy.account_backoff_after)?;
    if doublings < 0 {
        return None;
    }
    // Too many to count is as long as the cap.
    let doublings = u32::try_from(doublings).unwrap_or(u32::MAX);
    Some(
        2u32.checked_pow(doublings)
            .and_then(|factor| policy.backoff_base.checked_mul(factor))
            .map_or(policy.backoff_cap, |d| d.min(policy.backoff_cap)),
    )
}

/// The stored key of an account: the SHA-256 of the normalised email, so
/// the table never holds what someone typed (sometimes a password).
pub fn account_key(email: &str) -> String {
    hex::encode(Sha256::digest(normalize_email(email).as_bytes()))
}

/// The stored key of an address: IPv4 as is, IPv6 by its /64, `""` unknown.
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => String::new(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// Now, as the Unix milliseconds the table stores.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const MINUTE: i64 = 60_000;

    fn policy() -> Policy {
        Policy::default()
    }

    #[test]
    fn a_pair_at_its_limit_waits_for_its_oldest_failure_to_leave_the_window() {
        let others = AttemptCounts {
            pair: 5,
            pair_oldest_ms: Some(NOW - 5 * MINUTE),
            address: 5,
            address_oldest_ms: Some(NOW - 5 * MINUTE),
            account: 5,
            account_latest_ms: Some(NOW - MINUTE),
        };
        let refusal = decide(&policy(), &others, true, NOW).unwrap();
        assert_eq!(refusal.limit, Limit::Pair);
        assert_eq!(refusal.wait, Duration::from_secs(10 * 60));
        let below = AttemptCounts { pair: 4, ..others };
        assert_eq!(decide(&policy(), &below, true, NOW), None);
    }

    #[test]
    fn an_address_at_its_limit_is_refused_for_every_account_unless_it_is_unknown() {
        let others = AttemptCounts {
            address: 20,
            address_oldest_ms: Some(NOW - 14 * MINUTE),
            ..AttemptCounts::default()
        };
        let refusal = decide(&policy(), &others, true, NOW).unwrap();
        assert_eq!(refusal.limit, Limit::Address);
        assert_eq!(refusal.wait, Duration::from_secs(60));
        assert_eq!(decide(&policy(), &others, false, NOW), None);
    }

    #[test]
    fn an_account_attacked_from_many_addresses_waits_twice_as_long_after_each_failure() {
        let at = |failures: i64| AttemptCounts {
            account: failures,
            account_latest_ms: Some(NOW),
            ..AttemptCounts::default()
        };
        assert_eq!(decide(&policy(), &at(9), true, NOW), None);
        let waits: Vec<_> = (10..14)
            .map(|n| decide(&policy(), &at(n), true, NOW).unwrap())
            .inspect(|r| assert_eq!(r.limit, Limit::Account))
            .map(|r| r.wait.as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8]);
        // Once the wait has passed since the latest failure, one more try.
        assert_eq!(decide(&policy(), &at(12), true, NOW + 4_000), None);
    }

    #[test]
    fn the_account_backoff_is_capped_so_it_never_becomes_a_lock() {
        assert_eq!(backoff(&policy(), 9), None);
        assert_eq!(backoff(&policy(), 10), Some(Duration::from_secs(1)));
        assert_eq!(backoff(&policy(), 18), Some(Duration::from_secs(256)));
        assert_eq!(backoff(&policy(), 19), Some(Duration::from_secs(300)));
        assert_eq!(backoff(&policy(), i64::MAX), Some(Duration::from_secs(300)));
    }

    #[test]
    fn the_longest_wait_is_reported_when_several_limits_refuse() {
        let others = AttemptCounts {
            pair: 5,
            pair_oldest_ms: Some(NOW - 14 * MINUTE),
            address: 25,
            address_oldest_ms: Some(NOW - MINUTE),
            account: 11,
            account_latest_ms: Some(NOW),
        };
        let refusal = decide(&policy(), &others, true, NOW).unwrap();
        assert_eq!(refusal.limit, Limit::Address);
        assert_eq!(refusal.wait, Duration::from_secs(14 * 60));
        assert_eq!(refusal.account_failures, 11);
    }

    #[test]
    fn accounts_are_keyed_without_case_padding_or_the_email_itself() {
        let key = account_key("  Dana@Example.COM ");
        assert_eq!(key, account_key("dana@example.com"));
        assert_eq!(key.len(), 64);
        assert!(!key.contains("dana"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(Some(a)), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(Some(mapped)), "192.0.2.7");
        assert_eq!(address_key(None), "");
    }
}
