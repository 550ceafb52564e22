//! `agentlocator deploy-check --url <base>`: the golden path of MISSION §13
//! against a running instance; exit code 0 only when all eight checks pass.

use std::path::PathBuf;

use url::Url;

use crate::ops::deploy_check::{self, Options};

#[derive(Debug, clap::Args)]
pub struct Opts {
    /// The instance to check, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    pub url: Url,
    /// The instance's Twilio auth token, to sign webhook requests.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: String,
    /// An admin API token (from `POST /api/auth/login`), to manage the check business.
    #[arg(long, env = "DEPLOY_CHECK_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// The instance's PUBLIC_BASE_URL, which Twilio signs (default: --url).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_url: Option<Url>,
    /// A source checkout to audit for legacy imports (default: the current
    /// folder when it is one; otherwise the build's own record is used).
    #[arg(long)]
    pub source: Option<PathBuf>,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let outcomes = deploy_check::run(Options {
        base_url: opts.url,
        public_url: opts.public_url,
        twilio_token: opts.auth_token,
        api_token: opts.api_token,
        source: opts.source,
    })
    .await;
    for o in &outcomes {
        println!("{}", o.line());
        if let Ok(detail) = &o.result {
            eprintln!("   {}: {detail}", o.name);
        }
    }
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", outcomes.len());
    }
    Ok(())
}
