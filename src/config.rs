//! Typed configuration, read once at startup from the environment (and `.env`).
//!
//! This is the only module that reads environment variables, one section at a
//! time (see [`section`]). Optional secrets that are missing do not stop the
//! service: they switch a capability off and leave one [`Degradation`]
//! behind, which `serve` logs as a WARN. A value that is present but invalid
//! stops startup with an error naming the variable.

mod section;
mod trusted_proxies;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::time::Duration;

use providers::{GoogleTtsConfig, OpenAiConfig, PayPalConfig, TranzilaConfig, TwilioRestConfig};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use trusted_proxies::{Cidr, TrustedProxies};

/// The running environment; development-only behaviour hangs off this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Production,
    Development,
}

/// Default SQLite location when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_PATH: &str = "data/agentlocator.db";
/// The spool's folder when neither `SPOOL_DIR` nor a SQLite file names one.
pub const DEFAULT_SPOOL_DIR: &str = "data/spool";

/// Job workers per process when `JOB_WORKERS` is unset. Post-call jobs
/// mostly wait on the model and Twilio, so many run at once: with a
/// handful, 50 calls ending together wait for each other's outcome in turn.
pub const DEFAULT_JOB_WORKERS: usize = 16;

/// PostgreSQL connections one process keeps at most when
/// `DATABASE_MAX_CONNECTIONS` is unset. Several instances share one server
/// (PostgreSQL's own default is 100 connections in all): six of these fill
/// it, and more instances need a smaller pool each.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 16;

/// Everything the service needs to know about its surroundings. The outside
/// services keep the provider crate's own config types, so building a client
/// is handing it its section.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub env: AppEnv,
    pub database_url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS`: the pool's size on PostgreSQL. SQLite
    /// keeps its own two (see [`crate::db::Db::connect`]).
    pub database_max_connections: u32,
    /// The local spool of writes the database could not take in time
    /// (`crate::spool`): `SPOOL_DIR`, else next to the SQLite file, else
    /// [`DEFAULT_SPOOL_DIR`].
    pub spool_dir: PathBuf,
    pub log: LogConfig,
    /// The public `https://host` Twilio reaches; used to rebuild signed URLs.
    pub public_base_url: Option<Url>,
    pub twilio: TwilioConfig,
    /// Speech-to-text and chat; `None` without `OPENAI_API_KEY`.
    pub openai: Option<OpenAiConfig>,
    /// Text-to-speech; `None` without `GOOGLE_APPLICATION_CREDENTIALS`. The
    /// key file was readable at startup; the key is parsed when the client
    /// is built, so commands that never speak never parse it.
    pub google: Option<GoogleTtsConfig>,
    /// The voice callers hear: Google's on the stream, and Twilio's `<Say>`
    /// voice of the same name, which works even without Google.
    pub tts_voice: String,
    pub paypal: Option<PayPalConfig>,
    pub tranzila: Option<TranzilaConfig>,
    pub git_commit: String,
    pub build_time: String,
    /// How long a draining instance lets live calls go on before it moves
    /// them to the recording fallback.
    pub shutdown_grace: Duration,
    /// How long it keeps answering webhooks after that, so the recordings of
    /// the calls it moved still post `handle_recording` to a live listener.
    pub shutdown_tail: Duration,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `JOB_WORKERS`: background jobs this process runs at once.
    pub job_workers: usize,
    /// `TURN_GUESS_AFTER_MS`: a caller's pause this long starts the reply
    /// as a held guess; 0 waits for the end of the turn.
    pub turn_guess_after_ms: u32,
    /// `TURN_STAND_OUT_DB`: how far over the line's room (its quietest
    /// fifth of 10 s) a caller's voice must rise for an utterance to be
    /// theirs; 0 takes whatever the VAD hears, the café's crowd included.
    pub turn_stand_out_db: u32,
    /// `STT_HEDGE_AFTER_MS`, `LLM_HEDGE_AFTER_MS`, `TTS_HEDGE_AFTER_MS`: a
    /// turn's transcription, model request (to its first word) or
    /// synthesis slower than this gets a second request beside it, and one
    /// that fails retryably is sent again at once; 0: one request only.
    pub hedge_after: call::HedgeAfter,
}

/// `DATABASE_URL`. It derefs to the URL itself; its `Debug` hides the
/// password, because a config printed while debugging must not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for DatabaseUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_password(&self.0), f)
    }
}

/// The URL with `***` for the password, both in the user info
/// (`postgres://user:***@host/db`) and in a `password=` query parameter,
/// which sqlx also accepts. Postgres URLs are read with the parser sqlx uses,
/// so the part hidden is the part sqlx would send; a URL without a password
/// is shown exactly as given.
fn redact_password(url: &str) -> Cow<'_, str> {
    // A SQLite URL names a file and carries no credentials.
    if url.starts_with("sqlite:") {
        return url.into();
    }
    let scheme = url.split(':').next().unwrap_or_default();
    // Where a password would sit in an unreadable URL is unknown (and sqlx
    // cannot use it either), so none of it is shown.
    let unreadable = || format!("{scheme}:[unparsable URL hidden]").into();
    let Ok(mut parsed) = Url::parse(url) else {
        return unreadable();
    };
    let mut hidden = false;
    if parsed.password().is_some() {
        if parsed.set_password(Some("***")).is_err() {
            return unreadable();
        }
        hidden = true;
    }
    if parsed.query_pairs().any(|(key, _)| key == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "password" {
                    "***".into()
                } else {
                    value
                };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        hidden = true;
    }
    if hidden {
        parsed.to_string().into()
    } else {
        url.into()
    }
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub dir: PathBuf,
    /// An `EnvFilter` directive: `RUST_LOG` when set, else `LOG_LEVEL`.
    pub filter: String,
    pub file_max_bytes: usize,
    pub file_max_files: usize,
}

/// Twilio: the tokens its webhooks are signed with, and the REST settings
/// recordings are downloaded with.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// Without it every signed route rejects requests (fail closed).
    pub auth_token: Option<SecretString>,
    /// The previous token, accepted while a rotation is under way.
    pub auth_token_secondary: Option<SecretString>,
    /// `None` unless both `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` are set.
    pub rest: Option<TwilioRestConfig>,
    /// `TWILIO_SMS_FROM`: the owner's SMS sender when the business's own
    /// number cannot send SMS (many Israeli voice numbers cannot) — an
    /// SMS-capable number, an alphanumeric sender ID or a Messaging Service
    /// (`MG…`).
    pub sms_from: Option<String>,
    /// `TWILIO_WHATSAPP_FROM`: the WhatsApp sender, `whatsapp:+…`.
    pub whatsapp_from: Option<String>,
    /// `TWILIO_WHATSAPP_CONTENT_SID`: the approved template (`HX…`). WhatsApp
    /// allows free text only within 24 h of the user's last message, so
    /// notifications must use a template.
    pub whatsapp_content_sid: Option<String>,
}

impl TwilioConfig {
    /// The tokens a signature may be made with, primary first (rotation).
    pub fn signing_tokens(&self) -> Vec<&str> {
        [&self.auth_token, &self.auth_token_secondary]
            .into_iter()
            .flatten()
            .map(|t| t.expose_secret())
            .collect()
    }

    /// The variables WhatsApp notifications still need; empty when a
    /// business may choose `notify_channel: "whatsapp"`.
    pub fn whatsapp_missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.whatsapp_from.is_none() {
            missing.push("TWILIO_WHATSAPP_FROM");
        }
        if self.whatsapp_content_sid.is_none() {
            missing.push("TWILIO_WHATSAPP_CONTENT_SID");
        }
        missing
    }
}

/// A capability switched off because its configuration is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degradation {
    pub variable: &'static str,
    pub consequence: &'static str,
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not set: {}", self.variable, self.consequence)
    }
}

/// A configuration value that is present but unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

/// Where configuration values come from: the process environment in
/// production, a map in tests (so tests never mutate global state).
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment, after `.env` has been loaded into it.
pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Config {
    /// Loads `.env` (if present) and reads the process environment.
    pub fn from_env() -> Result<(Self, Vec<Degradation>), ConfigError> {
        // A missing .env is the normal case in production.
        let _ = dotenvy::dotenv();
        Self::from_source(&Environment)
    }

    /// Reads every section from `src`; unset optional secrets degrade, and
    /// the degradations come back in the order the sections are read.
    pub fn from_source(src: &dyn Source) -> Result<(Self, Vec<Degradation>), ConfigError> {
        let vars = section::Vars::new(src);
        let mut degraded = section::Degraded::default();
        let section::Server {
            port,
            env,
            public_base_url,
            git_commit,
            build_time,
            shutdown_grace,
            shutdown_tail,
            trusted_proxies,
            job_workers,
            turn_guess_after_ms,
            turn_stand_out_db,
            hedge_after,
        } = degraded.keep(section::server(&vars)?);
        let database_url = section::database(&vars)?;
        let database_max_connections = section::database_max_connections(&vars)?;
        let spool_dir = section::spool_dir(&vars, &database_url);
        let log = section::log(&vars)?;
        let twilio = degraded.keep(section::twilio(&vars)?);
        let openai = degraded.keep(section::openai(&vars)?);
        // Read apart from Google: Twilio's `<Say>` uses it too.
        let tts_voice = section::tts_voice(&vars);
        let google = degraded.keep(section::google(&vars, &tts_voice)?);
        let paypal = degraded.keep(section::paypal(&vars)?);
        let tranzila = degraded.keep(section::tranzila(&vars)?);

        let config = Config {
            port,
            env,
            database_url,
            database_max_connections,
            spool_dir,
            log,
            public_base_url,
            twilio,
            openai,
            google,
            tts_voice,
            paypal,
            tranzila,
            git_commit,
            build_time,
            shutdown_grace,
            shutdown_tail,
            trusted_proxies,
            job_workers,
            turn_guess_after_ms,
            turn_stand_out_db,
            hedge_after,
        };
        Ok((config, degraded.into_vec()))
    }

    pub fn is_development(&self) -> bool {
        self.env == AppEnv::Development
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<(Config, Vec<Degradation>), ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_source(&map)
    }

    #[test]
    fn an_empty_environment_starts_with_defaults_and_one_warning_per_missing_secret() {
        let (config, degraded) = load(&[]).unwrap();
        assert_eq!(config.port, 5000);
        assert_eq!(config.env, AppEnv::Production);
        assert!(config.database_url.contains(DEFAULT_SQLITE_PATH));
        let vars: Vec<_> = degraded.iter().map(|d| d.variable).collect();
        for expected in [
            "OPENAI_API_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "TWILIO_AUTH_TOKEN",
            "PAYPAL_CLIENT_ID/PAYPAL_SECRET",
            "TRANZILA_TERMINAL/TRANZILA_APP_KEY/TRANZILA_SECRET",
        ] {
            assert_eq!(
                vars.iter().filter(|v| **v == expected).count(),
                1,
                "{expected}"
            );
        }
    }

    #[test]
    fn the_warnings_come_in_the_order_the_sections_are_read() {
        let (_, degraded) = load(&[]).unwrap();
        let vars: Vec<_> = degraded.iter().map(|d| d.variable).collect();
        assert_eq!(
            vars,
            [
                "PUBLIC_BASE_URL",
                "TWILIO_AUTH_TOKEN",
                "TWILIO_ACCOUNT_SID",
                "OPENAI_API_KEY",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "PAYPAL_CLIENT_ID/PAYPAL_SECRET",
                "TRANZILA_TERMINAL/TRANZILA_APP_KEY/TRANZILA_SECRET",
            ]
        );
    }

    #[test]
    fn an_invalid_port_names_the_variable() {
        let err = load(&[("PORT", "abc")]).unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert!(err.to_string().contains("PORT"));
    }

    #[test]
    fn trusted_proxies_default_to_none_and_an_invalid_one_names_the_variable() {
        assert!(load(&[]).unwrap().0.trusted_proxies.is_empty());
        let (config, _) = load(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")]).unwrap();
        assert!(
            config
                .trusted_proxies
                .contains("192.0.2.7".parse().unwrap())
        );
        let err = load(&[("TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.0/40")]).unwrap_err();
        assert_eq!(err.variable, "TRUSTED_PROXIES");
        assert!(err.to_string().contains("10.0.0.0/40"), "{err}");
    }

    #[test]
    fn slow_requests_are_hedged_after_1500_2000_and_1000_ms_by_default_zero_turns_one_off_and_junk_is_refused()
     {
        let ms = Duration::from_millis;
        let hedge = load(&[]).unwrap().0.hedge_after;
        assert_eq!(
            (hedge.stt, hedge.llm, hedge.tts),
            (ms(1500), ms(2000), ms(1000))
        );
        let off = load(&[("LLM_HEDGE_AFTER_MS", "0")]).unwrap().0.hedge_after;
        assert_eq!((off.stt, off.llm, off.tts), (ms(1500), ms(0), ms(1000)));
        for variable in [
            "STT_HEDGE_AFTER_MS",
            "LLM_HEDGE_AFTER_MS",
            "TTS_HEDGE_AFTER_MS",
        ] {
            for bad in ["-1", "soon", "6001"] {
                let err = load(&[(variable, bad)]).unwrap_err();
                assert_eq!(err.variable, variable, "{bad}");
            }
        }
    }

    #[test]
    fn turn_guesses_start_after_200_ms_by_default_zero_turns_them_off_and_junk_is_refused() {
        assert_eq!(load(&[]).unwrap().0.turn_guess_after_ms, 200);
        assert_eq!(
            load(&[("TURN_GUESS_AFTER_MS", "0")])
                .unwrap()
                .0
                .turn_guess_after_ms,
            0
        );
        for bad in ["-1", "soon", "5000"] {
            let err = load(&[("TURN_GUESS_AFTER_MS", bad)]).unwrap_err();
            assert_eq!(err.variable, "TURN_GUESS_AFTER_MS", "{bad}");
        }
    }

    #[test]
    fn callers_must_stand_out_14_db_over_the_room_by_default_zero_turns_it_off_and_junk_is_refused()
    {
        assert_eq!(load(&[]).unwrap().0.turn_stand_out_db, 14);
        assert_eq!(
            load(&[("TURN_STAND_OUT_DB", "0")])
                .unwrap()
                .0
                .turn_stand_out_db,
            0
        );
        for bad in ["-1", "loud", "41"] {
            let err = load(&[("TURN_STAND_OUT_DB", bad)]).unwrap_err();
            assert_eq!(err.variable, "TURN_STAND_OUT_DB", "{bad}");
        }
    }

    #[test]
    fn job_workers_default_to_many_and_zero_or_junk_stops_startup_naming_the_variable() {
        assert_eq!(load(&[]).unwrap().0.job_workers, DEFAULT_JOB_WORKERS);
        assert_eq!(load(&[("JOB_WORKERS", " 4 ")]).unwrap().0.job_workers, 4);
        for bad in ["0", "-1", "many"] {
            let err = load(&[("JOB_WORKERS", bad)]).unwrap_err();
            assert_eq!(err.variable, "JOB_WORKERS", "{bad}");
        }
    }

    #[test]
    fn the_database_pool_holds_16_connections_by_default_and_zero_or_junk_stops_startup() {
        let max = |vars: &[(&str, &str)]| load(vars).map(|(c, _)| c.database_max_connections);
        assert_eq!(max(&[]).unwrap(), 16);
        assert_eq!(max(&[("DATABASE_MAX_CONNECTIONS", " 5 ")]).unwrap(), 5);
        for bad in ["0", "-1", "plenty"] {
            let err = max(&[("DATABASE_MAX_CONNECTIONS", bad)]).unwrap_err();
            assert_eq!(err.variable, "DATABASE_MAX_CONNECTIONS", "{bad}");
        }
    }

    #[test]
    fn an_unreadable_credentials_file_stops_startup_naming_the_variable() {
        let err = load(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")]).unwrap_err();
        assert_eq!(err.variable, "GOOGLE_APPLICATION_CREDENTIALS");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let (config, _) = load(&[
            ("TWILIO_AUTH_TOKEN", "tw-secret-123"),
            ("OPENAI_API_KEY", "sk-secret-456"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("tw-secret-123"));
        assert!(!debug.contains("sk-secret-456"));
    }

    #[test]
    fn the_spool_sits_next_to_the_sqlite_file_unless_spool_dir_says_otherwise() {
        let dir = |vars: &[(&str, &str)]| load(vars).unwrap().0.spool_dir;
        assert_eq!(dir(&[]), PathBuf::from(DEFAULT_SPOOL_DIR));
        assert_eq!(
            dir(&[("DATABASE_URL", "sqlite:///var/lib/al/db.sqlite?mode=rwc")]),
            PathBuf::from("/var/lib/al/spool")
        );
        assert_eq!(
            dir(&[("DATABASE_URL", "postgres://u@h/db")]),
            PathBuf::from(DEFAULT_SPOOL_DIR)
        );
        assert_eq!(
            dir(&[
                ("DATABASE_URL", "postgres://u@h/db"),
                ("SPOOL_DIR", "/srv/spool")
            ]),
            PathBuf::from("/srv/spool")
        );
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let url = "postgres://user:hunter2@db.internal:5432/agentlocator";
        let (config, _) = load(&[("DATABASE_URL", url)]).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("postgres://user:***@db.internal:5432/agentlocator"),
            "{debug}"
        );
        // Only the printed form is hidden: the pool still gets the password.
        assert_eq!(config.database_url.as_str(), url);
    }

    #[test]
    fn a_password_given_as_a_query_parameter_is_hidden_too() {
        let url = "postgres://db.internal/agentlocator?user=app&password=hunter2&sslmode=require";
        let (config, _) = load(&[("DATABASE_URL", url)]).unwrap();
        let debug = format!("{:?}", config.database_url);
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("user=app&password=***&sslmode=require"),
            "{debug}"
        );
    }

    #[test]
    fn a_postgres_url_that_cannot_be_read_is_hidden_whole() {
        let (config, _) = load(&[("DATABASE_URL", "postgres://user:hunter2@[::1/db")]).unwrap();
        assert_eq!(
            format!("{:?}", config.database_url),
            "\"postgres:[unparsable URL hidden]\""
        );
    }

    #[test]
    fn a_database_url_without_a_password_is_shown_as_given() {
        let (config, _) = load(&[]).unwrap();
        assert_eq!(
            format!("{:?}", config.database_url),
            format!("{:?}", format!("sqlite://{DEFAULT_SQLITE_PATH}?mode=rwc"))
        );
    }

    #[test]
    fn recordings_need_both_the_account_sid_and_the_auth_token() {
        let (config, _) = load(&[("TWILIO_AUTH_TOKEN", "a")]).unwrap();
        assert!(config.twilio.rest.is_none());
        let (config, _) = load(&[
            ("TWILIO_AUTH_TOKEN", "a"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_API_BASE_URL", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        let rest = config.twilio.rest.unwrap();
        assert_eq!(rest.account_sid, "AC1");
        assert_eq!(rest.api_base_url, "http://127.0.0.1:9");
    }

    #[test]
    fn the_provider_sections_carry_their_urls_and_the_voice() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        std::fs::write(&key, "{}").unwrap();
        let key = key.to_str().unwrap();
        let (config, degraded) = load(&[
            ("OPENAI_API_KEY", "sk"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1/"),
            ("GOOGLE_APPLICATION_CREDENTIALS", key),
            ("GOOGLE_TTS_BASE_URL", "http://127.0.0.1:2"),
            ("TTS_VOICE", "he-IL-Wavenet-B"),
            ("PAYPAL_CLIENT_ID", "id"),
            ("PAYPAL_SECRET", "s"),
            ("PAYPAL_ENV", "live"),
            ("TRANZILA_TERMINAL", "t"),
            ("TRANZILA_APP_KEY", "k"),
            ("TRANZILA_SECRET", "s"),
        ])
        .unwrap();
        let vars: Vec<_> = degraded.iter().map(|d| d.variable).collect();
        assert!(!vars.contains(&"OPENAI_API_KEY"), "{vars:?}");
        assert_eq!(config.openai.unwrap().base_url, "http://127.0.0.1:1/v1");
        let google = config.google.unwrap();
        assert_eq!(google.base_url, "http://127.0.0.1:2");
        assert_eq!(google.voice, "he-IL-Wavenet-B");
        assert_eq!(config.tts_voice, "he-IL-Wavenet-B");
        assert_eq!(config.paypal.unwrap().base_url, "https://api-m.paypal.com");
        assert_eq!(
            config.tranzila.unwrap().base_url,
            "https://api.tranzila.com"
        );
    }

    #[test]
    fn whatsapp_notifications_need_a_whatsapp_sender_and_an_hx_template() {
        let (config, _) = load(&[("TWILIO_SMS_FROM", "MG123")]).unwrap();
        assert_eq!(config.twilio.sms_from.as_deref(), Some("MG123"));
        assert_eq!(
            config.twilio.whatsapp_missing(),
            vec!["TWILIO_WHATSAPP_FROM", "TWILIO_WHATSAPP_CONTENT_SID"]
        );
        let (config, _) = load(&[
            ("TWILIO_WHATSAPP_FROM", "whatsapp:+14155238886"),
            ("TWILIO_WHATSAPP_CONTENT_SID", "HXabc"),
        ])
        .unwrap();
        assert!(config.twilio.whatsapp_missing().is_empty());
        for (var, value) in [
            ("TWILIO_WHATSAPP_FROM", "+14155238886"),
            ("TWILIO_WHATSAPP_CONTENT_SID", "MGabc"),
        ] {
            let err = load(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn the_secondary_twilio_token_is_accepted_for_rotation() {
        let (config, _) = load(&[
            ("TWILIO_AUTH_TOKEN", "a"),
            ("TWILIO_AUTH_TOKEN_SECONDARY", "b"),
        ])
        .unwrap();
        assert_eq!(config.twilio.signing_tokens(), vec!["a", "b"]);
    }

    #[test]
    fn development_mode_only_when_the_environment_says_so() {
        assert!(!load(&[]).unwrap().0.is_development());
        assert!(
            load(&[("APP_ENV", "development")])
                .unwrap()
                .0
                .is_development()
        );
        assert!(load(&[("APP_ENV", "staging")]).is_err());
    }
}
