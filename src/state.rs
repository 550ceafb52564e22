//! The one cheap-to-clone state every handler and task shares.

use std::sync::Arc;

use crate::answered::AnsweredCalls;
use crate::call_actions::CallActions;
use crate::config::Config;
use crate::db::Db;
use crate::directory::Directory;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::spool::Spool;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub providers: Providers,
    pub metrics: Arc<Metrics>,
    /// Every business by number and id, in memory: call setup reads it
    /// instead of the database.
    pub directory: Directory,
    /// The calls this instance answered lately, for their streams.
    pub answered: AnsweredCalls,
    /// What the call engine armed for the end of a call's stream (transfer
    /// or hangup), for `stream_ended`.
    pub call_actions: CallActions,
    /// Writes callers depend on that the database could not take in time,
    /// on disk until it can (`config.spool_dir`).
    pub spool: Spool,
    /// Cancelled when the shutdown grace period is over: live calls then
    /// close their sockets, and Twilio moves the callers to the recording
    /// fallback instead of dropping them.
    pub calls_shutdown: tokio_util::sync::CancellationToken,
    /// Every task a call or a webhook leaves behind (turn rows, call rows
    /// written after the answer). `serve` waits for them at shutdown; tests
    /// await them with [`AppState::background_settled`] instead of polling.
    pub tasks: tokio_util::task::TaskTracker,
    /// Every live media stream, so a draining instance can wait for its
    /// calls to end before it closes them.
    pub live_calls: tokio_util::task::TaskTracker,
    /// Cancelled when the instance starts draining: it still answers every
    /// webhook and stream it has, but tells load balancers (`GET /serving`)
    /// to send new calls elsewhere.
    pub draining: tokio_util::sync::CancellationToken,
}

impl AppState {
    pub fn new(config: Config, db: Db, providers: Providers) -> Self {
        Self {
            spool: Spool::open(&config.spool_dir),
            config: Arc::new(config),
            db,
            providers,
            metrics: Arc::new(Metrics::new()),
            directory: Directory::default(),
            answered: AnsweredCalls::default(),
            call_actions: CallActions::default(),
            calls_shutdown: tokio_util::sync::CancellationToken::new(),
            tasks: tokio_util::task::TaskTracker::new(),
            live_calls: tokio_util::task::TaskTracker::new(),
            draining: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Resolves once every media stream open now has ended and every
    /// background task spawned so far (theirs included) has finished. New
    /// ones may start meanwhile and afterwards.
    pub async fn background_settled(&self) {
        self.live_calls.close();
        self.live_calls.wait().await;
        self.live_calls.reopen();
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}
