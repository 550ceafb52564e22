//! Talking to a real `serve` process as Twilio and an operator would:
//! signed webhook posts, a signed media-stream handshake, and the CLI.

use std::time::{Duration, Instant};

use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where a process listens and how Twilio signs for it.
pub struct Twilio<'a> {
    pub token: &'a str,
    /// `PUBLIC_BASE_URL` of the process: what Twilio signs.
    pub public: &'a str,
}

impl Twilio<'_> {
    /// POSTs a form signed as Twilio would; returns the status and body.
    pub async fn post(&self, base: &str, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sig = twilio::signature::compute(self.token, &format!("{}{path}", self.public), &owned);
        let res = reqwest::Client::new()
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", sig)
            .body(serde_urlencoded::to_string(&owned).unwrap())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Opens the media stream of `call_sid` on `base` and sends
    /// `connected` + `start`, as Twilio does after `<Connect><Stream>`.
    pub async fn open_stream(&self, base: &str, call_sid: &str, business_id: &str) -> Socket {
        let mut req = format!("{}/ws/twilio-media", base.replace("http", "ws"))
            .into_client_request()
            .unwrap();
        let signed_url = format!("{}/ws/twilio-media", self.public.replace("https", "wss"));
        let sig = twilio::signature::compute(self.token, &signed_url, &[]);
        req.headers_mut()
            .insert("x-twilio-signature", sig.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let start = twilio::media::Inbound::Start {
            sequence_number: 1,
            start: twilio::media::Start::new("AC1", "MZ1", call_sid)
                .with_parameter("business_id", business_id),
            stream_sid: "MZ1".into(),
        };
        for msg in [
            twilio::media::Inbound::connected().to_json(),
            start.to_json(),
        ] {
            ws.send(Message::Text(msg.into())).await.unwrap();
        }
        ws
    }
}

/// `agentlocator ARGS…` against `database_url`, as an operator runs it in
/// another process than the server; its stdout, once it succeeded.
pub fn cli(dir: &std::path::Path, database_url: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `agentlocator business create` against `database_url`; returns the id.
pub fn create_business(
    dir: &std::path::Path,
    database_url: &str,
    name: &str,
    phone: &str,
) -> String {
    let created = cli(
        dir,
        database_url,
        &["business", "create", "--name", name, "--phone", phone],
    );
    serde_json::from_slice::<serde_json::Value>(&created).unwrap()["id"].to_string()
}

/// Polls another process's work through the shared database: there is
/// nothing in this process to await.
pub async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
