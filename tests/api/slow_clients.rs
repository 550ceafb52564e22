//! Slow and idle clients are cut within seconds, and a crowd of them does
//! not slow `/healthz` down.

use std::time::{Duration, Instant};

use agentlocator::server::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; returns what it sent and
/// how long that took.
async fn until_closed(mut conn: TcpStream, started: Instant) -> (String, Duration) {
    let mut got = Vec::new();
    let limit = HEADER_READ_TIMEOUT.max(BODY_READ_TIMEOUT) + Duration::from_secs(10);
    tokio::time::timeout(limit, conn.read_to_end(&mut got))
        .await
        .expect("the server closes the connection")
        .ok();
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn half_sent_requests_are_cut_and_healthz_stays_fast_among_hundreds_of_them() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let mut slow_heads = Vec::new();
    for _ in 0..300 {
        let mut conn = connect(&app).await;
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow_heads.push(conn);
    }
    let mut slow_body = connect(&app).await;
    slow_body
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"email\": \"",
        )
        .await
        .unwrap();
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    let asked = Instant::now();
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "healthz took {:?} among 300 slow clients",
        asked.elapsed()
    );

    // Each connection is watched from now on, so each is timed on its own.
    let watch = |conn| tokio::spawn(until_closed(conn, started));
    let heads: Vec<_> = slow_heads.into_iter().map(watch).collect();
    let body = watch(slow_body);
    let idle = watch(idle);
    for head in heads {
        let (_, after) = head.await.unwrap();
        assert!(
            after < HEADER_READ_TIMEOUT + Duration::from_secs(3),
            "cut after {after:?}"
        );
    }
    let (answer, after) = body.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        after < BODY_READ_TIMEOUT + Duration::from_secs(3),
        "cut after {after:?}"
    );
    let (answer, after) = idle.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        after < HEADER_READ_TIMEOUT + Duration::from_secs(3),
        "idle kept {after:?}"
    );
}
