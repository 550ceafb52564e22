//! `agentlocator jobs list|requeue`: see the durable job queue and give a
//! dead job another chance (after fixing what killed it, e.g. a missing
//! OPENAI_API_KEY), so no recorded message stays untranscribed.

use crate::db::jobs;

#[derive(Debug, clap::Args)]
pub struct Opts {
    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Print recent jobs as JSON, newest first.
    List {
        /// Only jobs in this state: queued, running, done or dead.
        #[arg(long, value_parser = ["queued", "running", "done", "dead"])]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue a job again with a fresh attempt count (not while it runs).
    Requeue { id: i64 },
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let db = super::open_database().await?;
    match opts.command {
        JobsCommand::List { status, limit } => {
            let jobs = jobs::list(&db, status.as_deref(), limit.clamp(1, 1000)).await?;
            println!("{}", serde_json::to_string_pretty(&jobs)?);
        }
        JobsCommand::Requeue { id } => {
            anyhow::ensure!(
                jobs::requeue(&db, id).await?,
                "job {id} does not exist or is running right now"
            );
            crate::jobs::wake();
            println!("{}", serde_json::json!({"id": id, "status": "queued"}));
        }
    }
    Ok(())
}
