//! Small helpers shared by the HTTP clients: status checking and capped body
//! reads, so every client maps errors the same way and no answer can grow
//! without bound in memory.

use bytes::{Bytes, BytesMut};
use reqwest::Response;

use crate::error::{ProviderError, status_error};

/// Error bodies are only read for their message; more than this is noise.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// Passes a successful answer through; turns any other into a typed error
/// after reading (a capped amount of) its body for the provider's message.
pub(crate) async fn check_status(resp: Response) -> Result<Response, ProviderError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    // A body that fails to arrive must not hide the status we already have.
    let body = read_capped(resp, ERROR_BODY_CAP as u64)
        .await
        .unwrap_or_default();
    Err(status_error(status, &headers, &body))
}

/// Reads a body, failing with [`ProviderError::TooLarge`] as soon as it is
/// known to exceed `cap` (from `Content-Length`, or while streaming).
pub(crate) async fn read_capped(mut resp: Response, cap: u64) -> Result<Bytes, ProviderError> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(ProviderError::TooLarge { limit_bytes: cap });
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(ProviderError::TooLarge { limit_bytes: cap });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
