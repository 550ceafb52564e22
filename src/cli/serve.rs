//! `agentlocator serve`: run the service until SIGTERM/Ctrl-C.

use crate::config::Config;
use crate::server::{Server, shutdown_signal};

#[derive(Debug, clap::Args)]
pub struct Opts {}

pub async fn run(_opts: Opts) -> anyhow::Result<()> {
    let (config, degraded) = Config::from_env()?;
    let _guard = crate::telemetry::init(&config.log, config.is_development())?;
    for d in &degraded {
        tracing::warn!(variable = d.variable, "{d}");
    }
    let server = Server::build(config).await?;
    let shutdown = shutdown_signal();
    tracing::info!(port = server.port(), "AgentLocator listening");
    server.run_until(shutdown).await
}
