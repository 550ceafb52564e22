//! The crowd score's networks: small perceptrons over the last 640 ms of its cues, which hear where a caller stopped sooner and more surely than one frame's cues can.
//!
//! The linear score reads one frame at a time, and a caller's quiet word
//! and a swell of the crowd, or a passing car, can hold the same cues for
//! a frame. Over 640 ms they move differently: each network (32 and 16
//! units) reads the cues of the frame now and of 7 before it. One is
//! fitted on café lines, one on street and car lines, by `benches/crowd_net_fit.py`,
//! on the fixtures and eight more espeak-ng speakers, never on the
//! held-out speakers that judge them (BENCHMARKS.md, "The crowd network
//! inside the detector" and "A street network").

use super::CUES;

mod cafe;
mod street;

/// How many frames back each block of inputs reads: 0 to 640 ms.
const OFFSETS: [usize; 8] = [0, 2, 4, 8, 12, 16, 24, 32];
/// Frames kept: the oldest one read, and every one after it.
const KEPT: usize = OFFSETS[OFFSETS.len() - 1] + 1;
const INPUTS: usize = CUES * OFFSETS.len();
const HIDDEN: usize = 32;
const HIDDEN2: usize = 16;
/// The largest log-odds a network gives, so that its odds stay finite.
const MAX_LOG_ODDS: f32 = 30.0;

/// A network's weights, as the fit wrote them.
pub(super) struct Net {
    mean: &'static [f32; INPUTS],
    scale: &'static [f32; INPUTS],
    w1: &'static [[f32; HIDDEN]; INPUTS],
    b1: &'static [f32; HIDDEN],
    w2: &'static [[f32; HIDDEN2]; HIDDEN],
    b2: &'static [f32; HIDDEN2],
    w3: &'static [f32; HIDDEN2],
    b3: f32,
}

/// A [`Net`] of the weights a generated module holds.
macro_rules! net {
    ($weights:ident) => {
        Net {
            mean: &$weights::MEAN,
            scale: &$weights::SCALE,
            w1: &$weights::W1,
            b1: &$weights::B1,
            w2: &$weights::W2,
            b2: &$weights::B2,
            w3: &$weights::W3,
            b3: $weights::B3,
        }
    };
}

/// Fitted on café lines: the caller's frames against the crowd's.
pub(super) const CAFE: Net = net!(cafe);
/// Fitted on street and car lines: the caller's frames against the noise's.
pub(super) const STREET: Net = net!(street);

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

    /// The log-odds, by `net`, that the newest frame is the caller's, read
    /// over the frames kept; `None` before any was.
    pub(super) fn score(&self, net: &Net) -> Option<f32> {
        if !self.started {
            return None;
        }
        let newest = self.next + KEPT - 1;
        let mut input = [0.0f32; INPUTS];
        for (block, back) in OFFSETS.iter().enumerate() {
            let frame = &self.frames[(newest - back) % KEPT];
            for (k, cue) in frame.iter().enumerate() {
                let i = block * CUES + k;
                input[i] = (cue - net.mean[i]) / net.scale[i];
            }
        }
        let hidden = layer(&input, net.w1, net.b1);
        let hidden2 = layer(&hidden, net.w2, net.b2);
        let out = hidden2
            .iter()
            .zip(net.w3)
            .fold(net.b3, |sum, (h, w)| sum + h * w);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fit's check context (`check_context` in the script): cue k of
    /// the frame i back stands sin(8 i + k) of `net`'s spread off its mean.
    fn checked(net: &Net) -> f32 {
        let mut context = Context::new();
        for i in (0..KEPT).rev() {
            let cues = std::array::from_fn(|k| {
                let z = ((CUES * i + k) as f64).sin() as f32;
                net.mean[k] + z * net.scale[k]
            });
            context.push(cues);
        }
        context.score(net).unwrap()
    }

    #[test]
    fn each_network_scores_a_context_as_the_fit_that_wrote_its_weights_did() {
        for (net, fitted) in [(&CAFE, cafe::CHECK_SCORE), (&STREET, street::CHECK_SCORE)] {
            let score = checked(net);
            assert!(
                (score - fitted).abs() < 1e-3,
                "{score} against the fit's {fitted}"
            );
        }
    }

    #[test]
    fn a_first_frame_stands_for_the_frames_before_it() {
        let cues = std::array::from_fn(|k| CAFE.mean[k] + 1.0);
        let mut once = Context::new();
        once.push(cues);
        let mut filled = Context::new();
        for _ in 0..KEPT {
            filled.push(cues);
        }
        assert_eq!(once.score(&CAFE), filled.score(&CAFE));
        assert_eq!(Context::new().score(&CAFE), None);
    }
}
