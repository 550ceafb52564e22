//! Argon2id password hashes. Deliberately slow, so only login and user
//! creation call it — and they call it off the async runtime.

use std::sync::OnceLock;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

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

/// Verifies on the blocking pool; `None` (unknown user) verifies against the
/// decoy and always answers false.
pub async fn verify_off_runtime(hash: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify(&h, &password),
        None => {
            let _ = verify(decoy_hash(), &password);
            false
        }
    })
    .await
    .unwrap_or(false)
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
}
