//! Opaque bearer tokens: 32 random bytes, base64url on the wire, and only
//! their SHA-256 in the database — a leaked table holds no usable token.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// How long a session lives after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// A freshly minted token: `token` goes to the client once, `hash` is stored.
pub struct IssuedToken {
    pub token: String,
    pub hash: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token itself must never reach a log line.
        f.debug_struct("IssuedToken")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// Mints a token from the operating system's CSPRNG (via `rand`'s thread RNG,
/// which is seeded from it and reseeds itself).
pub fn issue() -> IssuedToken {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    IssuedToken { token, hash }
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_never_repeat() {
        let a = issue();
        let b = issue();
        assert_eq!(a.token.len(), 43);
        assert!(
            a.token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash_token(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.token));
    }
}
