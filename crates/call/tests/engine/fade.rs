//! A caller whose voice trails off after their last word is answered as soon as one who stops cleanly.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::{Options, first_frame_of, start};
use crate::{Fakes, REPLY_1};

/// Six sentences by six voices (the noise set's held-out speakers); the
/// fourth runs to 30.30 s by P.56 and then trails off for 120 ms at
/// −38…−42 dBFS, some 20 dB under its words.
const HELD_OUT: &[u8] = include_bytes!("../../../voice/tests/fixtures/held-out-he.wav");
const RATE: usize = 8_000;

/// How long after the fourth sentence's P.56 end the reply's first frame
/// is sent, with its trailing fade on the line or the line silent from
/// that end instead.
async fn reply_after_the_callers_end(with_the_fade: bool) -> Duration {
    let audio = voice::wav::decode_mono_8k(&voice::wav::parse(HELD_OUT).unwrap()).unwrap();
    let (start_ms, end_ms) = (24_000, 30_300);
    let mut line = audio[start_ms * RATE / 1000..(end_ms + 1_500) * RATE / 1000].to_vec();
    if !with_the_fade {
        line[(end_ms - start_ms) * RATE / 1000..].fill(0);
    }
    let fakes = Fakes::standard();
    let mut call = start(Options::new(fakes.providers()));
    call.silence(4000).await;
    let began = Instant::now();
    call.play(&line).await;
    call.silence(2000).await;
    call.stop().await;
    let (_, log, _) = call.finish().await;
    first_frame_of(&log, &fakes.tts, REPLY_1)
        - began
        - Duration::from_millis((end_ms - start_ms) as u64)
}

#[tokio::test(start_paused = true)]
async fn a_caller_whose_voice_trails_off_is_answered_as_soon_as_one_who_stops_cleanly() {
    let faded = reply_after_the_callers_end(true).await;
    let clean = reply_after_the_callers_end(false).await;
    // Counted from the fade's end, the 600 ms wait would start the reply
    // 120 ms later.
    assert!(
        faded <= clean + Duration::from_millis(20),
        "the reply began {faded:?} after the caller's last word with the fade, {clean:?} without"
    );
    assert!(
        clean >= Duration::from_millis(600),
        "the reply began {clean:?} after the caller's last word, inside the wait"
    );
}
