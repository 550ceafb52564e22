//! What the CRM API sends and accepts, as documented types. Kept apart from
//! the database models so a column can change without changing the API (and
//! the other way round), and so the OpenAPI schemas come from these.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::business::Business;
use crate::db::call_actions::Transfer;
use crate::db::calls::{CallLog, CallTurn, TakenMessage};
use crate::db::crm::Page;
use crate::db::customers::Customer;
use crate::db::notifications::Notification;
use crate::http::ApiError;
use crate::http::extract::double_option;

/// A business as the API shows it: the stored row itself (the schema and
/// field docs live on [`Business`]), so the two cannot drift.
pub type BusinessView = Business;

/// One page of a list, with the total across all pages.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

impl<T: ToSchema> Paged<T> {
    pub fn from_db(page: crate::db::crm::Paged<T>, at: Page) -> Self {
        Self {
            items: page.items,
            total: page.total,
            limit: at.limit,
            offset: at.offset,
        }
    }
}

/// `?limit=&offset=` on every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl PageParams {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::BadRequest(
                "limit must be between 1 and 200".into(),
            ));
        }
        if offset < 0 {
            return Err(ApiError::BadRequest("offset must not be negative".into()));
        }
        Ok(Page { limit, offset })
    }
}

/// For admins on `/api/crm/*`: the business to act for. Owners and agents
/// always act for their own business and need not pass it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActAs {
    #[param(minimum = 1)]
    pub business_id: Option<i64>,
}

/// A caller of the business: the stored row itself.
pub type CustomerView = Customer;

/// What may change on a customer. `null` clears name or notes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Option<String>>,
    /// A short lowercase label such as `new`, `lead`, `customer`, `closed`
    /// (letters, digits, `_`; at most 32).
    #[schema(pattern = "^[a-z][a-z0-9_]{0,31}$")]
    pub status: Option<String>,
}

/// One call: the stored row itself.
pub type CallView = CallLog;

/// One turn of a streamed call: the stored row itself.
pub type TurnView = CallTurn;

/// One line of a call's transcript.
#[derive(Debug, Serialize, ToSchema)]
pub struct Utterance {
    /// `caller` or `agent`.
    pub speaker: &'static str,
    pub text: String,
    /// The turn it belongs to; `null` for a recording transcript.
    pub turn_id: Option<i64>,
}

/// A call in the call list, with the messages sent to the owner about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallListItem {
    #[serde(flatten)]
    pub call: CallView,
    /// The messages sent to the owner about this call, with their delivery
    /// status.
    pub notifications: Vec<Notification>,
}

/// A call with its transcript and turns.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDetail {
    pub call: CallView,
    /// The conversation in order: the streamed turns' texts, then the
    /// recording's transcript if there is one.
    pub transcript: Vec<Utterance>,
    pub turns: Vec<TurnView>,
    /// The messages sent to the owner about this call, with their delivery
    /// status.
    pub notifications: Vec<Notification>,
    /// The transfer to a human the agent made, or null when it made none.
    pub transfer: Option<TransferView>,
    /// What the caller asked the agent to pass on, or null.
    pub message: Option<TakenMessage>,
}

/// A call's transfer to a human.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    /// The number dialled (E.164).
    pub to: String,
    /// Why the caller asked for a human, in the agent's words.
    pub reason: Option<String>,
    /// `dialing`, `transferred` or `transfer_failed`; null while the agent
    /// is still saying its last words.
    pub status: Option<String>,
}

impl From<Transfer> for TransferView {
    fn from(t: Transfer) -> Self {
        Self {
            to: t.to,
            reason: t.reason,
            status: t.status,
        }
    }
}

impl CallDetail {
    pub fn new(
        call: CallLog,
        turns: Vec<CallTurn>,
        notifications: Vec<Notification>,
        transfer: Option<TransferView>,
        message: Option<TakenMessage>,
    ) -> Self {
        let mut transcript = Vec::new();
        for t in &turns {
            for (speaker, text) in [("caller", &t.user_text), ("agent", &t.agent_text)] {
                if let Some(text) = text.as_ref().filter(|s| !s.trim().is_empty()) {
                    transcript.push(Utterance {
                        speaker,
                        text: text.clone(),
                        turn_id: Some(t.turn_id),
                    });
                }
            }
        }
        if let Some(text) = call.transcript.as_ref().filter(|s| !s.trim().is_empty()) {
            transcript.push(Utterance {
                speaker: "caller",
                text: text.clone(),
                turn_id: None,
            });
        }
        Self {
            call,
            transcript,
            turns,
            notifications,
            transfer,
            message,
        }
    }
}

/// The caller of a follow-up as the CRM knows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpCustomer {
    pub id: i64,
    pub name: Option<String>,
    pub phone: String,
}

/// One call in the owner's follow-up inbox: what the caller wanted, how
/// urgent, and who dealt with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpItem {
    /// The call's id (`/api/crm/calls/{id}`).
    pub id: i64,
    pub call_sid: String,
    pub started_at: Option<String>,
    pub from_number: Option<String>,
    pub summary: Option<String>,
    /// `low`, `normal` or `high`; null when the call has no outcome.
    pub urgency: Option<String>,
    pub intent: Option<String>,
    pub callback_requested: Option<bool>,
    pub preferred_time: Option<String>,
    pub customer: Option<FollowUpCustomer>,
    /// `open` or `done`.
    pub follow_up_status: String,
    pub note: Option<String>,
    /// The user who last marked it.
    pub by: Option<i64>,
    /// When it was last marked.
    pub at: Option<String>,
}

impl From<crate::db::crm::FollowUp> for FollowUpItem {
    fn from(f: crate::db::crm::FollowUp) -> Self {
        let call = f.call;
        let field = |name: &str| call.outcome.as_ref().and_then(|o| o.get(name));
        let text = |name: &str| field(name).and_then(|v| v.as_str()).map(str::to_string);
        Self {
            urgency: text("urgency"),
            intent: text("intent"),
            callback_requested: field("callback_requested").and_then(serde_json::Value::as_bool),
            preferred_time: text("preferred_time"),
            customer: f
                .customer
                .map(|(id, name, phone)| FollowUpCustomer { id, name, phone }),
            id: call.id,
            call_sid: call.call_sid,
            started_at: call.started_at,
            from_number: call.from_number,
            summary: call.summary,
            follow_up_status: call.follow_up_status,
            note: call.follow_up_note,
            by: call.follow_up_by,
            at: call.follow_up_at,
        }
    }
}

/// `?status=` on the follow-up inbox, with paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowUpQuery {
    /// `open` (default) or `done`.
    #[param(pattern = "^(open|done)$")]
    pub status: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// What a follow-up may be marked.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum FollowUpStatus {
    Open,
    Done,
}

/// By hand rather than derived: another word is a value the domain refuses
/// (serde's `invalid value`, so 422), not a malformed body (400).
impl<'de> Deserialize<'de> for FollowUpStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.as_str() {
            "open" => Ok(FollowUpStatus::Open),
            "done" => Ok(FollowUpStatus::Done),
            other => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(other),
                &"open or done",
            )),
        }
    }
}

impl FollowUpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpStatus::Open => "open",
            FollowUpStatus::Done => "done",
        }
    }
}

/// Marks a call's follow-up done (or open again), with an optional note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpUpdate {
    pub status: FollowUpStatus,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}
