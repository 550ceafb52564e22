//! Argon2id password hashes. Deliberately slow, so only login, password
//! changes and user creation call it — and they call it off the async
//! runtime.
//!
//! Login and password changes go through a [`Verifier`]: at most
//! [`CONCURRENT_CHECKS`] Argon2 runs at once in the process, on as many
//! threads of their own. Each one holds Argon2's memory (19 MiB by default) for its whole
//! run, so the blocking pool running hundreds of them at once grew the
//! process by about 1 GB; a login that finds every verifier busy is told to
//! retry instead of queueing.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;

/// How many password verifications may run at once, process-wide. Each is
/// CPU-bound, so more than the cores of a small instance (2 here) only
/// queues them; and their memory (2 × 19 MiB, kept for reuse) keeps a burst
/// of wrong logins under the 50 MB the service allows it.
pub const CONCURRENT_CHECKS: usize = 2;

/// How long a login waits for a free verifier before it is answered 429:
/// long enough to ride out a few honest logins arriving together, short
/// enough that a flood gets its answers at once.
pub const CHECK_QUEUE_WAIT: Duration = Duration::from_millis(100);

/// The shortest password `user create` accepts.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Hashes `password` with Argon2id, a fresh salt and the crate's defaults
/// (OWASP's recommended memory/time cost), as a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    hash_in(&mut Vec::new(), password)
}

/// [`hash`] with Argon2's working memory supplied by the caller, as
/// [`verify_in`] does: what `PasswordHasher::hash_password` does, except
/// that it allocates the 19 MiB afresh each time.
fn hash_in(memory: &mut Vec<Block>, password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| anyhow::anyhow!("cannot encode the salt: {e}"))?;
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, out, &mut memory[..])
            .map_err(Into::into)
    })
    .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(&params)
            .map_err(|e| anyhow::anyhow!("cannot encode the Argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// True when `password` matches the PHC string `hash` (constant-time
/// compare). A malformed stored hash never matches.
pub fn verify(hash: &str, password: &str) -> bool {
    verify_in(&mut Vec::new(), hash, password)
}

/// [`verify`] with Argon2's working memory supplied (and grown if need be)
/// by the caller, so a verifier thread reuses one buffer for every check.
/// What `argon2`'s `PasswordVerifier::verify_password` does, step by step,
/// except that it allocates the 19 MiB afresh each time.
fn verify_in(memory: &mut Vec<Block>, hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.version.map(Version::try_from).transpose(),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    // Every block is written before it is read, so what a previous check
    // left in `memory` cannot change this one's result.
    Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
            .map_err(Into::into)
    })
    // `Output`'s equality is constant-time.
    .is_ok_and(|computed| computed == expected)
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
    workers: mpsc::Sender<Job>,
}

/// The right to run one verification; see [`Verifier::turn`].
pub struct VerifyTurn {
    permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
    workers: mpsc::Sender<Job>,
}

/// One check, run on a verifier thread with that thread's Argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

impl Verifier {
    /// [`CONCURRENT_CHECKS`] verifiers, counted in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> std::io::Result<Self> {
        Self::with_limits(CONCURRENT_CHECKS, CHECK_QUEUE_WAIT, metrics)
    }

    pub fn with_limits(
        concurrent: usize,
        queue_wait: Duration,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrent)),
            queue_wait,
            metrics,
            workers: spawn_workers(concurrent)?,
        })
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
            workers: self.workers.clone(),
        })
    }
}

impl VerifyTurn {
    /// Verifies on one of the verifier threads; `None` (unknown user)
    /// verifies against the decoy and always answers false.
    pub async fn verify(self, hash: Option<String>, password: String) -> bool {
        self.run(move |memory| match hash {
            Some(h) => verify_in(memory, &h, &password),
            None => {
                let _ = verify_in(memory, decoy_hash(), &password);
                false
            }
        })
        .await
        .unwrap_or(false)
    }

    /// A password change: verifies `current` against `hash` and, only if it
    /// matches, hashes `new` — both on this turn's thread, so changes count
    /// against the same bound as logins. `Ok(None)`: `current` is wrong.
    pub async fn rehash(
        self,
        hash: String,
        current: String,
        new: String,
    ) -> anyhow::Result<Option<String>> {
        self.run(move |memory| {
            if !verify_in(memory, &hash, &current) {
                return Ok(None);
            }
            hash_in(memory, &new).map(Some)
        })
        .await
        .unwrap_or_else(|| Err(anyhow::anyhow!("the password-check thread gave no answer")))
    }

    /// Runs `work` on a verifier thread with that thread's Argon2 memory;
    /// `None` when no answer came (the threads are gone, or `work` panicked).
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Option<T> {
        let Self {
            permit,
            metrics,
            workers,
        } = self;
        let (answer, answered) = tokio::sync::oneshot::channel();
        // The permit travels with the job: a client that hangs up drops this
        // future, not the hash, and the slot must stay taken until the hash
        // really ends.
        let job: Job = Box::new(move |memory| {
            let running = metrics.password_check();
            let out = work(memory);
            // Free before answering, so the answered caller finds it free.
            drop((running, permit));
            let _ = answer.send(out);
        });
        workers.send(job).ok()?;
        answered.await.ok()
    }
}

/// Starts the threads Argon2 runs on, one per permit, each with its own
/// working memory kept for good; they stop once every `Verifier` is gone.
/// Allocating the 19 MiB per check instead (on the blocking pool, or here)
/// let glibc's arenas fragment and keep them: 12 checks spread over
/// accounts and addresses left the process ~200 MB larger
/// (`SPREAD=1 benches/login_burst.sh`). Now it is at most
/// `count` × 19 MiB, reached once.
fn spawn_workers(count: usize) -> std::io::Result<mpsc::Sender<Job>> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for i in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("password-check-{i}"))
            .spawn(move || {
                let mut memory = Vec::new();
                loop {
                    // The lock is held only while waiting for the next job.
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(job) = next else { return };
                    // A panic loses that one answer (read as "no match"),
                    // not the thread.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
                }
            })?;
    }
    Ok(jobs)
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

    #[test]
    fn reused_memory_gives_every_check_its_own_answer() {
        let a = hash("first password here").unwrap();
        let b = hash("second password here").unwrap();
        let mut memory = Vec::new();
        assert!(verify_in(&mut memory, &a, "first password here"));
        let used = memory.len();
        assert!(!verify_in(&mut memory, &b, "first password here"));
        assert!(verify_in(&mut memory, &b, "second password here"));
        assert!(!verify_in(&mut memory, &a, "second password here"));
        assert!(verify_in(&mut memory, &a, "first password here"));
        assert_eq!(memory.len(), used, "the buffer is reused, not regrown");
    }

    #[test]
    fn a_hash_made_in_reused_memory_verifies_like_any_other() {
        let mut memory = Vec::new();
        let first = hash_in(&mut memory, "first password here").unwrap();
        let second = hash_in(&mut memory, "first password here").unwrap();
        assert_ne!(first, second, "every hash has its own salt");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert!(verify(&first, "first password here"));
        assert!(verify(&second, "first password here"));
        assert!(!verify(&second, "another password"));
    }

    #[tokio::test]
    async fn a_password_change_hashes_the_new_password_only_when_the_current_one_matches() {
        let verifier = Verifier::new(Arc::new(Metrics::new())).unwrap();
        let old = hash("the old password").unwrap();
        let wrong = verifier.turn().await.unwrap();
        let refused = wrong
            .rehash(old.clone(), "a guess".into(), "the new password".into())
            .await
            .unwrap();
        assert_eq!(refused, None);
        let right = verifier.turn().await.unwrap();
        let new = right
            .rehash(old, "the old password".into(), "the new password".into())
            .await
            .unwrap()
            .expect("the current password matched");
        assert!(verify(&new, "the new password"));
        assert!(!verify(&new, "the old password"));
    }

    #[tokio::test]
    async fn no_more_turns_than_verifiers_are_handed_out_and_a_finished_one_frees_its_own() {
        let metrics = Arc::new(Metrics::new());
        // No queue wait: a busy verifier answers at once.
        let verifier = Verifier::with_limits(2, Duration::ZERO, metrics.clone()).unwrap();
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
