//! The outside services the service holds, built once from the config: a
//! real client where its configuration exists, a disabled stand-in where it
//! does not (the call pipeline and jobs never know which they have).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use providers::{
    DisabledLanguageModel, DisabledRecordingFetcher, DisabledSpeechToText, DisabledTextToSpeech,
    GoogleTextToSpeech, GoogleTtsConfig, LanguageModel, OpenAiChat, OpenAiConfig,
    OpenAiSpeechToText, PayPalClient, PayPalConfig, RecordingFetcher, ServiceAccountKey,
    SpeechToText, TextToSpeech, TranzilaClient, TranzilaConfig, TwilioRecordingFetcher,
    TwilioRestConfig,
};

use crate::config::Config;

/// Every outside service, each behind its trait.
#[derive(Clone)]
pub struct Providers {
    pub stt: Arc<dyn SpeechToText>,
    pub llm: Arc<dyn LanguageModel>,
    pub tts: Arc<dyn TextToSpeech>,
    pub recordings: Arc<dyn RecordingFetcher>,
    pub paypal: Option<Arc<PayPalClient>>,
    pub tranzila: Option<Arc<TranzilaClient>>,
}

impl Providers {
    /// Builds the clients. Fails only on configuration that is present but
    /// unusable (the error names the variable); absence means "disabled".
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        // One client for every outside call: connection pools are reused.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("AgentLocator/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;

        let (stt, llm): (Arc<dyn SpeechToText>, Arc<dyn LanguageModel>) = match &config.openai {
            Some(o) => {
                let mut cfg =
                    OpenAiConfig::new(o.api_key.clone(), o.chat_model.clone(), o.stt_model.clone());
                cfg.base_url = config.openai_base_url.clone();
                (
                    Arc::new(OpenAiSpeechToText::new(cfg.clone(), http.clone())),
                    Arc::new(OpenAiChat::new(cfg, http.clone())),
                )
            }
            None => (
                Arc::new(DisabledSpeechToText::new()),
                Arc::new(DisabledLanguageModel::new()),
            ),
        };

        let tts: Arc<dyn TextToSpeech> = match &config.google {
            Some(g) => {
                let key = ServiceAccountKey::from_file(&g.credentials_path)
                    .context("invalid GOOGLE_APPLICATION_CREDENTIALS")?;
                let mut cfg = GoogleTtsConfig::new(key);
                cfg.base_url = config.google_tts_base_url.clone();
                cfg.voice = config.tts_voice.clone();
                Arc::new(
                    GoogleTextToSpeech::new(cfg, http.clone())
                        .context("invalid GOOGLE_APPLICATION_CREDENTIALS")?,
                )
            }
            None => Arc::new(DisabledTextToSpeech::new()),
        };

        let recordings: Arc<dyn RecordingFetcher> =
            match (&config.twilio.account_sid, &config.twilio.auth_token) {
                (Some(sid), Some(token)) => {
                    let mut cfg = TwilioRestConfig::new(sid.clone(), token.clone());
                    cfg.api_base_url = config
                        .twilio
                        .api_base_url
                        .as_str()
                        .trim_end_matches('/')
                        .into();
                    Arc::new(
                        TwilioRecordingFetcher::new(cfg, http.clone())
                            .context("invalid TWILIO_API_BASE_URL")?,
                    )
                }
                _ => Arc::new(DisabledRecordingFetcher::new()),
            };

        let paypal = config.paypal.as_ref().map(|p| {
            Arc::new(PayPalClient::new(
                PayPalConfig {
                    client_id: p.client_id.clone(),
                    secret: p.secret.clone(),
                    base_url: p.base_url.as_str().trim_end_matches('/').into(),
                },
                http.clone(),
            ))
        });
        let tranzila = config.tranzila.as_ref().map(|t| {
            Arc::new(TranzilaClient::new(
                TranzilaConfig {
                    terminal: t.terminal.clone(),
                    app_key: t.app_key.clone(),
                    secret: t.secret.clone(),
                    base_url: t.base_url.as_str().trim_end_matches('/').into(),
                },
                http.clone(),
            ))
        });

        Ok(Self {
            stt,
            llm,
            tts,
            recordings,
            paypal,
            tranzila,
        })
    }
}
