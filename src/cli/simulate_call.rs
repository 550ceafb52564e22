//! `agentlocator simulate-call` (filled by its issue).

#[derive(Debug, clap::Args)]
pub struct Opts {}

pub async fn run(_opts: Opts) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
