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
            vad_hangover_ms: hangover_ms,
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
        let event = self.detector.push_frame(
            &self.mulaw,
            voiced,
            self.vad.last_energy_dbfs(),
            self.vad.bands_over_floor_db(),
        );
        if matches!(event, Some(TurnEvent::SpeechStarted)) {
            self.cpu = Duration::ZERO;
        }
        self.cpu += started.elapsed();
        Ok(event)
    }

    /// While the agent's audio plays, how loud it is: the dBFS of its
    /// loudest 20 ms frame ([`voice::vad::loudest_frame_dbfs`] of the
    /// sentence or reply being played). `None` when it stops or is cut
    /// off. While set, only caller audio louder than the agent's expected
    /// echo (level − 20 dB, + 6 dB margin) counts towards a barge-in, so
    /// the agent hearing itself on the caller's leg cannot stop itself.
    pub(crate) fn set_agent_level(&mut self, level_dbfs: Option<f32>) {
        self.detector.set_agent_level(level_dbfs);
    }

    /// Whether the caller has the floor, not only the room (see
    /// [`TurnDetector::caller_has_the_floor`]).
    pub(crate) fn caller_has_the_floor(&self) -> bool {
        self.detector.caller_has_the_floor()
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use base64::Engine as _;

    use super::*;

    /// A 20 ms inbound frame of a 300 Hz tone with peak `amplitude`.
    fn frame(amplitude: f64, index: usize) -> MediaFrame<'static> {
        let pcm: Vec<i16> = (0..160)
            .map(|i| {
                let t = (index * 160 + i) as f64 / 8000.0;
                (amplitude * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16
            })
            .collect();
        let mut mulaw = Vec::new();
        voice::mulaw::encode_into(&pcm, &mut mulaw);
        MediaFrame {
            sequence_number: index as u64,
            stream_sid: Cow::Borrowed("MZ1"),
            track: Cow::Borrowed("inbound"),
            chunk: index as u64 + 1,
            timestamp: index as u64 * 20,
            payload: Cow::Owned(base64::engine::general_purpose::STANDARD.encode(&mulaw)),
        }
    }

    fn barge_ins(hearing: &mut Hearing, amplitude: f64) -> usize {
        (0..50)
            .filter(|&i| hearing.push(&frame(amplitude, i)).unwrap() == Some(TurnEvent::BargeIn))
            .count()
    }

    #[test]
    fn the_agents_echo_does_not_barge_in_but_the_caller_over_it_does() {
        let mut hearing = Hearing::new(TurnConfig::default());
        // The agent plays at about -12 dBFS; its echo, 24 dB down, is a
        // steady -36 dBFS tone on the caller's leg.
        hearing.set_agent_level(Some(-12.0));
        assert_eq!(barge_ins(&mut hearing, 700.0), 0);
        // The caller speaks up at about -18 dBFS over it.
        assert_eq!(barge_ins(&mut hearing, 4000.0), 1);
    }
}
