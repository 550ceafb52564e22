//! The signature layer in front of every `/webhook/*` route: nothing reaches
//! a handler unless Twilio signed exactly this request.
//!
//! The check itself is [`crate::http::signed_request`], over the public base
//! URL plus the path and query the server received. The body is read once,
//! bounded, verified raw, and only then parsed; the parsed form travels to
//! the handler as [`TwilioParams`].

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::TwilioParams;
use crate::http::signed_request::{SignedRequest, Unverifiable, public_url};
use crate::state::AppState;

/// Largest webhook body accepted. Twilio's voice requests are well under
/// 4 KiB; anything near this is not Twilio.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Verifies the request, then hands it on with its parsed parameters.
pub async fn verify(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path_and_query = req
        .extensions()
        .get::<OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| req.uri().clone());
    let path_and_query = path_and_query
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), ToString::to_string);

    let signed = match SignedRequest::read(&state.config, req.headers(), |base| {
        public_url(base, &path_and_query)
    }) {
        Ok(signed) => signed,
        Err(Unverifiable::NotConfigured) => {
            tracing::warn!(
                path = %req.uri().path(),
                "webhook refused: PUBLIC_BASE_URL/PUBLIC_HOST or TWILIO_AUTH_TOKEN is not configured (fail closed)"
            );
            return forbidden();
        }
        Err(Unverifiable::NoSignature) => {
            tracing::warn!(path = %req.uri().path(), "webhook refused: no X-Twilio-Signature");
            return forbidden();
        }
    };
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("application/json"));
    let declared_too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    if declared_too_big {
        tracing::warn!(path = %req.uri().path(), "webhook refused: body larger than {MAX_BODY_BYTES} bytes");
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }

    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            // Over the limit without a Content-Length, or a broken upload.
            tracing::warn!(path = %parts.uri.path(), "webhook refused: body unreadable or larger than {MAX_BODY_BYTES} bytes");
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
    };

    let params = if is_json {
        Vec::new()
    } else {
        parse_form(&bytes)
    };
    let valid = if is_json {
        signed.validate_with_body(&bytes)
    } else {
        signed.validate(&params)
    };
    if !valid {
        // The SID is unauthenticated here: logged only as a hint, shortened.
        let claimed = params
            .iter()
            .find(|(k, _)| k == "CallSid")
            .map(|(_, v)| super::loggable(v))
            .unwrap_or_default();
        tracing::warn!(
            path = %parts.uri.path(),
            claimed_call_sid = %claimed,
            "webhook refused: invalid X-Twilio-Signature"
        );
        return forbidden();
    }

    parts.extensions.insert(TwilioParams(params));
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Decodes a form body the way Twilio's libraries see it (every pair kept,
/// repeated names included; invalid UTF-8 replaced on both sides alike).
pub fn parse_form(bytes: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// 403 with an empty body: the caller learns nothing about why.
fn forbidden() -> Response {
    StatusCode::FORBIDDEN.into_response()
}
