//! `agentlocator business …`: register and change businesses from the
//! command line, so an operator can take a first call before any UI exists.
//!
//! Uses the same validation as the API (`PhoneNumber::parse` for E.164,
//! `db::business` for unique numbers and non-empty names). Output is JSON on
//! stdout; anything else goes to stderr.

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::db::Db;
use crate::db::business::{self, WriteError};
use crate::domain::PhoneNumber;
use crate::domain::settings::{AdminChange, BusinessName, BusinessSettings, ColumnKind};

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
    /// Change a business; prints it as JSON. Pass `--<setting> VALUE` for
    /// any field `business list` shows (`--phone` for the number); settings
    /// left out stay as they are, an empty text value clears it, and a list
    /// is a JSON array (`--categories '["הזמנה","תלונה"]'`).
    Update {
        /// The business id.
        id: i64,
        /// `--greeting "שלום" --end-of-turn-ms 800 --enable-calls-stream false …`
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--SETTING VALUE"
        )]
        settings: Vec<String>,
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
            let name =
                BusinessName::parse(&name).map_err(|e| anyhow::anyhow!("--name: expected {e}"))?;
            let phone = PhoneNumber::parse(&phone)?;
            let created = business::create(db, &name, &phone).await.map_err(explain)?;
            Ok(serde_json::json!({ "id": created.id }))
        }
        BusinessCommand::Update { id, settings } => {
            let change = parse_settings(&settings)?;
            let updated = business::update(db, id, &change)
                .await
                .map_err(explain)?
                .with_context(|| format!("no business with id {id}"))?;
            Ok(serde_json::to_value(updated)?)
        }
        BusinessCommand::List => Ok(serde_json::to_value(business::list(db).await?)?),
    }
}

/// `--setting value` pairs into the same change the admin API takes, so the
/// command line knows every setting without listing them.
fn parse_settings(args: &[String]) -> anyhow::Result<AdminChange> {
    let mut fields = Map::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .with_context(|| format!("expected --SETTING VALUE, got {flag:?}"))?
            .replace('-', "_");
        let name = if name == "phone" {
            "phone_number".to_string()
        } else {
            name
        };
        let kind = BusinessSettings::COLUMNS
            .iter()
            .find(|(column, _)| *column == name)
            .map(|(_, kind)| *kind)
            .with_context(|| format!("{flag} is not a business setting"))?;
        let raw = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let value = match kind {
            ColumnKind::Bool => Value::Bool(raw.parse().map_err(|_| {
                anyhow::anyhow!("invalid value {raw:?} for {flag}: expected true or false")
            })?),
            ColumnKind::Int => Value::from(raw.parse::<i64>().map_err(|_| {
                anyhow::anyhow!("invalid value {raw:?} for {flag}: expected a number")
            })?),
            ColumnKind::Text if raw.trim().is_empty() => Value::Null,
            // List and object settings (`--notify-to '["+972…"]'`,
            // `--hours '{"timezone": …}'`) are stored as text but sent as
            // the JSON the API takes.
            ColumnKind::Text if raw.trim_start().starts_with(['[', '{']) => {
                serde_json::from_str(raw)
                    .map_err(|e| anyhow::anyhow!("invalid value {raw:?} for {flag}: {e}"))?
            }
            ColumnKind::Text => Value::String(raw.clone()),
        };
        fields.insert(name, value);
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| anyhow::anyhow!("{e}"))
}

fn explain(e: WriteError) -> anyhow::Error {
    match e {
        WriteError::Db(e) => anyhow::Error::new(e).context("database error"),
        other => anyhow::anyhow!("{other}"),
    }
}
