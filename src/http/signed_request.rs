//! One check that a request comes from Twilio, for webhooks and the media WebSocket handshake.
//!
//! The URL Twilio signed is rebuilt from the configured public base URL
//! (`PUBLIC_BASE_URL`/`PUBLIC_HOST`), never from `Host` or `X-Forwarded-*`,
//! which a caller controls. No configuration means nothing validates (fail
//! closed); there is no bypass of any kind.

use axum::http::HeaderMap;
use url::Url;

use crate::config::Config;

/// The signature header Twilio sends.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Why a request's signature cannot even be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unverifiable {
    /// No public base URL or no auth token is configured.
    NotConfigured,
    /// The request carries no (or an empty) `X-Twilio-Signature`.
    NoSignature,
}

/// A request's claim to be signed by Twilio, read before its body.
pub struct SignedRequest<'a> {
    tokens: Vec<&'a str>,
    url: String,
    signature: String,
}

impl<'a> SignedRequest<'a> {
    /// Reads the claim: `signed_url` turns the public base URL into the URL
    /// Twilio signed for this request, and the signature comes from
    /// `headers`.
    pub fn read(
        config: &'a Config,
        headers: &HeaderMap,
        signed_url: impl FnOnce(&Url) -> String,
    ) -> Result<Self, Unverifiable> {
        let tokens = config.twilio.signing_tokens();
        let Some(base) = config
            .public_base_url
            .as_ref()
            .filter(|_| !tokens.is_empty())
        else {
            return Err(Unverifiable::NotConfigured);
        };
        let signature = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .ok_or(Unverifiable::NoSignature)?;
        Ok(Self {
            url: signed_url(base),
            signature: signature.to_owned(),
            tokens,
        })
    }

    /// Whether Twilio signed this URL with these form parameters (none for a
    /// GET or the WebSocket handshake).
    pub fn validate(&self, params: &[(String, String)]) -> bool {
        twilio::signature::validate(&self.tokens, &self.url, params, &self.signature)
    }

    /// Whether Twilio signed this URL for this JSON body (`bodySHA256`).
    pub fn validate_with_body(&self, raw_body: &[u8]) -> bool {
        twilio::signature::validate_with_body(&self.tokens, &self.url, raw_body, &self.signature)
    }
}

/// The URL Twilio signed for an HTTP request: the public base URL plus the
/// path and query the server received.
pub fn public_url(base: &Url, path_and_query: &str) -> String {
    format!("{}{path_and_query}", base.as_str().trim_end_matches('/'))
}
