//! Typed configuration, read once at startup from the environment (and `.env`).
//!
//! This is the only module that reads environment variables. Optional secrets
//! that are missing do not stop the service: they switch a capability off and
//! leave one [`Degradation`] behind, which `serve` logs as a WARN. A value that
//! is present but invalid stops startup with an error naming the variable.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The running environment; development-only behaviour hangs off this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Production,
    Development,
}

/// Default SQLite location when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_PATH: &str = "data/agentlocator.db";

/// Everything the service needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub env: AppEnv,
    pub database_url: String,
    pub log: LogConfig,
    /// The public `https://host` Twilio reaches; used to rebuild signed URLs.
    pub public_base_url: Option<Url>,
    pub twilio: TwilioConfig,
    pub openai: Option<OpenAiSettings>,
    pub openai_base_url: String,
    pub google: Option<GoogleSettings>,
    pub google_tts_base_url: String,
    pub tts_voice: String,
    pub paypal: Option<PayPalSettings>,
    pub tranzila: Option<TranzilaSettings>,
    pub git_commit: String,
    pub build_time: String,
    /// How long graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub dir: PathBuf,
    /// An `EnvFilter` directive: `RUST_LOG` when set, else `LOG_LEVEL`.
    pub filter: String,
    pub file_max_bytes: usize,
    pub file_max_files: usize,
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: Option<String>,
    pub auth_token: Option<SecretString>,
    pub auth_token_secondary: Option<SecretString>,
    pub api_base_url: Url,
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
}

#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    pub api_key: SecretString,
    pub chat_model: String,
    pub stt_model: String,
}

#[derive(Debug, Clone)]
pub struct GoogleSettings {
    /// Path of the service-account JSON; it was readable at startup.
    pub credentials_path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct PayPalSettings {
    pub client_id: String,
    pub secret: SecretString,
    pub base_url: Url,
}

#[derive(Debug, Clone)]
pub struct TranzilaSettings {
    pub terminal: String,
    pub app_key: String,
    pub secret: SecretString,
    pub base_url: Url,
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

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
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

    /// Reads every setting from `src`; unset optional secrets degrade.
    pub fn from_source(src: &dyn Source) -> Result<(Self, Vec<Degradation>), ConfigError> {
        // Empty strings count as unset: `FOO=` in a .env file means "no value".
        let get = |name: &str| src.get(name).filter(|v| !v.trim().is_empty());
        let mut degraded = Vec::new();
        let mut missing = |variable: &'static str, consequence: &'static str| {
            degraded.push(Degradation {
                variable,
                consequence,
            })
        };

        let port = match get("PORT") {
            None => 5000,
            Some(v) => v
                .trim()
                .parse::<u16>()
                .map_err(|_| invalid("PORT", format!("{v:?} is not a port number (0-65535)")))?,
        };
        let env = match get("APP_ENV").as_deref().map(str::trim) {
            None | Some("production") | Some("prod") => AppEnv::Production,
            Some("development") | Some("dev") => AppEnv::Development,
            Some(other) => {
                return Err(invalid(
                    "APP_ENV",
                    format!("{other:?} is neither production nor development"),
                ));
            }
        };
        let database_url = match get("DATABASE_URL") {
            None => format!("sqlite://{DEFAULT_SQLITE_PATH}?mode=rwc"),
            Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => url,
            Some(_) => {
                return Err(invalid(
                    "DATABASE_URL",
                    "must start with sqlite: or postgres://",
                ));
            }
        };
        let filter = get("RUST_LOG")
            .or_else(|| get("LOG_LEVEL"))
            .unwrap_or_else(|| "info".into());
        let log = LogConfig {
            dir: PathBuf::from(get("LOG_DIR").unwrap_or_else(|| "logs".into())),
            filter,
            file_max_bytes: parse_or(&get, "LOG_FILE_MAX_BYTES", 10 * 1024 * 1024)?,
            file_max_files: parse_or(&get, "LOG_FILE_MAX_FILES", 5)?,
        };
        let public_base_url = match get("PUBLIC_BASE_URL") {
            Some(v) => Some(parse_url("PUBLIC_BASE_URL", &v)?),
            None => match get("PUBLIC_HOST") {
                Some(host) => Some(parse_url("PUBLIC_HOST", &format!("https://{host}"))?),
                None => {
                    missing(
                        "PUBLIC_BASE_URL",
                        "signed Twilio requests cannot be verified and no stream URL can be offered",
                    );
                    None
                }
            },
        };

        let auth_token = get("TWILIO_AUTH_TOKEN").map(SecretString::from);
        if auth_token.is_none() {
            missing(
                "TWILIO_AUTH_TOKEN",
                "every signed Twilio route rejects requests (fail closed)",
            );
        }
        let account_sid = get("TWILIO_ACCOUNT_SID");
        if account_sid.is_none() {
            missing(
                "TWILIO_ACCOUNT_SID",
                "recordings cannot be downloaded for transcription",
            );
        }
        let twilio = TwilioConfig {
            account_sid,
            auth_token,
            auth_token_secondary: get("TWILIO_AUTH_TOKEN_SECONDARY").map(SecretString::from),
            api_base_url: parse_url(
                "TWILIO_API_BASE_URL",
                &get("TWILIO_API_BASE_URL").unwrap_or_else(|| "https://api.twilio.com".into()),
            )?,
        };

        let openai = match get("OPENAI_API_KEY") {
            Some(key) => Some(OpenAiSettings {
                api_key: SecretString::from(key),
                chat_model: get("OPENAI_CHAT_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
                stt_model: get("OPENAI_STT_MODEL")
                    .unwrap_or_else(|| "gpt-4o-mini-transcribe".into()),
            }),
            None => {
                missing(
                    "OPENAI_API_KEY",
                    "NLP and speech-to-text disabled; the agent answers \"כרגע אינני פנוי\"",
                );
                None
            }
        };
        let openai_base_url = get("OPENAI_BASE_URL")
            .unwrap_or_else(|| "https://api.openai.com/v1".into())
            .trim_end_matches('/')
            .to_string();
        parse_url("OPENAI_BASE_URL", &openai_base_url)?;

        let google = match get("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(path) => {
                let path = PathBuf::from(path);
                // Only readability here: the key itself is parsed once, when
                // the TTS client is built (`Providers::from_config`), and a
                // bad key stops startup there, naming this variable too.
                std::fs::File::open(&path).map_err(|e| {
                    invalid(
                        "GOOGLE_APPLICATION_CREDENTIALS",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Some(GoogleSettings {
                    credentials_path: path,
                })
            }
            None => {
                missing(
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    "text-to-speech disabled; callers hear a short silence instead of speech",
                );
                None
            }
        };
        let google_tts_base_url = get("GOOGLE_TTS_BASE_URL")
            .unwrap_or_else(|| "https://texttospeech.googleapis.com".into())
            .trim_end_matches('/')
            .to_string();
        parse_url("GOOGLE_TTS_BASE_URL", &google_tts_base_url)?;

        let paypal_env = get("PAYPAL_ENV").unwrap_or_else(|| "sandbox".into());
        let paypal_default = match paypal_env.as_str() {
            "sandbox" => "https://api-m.sandbox.paypal.com",
            "live" | "production" => "https://api-m.paypal.com",
            other => {
                return Err(invalid(
                    "PAYPAL_ENV",
                    format!("{other:?} is neither sandbox nor live"),
                ));
            }
        };
        let paypal_base = parse_url(
            "PAYPAL_BASE_URL",
            &get("PAYPAL_BASE_URL").unwrap_or_else(|| paypal_default.into()),
        )?;
        let paypal = match (get("PAYPAL_CLIENT_ID"), get("PAYPAL_SECRET")) {
            (Some(client_id), Some(secret)) => Some(PayPalSettings {
                client_id,
                secret: SecretString::from(secret),
                base_url: paypal_base,
            }),
            _ => {
                missing(
                    "PAYPAL_CLIENT_ID/PAYPAL_SECRET",
                    "PayPal payments disabled (501)",
                );
                None
            }
        };

        let tranzila_env = get("TRANZILA_ENV").unwrap_or_else(|| "test".into());
        if !matches!(tranzila_env.as_str(), "test" | "live" | "production") {
            return Err(invalid(
                "TRANZILA_ENV",
                format!("{tranzila_env:?} is neither test nor live"),
            ));
        }
        // Tranzila has one REST host; a test terminal, not a host, makes a sandbox.
        let tranzila_base = parse_url(
            "TRANZILA_BASE_URL",
            &get("TRANZILA_BASE_URL").unwrap_or_else(|| "https://api.tranzila.com".into()),
        )?;
        let tranzila = match (
            get("TRANZILA_TERMINAL"),
            get("TRANZILA_APP_KEY"),
            get("TRANZILA_SECRET"),
        ) {
            (Some(terminal), Some(app_key), Some(secret)) => Some(TranzilaSettings {
                terminal,
                app_key,
                secret: SecretString::from(secret),
                base_url: tranzila_base,
            }),
            _ => {
                missing(
                    "TRANZILA_TERMINAL/TRANZILA_APP_KEY/TRANZILA_SECRET",
                    "Tranzila payments disabled (501)",
                );
                None
            }
        };

        let config = Config {
            port,
            env,
            database_url,
            log,
            public_base_url,
            twilio,
            openai,
            openai_base_url,
            google,
            google_tts_base_url,
            tts_voice: get("TTS_VOICE").unwrap_or_else(|| "he-IL-Wavenet-A".into()),
            paypal,
            tranzila,
            git_commit: get("GIT_COMMIT").unwrap_or_else(|| "dev".into()),
            build_time: get("BUILD_TIME").unwrap_or_else(|| "dev".into()),
            shutdown_grace: Duration::from_secs(parse_or(&get, "SHUTDOWN_GRACE_SECS", 10)?),
        };
        Ok((config, degraded))
    }

    pub fn is_development(&self) -> bool {
        self.env == AppEnv::Development
    }
}

fn parse_url(variable: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| invalid(variable, format!("{e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(variable, "must be an http(s) URL"));
    }
    Ok(url)
}

fn parse_or<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(variable) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| invalid(variable, format!("{v:?} is not a valid number"))),
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
    fn an_invalid_port_names_the_variable() {
        let err = load(&[("PORT", "abc")]).unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert!(err.to_string().contains("PORT"));
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
