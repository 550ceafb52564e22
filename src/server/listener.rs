//! The accept loop: HTTP/1.1 connections (WebSocket upgrades included) with
//! bounds a hostile or broken client cannot stretch.
//!
//! `axum::serve` reads headers and bodies for as long as a client cares to
//! dribble them and accepts every connection it is offered, so a few
//! thousand half-sent requests held the service's memory and sockets
//! indefinitely. Here every connection is cut when its headers take longer
//! than [`HEADER_READ_TIMEOUT`] (which also ends keep-alive connections
//! left idle that long), a body that stalls for [`BODY_READ_TIMEOUT`] gets
//! 408, and at most [`MAX_CONNECTIONS`] HTTP connections are served at
//! once — the rest wait in the kernel's backlog. Twilio and our API clients
//! send a request in milliseconds; these bounds only ever meet slow clients.
//!
//! A connection that upgrades to a media stream leaves the HTTP count when
//! it upgrades: live calls are bounded per business, not here.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

/// A client must send its whole request head within this, and a keep-alive
/// connection idle this long is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body that stops arriving for this long is answered 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// HTTP connections served at once (media streams not counted).
pub const MAX_CONNECTIONS: usize = 4096;
/// How long in-flight requests may take once the listener stops.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `stop` is cancelled, then lets the
/// requests in flight finish for a few seconds.
pub async fn serve(listener: TcpListener, app: Router, stop: CancellationToken) {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        BODY_READ_TIMEOUT,
    ));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let connections = TaskTracker::new();
    loop {
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off a
                    // little rather than spin, and keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service =
            app.clone()
                .map_request(move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Errors here are clients going away or being cut: not ours.
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.cancelled() => {
                    // Finish the request in hand, then close.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(CLOSE_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("dropping the requests still in flight");
    }
}
