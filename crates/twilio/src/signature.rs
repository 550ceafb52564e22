//! Twilio request signatures (`X-Twilio-Signature`): computing them and
//! validating incoming ones, including the port quirk, auth-token rotation
//! and JSON bodies signed through `bodySHA256`. Extracting the public URL and
//! the form parameters from an HTTP request is the caller's job; nothing
//! here knows about HTTP.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Computes the signature Twilio sends for a request to `url` carrying the
/// form parameters `params`, keyed with `auth_token`.
///
/// `url` must be the full public URL Twilio requested, query string
/// included. Parameters are sorted by name, then value (byte order); a
/// repeated `(name, value)` pair counts once, as in the official helper
/// libraries. Pass no parameters for GET requests, JSON bodies and the Media
/// Streams WebSocket handshake.
#[must_use]
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Tells whether `signature` is one Twilio would send for this request under
/// any of `tokens`.
///
/// Several tokens exist so that requests keep validating while the auth
/// token is rotated (primary, then secondary). Besides the URL as given,
/// the URL with its port removed and with the scheme's default port added
/// are tried, because Twilio is not consistent about which one it signs.
/// An empty token list or an empty signature never validates.
#[must_use]
pub fn validate(tokens: &[&str], url: &str, params: &[(String, String)], signature: &str) -> bool {
    if signature.is_empty() {
        return false;
    }
    let variants = url_variants(url);
    tokens.iter().any(|token| {
        variants.iter().any(|variant| {
            let expected = compute(token, variant, params);
            bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
        })
    })
}

/// Validates a request whose body is JSON rather than a form.
///
/// Twilio then adds `bodySHA256=<hex sha256 of the raw body>` to the query
/// string and signs the URL alone, so both must hold: the signature over
/// `url` with no parameters, and the hash of `raw_body` matching that single
/// query value. A URL without `bodySHA256` (or with it twice) never
/// validates: the body would otherwise go unauthenticated.
#[must_use]
pub fn validate_with_body(tokens: &[&str], url: &str, raw_body: &[u8], signature: &str) -> bool {
    // Both checks always run, so the timing does not tell which one failed.
    let body_ok = body_hash_matches(url, raw_body);
    let signature_ok = validate(tokens, url, &[], signature);
    body_ok & signature_ok
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut mac =
        HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

fn body_hash_matches(url: &str, raw_body: &[u8]) -> bool {
    let Some(query) = query_of(url) else {
        return false;
    };
    let mut claimed = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "bodySHA256")
        .map(|(_, value)| value);
    let (Some(claimed), None) = (claimed.next(), claimed.next()) else {
        return false;
    };
    let Ok(claimed) = hex::decode(claimed.as_bytes()) else {
        return false;
    };
    let actual = Sha256::digest(raw_body);
    bool::from(actual[..].ct_eq(&claimed))
}

fn query_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once('?')?;
    Some(rest.split_once('#').map_or(rest, |(query, _)| query))
}

/// The URLs Twilio may have signed for a request to `url`: as given, plus
/// without its port when it has one, or with the scheme's default port when
/// it has none.
///
/// The URL is edited as text, not through a URL parser, because a parser
/// normalises (drops `:443`, re-encodes the query) and the signature is over
/// the exact bytes.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some(authority) = authority_span(url) else {
        return variants;
    };
    let host_port = &url[authority.clone()];
    // Userinfo may contain ':' too; the port can only follow the host.
    let host_start = host_port.rfind('@').map_or(0, |at| at + 1);
    // An IPv6 literal is bracketed; a port can only come after ']'.
    let search_from = host_port[host_start..]
        .rfind(']')
        .map_or(host_start, |bracket| host_start + bracket);
    let port_colon = host_port[search_from..]
        .rfind(':')
        .map(|colon| search_from + colon)
        .filter(|&colon| {
            let digits = &host_port[colon + 1..];
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        });
    match port_colon {
        Some(colon) => {
            let mut without = String::with_capacity(url.len());
            without.push_str(&url[..authority.start + colon]);
            without.push_str(&url[authority.end..]);
            variants.push(without);
        }
        None => {
            let scheme = &url[..url.find("://").unwrap_or(0)];
            if let Some(port) = default_port(scheme) {
                let mut with = String::with_capacity(url.len() + 4);
                with.push_str(&url[..authority.end]);
                with.push(':');
                with.push_str(port);
                with.push_str(&url[authority.end..]);
                variants.push(with);
            }
        }
    }
    variants
}

/// Byte range of the authority (`userinfo@host:port`) inside `url`.
fn authority_span(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let len = url[start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - start);
    (len > 0).then_some(start..start + len)
}

fn default_port(scheme: &str) -> Option<&'static str> {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some("443")
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some("80")
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
