//! The command line: one enum of subcommands, one file each.

pub mod business;
pub mod deploy_check;
pub mod fake_providers;
pub mod find_duplicates;
pub mod jobs;
pub mod migrate;
pub mod serve;
pub mod simulate_call;
pub mod user;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "agentlocator",
    version,
    about = "AgentLocator: the AI receptionist that answers the phone in Hebrew"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP/WebSocket service on $PORT.
    Serve(serve::Opts),
    /// Apply the database migrations that are missing, then exit.
    Migrate(migrate::Opts),
    /// Register and change businesses (before any UI exists).
    Business(business::Opts),
    /// Create API users (the password is read from stdin).
    User(user::Opts),
    /// Call a running instance as Twilio would, with a WAV file as the caller.
    SimulateCall(simulate_call::Opts),
    /// Serve fake OpenAI-compatible and Google TTS APIs for offline calls.
    FakeProviders(fake_providers::Opts),
    /// Report identical files (SHA-256) and the copy to keep; never deletes.
    FindDuplicates(find_duplicates::Opts),
    /// Run the golden path against a running instance and print ✅/❌.
    DeployCheck(deploy_check::Opts),
    /// Inspect background jobs and re-queue dead ones.
    Jobs(jobs::Opts),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(opts) => serve::run(opts).await,
            Command::Migrate(opts) => migrate::run(opts).await,
            Command::Business(opts) => business::run(opts).await,
            Command::User(opts) => user::run(opts).await,
            Command::SimulateCall(opts) => simulate_call::run(opts).await,
            Command::FakeProviders(opts) => fake_providers::run(opts).await,
            Command::FindDuplicates(opts) => find_duplicates::run(opts).await,
            Command::DeployCheck(opts) => deploy_check::run(opts).await,
            Command::Jobs(opts) => jobs::run(opts).await,
        }
    }
}

/// The database from `DATABASE_URL`, migrated: an admin command may be the
/// first thing run against a fresh install. Progress goes to stderr so that
/// stdout stays the command's JSON.
pub async fn open_database() -> anyhow::Result<crate::db::Db> {
    use anyhow::Context as _;
    let (config, _) = crate::config::Config::from_env()?;
    let db = crate::db::Db::connect(&config.database_url, config.database_max_connections).await?;
    for name in crate::db::migrate::run(&db)
        .await
        .context("cannot migrate the database")?
    {
        eprintln!("Applied migration: {name}");
    }
    Ok(db)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
