//! `agentlocator business …`: register and change businesses from the
//! command line, so an operator can take a first call before any UI exists.
//!
//! Uses the same validation as the API (`PhoneNumber::parse` for E.164,
//! `db::business` for unique numbers and non-empty names). Output is JSON on
//! stdout; anything else goes to stderr.

use anyhow::Context as _;

use crate::db::Db;
use crate::db::business::{self, BusinessPatch, WriteError};
use crate::domain::PhoneNumber;

#[derive(Debug, clap::Args)]
pub struct Opts {
    #[command(subcommand)]
    pub command: BusinessCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BusinessCommand {
    /// Register a business; prints {"id": …}.
    Create {
        /// The business's name.
        #[arg(long)]
        name: String,
        /// The Twilio number callers dial, E.164 (+972…) or Israeli national.
        #[arg(long)]
        phone: String,
    },
    /// Change a business; prints it as JSON. Flags left out stay as they are;
    /// an empty text value clears it.
    Update {
        /// The business id.
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        greeting: Option<String>,
        #[arg(long)]
        system_prompt: Option<String>,
        /// Google TTS voice, e.g. he-IL-Wavenet-A.
        #[arg(long)]
        voice: Option<String>,
        #[arg(long)]
        end_of_turn_ms: Option<i64>,
        #[arg(long, action = clap::ArgAction::Set)]
        active: Option<bool>,
        #[arg(long, action = clap::ArgAction::Set)]
        enable_calls_stream: Option<bool>,
        #[arg(long, action = clap::ArgAction::Set)]
        enable_recording_fallback: Option<bool>,
        #[arg(long, action = clap::ArgAction::Set)]
        enable_payments_paypal: Option<bool>,
        #[arg(long, action = clap::ArgAction::Set)]
        enable_payments_tranzila: Option<bool>,
    },
    /// Print every business as a JSON array.
    List,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let db = super::open_database().await?;
    let output = execute(&db, opts.command).await?;
    println!("{output}");
    Ok(())
}

/// Runs one command and returns the JSON it prints.
pub async fn execute(db: &Db, command: BusinessCommand) -> anyhow::Result<serde_json::Value> {
    match command {
        BusinessCommand::Create { name, phone } => {
            let phone = PhoneNumber::parse(&phone)?;
            let created = business::create(db, &name, &phone).await.map_err(explain)?;
            Ok(serde_json::json!({ "id": created.id }))
        }
        BusinessCommand::Update {
            id,
            name,
            phone,
            greeting,
            system_prompt,
            voice,
            end_of_turn_ms,
            active,
            enable_calls_stream,
            enable_recording_fallback,
            enable_payments_paypal,
            enable_payments_tranzila,
        } => {
            let patch = BusinessPatch {
                name,
                phone_number: phone.as_deref().map(PhoneNumber::parse).transpose()?,
                greeting: greeting.map(Some),
                system_prompt: system_prompt.map(Some),
                voice: voice.map(Some),
                end_of_turn_ms,
                active,
                enable_calls_stream,
                enable_recording_fallback,
                enable_payments_paypal,
                enable_payments_tranzila,
            };
            let updated = business::update(db, id, &patch)
                .await
                .map_err(explain)?
                .with_context(|| format!("no business with id {id}"))?;
            Ok(serde_json::to_value(updated)?)
        }
        BusinessCommand::List => Ok(serde_json::to_value(business::list(db).await?)?),
    }
}

fn explain(e: WriteError) -> anyhow::Error {
    match e {
        WriteError::Db(e) => anyhow::Error::new(e).context("database error"),
        other => anyhow::anyhow!("{other}"),
    }
}
