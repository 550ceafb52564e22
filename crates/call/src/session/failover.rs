//! Failing over on purpose: when providers keep failing, a turn passes its
//! deadline or the peer stops reading, the call says a short line (if TTS
//! works and the peer reads), then closes the socket so that Twilio moves
//! on to the recording fallback (`<Connect action>` → `stream_ended`).

use std::time::Duration;

use tokio::time::Instant;

use super::Call;
use super::turns::{Active, Kind};
use crate::CallEvent;

/// Said before the call is handed to the recording fallback: "Sorry, we
/// have a small problem. You can leave us a message and we will call you
/// back." No beep is played by the fallback, so the line does not promise one.
pub(crate) const LINE_HE: &str = "סליחה, יש לנו תקלה קטנה. אפשר להשאיר לנו הודעה ונחזור אליך.";

/// Said when the instance is restarting and the call must move: "I am
/// passing you on to leave us a short message, and we will call you back
/// soon."
pub(crate) const DRAIN_LINE_HE: &str = "אני מעבירה אותך להשאיר לנו הודעה קצרה, ונחזור אליך בהקדם.";

/// Said when the call reaches its business's maximum length: "We have been
/// talking for a while; you can leave us a message and we will get back to you."
pub(crate) const LONG_CALL_LINE_HE: &str =
    "אנחנו מדברים כבר זמן רב; אפשר להשאיר לנו הודעה ונחזור אליך.";

/// How long the failover line may take to synthesise before the call is
/// closed without it.
const SYNTH_WAIT: Duration = Duration::from_secs(3);
/// Extra wait for the failover line's mark echo beyond its play time.
pub(super) const PLAY_SLACK: Duration = Duration::from_millis(1500);

/// The call is failing over: say the line, then close.
pub(crate) struct Ending {
    pub reason: String,
    pub deadline: Instant,
}

impl Call {
    pub(super) fn on_timer(&mut self) {
        let now = Instant::now();
        self.settle_overdue_spare(now);
        let overdue = self
            .active
            .as_ref()
            .and_then(Active::deadline)
            .is_some_and(|deadline| now >= deadline);
        if overdue {
            if let Some(active) = self.active.as_mut() {
                active.set_error("deadline");
            }
            let reason = format!(
                "turn deadline of {} ms passed",
                self.setup.limits.turn_deadline.as_millis()
            );
            self.fail_over(reason, Some(LINE_HE));
        }
    }

    /// Hands the call to the recording fallback: stop, say `line` if TTS
    /// works (and the peer reads), then close (see `check_end`).
    pub(super) fn fail_over(&mut self, reason: String, line: Option<&str>) {
        if self.ending.is_some() {
            return;
        }
        tracing::warn!(
            call_sid = %self.setup.call_sid,
            business_id = self.setup.business_id,
            reason = %reason,
            "call_failover"
        );
        self.emit(CallEvent::Failover {
            reason: reason.clone(),
        });
        let now = Instant::now();
        if let Some(active) = &self.active
            && self.is_playing(active, now)
        {
            self.send_clear();
        }
        self.pacer.clear();
        self.abandon_active();
        self.hearing.reset();
        self.carry = None;
        let deadline = if let Some(line) = line
            && self.providers.tts.is_enabled()
        {
            self.say(Kind::Failover, line.to_owned());
            now + SYNTH_WAIT
        } else {
            now
        };
        self.ending = Some(Ending { reason, deadline });
    }
}
