//! Starting and stopping the service: database, migrations, listener, and a
//! graceful shutdown bounded by a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::{Db, migrate};
use crate::state::AppState;

mod listener;

pub use listener::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS};

/// A built service, bound to its port but not yet serving.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    app: axum::Router,
    /// Cancelled once the schema is migrated: the spool replays no earlier.
    schema_ready: CancellationToken,
}

impl Server {
    /// Connects the database, migrates it and binds `0.0.0.0:PORT`
    /// (port 0 picks a free one: tests read it back with [`Server::port`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let providers = crate::providers::Providers::from_config(&config)?;
        let db = Db::connect(&config.database_url, config.database_max_connections).await?;
        let schema_ready = migrate_or_keep_trying(db.clone()).await;
        let addr = SocketAddr::from(([0, 0, 0, 0], config.port));
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on PORT {}", config.port))?;
        let state = AppState::new(config, db, providers);
        // Loaded before the first call, so it is answered from memory; a
        // database that is away now leaves it to the refresh loop.
        if schema_ready.is_cancelled() {
            let load = state.directory.refresh(&state.db);
            match tokio::time::timeout(Duration::from_secs(5), load).await {
                Ok(Ok(n)) => tracing::info!(businesses = n, "business directory loaded"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "business directory not loaded; it loads when the database answers")
                }
                Err(_) => tracing::warn!(
                    "business directory not loaded in time; it loads when the database answers"
                ),
            }
        }
        let app = crate::app::create_app(state.clone());
        Ok(Self {
            listener,
            state,
            app,
            schema_ready,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains:
    /// 1. `/serving` turns 503 so load balancers send new calls elsewhere;
    ///    every webhook and stream is still answered;
    /// 2. live calls go on until they end or the grace period passes; job
    ///    workers finish the job in hand and take no new one;
    /// 3. calls still live are closed on purpose, so Twilio asks this
    ///    instance's `stream_ended` and moves the caller to the recording;
    /// 4. the rows those calls and webhooks left behind are written;
    /// 5. if calls were moved, webhooks are answered for the tail, long
    ///    enough for a recording started at the deadline to be posted;
    /// 6. the listener stops and in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let grace = state.config.shutdown_grace;
        // The job workers and the pruning loop stop with the server; the
        // drop guard also stops them when the server ends on its own (an
        // error).
        let stop_workers = CancellationToken::new();
        let _stop_workers_on_exit = stop_workers.clone().drop_guard();
        let mut workers = crate::jobs::spawn_workers(
            state.clone(),
            crate::jobs::WorkerOptions {
                workers: state.config.job_workers,
                ..crate::jobs::WorkerOptions::default()
            },
            stop_workers.clone(),
        );
        workers.spawn(crate::jobs::prune::run(
            state.db.clone(),
            stop_workers.clone(),
        ));
        // The directory refreshes from when the schema is there until the
        // end: calls answered while draining read it too.
        let (directory, db) = (state.directory.clone(), state.db.clone());
        let _stop_directory_on_exit = once_schema_is_ready(&self.schema_ready, |stop| async move {
            directory.refresh_loop(db, stop).await
        });
        // What an earlier run spooled lands first, then whatever this one
        // spools; it waits for the schema, whose tables the writes need. It
        // runs to the very end: webhooks answered while draining may spool.
        let (spool, db) = (state.spool.clone(), state.db.clone());
        let _stop_spool_on_exit = once_schema_is_ready(&self.schema_ready, |stop| async move {
            spool.replay_loop(db, stop).await
        });
        let stop_listening = CancellationToken::new();
        let mut serving = tokio::spawn(listener::serve(
            self.listener,
            self.app,
            stop_listening.clone(),
        ));
        tokio::select! {
            result = &mut serving => {
                result.context("the listener task failed")?;
                anyhow::bail!("the listener stopped on its own");
            }
            () = shutdown => {}
        }
        state.draining.cancel();
        tracing::info!(
            grace_s = grace.as_secs(),
            live_calls = state.live_calls.len(),
            "draining: new calls go elsewhere; live calls may finish"
        );
        stop_workers.cancel();
        // A job cut off here is not lost: its lease expires and the next
        // start (or another instance) runs it again.
        let workers_done = async { while workers.join_next().await.is_some() {} };
        let live = state.live_calls.clone();
        live.close();
        let (calls_ended, workers_ended) = tokio::join!(
            tokio::time::timeout(grace, live.wait()),
            tokio::time::timeout(grace, workers_done)
        );
        if workers_ended.is_err() {
            tracing::warn!("grace period over; stopping job workers mid-job");
        }
        let moved = if calls_ended.is_err() {
            let moved = live.len();
            tracing::warn!(
                live_calls = moved,
                "grace period over; moving live calls to the recording fallback"
            );
            state.calls_shutdown.cancel();
            if tokio::time::timeout(TASKS_GRACE, live.wait())
                .await
                .is_err()
            {
                tracing::warn!("calls still closing at exit");
            }
            moved
        } else {
            0
        };
        // What calls and webhooks left behind (turn rows of the calls just
        // closed, call rows) is written before the process exits.
        let tasks = state.tasks.clone();
        tasks.close();
        if tokio::time::timeout(TASKS_GRACE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pending = tasks.len(),
                "background writes still running at exit"
            );
        }
        if moved > 0 {
            let tail = state.config.shutdown_tail;
            tracing::info!(
                tail_s = tail.as_secs(),
                "answering webhooks for the recordings of the calls moved"
            );
            tokio::time::sleep(tail).await;
        }
        stop_listening.cancel();
        serving.await.context("the listener task failed")?;
        Ok(())
    }
}

/// How long the last writes of closed calls may take after the grace period.
const TASKS_GRACE: Duration = Duration::from_secs(5);

/// Applies migrations now, or — when the database is unreachable — keeps
/// retrying in the background so the service still starts and `/readyz`
/// says `db: fail` instead of the process crashing. The token is cancelled
/// once the schema is up to date.
/// Spawns the loop `run(stop)` once the schema is ready; it runs until the
/// returned guard is dropped.
fn once_schema_is_ready<F>(
    ready: &CancellationToken,
    run: impl FnOnce(CancellationToken) -> F,
) -> tokio_util::sync::DropGuard
where
    F: Future<Output = ()> + Send + 'static,
{
    let stop = CancellationToken::new();
    let (ready, work) = (ready.clone(), run(stop.clone()));
    let stopped = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = stopped.cancelled() => {}
            () = ready.cancelled() => work.await,
        }
    });
    stop.drop_guard()
}

async fn migrate_or_keep_trying(db: Db) -> CancellationToken {
    let ready = CancellationToken::new();
    match apply_and_log(&db).await {
        Ok(()) => ready.cancel(),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "migrations not applied; database unavailable, retrying in the background"
            );
            let ready = ready.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    if apply_and_log(&db).await.is_ok() {
                        ready.cancel();
                        break;
                    }
                }
            });
        }
    }
    ready
}

async fn apply_and_log(db: &Db) -> anyhow::Result<()> {
    let applied = migrate::run(db).await?;
    for name in &applied {
        tracing::info!(migration = name, "Applied migration: {name}");
    }
    if applied.is_empty() {
        tracing::info!("database schema up to date");
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // The SIGTERM handler is installed now, not when the future is first
    // polled: a SIGTERM that comes right after "listening" is logged must
    // drain the server, not kill it.
    #[cfg(unix)]
    let sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async move {
            match sigterm {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
    }
}
