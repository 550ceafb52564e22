//! Service-account auth for Google APIs: an RS256-signed JWT exchanged at the
//! key's `token_uri` for an access token, cached until five minutes before it
//! expires. Signing uses aws-lc-rs (the TLS provider already in the tree);
//! the key is parsed once, at startup.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::config::ServiceAccountKey;
use crate::error::{ConfigError, ProviderError};
use crate::http::read_capped;
use crate::token_cache::{Fresh, TokenCache};

/// The only scope Text-to-Speech needs.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses the PEM private key of a service account (PKCS#8, as Google issues
/// them; PKCS#1 is accepted too). Errors never quote the key.
pub(crate) fn parse_signing_key(pem: &SecretString) -> Result<RsaKeyPair, ConfigError> {
    let pem = pem.expose_secret();
    let (der, pkcs1) = pem_body(pem, "PRIVATE KEY")
        .map(|d| (d, false))
        .or_else(|| pem_body(pem, "RSA PRIVATE KEY").map(|d| (d, true)))
        .ok_or_else(|| ConfigError::InvalidKey("private_key is not a PEM private key".into()))?;
    let parsed = if pkcs1 {
        RsaKeyPair::from_der(&der)
    } else {
        RsaKeyPair::from_pkcs8(&der)
    };
    parsed.map_err(|e| ConfigError::InvalidKey(format!("private_key is not a usable RSA key: {e}")))
}

fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

/// Mints and caches access tokens for one service account.
pub(crate) struct GoogleAuth {
    client_email: String,
    token_uri: String,
    key_id: Option<String>,
    signer: RsaKeyPair,
    rng: SystemRandom,
    http: reqwest::Client,
    cache: TokenCache,
}

impl std::fmt::Debug for GoogleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAuth")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    ASSERTION_LIFETIME_SECS
}

impl GoogleAuth {
    pub(crate) fn new(key: &ServiceAccountKey, http: reqwest::Client) -> Result<Self, ConfigError> {
        Ok(Self {
            client_email: key.client_email.clone(),
            token_uri: key.token_uri.clone(),
            key_id: key.private_key_id.clone(),
            signer: parse_signing_key(&key.private_key)?,
            rng: SystemRandom::new(),
            http,
            cache: TokenCache::new(),
        })
    }

    /// A valid access token, refreshed when missing or near expiry.
    pub(crate) async fn token(&self) -> Result<SecretString, ProviderError> {
        self.cache.get(|| self.fetch()).await
    }

    /// Drops the cached token after the API rejected it.
    pub(crate) fn invalidate(&self) {
        self.cache.invalidate();
    }

    /// The signed assertion for `now` (unix seconds).
    pub(crate) fn assertion(&self, now: u64) -> Result<String, ProviderError> {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.signer.public_modulus_len()];
        self.signer
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| ProviderError::Http("could not sign the Google JWT".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    async fn fetch(&self) -> Result<Fresh, ProviderError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ProviderError::Http("system clock before 1970".into()))?
            .as_secs();
        let assertion = self.assertion(now)?;
        let resp = self
            .http
            .post(&self.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .timeout(TOKEN_TIMEOUT)
            .send()
            .await?;
        let status = resp.status();
        // Google answers a rejected assertion (bad key, clock skew, revoked
        // account) with 400 invalid_grant; that is an auth failure, not a bug.
        if status.as_u16() == 400 {
            tracing::warn!(client_email = %self.client_email, "Google token endpoint rejected the service-account assertion");
            return Err(ProviderError::Unauthorized);
        }
        let resp = crate::http::check_status(resp).await?;
        let body = read_capped(resp, 64 * 1024).await?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Malformed(format!("token answer: {e}")))?;
        Ok(Fresh {
            token: SecretString::from(answer.access_token),
            expires_in: Duration::from_secs(answer.expires_in),
        })
    }
}
