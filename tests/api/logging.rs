//! The real binary, run as an operator would: JSON logs, degraded start,
//! log rotation, graceful stop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<Value>,
}

impl Running {
    pub(crate) fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentlocator"));
        cmd.arg("serve")
            .env_clear()
            .env("PORT", "0")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line matching `pred`; every line must be JSON.
    pub(crate) fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                self.seen.push(v.clone());
                if pred(&v) {
                    return v;
                }
            }
        }
        panic!("line never logged; saw {:#?}", self.seen);
    }

    /// Sends SIGTERM, as an orchestrator does, without waiting.
    pub(crate) fn terminate(&self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    }

    /// `kill -9`: no drain, no flush, nothing after it runs.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
        self.terminate();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serve_with_no_environment_warns_for_each_missing_secret_and_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(dir.path(), &[]);
    let listening = server.wait_for(|l| l["msg"] == "AgentLocator listening");
    let port = listening["extra"]["port"].as_u64().unwrap();

    let warned: Vec<String> = server
        .seen
        .iter()
        .filter(|l| l["level"] == "WARN")
        .filter_map(|l| l["extra"]["variable"].as_str().map(String::from))
        .collect();
    for variable in [
        "OPENAI_API_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "TWILIO_AUTH_TOKEN",
        "PAYPAL_CLIENT_ID/PAYPAL_SECRET",
        "TRANZILA_TERMINAL/TRANZILA_APP_KEY/TRANZILA_SECRET",
    ] {
        assert_eq!(
            warned.iter().filter(|w| *w == variable).count(),
            1,
            "{variable}: {warned:?}"
        );
    }
    assert!(
        server
            .seen
            .iter()
            .any(|l| l["msg"] == "✅ health registered")
    );
    assert!(
        server
            .seen
            .iter()
            .any(|l| l["msg"] == "Applied migration: 0001_core"),
        "migrations are logged at startup"
    );
    for line in &server.seen {
        for key in [
            "ts",
            "level",
            "module",
            "path",
            "call_sid",
            "business_id",
            "msg",
        ] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }

    let base = format!("http://127.0.0.1:{port}");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready: Value = reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["openai"], "disabled");
    assert_eq!(ready["tts"], "disabled");
    assert!(
        dir.path().join("data/agentlocator.db").exists(),
        "SQLite file created under data/"
    );

    assert!(server.stop().success(), "SIGTERM is a clean exit");
}

#[tokio::test]
async fn an_invalid_port_stops_startup_with_a_message_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .arg("serve")
        .env_clear()
        .env("PORT", "abc")
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORT"));
}

#[tokio::test]
async fn the_log_file_rotates_by_size_and_keeps_a_bounded_number_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(
        dir.path(),
        &[
            ("LOG_FILE_MAX_BYTES", "2000"),
            ("LOG_FILE_MAX_FILES", "3"),
            ("LOG_LEVEL", "debug"),
        ],
    );
    let port = server.wait_for(|l| l["msg"] == "AgentLocator listening")["extra"]["port"]
        .as_u64()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..80 {
        client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .unwrap();
    }
    assert!(server.stop().success());
    let logs = dir.path().join("logs");
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&"app.log".to_string()), "{names:?}");
    assert!(
        names.contains(&"app.log.1".to_string()),
        "rotated: {names:?}"
    );
    assert!(
        names.len() <= 4,
        "at most the live file and 3 rotated: {names:?}"
    );
    let rotated = std::fs::read_to_string(logs.join("app.log.1")).unwrap();
    for line in rotated.lines() {
        serde_json::from_str::<Value>(line).expect("a rotated file holds whole JSON lines");
    }
}

#[tokio::test]
async fn a_credentials_file_that_is_not_a_key_stops_startup_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.json");
    std::fs::write(&key, r#"{"client_email":"x@y","private_key":"not a key"}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .arg("serve")
        .env_clear()
        .env("PORT", "0")
        .env("GOOGLE_APPLICATION_CREDENTIALS", &key)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GOOGLE_APPLICATION_CREDENTIALS"));
}

#[cfg(unix)]
#[tokio::test]
async fn the_logs_and_the_database_the_service_creates_are_readable_by_its_user_only() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(dir.path(), &[]);
    server.wait_for(|l| l["msg"] == "AgentLocator listening");
    let mode = |path: &str| {
        let meta =
            std::fs::metadata(dir.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        meta.permissions().mode() & 0o777
    };
    assert_eq!(mode("logs"), 0o700, "the log folder");
    assert_eq!(mode("logs/app.log"), 0o600, "the log file");
    assert_eq!(mode("data"), 0o700, "the database folder");
    assert_eq!(mode("data/agentlocator.db"), 0o600, "the database");
    // Migrations have written through the write-ahead log by now.
    assert_eq!(
        mode("data/agentlocator.db-wal"),
        0o600,
        "its write-ahead log"
    );
    assert_eq!(mode("data/agentlocator.db-shm"), 0o600, "its shared memory");
    assert!(server.stop().success());
}
