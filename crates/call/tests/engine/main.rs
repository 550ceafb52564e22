//! The call engine driven end to end through its channels: scripted Twilio
//! frames in, fake providers behind the traits, a fake Twilio playing what
//! comes out — all on a paused clock, so every timing is exact.

// The voice crate's test support (its noise families) names it by its
// package name; here it is a dependency called `voice`.
extern crate voice as agentlocator_voice;

mod support;

mod cafe;
mod degraded;
mod echo;
mod fade;
mod failover;
mod frames;
mod guess;
mod tools;
mod turns;

use std::sync::Arc;
use std::time::Duration;

use agentlocator_call::CallProviders;
use support::fakes::{FakeLlm, FakeStt, FakeTts, LlmReply};

pub const CALLER_SAYS: &str = "אני רוצה לקבוע תור לתספורת";
pub const REPLY_1: &str = "שלום, בשמחה אקבע לך תור!";
pub const REPLY_2: &str = "לאיזה יום ושעה נוח לך?";

/// The usual reply: two sentences, first token after 300 ms.
pub fn two_sentences() -> LlmReply {
    LlmReply::new(
        &["שלום, בשמחה ", "אקבע לך תור! ", "לאיזה יום ושעה נוח לך?"],
        300,
        0,
    )
}

pub struct Fakes {
    pub stt: Arc<FakeStt>,
    pub llm: Arc<FakeLlm>,
    pub tts: Arc<FakeTts>,
    /// The calls' budget for second requests, and their count.
    pub budget: agentlocator_call::HedgeBudget,
}

impl Fakes {
    /// STT 200 ms, LLM as given, TTS 100 ms and 10 ms of audio per character.
    pub fn new(stt: FakeStt, llm: FakeLlm) -> Self {
        Self {
            stt: Arc::new(stt),
            llm: Arc::new(llm),
            tts: Arc::new(FakeTts::new(100, 10)),
            budget: Default::default(),
        }
    }

    pub fn standard() -> Self {
        Self::new(
            FakeStt::saying(CALLER_SAYS, Duration::from_millis(200)),
            FakeLlm::replying(two_sentences()),
        )
    }

    pub fn providers(&self) -> CallProviders {
        CallProviders {
            stt: self.stt.clone(),
            llm: self.llm.clone(),
            tts: self.tts.clone(),
            tools: None,
            hedge_budget: self.budget.clone(),
        }
    }
}
