//! Tranzila REST: HMAC-signed request headers and payment-request creation
//! (`POST /v1/pr/create`). The header scheme is confirmed by the published
//! test vector; the payment-request body follows third-party documentation
//! and is unverified: check it against a Tranzila test terminal before use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha256;

use super::check_amount;
use crate::config::{TranzilaConfig, join_url};
use crate::error::ProviderError;
use crate::http::{check_status, read_capped};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const ANSWER_CAP: u64 = 1024 * 1024;

/// What to ask a customer to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Positive amount in minor units (agorot for ILS).
    pub amount_agorot: i64,
    /// ISO currency, `ILS`.
    pub currency: String,
    /// Shown to the payer as the item name.
    pub description: String,
    /// Payer's name, if known.
    pub customer_name: Option<String>,
    /// Payer's phone (E.164), if known.
    pub customer_phone: Option<String>,
    /// Payer's email, if known.
    pub customer_email: Option<String>,
}

/// Tranzila's answer to a successful payment-request creation.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRequestCreated {
    /// The payment request id (`pr_id`), if the answer had one.
    pub id: Option<String>,
    /// The payment link to send the payer (`pr_link`), if the answer had one.
    pub url: Option<String>,
    /// The whole answer, because its shape is not confirmed yet.
    pub raw: Value,
}

/// Client for Tranzila's REST API.
pub struct TranzilaClient {
    cfg: TranzilaConfig,
    http: reqwest::Client,
}

impl std::fmt::Debug for TranzilaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranzilaClient")
            .field("terminal", &self.cfg.terminal)
            .field("base_url", &self.cfg.base_url)
            .finish_non_exhaustive()
    }
}

impl TranzilaClient {
    /// Builds the client on a shared `reqwest::Client`.
    pub fn new(cfg: TranzilaConfig, http: reqwest::Client) -> Self {
        Self { cfg, http }
    }

    /// The four authentication headers for a request made at `now_unix`
    /// with `nonce`: app key, request time, nonce, and the access token
    /// hex(HMAC-SHA256(key = secret + time + nonce, message = app key)).
    pub fn auth_headers(&self, now_unix: u64, nonce: &str) -> [(&'static str, String); 4] {
        let time = now_unix.to_string();
        let key = format!("{}{}{}", self.cfg.secret.expose_secret(), time, nonce);
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(self.cfg.app_key.as_bytes());
        let token = hex::encode(mac.finalize().into_bytes());
        [
            ("X-tranzila-api-app-key", self.cfg.app_key.clone()),
            ("X-tranzila-api-request-time", time),
            ("X-tranzila-api-nonce", nonce.to_owned()),
            ("X-tranzila-api-access-token", token),
        ]
    }

    /// A fresh 80-hex-character nonce.
    pub fn new_nonce() -> String {
        let mut bytes = [0u8; 40];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// Creates a payment request (a payment link) on the configured terminal.
    pub async fn create_payment_request(
        &self,
        req: &PaymentRequest,
    ) -> Result<PaymentRequestCreated, ProviderError> {
        check_amount(req.amount_agorot, &req.currency)?;
        let mut body = json!({
            "terminal_name": self.cfg.terminal,
            "created_via": "TRAPI",
            "items": [{
                "name": req.description,
                "type": "I",
                "units_number": 1,
                // Exact for any realistic amount: f64 holds integers to 2^53.
                "unit_price": req.amount_agorot as f64 / 100.0,
                "currency_code": req.currency,
            }],
        });
        let client: serde_json::Map<String, Value> = [
            ("name", &req.customer_name),
            ("phone_number", &req.customer_phone),
            ("email", &req.customer_email),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), json!(v))))
        .collect();
        if !client.is_empty() {
            body["client"] = Value::Object(client);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ProviderError::Http("system clock before 1970".into()))?
            .as_secs();
        let mut request = self
            .http
            .post(join_url(&self.cfg.base_url, "v1/pr/create"))
            .json(&body)
            .timeout(REQUEST_TIMEOUT);
        for (name, value) in self.auth_headers(now, &Self::new_nonce()) {
            request = request.header(name, value);
        }
        let resp = check_status(request.send().await?).await?;
        let raw: Value = serde_json::from_slice(&read_capped(resp, ANSWER_CAP).await?)
            .map_err(|e| ProviderError::Malformed(format!("Tranzila answer: {e}")))?;
        let code = match raw.get("error_code") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| ProviderError::Malformed("Tranzila answer lacks error_code".into()))?;
        if code != 0 {
            let message = raw
                .get("message")
                .and_then(Value::as_str)
                .map(crate::error::truncate)
                .unwrap_or_default();
            return Err(ProviderError::Rejected { code, message });
        }
        let text = |k: &str| match raw.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(PaymentRequestCreated {
            id: text("pr_id"),
            url: text("pr_link"),
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn client() -> TranzilaClient {
        TranzilaClient::new(
            TranzilaConfig {
                terminal: "test".into(),
                app_key: "pubkey".into(),
                secret: SecretString::from("privkey"),
                base_url: "http://127.0.0.1:9".into(),
            },
            reqwest::Client::new(),
        )
    }

    #[test]
    fn the_access_token_matches_the_published_vector() {
        let h = client().auth_headers(1_700_000_000, "abc123");
        assert_eq!(h[0], ("X-tranzila-api-app-key", "pubkey".to_owned()));
        assert_eq!(h[1].1, "1700000000");
        assert_eq!(h[2].1, "abc123");
        assert_eq!(
            h[3].1,
            "ecb0716079f4ca0eaeb200b15193561328b5d6b67b0af030e279276e472f223f"
        );
    }

    #[test]
    fn nonces_are_80_hex_characters_and_differ() {
        let (a, b) = (TranzilaClient::new_nonce(), TranzilaClient::new_nonce());
        assert_eq!(a.len(), 80);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
