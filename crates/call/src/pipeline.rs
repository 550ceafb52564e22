//! The work of one reply, in its own task so the call task keeps hearing
//! (and can cancel it on barge-in): STT → gibberish gate → streamed LLM →
//! sentence splitter → TTS per sentence, each sentence's audio handed to the
//! call as soon as it exists — the first sentence never waits for the rest
//! of the reply. Fixed lines (greeting, apology, failover) take the short
//! path: cached TTS only.
//!
//! The task reports through a bounded channel; every message carries the
//! reply's generation so the call drops messages of a reply it cancelled.
//! When the call stops reading (its pacer is full), `send` waits, which
//! pauses this task: backpressure instead of buffering.

use bytes::Bytes;
use futures::stream::{self, BoxStream, FuturesOrdered, StreamExt};
use providers::{
    AudioInput, ChatMessage, DISABLED_REPLY_HE, ProviderError, TextToSpeech, TranscribeOptions,
};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use voice::{SentenceSplitter, SplitterConfig, TranscriptContext};

use crate::CallProviders;

/// Sentences synthesised at once: the next one is ready when the current
/// one ends, without flooding the TTS provider with a whole reply.
const MAX_TTS_IN_FLIGHT: usize = 2;

/// A reply is cut after this many sentences: a phone answer longer than
/// this is a model running away, and each sentence costs a TTS request.
const MAX_SENTENCES: u32 = 12;

/// Where a reply failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Stt,
    Llm,
    Tts,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Stt => "stt",
            Self::Llm => "llm",
            Self::Tts => "tts",
        }
    }
}

/// What a reply task reports, in order.
#[derive(Debug)]
pub(crate) enum PipelineMsg {
    /// The caller's words passed the gate (`None`: STT is disabled and the
    /// degraded line will be said).
    Transcript {
        generation: u32,
        text: Option<String>,
        at: Instant,
    },
    /// The transcript was noise or a hallucination: no reply.
    Rejected {
        generation: u32,
        reason: &'static str,
        at: Instant,
    },
    /// One sentence, synthesised.
    Sentence {
        generation: u32,
        index: u32,
        text: String,
        audio: Bytes,
        /// When the splitter released the sentence.
        ready_at: Instant,
        /// When its audio came back from TTS.
        audio_at: Instant,
    },
    /// Every sentence has been sent.
    Done { generation: u32 },
    /// A provider failed; nothing more comes from this reply.
    Failed {
        generation: u32,
        stage: Stage,
        kind: &'static str,
    },
}

/// A reply to the caller's utterance.
#[derive(Debug)]
pub(crate) struct ReplyJob {
    pub generation: u32,
    /// 8 kHz mu-law of the utterance.
    pub audio: Bytes,
    pub voiced_ms: u32,
    /// System prompt and history, without the new utterance.
    pub messages: Vec<ChatMessage>,
    pub voice: Option<String>,
}

/// Starts a reply; dropping the handle cancels it.
pub(crate) fn spawn_reply(
    job: ReplyJob,
    providers: CallProviders,
    tx: mpsc::Sender<PipelineMsg>,
) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(reply(job, providers, tx)))
}

/// Starts saying a fixed line through the TTS cache.
pub(crate) fn spawn_say(
    generation: u32,
    text: String,
    voice: Option<String>,
    tts: Arc<dyn TextToSpeech>,
    tx: mpsc::Sender<PipelineMsg>,
) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(async move {
        let ready_at = Instant::now();
        let msg = match tts.synthesize_cached(&text, voice.as_deref()).await {
            Ok(audio) => PipelineMsg::Sentence {
                generation,
                index: 0,
                text,
                audio,
                ready_at,
                audio_at: Instant::now(),
            },
            Err(err) => PipelineMsg::Failed {
                generation,
                stage: Stage::Tts,
                kind: err.kind(),
            },
        };
        let failed = matches!(msg, PipelineMsg::Failed { .. });
        if tx.send(msg).await.is_ok() && !failed {
            let _ = tx.send(PipelineMsg::Done { generation }).await;
        }
    }))
}

async fn reply(job: ReplyJob, providers: CallProviders, tx: mpsc::Sender<PipelineMsg>) {
    let generation = job.generation;
    let user_text = if providers.stt.is_enabled() {
        let heard = providers
            .stt
            .transcribe(
                AudioInput::mulaw_8k(job.audio),
                TranscribeOptions::default(),
            )
            .await;
        let raw = match heard {
            Ok(raw) => raw,
            Err(err) => {
                let _ = tx.send(failed(generation, Stage::Stt, &err)).await;
                return;
            }
        };
        let ctx = TranscriptContext {
            voiced_ms: Some(job.voiced_ms),
            mid_conversation: true,
        };
        match voice::check_transcript(&raw, &ctx) {
            Ok(text) => Some(text),
            Err(rejection) => {
                let msg = PipelineMsg::Rejected {
                    generation,
                    reason: rejection.as_str(),
                    at: Instant::now(),
                };
                let _ = tx.send(msg).await;
                return;
            }
        }
    } else {
        None
    };
    let msg = PipelineMsg::Transcript {
        generation,
        text: user_text.clone(),
        at: Instant::now(),
    };
    if tx.send(msg).await.is_err() {
        return;
    }

    let deltas = match user_text {
        Some(text) => {
            let mut messages = job.messages;
            messages.push(ChatMessage::user(text));
            match providers.llm.stream_chat(messages).await {
                Ok(deltas) => deltas,
                Err(err) => {
                    let _ = tx.send(failed(generation, Stage::Llm, &err)).await;
                    return;
                }
            }
        }
        // Without STT there is nothing to answer; say what the degraded
        // language model says (MISSION §11) instead of failing every turn.
        None => stream::once(async { Ok(DISABLED_REPLY_HE.to_owned()) }).boxed(),
    };
    speak(generation, deltas, providers.tts, job.voice, tx).await;
}

fn failed(generation: u32, stage: Stage, err: &ProviderError) -> PipelineMsg {
    PipelineMsg::Failed {
        generation,
        stage,
        kind: err.kind(),
    }
}

type Synthesis = (u32, String, Instant, Result<Bytes, ProviderError>);

async fn synthesize(
    tts: Arc<dyn TextToSpeech>,
    voice: Option<String>,
    index: u32,
    text: String,
) -> Synthesis {
    let ready_at = Instant::now();
    let audio = tts.synthesize(&text, voice.as_deref()).await;
    (index, text, ready_at, audio)
}

/// Streams the reply into sentences and the sentences into audio, in order,
/// with TTS of sentence N overlapping the model writing sentence N+1.
async fn speak(
    generation: u32,
    mut deltas: BoxStream<'static, Result<String, ProviderError>>,
    tts: Arc<dyn TextToSpeech>,
    voice: Option<String>,
    tx: mpsc::Sender<PipelineMsg>,
) {
    let mut splitter = SentenceSplitter::new(SplitterConfig::default());
    let mut pending = FuturesOrdered::new();
    let mut next_index = 0_u32;
    let mut writing = true;
    let mut llm_error = None;
    let mut enqueue = |text: String, pending: &mut FuturesOrdered<_>, writing: &mut bool| {
        if next_index >= MAX_SENTENCES {
            *writing = false;
            return;
        }
        pending.push_back(synthesize(tts.clone(), voice.clone(), next_index, text));
        next_index += 1;
    };
    loop {
        tokio::select! {
            biased;
            Some((index, text, ready_at, audio)) = pending.next(), if !pending.is_empty() => {
                let msg = match audio {
                    Ok(audio) => PipelineMsg::Sentence {
                        generation,
                        index,
                        text,
                        audio,
                        ready_at,
                        audio_at: Instant::now(),
                    },
                    Err(err) => failed(generation, Stage::Tts, &err),
                };
                let stop = matches!(msg, PipelineMsg::Failed { .. });
                if tx.send(msg).await.is_err() || stop {
                    return;
                }
            }
            delta = deltas.next(), if writing && pending.len() < MAX_TTS_IN_FLIGHT => {
                match delta {
                    Some(Ok(delta)) => {
                        for sentence in splitter.push(&delta) {
                            enqueue(sentence, &mut pending, &mut writing);
                        }
                    }
                    Some(Err(err)) => {
                        // Say what is complete; a half sentence is dropped.
                        llm_error = Some(err.kind());
                        writing = false;
                    }
                    None => {
                        if let Some(rest) = splitter.finish() {
                            enqueue(rest, &mut pending, &mut writing);
                        }
                        writing = false;
                    }
                }
            }
            else => break,
        }
    }
    let msg = match llm_error {
        Some(kind) => PipelineMsg::Failed {
            generation,
            stage: Stage::Llm,
            kind,
        },
        None if next_index == 0 => PipelineMsg::Failed {
            generation,
            stage: Stage::Llm,
            kind: "empty",
        },
        None => PipelineMsg::Done { generation },
    };
    let _ = tx.send(msg).await;
}
