//! PayPal REST: an OAuth2 client-credentials token (cached) and
//! `POST /v2/checkout/orders` with an idempotency key.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{agorot_to_decimal, check_amount};
use crate::config::{PayPalConfig, join_url};
use crate::error::ProviderError;
use crate::http::{check_status, read_capped};
use crate::token_cache::{Fresh, TokenCache};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const ANSWER_CAP: u64 = 1024 * 1024;

/// A created PayPal order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// PayPal's order id.
    pub id: String,
    /// `CREATED` or `PAYER_ACTION_REQUIRED` on success.
    pub status: String,
    /// Where to send the payer (`approve` or `payer-action` link), if given.
    pub approve_url: Option<String>,
}

/// Client for PayPal Orders v2.
pub struct PayPalClient {
    cfg: PayPalConfig,
    http: reqwest::Client,
    tokens: TokenCache,
}

impl std::fmt::Debug for PayPalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayPalClient")
            .field("base_url", &self.cfg.base_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct OrderAnswer {
    id: String,
    status: String,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Deserialize)]
struct Link {
    rel: String,
    href: String,
}

impl PayPalClient {
    /// Builds the client on a shared `reqwest::Client`.
    pub fn new(cfg: PayPalConfig, http: reqwest::Client) -> Self {
        Self {
            cfg,
            http,
            tokens: TokenCache::new(),
        }
    }

    /// Creates a CAPTURE order for `amount_agorot` in `currency`.
    ///
    /// `request_id` is sent as `PayPal-Request-Id`, so retrying with the same
    /// id cannot create a second order.
    pub async fn create_order(
        &self,
        amount_agorot: i64,
        currency: &str,
        reference_id: &str,
        request_id: &str,
    ) -> Result<Order, ProviderError> {
        check_amount(amount_agorot, currency)?;
        let token = self.tokens.get(|| self.fetch_token()).await?;
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": reference_id,
                "amount": {"currency_code": currency, "value": agorot_to_decimal(amount_agorot)},
            }],
        });
        let resp = self
            .http
            .post(join_url(&self.cfg.base_url, "v2/checkout/orders"))
            .bearer_auth(token.expose_secret())
            .header("PayPal-Request-Id", request_id)
            .json(&body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?;
        let resp = match check_status(resp).await {
            Err(ProviderError::Unauthorized) => {
                self.tokens.invalidate();
                return Err(ProviderError::Unauthorized);
            }
            other => other?,
        };
        let body = read_capped(resp, ANSWER_CAP).await?;
        let order: OrderAnswer = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Malformed(format!("order answer: {e}")))?;
        let approve_url = order
            .links
            .into_iter()
            .find(|l| l.rel == "approve" || l.rel == "payer-action")
            .map(|l| l.href);
        Ok(Order {
            id: order.id,
            status: order.status,
            approve_url,
        })
    }

    async fn fetch_token(&self) -> Result<Fresh, ProviderError> {
        let resp = self
            .http
            .post(join_url(&self.cfg.base_url, "v1/oauth2/token"))
            .basic_auth(&self.cfg.client_id, Some(self.cfg.secret.expose_secret()))
            .form(&[("grant_type", "client_credentials")])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?;
        let resp = check_status(resp).await?;
        let body = read_capped(resp, ANSWER_CAP).await?;
        let t: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Malformed(format!("PayPal token answer: {e}")))?;
        Ok(Fresh {
            token: SecretString::from(t.access_token),
            expires_in: Duration::from_secs(t.expires_in),
        })
    }
}
