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
}

impl AppState {
    pub fn new(config: Config, db: Db, providers: Providers) -> Self {
        Self {
            config: Arc::new(config),
            db,
            providers,
            metrics: Arc::new(Metrics::new()),
        }
    }
}
