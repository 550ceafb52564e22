//! One reader per configuration section: each reads only its own variables
//! and returns its typed settings plus the capabilities it switched off.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use providers::config::{
    DEFAULT_GOOGLE_TTS_BASE_URL, DEFAULT_GOOGLE_VOICE, DEFAULT_OPENAI_BASE_URL,
    DEFAULT_TRANZILA_BASE_URL, DEFAULT_TWILIO_API_BASE_URL, PAYPAL_LIVE_BASE_URL,
    PAYPAL_SANDBOX_BASE_URL,
};
use providers::{GoogleTtsConfig, OpenAiConfig, PayPalConfig, TranzilaConfig, TwilioRestConfig};
use secrecy::SecretString;
use url::Url;

use super::{
    AppEnv, ConfigError, DEFAULT_SPOOL_DIR, DEFAULT_SQLITE_PATH, DatabaseUrl, Degradation,
    LogConfig, Source, TrustedProxies, TwilioConfig,
};

/// A section's settings and what it switched off for lack of configuration.
type Section<T> = Result<(T, Vec<Degradation>), ConfigError>;

/// The source as every section reads it.
pub(super) struct Vars<'a>(&'a dyn Source);

impl<'a> Vars<'a> {
    pub(super) fn new(src: &'a dyn Source) -> Self {
        Self(src)
    }

    /// The value, with empty strings counted as unset: `FOO=` in a .env file
    /// means "no value".
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty())
    }

    fn get_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    fn parse_or<T: FromStr>(&self, variable: &'static str, default: T) -> Result<T, ConfigError> {
        match self.get(variable) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| invalid(variable, format!("{v:?} is not a valid number"))),
        }
    }

    /// A number from 0 to `max`, `default` when unset; `range` says what
    /// is allowed when it is out of it.
    fn up_to(
        &self,
        variable: &'static str,
        default: u32,
        max: u32,
        range: &str,
    ) -> Result<u32, ConfigError> {
        match self.parse_or(variable, default)? {
            n if n <= max => Ok(n),
            _ => Err(invalid(variable, range)),
        }
    }

    /// A live turn's stage's hedge (see [`call::HedgeAfter`]), in ms.
    fn hedge_after(
        &self,
        variable: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let default = u32::try_from(default.as_millis()).unwrap_or(u32::MAX);
        // Past the 6 s turn deadline a second request would come too late.
        let ms = self.up_to(variable, default, 6000, "0 (off) to 6000 ms")?;
        Ok(Duration::from_millis(u64::from(ms)))
    }

    fn url_or(&self, variable: &'static str, default: &str) -> Result<Url, ConfigError> {
        parse_url(variable, &self.get_or(variable, default))
    }
}

/// Gathers the degradations of every section, in reading order.
#[derive(Default)]
pub(super) struct Degraded(Vec<Degradation>);

impl Degraded {
    /// Keeps the section's degradations and hands back its settings.
    pub(super) fn keep<T>(&mut self, (settings, degraded): (T, Vec<Degradation>)) -> T {
        self.0.extend(degraded);
        settings
    }

    pub(super) fn into_vec(self) -> Vec<Degradation> {
        self.0
    }
}

/// How the service listens and presents itself.
pub(super) struct Server {
    pub port: u16,
    pub env: AppEnv,
    pub public_base_url: Option<Url>,
    pub git_commit: String,
    pub build_time: String,
    pub shutdown_grace: Duration,
    pub shutdown_tail: Duration,
    pub trusted_proxies: TrustedProxies,
    pub job_workers: usize,
    pub turn_guess_after_ms: u32,
    pub turn_stand_out_db: u32,
    pub hedge_after: call::HedgeAfter,
}

pub(super) fn server(vars: &Vars) -> Section<Server> {
    let port = match vars.get("PORT") {
        None => 5000,
        Some(v) => v
            .trim()
            .parse::<u16>()
            .map_err(|_| invalid("PORT", format!("{v:?} is not a port number (0-65535)")))?,
    };
    let env = match vars.get("APP_ENV").as_deref().map(str::trim) {
        None | Some("production") | Some("prod") => AppEnv::Production,
        Some("development") | Some("dev") => AppEnv::Development,
        Some(other) => {
            return Err(invalid(
                "APP_ENV",
                format!("{other:?} is neither production nor development"),
            ));
        }
    };
    let mut degraded = Vec::new();
    let public_base_url = match vars.get("PUBLIC_BASE_URL") {
        Some(v) => Some(parse_url("PUBLIC_BASE_URL", &v)?),
        None => match vars.get("PUBLIC_HOST") {
            Some(host) => Some(parse_url("PUBLIC_HOST", &format!("https://{host}"))?),
            None => {
                degraded.push(missing(
                    "PUBLIC_BASE_URL",
                    "signed Twilio requests cannot be verified and no stream URL can be offered",
                ));
                None
            }
        },
    };
    let server = Server {
        port,
        env,
        public_base_url,
        git_commit: vars.get_or("GIT_COMMIT", "dev"),
        build_time: vars.get_or("BUILD_TIME", "dev"),
        shutdown_grace: Duration::from_secs(vars.parse_or("SHUTDOWN_GRACE_SECS", 10)?),
        shutdown_tail: Duration::from_secs(vars.parse_or("SHUTDOWN_TAIL_SECS", 45)?),
        job_workers: match vars.parse_or("JOB_WORKERS", super::DEFAULT_JOB_WORKERS)? {
            0 => return Err(invalid("JOB_WORKERS", "at least one worker is needed")),
            n => n,
        },
        // A guess needs a pause shorter than any end-of-turn wait.
        turn_guess_after_ms: vars.up_to(
            "TURN_GUESS_AFTER_MS",
            voice::TurnConfig::default().guess_after_ms,
            1000,
            "0 (off) to 1000 ms, shorter than the end-of-turn wait",
        )?,
        // Over 40 dB no caller on a phone line would ever stand out.
        turn_stand_out_db: vars.up_to(
            "TURN_STAND_OUT_DB",
            voice::TurnConfig::default().stand_out_db,
            40,
            "0 (off) to 40 dB over the room",
        )?,
        hedge_after: call::HedgeAfter {
            stt: vars.hedge_after("STT_HEDGE_AFTER_MS", call::STT_HEDGE_AFTER)?,
            llm: vars.hedge_after("LLM_HEDGE_AFTER_MS", call::LLM_HEDGE_AFTER)?,
            tts: vars.hedge_after("TTS_HEDGE_AFTER_MS", call::TTS_HEDGE_AFTER)?,
        },
        // Unset believes no forwarded header: the TCP peer is the client.
        trusted_proxies: match vars.get("TRUSTED_PROXIES") {
            None => TrustedProxies::default(),
            Some(v) => v.parse().map_err(|e| invalid("TRUSTED_PROXIES", e))?,
        },
    };
    Ok((server, degraded))
}

pub(super) fn database(vars: &Vars) -> Result<DatabaseUrl, ConfigError> {
    match vars.get("DATABASE_URL") {
        None => Ok(DatabaseUrl(format!(
            "sqlite://{DEFAULT_SQLITE_PATH}?mode=rwc"
        ))),
        Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => {
            Ok(DatabaseUrl(url))
        }
        Some(_) => Err(invalid(
            "DATABASE_URL",
            "must start with sqlite: or postgres://",
        )),
    }
}

/// `DATABASE_MAX_CONNECTIONS`: at least one.
pub(super) fn database_max_connections(vars: &Vars) -> Result<u32, ConfigError> {
    match vars.parse_or(
        "DATABASE_MAX_CONNECTIONS",
        super::DEFAULT_DATABASE_MAX_CONNECTIONS,
    )? {
        0 => Err(invalid(
            "DATABASE_MAX_CONNECTIONS",
            "at least one connection is needed",
        )),
        n => Ok(n),
    }
}

/// `SPOOL_DIR`: where writes the database could not take in time wait
/// (`crate::spool`). By default next to the SQLite file, so the data volume
/// that keeps the database keeps the spool too; with PostgreSQL (or an
/// in-memory SQLite) `data/spool`.
pub(super) fn spool_dir(vars: &Vars, database_url: &str) -> PathBuf {
    if let Some(dir) = vars.get("SPOOL_DIR") {
        return PathBuf::from(dir.trim());
    }
    let sqlite_file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|path| !path.is_empty() && !path.starts_with(":memory:"));
    match sqlite_file.map(|f| std::path::Path::new(f).parent()) {
        Some(Some(dir)) => dir.join("spool"),
        _ => PathBuf::from(DEFAULT_SPOOL_DIR),
    }
}

pub(super) fn log(vars: &Vars) -> Result<LogConfig, ConfigError> {
    Ok(LogConfig {
        dir: PathBuf::from(vars.get_or("LOG_DIR", "logs")),
        filter: vars
            .get("RUST_LOG")
            .or_else(|| vars.get("LOG_LEVEL"))
            .unwrap_or_else(|| "info".into()),
        file_max_bytes: vars.parse_or("LOG_FILE_MAX_BYTES", 10 * 1024 * 1024)?,
        file_max_files: vars.parse_or("LOG_FILE_MAX_FILES", 5)?,
    })
}

pub(super) fn twilio(vars: &Vars) -> Section<TwilioConfig> {
    let mut degraded = Vec::new();
    let auth_token = vars.get("TWILIO_AUTH_TOKEN").map(SecretString::from);
    if auth_token.is_none() {
        degraded.push(missing(
            "TWILIO_AUTH_TOKEN",
            "every signed Twilio route rejects requests (fail closed)",
        ));
    }
    let account_sid = vars.get("TWILIO_ACCOUNT_SID");
    if account_sid.is_none() {
        degraded.push(missing(
            "TWILIO_ACCOUNT_SID",
            "recordings cannot be downloaded for transcription",
        ));
    }
    let api_base_url = vars.url_or("TWILIO_API_BASE_URL", DEFAULT_TWILIO_API_BASE_URL)?;
    let rest = account_sid
        .zip(auth_token.clone())
        .map(|(account_sid, auth_token)| TwilioRestConfig {
            account_sid,
            auth_token,
            api_base_url: api_root(&api_base_url),
        });
    let twilio = TwilioConfig {
        auth_token,
        auth_token_secondary: vars
            .get("TWILIO_AUTH_TOKEN_SECONDARY")
            .map(SecretString::from),
        rest,
        sms_from: vars.get("TWILIO_SMS_FROM").map(|v| v.trim().to_string()),
        whatsapp_from: prefixed(vars, "TWILIO_WHATSAPP_FROM", "whatsapp:+")?,
        whatsapp_content_sid: prefixed(vars, "TWILIO_WHATSAPP_CONTENT_SID", "HX")?,
    };
    Ok((twilio, degraded))
}

/// An optional value that must start with `prefix`: a sender or template id
/// of the wrong kind is refused at startup, not at the first message.
fn prefixed(
    vars: &Vars,
    variable: &'static str,
    prefix: &str,
) -> Result<Option<String>, ConfigError> {
    match vars.get(variable).map(|v| v.trim().to_string()) {
        Some(v) if !v.starts_with(prefix) => Err(invalid(
            variable,
            format!("{v:?} does not start with {prefix:?}"),
        )),
        other => Ok(other),
    }
}

pub(super) fn openai(vars: &Vars) -> Section<Option<OpenAiConfig>> {
    let api_key = vars.get("OPENAI_API_KEY");
    // Checked with or without a key, so a bad URL is found before the key is
    // added rather than after.
    let base_url = vars
        .get_or("OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL)
        .trim_end_matches('/')
        .to_owned();
    parse_url("OPENAI_BASE_URL", &base_url)?;
    let Some(api_key) = api_key else {
        return Ok((
            None,
            vec![missing(
                "OPENAI_API_KEY",
                "NLP and speech-to-text disabled; the agent answers \"כרגע אינני פנוי\"",
            )],
        ));
    };
    let mut openai = OpenAiConfig::new(
        SecretString::from(api_key),
        vars.get_or("OPENAI_CHAT_MODEL", "gpt-4o-mini"),
        vars.get_or("OPENAI_STT_MODEL", "gpt-4o-mini-transcribe"),
    );
    openai.base_url = base_url;
    Ok((Some(openai), Vec::new()))
}

/// `TTS_VOICE`: read apart from Google's section because Twilio's `<Say>`
/// speaks with it too.
pub(super) fn tts_voice(vars: &Vars) -> String {
    vars.get_or("TTS_VOICE", DEFAULT_GOOGLE_VOICE)
}

pub(super) fn google(vars: &Vars, voice: &str) -> Section<Option<GoogleTtsConfig>> {
    let credentials = match vars.get("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(path) => {
            let path = PathBuf::from(path);
            // Only readability here: the key itself is parsed once, when the
            // TTS client is built (`Providers::from_config`), and a bad key
            // stops startup there, naming this variable too.
            std::fs::File::open(&path).map_err(|e| {
                invalid(
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Some(path)
        }
        None => None,
    };
    let base_url = vars
        .get_or("GOOGLE_TTS_BASE_URL", DEFAULT_GOOGLE_TTS_BASE_URL)
        .trim_end_matches('/')
        .to_owned();
    parse_url("GOOGLE_TTS_BASE_URL", &base_url)?;
    let Some(credentials) = credentials else {
        return Ok((
            None,
            vec![missing(
                "GOOGLE_APPLICATION_CREDENTIALS",
                "text-to-speech disabled; callers hear a short silence instead of speech",
            )],
        ));
    };
    let mut google = GoogleTtsConfig::new(credentials);
    google.base_url = base_url;
    google.voice = voice.to_owned();
    Ok((Some(google), Vec::new()))
}

pub(super) fn paypal(vars: &Vars) -> Section<Option<PayPalConfig>> {
    let default_base_url = match vars.get_or("PAYPAL_ENV", "sandbox").as_str() {
        "sandbox" => PAYPAL_SANDBOX_BASE_URL,
        "live" | "production" => PAYPAL_LIVE_BASE_URL,
        other => {
            return Err(invalid(
                "PAYPAL_ENV",
                format!("{other:?} is neither sandbox nor live"),
            ));
        }
    };
    let base_url = vars.url_or("PAYPAL_BASE_URL", default_base_url)?;
    let (Some(client_id), Some(secret)) = (vars.get("PAYPAL_CLIENT_ID"), vars.get("PAYPAL_SECRET"))
    else {
        return Ok((
            None,
            vec![missing(
                "PAYPAL_CLIENT_ID/PAYPAL_SECRET",
                "PayPal payments disabled (501)",
            )],
        ));
    };
    let paypal = PayPalConfig {
        client_id,
        secret: SecretString::from(secret),
        base_url: api_root(&base_url),
    };
    Ok((Some(paypal), Vec::new()))
}

pub(super) fn tranzila(vars: &Vars) -> Section<Option<TranzilaConfig>> {
    let env = vars.get_or("TRANZILA_ENV", "test");
    if !matches!(env.as_str(), "test" | "live" | "production") {
        return Err(invalid(
            "TRANZILA_ENV",
            format!("{env:?} is neither test nor live"),
        ));
    }
    // Tranzila has one REST host; a test terminal, not a host, makes a sandbox.
    let base_url = vars.url_or("TRANZILA_BASE_URL", DEFAULT_TRANZILA_BASE_URL)?;
    let (Some(terminal), Some(app_key), Some(secret)) = (
        vars.get("TRANZILA_TERMINAL"),
        vars.get("TRANZILA_APP_KEY"),
        vars.get("TRANZILA_SECRET"),
    ) else {
        return Ok((
            None,
            vec![missing(
                "TRANZILA_TERMINAL/TRANZILA_APP_KEY/TRANZILA_SECRET",
                "Tranzila payments disabled (501)",
            )],
        ));
    };
    let tranzila = TranzilaConfig {
        terminal,
        app_key,
        secret: SecretString::from(secret),
        base_url: api_root(&base_url),
    };
    Ok((Some(tranzila), Vec::new()))
}

fn missing(variable: &'static str, consequence: &'static str) -> Degradation {
    Degradation {
        variable,
        consequence,
    }
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

fn parse_url(variable: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| invalid(variable, format!("{e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(variable, "must be an http(s) URL"));
    }
    Ok(url)
}

/// A parsed URL as the provider clients take an API root: `Url` gives a bare
/// host a trailing slash, and the clients join their paths on without one.
fn api_root(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}
