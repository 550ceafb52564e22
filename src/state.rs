//! The one cheap-to-clone state every handler and task shares.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::providers::Providers;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub providers: Providers,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the shutdown grace period is over: live calls then
    /// close their sockets, and Twilio moves the callers to the recording
    /// fallback instead of dropping them.
    pub calls_shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    pub fn new(config: Config, db: Db, providers: Providers) -> Self {
        Self {
            config: Arc::new(config),
            db,
            providers,
            metrics: Arc::new(Metrics::new()),
            calls_shutdown: tokio_util::sync::CancellationToken::new(),
        }
    }
}
