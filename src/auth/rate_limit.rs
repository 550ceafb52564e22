//! Failed-login limiting, per account and per client address, in memory.
//!
//! A sliding window of failure instants per key. Once a key holds the
//! maximum, every login attempt for it — right password or not — is refused
//! until the oldest failure leaves the window, so guessing cannot continue
//! and a correct guess is not confirmed either. Each instance of the service
//! counts on its own; with N instances an attacker gets at most N times the
//! budget, which is acceptable for a login form. The address is the TCP peer:
//! `X-Forwarded-For` is not trusted because nothing here knows which proxies
//! are ours, and a forged header would otherwise reset the limit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked keys, expired ones are swept on the next failure,
/// so a stream of made-up emails cannot grow the map without bound.
const SWEEP_ABOVE_KEYS: usize = 10_000;

#[derive(Debug)]
pub struct LoginLimiter {
    window: Duration,
    per_account: usize,
    per_address: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for LoginLimiter {
    /// 5 failures per account and 20 per address in 15 minutes: an office
    /// behind one NAT address still has room for a few mistyped passwords.
    fn default() -> Self {
        Self::new(Duration::from_secs(15 * 60), 5, 20)
    }
}

impl LoginLimiter {
    pub fn new(window: Duration, per_account: usize, per_address: usize) -> Self {
        Self {
            window,
            per_account,
            per_address,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, ip: Option<IpAddr>) -> [(Option<String>, bool); 2] {
        [
            (Some(format!("email:{}", email.trim().to_lowercase())), true),
            (ip.map(|ip| format!("ip:{ip}")), false),
        ]
    }

    /// `Err(retry_after)` when the account or the address is over its limit.
    pub fn check(&self, email: &str, ip: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, is_account) in Self::keys(email, ip) {
            let Some(key) = key else { continue };
            let Some(times) = map.get_mut(&key) else {
                continue;
            };
            self.expire(times, now);
            let limit = if is_account {
                self.per_account
            } else {
                self.per_address
            };
            if times.len() >= limit
                && let Some(oldest) = times.front()
            {
                wait = wait.max(self.window.saturating_sub(now.duration_since(*oldest)));
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts one failed attempt against the account and the address.
    pub fn record_failure(&self, email: &str, ip: Option<IpAddr>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_ABOVE_KEYS {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < self.window)
            });
        }
        for (key, _) in Self::keys(email, ip) {
            let Some(key) = key else { continue };
            let times = map.entry(key).or_default();
            self.expire(times, now);
            times.push_back(now);
        }
    }

    /// A successful login clears the account's failures (not the address's:
    /// one good password must not buy more guesses at other accounts).
    pub fn record_success(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("email:{}", email.trim().to_lowercase()));
    }

    fn expire(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));

    #[test]
    fn an_account_is_locked_after_its_failures_until_the_oldest_leaves_the_window() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 3, 100);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limiter.check("a@x.il", IP, t0).is_ok());
            limiter.record_failure("a@x.il", IP, t0 + Duration::from_secs(i));
        }
        let wait = limiter
            .check("A@X.IL", IP, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Another account from the same address is still allowed.
        assert!(limiter.check("b@x.il", IP, t0).is_ok());
        assert!(
            limiter
                .check("a@x.il", IP, t0 + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_locked_after_failures_across_many_accounts() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 100, 4);
        let t0 = Instant::now();
        for i in 0..4 {
            limiter.record_failure(&format!("u{i}@x.il"), IP, t0);
        }
        assert!(limiter.check("fresh@x.il", IP, t0).is_err());
        assert!(limiter.check("fresh@x.il", None, t0).is_ok());
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 2, 3);
        let t0 = Instant::now();
        limiter.record_failure("a@x.il", IP, t0);
        limiter.record_failure("a@x.il", IP, t0);
        limiter.record_success("a@x.il");
        assert!(limiter.check("a@x.il", None, t0).is_ok());
        limiter.record_failure("b@x.il", IP, t0);
        assert!(limiter.check("c@x.il", IP, t0).is_err());
    }
}
