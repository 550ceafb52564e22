//! The per-frame inbound path: base64 → mu-law → linear PCM → VAD → end of
//! turn. Runs for every 20 ms frame of every call, so it reuses its buffers
//! and allocates nothing (the only allocation is an utterance's audio, once
//! per turn, inside the turn detector).
//!
//! Time here is the audio's own: the turn detector counts samples. The clock
//! is read only to measure the CPU this path costs (`t_audio_ms`).

use std::time::Duration;

use tokio::time::Instant;
use twilio::media::{MediaError, MediaFrame};
use voice::{TurnConfig, TurnDetector, TurnEvent, Vad, VadConfig};

/// One call's hearing state.
#[derive(Debug)]
pub(crate) struct Hearing {
    vad: Vad,
    detector: TurnDetector,
    mulaw: Vec<u8>,
    pcm: Vec<i16>,
    /// CPU time of this path since the current utterance started.
    cpu: Duration,
    /// The VAD's hangover, taken off every end-of-turn wait (see `new`).
    hangover_ms: u32,
}

/// The shortest silence the detector itself waits, whatever is configured.
const MIN_DETECTOR_SILENCE_MS: u32 = 100;
/// The shortest pause that starts a guess, after the VAD's hangover.
const MIN_GUESS_SILENCE_MS: u32 = 60;

impl Hearing {
    pub(crate) fn new(turn: TurnConfig) -> Self {
        let vad_config = VadConfig {
            sample_rate: turn.sample_rate,
            ..VadConfig::default()
        };
        // The VAD keeps frames "voiced" for its hangover after the voice
        // stops, so the detector's silence clock starts that much late. Take
        // it off: the caller waits the configured end-of-turn silence, not
        // that plus 80 ms. (What is reported as endpointing stays the
        // configured value.)
        let hangover_ms = vad_config.hangover_ms;
        let turn = TurnConfig {
            end_silence_ms: turn
                .end_silence_ms
                .saturating_sub(hangover_ms)
                .max(MIN_DETECTOR_SILENCE_MS),
            // The same for the pause that starts a guess (0 stays off).
            guess_after_ms: match turn.guess_after_ms {
                0 => 0,
                ms => ms.saturating_sub(hangover_ms).max(MIN_GUESS_SILENCE_MS),
            },
            ..turn
        };
        let vad = Vad::new(vad_config);
        Self {
            vad,
            detector: TurnDetector::new(turn),
            // A 20 ms frame is 160 bytes; Twilio may send more, the buffers
            // grow once and then stay.
            mulaw: Vec::with_capacity(320),
            pcm: Vec::with_capacity(320),
            cpu: Duration::ZERO,
            hangover_ms,
        }
    }

    /// Hears one media frame.
    ///
    /// # Errors
    /// The payload is not base64; the frame is then ignored.
    pub(crate) fn push(&mut self, media: &MediaFrame<'_>) -> Result<Option<TurnEvent>, MediaError> {
        let started = Instant::now();
        media.decode_payload_into(&mut self.mulaw)?;
        self.pcm.clear();
        voice::mulaw::decode_into(&self.mulaw, &mut self.pcm);
        let voiced = self.vad.push(&self.pcm);
        let event = self.detector.push(&self.mulaw, voiced);
        if matches!(event, Some(TurnEvent::SpeechStarted)) {
            self.cpu = Duration::ZERO;
        }
        self.cpu += started.elapsed();
        Ok(event)
    }

    /// CPU spent on the current (or just ended) utterance's frames.
    pub(crate) fn cpu(&self) -> Duration {
        self.cpu
    }

    /// Ends the current utterance after `ms` of the caller's silence (the
    /// next one starts from the configured wait again).
    pub(crate) fn set_end_of_turn_ms(&mut self, ms: u32) {
        self.detector.set_end_silence_ms(
            ms.saturating_sub(self.hangover_ms)
                .max(MIN_DETECTOR_SILENCE_MS),
        );
    }

    /// Forgets any open utterance (the call is failing over).
    pub(crate) fn reset(&mut self) {
        self.detector.reset();
    }
}
