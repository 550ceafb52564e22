//! `agentlocator migrate`: apply missing migrations and say what was done.

use crate::config::Config;
use crate::db::{Db, migrate};

#[derive(Debug, clap::Args)]
pub struct Opts {}

pub async fn run(_opts: Opts) -> anyhow::Result<()> {
    let (config, _) = Config::from_env()?;
    let db = Db::connect(&config.database_url, config.database_max_connections).await?;
    let applied = migrate::run(&db).await?;
    for name in &applied {
        println!("Applied migration: {name}");
    }
    if applied.is_empty() {
        println!("Database is up to date: no migration to apply.");
    }
    Ok(())
}
