//! `agentlocator find-duplicates [ROOT]`: print the JSON duplicate report.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Opts {
    /// The folder to scan (default: the current folder).
    #[arg(default_value = ".")]
    pub root: PathBuf,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.root.is_dir(),
        "{} is not a folder",
        opts.root.display()
    );
    // Hashing is blocking file I/O: keep it off the async workers.
    let report =
        tokio::task::spawn_blocking(move || crate::ops::duplicates::scan(&opts.root)).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
