//! The outside services the service holds, built once from the config: a
//! real client where its configuration exists, a disabled stand-in where it
//! does not (the call pipeline and jobs never know which they have).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use providers::{
    DisabledLanguageModel, DisabledOutcomeModel, DisabledRecordingFetcher, DisabledSpeechToText,
    DisabledTextToSpeech, GoogleTextToSpeech, LanguageModel, OpenAiChat, OpenAiSpeechToText,
    OutcomeModel, PayPalClient, RecordingFetcher, SpeechToText, TextToSpeech, TranzilaClient,
    TwilioMessagesClient, TwilioRecordingFetcher,
};

use crate::config::Config;

/// Every outside service, each behind its trait.
#[derive(Clone)]
pub struct Providers {
    pub stt: Arc<dyn SpeechToText>,
    pub llm: Arc<dyn LanguageModel>,
    /// The post-call summariser: the same OpenAI chat client as `llm`.
    pub outcome: Arc<dyn OutcomeModel>,
    pub tts: Arc<dyn TextToSpeech>,
    pub recordings: Arc<dyn RecordingFetcher>,
    pub paypal: Option<Arc<PayPalClient>>,
    pub tranzila: Option<Arc<TranzilaClient>>,
    /// Owner notifications (SMS/WhatsApp); `None` without Twilio REST
    /// credentials, and then the notify job marks each message failed.
    pub messages: Option<Arc<TwilioMessagesClient>>,
    /// The second requests live calls may send to `stt`, `llm` and `tts`,
    /// shared by them all.
    pub hedge_budget: call::HedgeBudget,
}

impl Providers {
    /// Builds the clients. Fails only on configuration that is present but
    /// unusable (the error names the variable); absence means "disabled".
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        // One client for every outside call: connection pools are reused.
        // The recording fetcher builds its own from the same settings,
        // because it must follow no redirects.
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .pool_idle_timeout(Duration::from_secs(90))
                .user_agent(concat!("AgentLocator/", env!("CARGO_PKG_VERSION")))
        };
        let http = builder().build().context("cannot build the HTTP client")?;

        let (stt, llm, outcome): (
            Arc<dyn SpeechToText>,
            Arc<dyn LanguageModel>,
            Arc<dyn OutcomeModel>,
        ) = match &config.openai {
            Some(openai) => {
                let chat = Arc::new(OpenAiChat::new(openai.clone(), http.clone()));
                (
                    Arc::new(OpenAiSpeechToText::new(openai.clone(), http.clone())),
                    chat.clone(),
                    chat,
                )
            }
            None => (
                Arc::new(DisabledSpeechToText::new()),
                Arc::new(DisabledLanguageModel::new()),
                Arc::new(DisabledOutcomeModel::new()),
            ),
        };

        let tts: Arc<dyn TextToSpeech> = match &config.google {
            // Reads and checks the key file named at startup.
            Some(google) => Arc::new(
                GoogleTextToSpeech::new(google.clone(), http.clone())
                    .context("invalid GOOGLE_APPLICATION_CREDENTIALS")?,
            ),
            None => Arc::new(DisabledTextToSpeech::new()),
        };

        let recordings: Arc<dyn RecordingFetcher> = match &config.twilio.rest {
            Some(rest) => Arc::new(
                TwilioRecordingFetcher::new(rest.clone(), builder())
                    .context("invalid TWILIO_API_BASE_URL")?,
            ),
            None => Arc::new(DisabledRecordingFetcher::new()),
        };

        let messages = match &config.twilio.rest {
            Some(rest) => Some(Arc::new(
                TwilioMessagesClient::new(rest.clone(), builder())
                    .context("invalid TWILIO_API_BASE_URL")?,
            )),
            None => {
                tracing::warn!(
                    "notifications disabled: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set"
                );
                None
            }
        };

        let paypal = config
            .paypal
            .clone()
            .map(|paypal| Arc::new(PayPalClient::new(paypal, http.clone())));
        let tranzila = config
            .tranzila
            .clone()
            .map(|tranzila| Arc::new(TranzilaClient::new(tranzila, http.clone())));

        Ok(Self {
            stt,
            llm,
            outcome,
            tts,
            recordings,
            paypal,
            tranzila,
            messages,
            hedge_budget: call::HedgeBudget::default(),
        })
    }
}
