//! Argon2id password hashes. Deliberately slow, so only login and user
//! creation call it — and they call it off the async runtime.
//!
//! Login verifies through a [`Verifier`]: at most [`CONCURRENT_CHECKS`]
//! verifications run at once in the process. Each one holds Argon2's memory
//! (19 MiB by default) for its whole run, so the blocking pool running
//! hundreds of them at once grew the process by about 1 GB; a login that
//! finds every verifier busy is told to retry instead of queueing.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;

/// How many password verifications may run at once, process-wide: enough to
/// keep a few cores busy with honest logins, few enough that their memory
/// (4 × 19 MiB) is no threat.
pub const CONCURRENT_CHECKS: usize = 4;

/// How long a login waits for a free verifier before it is answered 429:
/// long enough to ride out a few honest logins arriving together, short
/// enough that a flood gets its answers at once.
pub const CHECK_QUEUE_WAIT: Duration = Duration::from_millis(100);

/// The shortest password `user create` accepts.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Hashes `password` with Argon2id, a fresh salt and the crate's defaults
/// (OWASP's recommended memory/time cost), as a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| anyhow::anyhow!("cannot encode the salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// True when `password` matches the PHC string `hash` (constant-time compare
/// inside the argon2 crate). A malformed stored hash never matches.
pub fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .and_then(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed))
        .is_ok()
}

/// A hash nobody knows the password of. Login verifies against it when the
/// email is unknown, so that an unknown email costs as much time as a wrong
/// password and response times do not reveal which emails exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let secret: [u8; 16] = rand::random();
        hash(&hex::encode(secret)).unwrap_or_default()
    })
}

/// The bounded set of password verifiers login shares (one per app, held
/// by the auth routes). Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    permits: Arc<Semaphore>,
    queue_wait: Duration,
    metrics: Arc<Metrics>,
}

/// The right to run one verification; see [`Verifier::turn`].
pub struct VerifyTurn {
    permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Verifier {
    /// [`CONCURRENT_CHECKS`] verifiers, counted in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self::with_limits(CONCURRENT_CHECKS, CHECK_QUEUE_WAIT, metrics)
    }

    pub fn with_limits(concurrent: usize, queue_wait: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrent)),
            queue_wait,
            metrics,
        }
    }

    /// A free verifier, waiting at most the queue wait; `None` when all
    /// stayed busy, and then nothing has been hashed.
    pub async fn turn(&self) -> Option<VerifyTurn> {
        let acquire = self.permits.clone().acquire_owned();
        let permit = tokio::time::timeout(self.queue_wait, acquire)
            .await
            .ok()?
            .ok()?;
        Some(VerifyTurn {
            permit,
            metrics: self.metrics.clone(),
        })
    }
}

impl VerifyTurn {
    /// Verifies on the blocking pool; `None` (unknown user) verifies against
    /// the decoy and always answers false.
    pub async fn verify(self, hash: Option<String>, password: String) -> bool {
        let Self { permit, metrics } = self;
        // The permit travels into the blocking task: a client that hangs up
        // drops this future, not the hash, and the slot must stay taken
        // until the hash really ends.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _running = metrics.password_check();
            match hash {
                Some(h) => verify(&h, &password),
                None => {
                    let _ = verify(decoy_hash(), &password);
                    false
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_own_password_and_nothing_else() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&h, "correct horse battery"));
        assert!(!verify(&h, "correct horse batterY"));
        assert!(!verify("not a phc string", "anything"));
    }

    #[tokio::test]
    async fn no_more_turns_than_verifiers_are_handed_out_and_a_finished_one_frees_its_own() {
        let metrics = Arc::new(Metrics::new());
        // No queue wait: a busy verifier answers at once.
        let verifier = Verifier::with_limits(2, Duration::ZERO, metrics.clone());
        let first = verifier.turn().await.expect("a free verifier");
        let second = verifier.turn().await.expect("a free verifier");
        assert!(verifier.turn().await.is_none());
        assert!(!second.verify(None, "guess".into()).await);
        assert_eq!(metrics.password_checks_total.get(), 1);
        assert_eq!(metrics.password_checks_in_flight.get(), 0);
        let third = verifier.turn().await.expect("the finished turn's verifier");
        assert!(verifier.turn().await.is_none());
        drop((first, third));
        assert!(verifier.turn().await.is_some());
    }
}
