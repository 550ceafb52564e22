//! The writes the spool keeps, and how each lands in the database.
//!
//! Each is idempotent, because a replay may run twice (a crash between
//! landing a write and removing it from the spool): the call row is an
//! upsert by its `CallSid`, the recording and the mode are plain sets, a status keeps the first end time, a turn row and a
//! job are keyed (`(call_sid, turn_id)`, the job's dedupe key).

use serde::{Deserialize, Serialize};

use crate::db::calls::{self, CallMode, CallTurn, NewCall, RecordingInfo};
use crate::db::jobs::Enqueued;
use crate::db::{Db, is_unique_violation};
use crate::domain::Timestamp;
use crate::jobs::{outcome, transcribe};

/// A write a caller depends on, as the spool keeps it (one JSON line each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Write {
    /// `incoming_call`: the caller's customer and the call row, written
    /// behind the answer, as of `at`, when the call was answered.
    Incoming {
        call_sid: String,
        business_id: i64,
        from_number: String,
        to_number: String,
        status: String,
        mode: CallMode,
        at: Timestamp,
    },
    /// `handle_recording`: the recording on the call (creating the row when
    /// `incoming_call` could not).
    Recording {
        call_sid: String,
        recording_url: String,
        recording_sid: Option<String>,
        from_number: Option<String>,
        to_number: Option<String>,
    },
    /// `handle_recording`: the transcription job.
    Transcription(transcribe::Payload),
    /// `call_status` (and a `stream_ended` after the call): the status, and
    /// on a final one the end, as of `at`, when Twilio reported it.
    Status {
        call_sid: String,
        status: String,
        duration_s: Option<i64>,
        at: Timestamp,
    },
    /// `stream_ended` and the media socket: the call moved to `mode`.
    Mode {
        call_sid: String,
        mode: CallMode,
        reason: Option<String>,
    },
    /// A turn of a streamed call (boxed: it is the largest write by far,
    /// and the spool keeps every kind in one enum).
    Turn(Box<CallTurn>),
    /// The end of a streamed call: its outcome job, queued behind its turns
    /// so that a turn waiting in the spool is in the summary.
    Outcome(outcome::Payload),
}

/// What the database said to a write that landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// An update: whether it found its call row.
    Updated(bool),
    /// The transcription job, new or the one already queued.
    Queued(Enqueued),
}

impl Write {
    /// A short name for logs.
    pub fn what(&self) -> &'static str {
        match self {
            Write::Incoming { .. } => "call",
            Write::Recording { .. } => "recording",
            Write::Transcription(_) => "transcription job",
            Write::Status { .. } => "call status",
            Write::Mode { .. } => "call mode",
            Write::Turn(_) => "call turn",
            Write::Outcome(_) => "outcome job",
        }
    }

    /// The call this write belongs to.
    pub fn call_sid(&self) -> &str {
        match self {
            Write::Incoming { call_sid, .. }
            | Write::Recording { call_sid, .. }
            | Write::Status { call_sid, .. }
            | Write::Mode { call_sid, .. } => call_sid,
            Write::Transcription(p) => &p.call_sid,
            Write::Outcome(p) => &p.call_sid,
            Write::Turn(t) => &t.call_sid,
        }
    }

    /// Whether the write may share a transaction with others of its kind
    /// ([`Write::apply_group`]): the call rows of `incoming_call`, which a
    /// burst of callers makes many of at once.
    pub fn groups(&self) -> bool {
        matches!(self, Write::Incoming { .. })
    }

    /// Lands writes that [`Write::groups`] in one transaction.
    pub async fn apply_group(db: &Db, writes: &[&Write]) -> Result<(), sqlx::Error> {
        let calls: Vec<_> = writes.iter().filter_map(|w| w.incoming()).collect();
        calls::record_incoming_all(db, &calls).await
    }

    fn incoming(&self) -> Option<(NewCall<'_>, &Timestamp)> {
        match self {
            Write::Incoming {
                call_sid,
                business_id,
                from_number,
                to_number,
                status,
                mode,
                at,
            } => Some((
                NewCall {
                    call_sid,
                    business_id: *business_id,
                    customer_id: None,
                    from_number,
                    to_number,
                    status,
                    mode: *mode,
                },
                at,
            )),
            _ => None,
        }
    }

    /// Lands the write in the database.
    pub async fn apply(&self, db: &Db) -> Result<Applied, sqlx::Error> {
        match self {
            Write::Incoming { .. } => {
                if let Some((call, at)) = self.incoming() {
                    calls::record_incoming(db, &call, at).await?;
                }
                Ok(Applied::Updated(true))
            }
            Write::Recording {
                call_sid,
                recording_url,
                recording_sid,
                from_number,
                to_number,
            } => {
                let info = RecordingInfo {
                    call_sid,
                    recording_url,
                    recording_sid: recording_sid.as_deref(),
                    from_number: from_number.as_deref(),
                    to_number: to_number.as_deref(),
                };
                calls::set_recording(db, &info).await?;
                Ok(Applied::Updated(true))
            }
            Write::Transcription(payload) => {
                Ok(Applied::Queued(transcribe::enqueue(db, payload).await?))
            }
            Write::Outcome(payload) => Ok(Applied::Queued(outcome::enqueue(db, payload).await?)),
            Write::Status {
                call_sid,
                status,
                duration_s,
                at,
            } => calls::set_status_at(db, call_sid, status, *duration_s, at)
                .await
                .map(Applied::Updated),
            Write::Mode {
                call_sid,
                mode,
                reason,
            } => calls::set_mode(db, call_sid, *mode, reason.as_deref())
                .await
                .map(Applied::Updated),
            Write::Turn(turn) => {
                calls::insert_turn(db, turn).await?;
                Ok(Applied::Updated(true))
            }
        }
    }
}

/// Whether the database refused a write for what it is rather than for
/// being unable to take it now: trying again later cannot help, so such a
/// write is neither spooled nor replayed again. Everything else — a closed
/// pool, a timeout, a lock, a lost connection, a missing table before the
/// migrations ran — may pass, and waits.
pub fn is_permanent(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            use sqlx::error::ErrorKind;
            matches!(
                d.kind(),
                ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation
                    | ErrorKind::ExclusionViolation
            ) || is_unique_violation(e)
                || d.message().to_ascii_lowercase().contains("constraint")
        }
        sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::InvalidArgument(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_write_round_trips_through_one_json_line() {
        let writes = [
            Write::Incoming {
                call_sid: "CA1".into(),
                business_id: 7,
                from_number: "+972501234567".into(),
                to_number: "+97235550001".into(),
                status: "ringing".into(),
                mode: CallMode::Stream,
                at: Timestamp::parse("2025-01-31T09:04:00Z").unwrap(),
            },
            Write::Recording {
                call_sid: "CA1".into(),
                recording_url: "https://api.twilio.com/x/Recordings/RE1".into(),
                recording_sid: Some("RE1".into()),
                from_number: None,
                to_number: Some("+97235550001".into()),
            },
            Write::Transcription(transcribe::Payload {
                call_sid: "CA1".into(),
                recording_url: "https://api.twilio.com/x/Recordings/RE1".into(),
                recording_sid: None,
                business_id: Some(7),
            }),
            Write::Status {
                call_sid: "CA1".into(),
                status: "completed".into(),
                duration_s: Some(42),
                at: Timestamp::parse("2025-01-31T09:05:00Z").unwrap(),
            },
            Write::Mode {
                call_sid: "CA1".into(),
                mode: CallMode::Record,
                reason: None,
            },
            Write::Outcome(outcome::Payload {
                call_sid: "CA1".into(),
                business_id: Some(7),
            }),
        ];
        for w in writes {
            let line = serde_json::to_string(&w).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Write>(&line).unwrap(), w);
        }
    }

    #[test]
    fn a_turn_spooled_by_the_version_before_turn_ends_lands_with_them_unknown() {
        // As an instance that spooled it during an outage, then was
        // upgraded, finds the line on restart: no `ended_by`, no `snr_db`.
        let line = r#"{"kind":"turn","call_sid":"CA1","business_id":7,"turn_id":1,"started_at":"2025-01-31T09:04:00.000Z","mode":"stream","t_audio_ms":3,"t_stt_ms":300,"t_nlp_ms":400,"t_tts_ms":150,"t_total_ms":860,"endpointing_ms":600,"barge_in":false,"user_text":"שלום","agent_text":"שלום, במה אפשר לעזור?","error_code":null,"guesses":1,"wasted_calls":0,"speculative":true}"#;
        let Write::Turn(turn) = serde_json::from_str::<Write>(line).unwrap() else {
            panic!("not a turn");
        };
        assert_eq!((turn.ended_by.as_deref(), turn.snr_db), (None, None));
        assert_eq!((turn.t_total_ms, turn.speculative), (Some(860), true));
        // And one spooled now keeps them through the line.
        let now = Write::Turn(Box::new(calls::CallTurn {
            ended_by: Some("quiet_hold".into()),
            snr_db: Some(13),
            ..*turn
        }));
        let line = serde_json::to_string(&now).unwrap();
        assert_eq!(serde_json::from_str::<Write>(&line).unwrap(), now);
    }

    #[test]
    fn outages_wait_and_refusals_do_not() {
        assert!(!is_permanent(&sqlx::Error::PoolClosed));
        assert!(!is_permanent(&sqlx::Error::PoolTimedOut));
        assert!(!is_permanent(&sqlx::Error::Protocol("reset".into())));
        assert!(is_permanent(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
