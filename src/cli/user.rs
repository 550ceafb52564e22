//! `agentlocator user create --email … --role admin|owner|agent [--business ID]`:
//! bootstraps API users before any UI exists.
//!
//! The password comes from `AGENTLOCATOR_PASSWORD` or the first line of
//! stdin — never from an argument, which would leave it in shell history and
//! in `ps` output. Migrations are applied first so a fresh install can create
//! its first admin before the service has ever started.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;

use crate::auth::password;
use crate::config::{Environment, Source as _};
use crate::db::business;
use crate::db::users::{self, Role};

#[derive(Debug, clap::Args)]
pub struct Opts {
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user; prints {"id": …} as JSON. Password: stdin or AGENTLOCATOR_PASSWORD.
    Create(CreateOpts),
}

#[derive(Debug, clap::Args)]
pub struct CreateOpts {
    #[arg(long)]
    pub email: String,
    /// admin (every business), owner or agent (one business each).
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// The business an owner or agent belongs to (not for admins).
    #[arg(long)]
    pub business: Option<i64>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    match opts.command {
        UserCommand::Create(create) => run_create(create).await,
    }
}

fn read_password() -> anyhow::Result<String> {
    if let Some(p) = Environment.get("AGENTLOCATOR_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn run_create(opts: CreateOpts) -> anyhow::Result<()> {
    match (opts.role, opts.business) {
        (Role::Admin, Some(_)) => {
            anyhow::bail!("admins act for every business: leave out --business")
        }
        (Role::Owner | Role::Agent, None) => {
            anyhow::bail!(
                "an {} belongs to one business: pass --business ID",
                opts.role
            )
        }
        _ => {}
    }
    let pw = read_password()?;
    if pw.chars().count() < password::MIN_PASSWORD_LEN {
        anyhow::bail!(
            "the password must be at least {} characters (read from stdin or AGENTLOCATOR_PASSWORD)",
            password::MIN_PASSWORD_LEN
        );
    }

    let db = super::open_database().await?;
    if let Some(id) = opts.business {
        business::get(&db, id)
            .await?
            .with_context(|| format!("there is no business with id {id}"))?;
    }
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw)).await??;
    let user = users::create(&db, &opts.email, &hash, opts.role, opts.business).await?;
    println!(
        "{}",
        serde_json::json!({
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "business_id": user.business_id,
        })
    );
    Ok(())
}
