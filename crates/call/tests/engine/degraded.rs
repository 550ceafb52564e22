//! Degraded mode (MISSION §11): with providers disabled the call still
//! answers, and its turns are still measured.

use std::sync::Arc;

use agentlocator_call::{CallProviders, EndReason};
use providers::{
    DISABLED_REPLY_HE, DisabledLanguageModel, DisabledSpeechToText, DisabledTextToSpeech,
};

use crate::support::logs::Logs;
use crate::support::{Options, echoed, media_of, start, turns};
use crate::{CALLER_SAYS, Fakes};

#[tokio::test(start_paused = true)]
async fn with_every_provider_disabled_each_turn_says_the_fixed_line_as_silence() {
    let (logs, _guard) = Logs::install();
    let providers = CallProviders {
        stt: Arc::new(DisabledSpeechToText::new()),
        llm: Arc::new(DisabledLanguageModel::new()),
        tts: Arc::new(DisabledTextToSpeech::new()),
        tools: None,
        hedge_budget: Default::default(),
    };
    let mut call = start(Options::new(providers));
    call.silence(1000).await;
    for generation in [2, 3] {
        call.speak(1000).await;
        let mark = format!("t{generation}-s0");
        assert!(call.silence_until(3000, |log| echoed(log, &mark)).await);
    }
    call.stop().await;
    let (summary, log, events) = call.finish().await;

    assert_eq!(summary.end, EndReason::Stopped);
    let records = turns(&events);
    assert_eq!(records.len(), 2);
    for record in &records {
        assert_eq!(record.user_text, None);
        assert_eq!(record.agent_text.as_deref(), Some(DISABLED_REPLY_HE));
        assert_eq!(record.error_code, None);
    }
    // Greeting and both replies: 300 ms of silence each.
    assert_eq!(media_of(&log, 0xFF).len(), 3 * 15);
    assert_eq!(logs.named("turn_metrics").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn with_only_the_language_model_disabled_the_caller_is_transcribed_and_hears_the_fixed_line()
{
    let fakes = Fakes::standard();
    let providers = CallProviders {
        llm: Arc::new(DisabledLanguageModel::new()),
        ..fakes.providers()
    };
    let mut call = start(Options::new(providers));
    call.silence(1000).await;
    call.speak(1000).await;
    assert!(call.silence_until(3000, |log| echoed(log, "t2-s0")).await);
    call.stop().await;
    let (_, _, events) = call.finish().await;

    let records = turns(&events);
    assert_eq!(records[0].user_text.as_deref(), Some(CALLER_SAYS));
    assert_eq!(records[0].agent_text.as_deref(), Some(DISABLED_REPLY_HE));
    assert!(fakes.tts.byte_of(DISABLED_REPLY_HE).is_some());
}
