//! A service-account key file for the fake Google: a real, freshly
//! generated RSA key (the Google client signs its JWT with it, so it must
//! parse), and a `token_uri` pointing at the fake's `/token`.

use std::io::{self, Write as _};
use std::path::Path;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

/// Writes a Google service-account JSON to `path` (mode 0600 on Unix: it
/// holds a private key, if a throwaway one), with `token_uri` as the token
/// endpoint, e.g. `http://127.0.0.1:P/token`.
///
/// Generating the RSA-2048 key takes a moment of CPU; call it once, before
/// serving.
///
/// # Errors
/// When the key cannot be generated or the file cannot be written.
pub fn write_google_credentials(path: impl AsRef<Path>, token_uri: &str) -> io::Result<()> {
    let key = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| io::Error::other("RSA key generation failed"))?;
    let der = key
        .as_der()
        .map_err(|_| io::Error::other("RSA key export failed"))?;
    let pem = pem("PRIVATE KEY", der.as_ref());
    let key_id = uuid::Uuid::new_v4().simple().to_string();
    let credentials = json!({
        "type": "service_account",
        "project_id": "agentlocator-fake",
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": "fake-tts@agentlocator-fake.iam.gserviceaccount.com",
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    });
    let mut file = open_private(path.as_ref())?;
    file.write_all(serde_json::to_string_pretty(&credentials)?.as_bytes())?;
    file.write_all(b"\n")
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 is ASCII, so byte chunks are character chunks.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn open_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
