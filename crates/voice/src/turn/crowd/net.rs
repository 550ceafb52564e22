//! The crowd network: a small perceptron over the last 640 ms of the crowd score's cues, which hears a caller clear of the room stop sooner than one frame's cues can.
//!
//! The linear score reads one frame at a time, and a caller's quiet word
//! and a swell of the crowd can hold the same cues for a frame. Over
//! 640 ms they move differently: the network (32 and 16 units) reads the
//! cues of the frame now and of 7 before it. Its weights are fitted by
//! `benches/crowd_net_fit.py` on café lines of the fixtures and of eight
//! more espeak-ng speakers, never on the held-out speakers that judge it
//! (BENCHMARKS.md, "The crowd network inside the detector").

use super::CUES;

#[rustfmt::skip]
mod weights;

/// How many frames back each block of inputs reads: 0 to 640 ms.
const OFFSETS: [usize; 8] = [0, 2, 4, 8, 12, 16, 24, 32];
/// Frames kept: the oldest one read, and every one after it.
const KEPT: usize = OFFSETS[OFFSETS.len() - 1] + 1;
const INPUTS: usize = CUES * OFFSETS.len();
const HIDDEN: usize = weights::B1.len();
const HIDDEN2: usize = weights::B2.len();
/// The largest log-odds the score gives, so that its odds stay finite.
const MAX_LOG_ODDS: f32 = 30.0;

/// The last [`KEPT`] frames' cues, of the frames that had them.
#[derive(Debug, Clone)]
pub(super) struct Context {
    frames: [[f32; CUES]; KEPT],
    /// Where the next frame goes; the newest is the one before it.
    next: usize,
    /// Whether a frame has been kept yet.
    started: bool,
}

impl Context {
    pub(super) fn new() -> Self {
        Self {
            frames: [[0.0; CUES]; KEPT],
            next: 0,
            started: false,
        }
    }

    /// Keeps a frame's cues. The first frame stands for the ones before
    /// it, as the fit's context repeats a line's first frame.
    pub(super) fn push(&mut self, cues: [f32; CUES]) {
        if !self.started {
            self.frames = [cues; KEPT];
            self.started = true;
        }
        self.frames[self.next] = cues;
        self.next = (self.next + 1) % KEPT;
    }

    /// The log-odds that the newest frame is the caller's, as against the
    /// crowd's, read over the frames kept; `None` before any was.
    pub(super) fn score(&self) -> Option<f32> {
        if !self.started {
            return None;
        }
        let newest = self.next + KEPT - 1;
        let mut input = [0.0f32; INPUTS];
        for (block, back) in OFFSETS.iter().enumerate() {
            let frame = &self.frames[(newest - back) % KEPT];
            for (k, cue) in frame.iter().enumerate() {
                let i = block * CUES + k;
                input[i] = (cue - weights::MEAN[i]) / weights::SCALE[i];
            }
        }
        let hidden = layer(&input, &weights::W1, &weights::B1);
        let hidden2 = layer(&hidden, &weights::W2, &weights::B2);
        let out = hidden2
            .iter()
            .zip(weights::W3)
            .fold(weights::B3, |sum, (h, w)| sum + h * w);
        Some(out.min(MAX_LOG_ODDS))
    }
}

/// A rectified layer: `input` by `weights` (one row per input), plus `bias`.
fn layer<const IN: usize, const OUT: usize>(
    input: &[f32; IN],
    weights: &[[f32; OUT]; IN],
    bias: &[f32; OUT],
) -> [f32; OUT] {
    let mut out = *bias;
    for (x, row) in input.iter().zip(weights) {
        for (o, w) in out.iter_mut().zip(row) {
            *o += x * w;
        }
    }
    out.map(|o| o.max(0.0))
}

// The layers fit together.
const _: () = assert!(weights::MEAN.len() == INPUTS && weights::W2.len() == HIDDEN);
const _: () = assert!(weights::W3.len() == HIDDEN2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_scores_a_context_as_the_fit_that_wrote_its_weights_did() {
        // The fit's check: cue k of the frame i back stands sin(8 i + k)
        // of its spread off its mean (`check_context` in the script).
        let mut context = Context::new();
        for i in (0..KEPT).rev() {
            let cues = std::array::from_fn(|k| {
                let z = ((CUES * i + k) as f64).sin() as f32;
                weights::MEAN[k] + z * weights::SCALE[k]
            });
            context.push(cues);
        }
        let score = context.score().unwrap();
        assert!(
            (score - weights::CHECK_SCORE).abs() < 1e-3,
            "{score} against the fit's {}",
            weights::CHECK_SCORE
        );
    }

    #[test]
    fn a_first_frame_stands_for_the_frames_before_it() {
        let cues = std::array::from_fn(|k| weights::MEAN[k] + 1.0);
        let mut once = Context::new();
        once.push(cues);
        let mut filled = Context::new();
        for _ in 0..KEPT {
            filled.push(cues);
        }
        assert_eq!(once.score(), filled.score());
        assert_eq!(Context::new().score(), None);
    }
}
