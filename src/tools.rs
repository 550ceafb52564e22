//! The business's tools the agent may use during a call (transfer, end the call, take a message, opening hours), and the Hebrew context the agent is given about them.
//!
//! Every tool is declared once, in [`declare`]; which of them a call gets
//! is the business's `tools` setting, less `transfer_to_human` when there
//! is no `transfer_number`. A run never panics and never fails the call: a
//! problem is a JSON result the model can talk about.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use call::{CallEnd, CallTools, ToolOutput};
use providers::ToolSpec;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db;
use crate::db::business::Business;
use crate::db::calls::TakenMessage;
use crate::db::customers::ReturningCaller;
use crate::domain::hours::describe_he;
use crate::domain::settings::ToolName;
use crate::domain::{CallAction, PhoneNumber, Timestamp};
use crate::state::AppState;

/// How long a tool waits for the database: past the filler line, short of
/// a pause the caller would notice twice.
const DB_BUDGET: Duration = Duration::from_secs(2);
/// The longest message the agent passes on, in characters.
pub const MAX_MESSAGE: usize = 1000;
/// The longest name, preferred time and transfer reason kept.
const MAX_SHORT: usize = 200;
/// The longest earlier-call summary put in the agent's context.
const MAX_SUMMARY: usize = 400;

/// Said when there is no one to transfer to.
pub const NO_TRANSFER_HE: &str =
    "אין כרגע מי שיוכל לקבל את השיחה. אפשר להשאיר לי הודעה ואעביר אותה, וחוזרים אליך בהקדם.";
/// Added to the opening line when a transfer is asked for out of hours.
pub const OFFER_MESSAGE_HE: &str = "אפשר להשאיר לי הודעה ואעביר אותה.";
/// The rule the agent is given while the business is closed.
pub const CLOSED_RULE_HE: &str =
    "העסק סגור עכשיו: אל תציע העברה לנציג; אמור מתי נפתח והצע להשאיר הודעה.";

/// The declaration the model sees for `tool`: its name, when to use it
/// (in Hebrew, as the conversation is) and its arguments' JSON Schema.
pub fn declare(tool: ToolName) -> ToolSpec {
    let (description, parameters) = match tool {
        ToolName::TransferToHuman => (
            "העברת השיחה לנציג אנושי של העסק. השתמש כשהמתקשר מבקש לדבר עם אדם או כשאינך יכול לעזור לו. \
             לפני הקריאה אמור למתקשר שאתה מעביר אותו. Transfer the caller to a human.",
            json!({
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "במשפט קצר בעברית: למה המתקשר רוצה נציג"}
                },
                "required": ["reason"]
            }),
        ),
        ToolName::EndCall => (
            "סיום השיחה, אחרי שנפרדת מהמתקשר (כשהוא אומר להתראות או שאין עוד במה לעזור). End the call.",
            json!({"type": "object", "properties": {}}),
        ),
        ToolName::TakeMessage => (
            "רישום הודעה מהמתקשר לבעל העסק ובקשה שיחזרו אליו. השתמש כשהמתקשר רוצה להשאיר הודעה. \
             Take a message for the business.",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "שם המתקשר, אם אמר"},
                    "callback_number": {"type": "string", "description": "מספר לחזרה, אם שונה מהמספר שממנו התקשר"},
                    "message": {"type": "string", "description": "מה למסור, במילים של המתקשר"},
                    "preferred_time": {"type": "string", "description": "מתי נוח לו שיחזרו אליו"}
                },
                "required": ["message"]
            }),
        ),
        ToolName::BusinessHours => (
            "שעות הפתיחה של העסק והאם הוא פתוח עכשיו. השתמש כשהמתקשר שואל מתי פתוח. Business hours.",
            json!({"type": "object", "properties": {}}),
        ),
    };
    ToolSpec {
        name: tool.as_str().to_string(),
        description: description.to_string(),
        parameters,
    }
}

/// The tools a call of `business` is offered: those enabled, less the
/// transfer when there is no number to transfer to.
pub fn offered(business: &Business) -> Vec<ToolName> {
    ToolName::ALL
        .into_iter()
        .filter(|t| business.tools.contains(*t))
        .filter(|t| *t != ToolName::TransferToHuman || business.transfer_number.is_some())
        .collect()
}

/// The Hebrew block appended to the business's prompt: today's date, time
/// and hours (so the model never invents them), how to use the tools, and
/// who is calling when they are known.
pub fn context_he(
    business: &Business,
    at: jiff::Timestamp,
    known: Option<&ReturningCaller>,
) -> String {
    let hours = business.hours.as_ref();
    let mut out = String::from("\n\n## מידע לשיחה\n");
    out.push_str(&describe_he(hours, at));
    out.push_str(" אל תמציא שעות או תאריכים אחרים.\n");
    let closed = hours.is_some_and(|h| !h.is_open(at));
    if closed {
        out.push_str(CLOSED_RULE_HE);
        out.push('\n');
    }
    let tools = offered(business);
    if !tools.is_empty() {
        out.push_str("\n## כלים\n");
        for tool in &tools {
            out.push_str(match tool {
                ToolName::TransferToHuman => {
                    "- transfer_to_human: כשהמתקשר מבקש לדבר עם אדם או כשאינך יכול לעזור. אמור שאתה מעביר, ואז קרא לכלי עם הסיבה.\n"
                }
                ToolName::EndCall => {
                    "- end_call: כשהמתקשר נפרד או שהשיחה הסתיימה. היפרד ממנו לפני הקריאה.\n"
                }
                ToolName::TakeMessage => {
                    "- take_message: כשהמתקשר רוצה להשאיר הודעה או שיחזרו אליו. שאל לשמו ומה למסור, ואשר שההודעה תועבר.\n"
                }
                ToolName::BusinessHours => {
                    "- business_hours: כשהמתקשר שואל על שעות הפתיחה.\n"
                }
            });
        }
        out.push_str(
            "כשכלי עונה עם \"say\", אמור את התוכן במילים שלך. כשכלי נכשל, אל תמציא שהצליח.\n",
        );
    }
    if business.tools.contains(ToolName::TransferToHuman) && business.transfer_number.is_none() {
        out.push_str("אין לעסק מספר להעברת שיחות: אל תבטיח העברה לנציג; הצע להשאיר הודעה.\n");
    }
    if let Some(known) = known {
        out.push_str("\n## המתקשר\n");
        match &known.name {
            Some(name) => out.push_str(&format!("המתקשר הוא לקוח חוזר בשם {name}.\n")),
            None => out.push_str("המתקשר הוא לקוח חוזר; שמו אינו ידוע.\n"),
        }
        if !known.recent_summaries.is_empty() {
            out.push_str("סיכומי שיחותיו הקודמות, מהחדשה לישנה:\n");
            for summary in &known.recent_summaries {
                out.push_str(&format!("- {}\n", truncate(summary.trim(), MAX_SUMMARY)));
            }
        }
    }
    out
}

/// The greeting for a caller known by name: "שלום דני, …" in place of a
/// leading "שלום," and otherwise "שלום דני! " before the business's own.
pub fn greeting_for(greeting: &str, known: Option<&ReturningCaller>) -> String {
    let Some(name) = known.and_then(|k| k.name.as_deref()) else {
        return greeting.to_string();
    };
    let trimmed = greeting.trim_start();
    match trimmed.strip_prefix("שלום") {
        Some(rest) if rest.starts_with([',', '!', '.', ' ']) => {
            let rest = rest.trim_start_matches([',', '!', '.']).trim_start();
            format!("שלום {name}, {rest}")
        }
        _ => format!("שלום {name}! {trimmed}"),
    }
}

/// An Israeli number as people write it (`050-1234567`, `03-5550001`);
/// any other number as E.164.
pub fn spoken_number(number: &PhoneNumber) -> String {
    let e164 = number.to_string();
    let Some(national) = e164.strip_prefix("+972") else {
        return e164;
    };
    // Mobile and VoIP prefixes are two digits after the 0; landlines one.
    let prefix = if national.starts_with(['5', '7']) {
        2
    } else {
        1
    };
    if national.len() <= prefix {
        return format!("0{national}");
    }
    format!("0{}-{}", &national[..prefix], &national[prefix..])
}

/// The one sentence the person who answers a transfer hears first.
pub fn whisper_he(name: Option<&str>, number: Option<&PhoneNumber>, reason: &str) -> String {
    let who = match (name, number) {
        (Some(name), Some(number)) => format!("{name}, {}", spoken_number(number)),
        (Some(name), None) => name.to_string(),
        (None, Some(number)) => spoken_number(number),
        (None, None) => "מספר חסוי".to_string(),
    };
    let reason = reason.trim().trim_end_matches(['.', '!', '?']);
    if reason.is_empty() {
        format!("שיחה מ{who}: מבקש לדבר עם נציג.")
    } else {
        format!("שיחה מ{who}: {reason}.")
    }
}

/// The tools of one call of one business.
pub struct BusinessTools {
    state: AppState,
    business: Arc<Business>,
    call_sid: String,
    /// The caller's number; `None` when withheld.
    caller: Option<PhoneNumber>,
    known: Option<ReturningCaller>,
    offered: Vec<ToolName>,
}

impl BusinessTools {
    pub fn new(
        state: AppState,
        business: Arc<Business>,
        call_sid: String,
        caller: Option<PhoneNumber>,
        known: Option<ReturningCaller>,
    ) -> Self {
        let offered = offered(&business);
        Self {
            state,
            business,
            call_sid,
            caller,
            known,
            offered,
        }
    }

    async fn transfer(&self, arguments: &str) -> Run {
        #[derive(Deserialize)]
        struct Args {
            #[serde(default)]
            reason: String,
        }
        let Some(args) = parse::<Args>(arguments) else {
            return Run::bad_arguments();
        };
        let Some(to) = self.business.transfer_number.clone() else {
            return Run::refused(
                json!({"ok": false, "error": "no_transfer_number", "say": NO_TRANSFER_HE}),
            );
        };
        if let Some(line) = self
            .business
            .hours
            .as_ref()
            .and_then(|h| h.opening_line_he(jiff::Timestamp::now()))
        {
            let say = format!("{line} {OFFER_MESSAGE_HE}");
            return Run::refused(json!({"ok": false, "error": "closed", "say": say}));
        }
        let reason = truncate(args.reason.trim(), MAX_SHORT);
        let name = self.known.as_ref().and_then(|k| k.name.as_deref());
        let action = CallAction::Transfer {
            to,
            whisper_he: whisper_he(name, self.caller.as_ref(), &reason),
            reason,
        };
        match self.arm(action).await {
            true => Run::ends(CallEnd::Transfer),
            false => Run::refused(json!({"ok": false, "error": "unavailable"})),
        }
    }

    async fn end_call(&self, arguments: &str) -> Run {
        if parse::<serde_json::Map<String, Value>>(arguments).is_none() {
            return Run::bad_arguments();
        }
        // Without an armed hangup `stream_ended` would offer the recording,
        // so the call is only ended once the hangup is armed.
        match self.arm(CallAction::Hangup).await {
            true => Run::ends(CallEnd::Hangup),
            false => Run::refused(json!({"ok": false, "error": "unavailable"})),
        }
    }

    /// Arms `action`; false when neither memory nor the row took it in time.
    async fn arm(&self, action: CallAction) -> bool {
        let arming = self
            .state
            .call_actions
            .arm(&self.state.db, &self.call_sid, action);
        match db::budget::within(DB_BUDGET, arming).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "could not store the call's end action");
                false
            }
        }
    }

    async fn take_message(&self, arguments: &str) -> Run {
        #[derive(Deserialize)]
        struct Args {
            name: Option<String>,
            callback_number: Option<String>,
            message: Option<String>,
            preferred_time: Option<String>,
        }
        let Some(args) = parse::<Args>(arguments) else {
            return Run::bad_arguments();
        };
        let Some(message) = args
            .message
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
        else {
            return Run::refused(json!({"ok": false, "error": "message_required"}));
        };
        if message.chars().count() > MAX_MESSAGE {
            return Run::refused(json!({"ok": false, "error": "message_too_long"}));
        }
        let blank_to_none = |s: Option<String>| {
            s.map(|s| truncate(s.trim(), MAX_SHORT))
                .filter(|s| !s.is_empty())
        };
        let callback_number = match blank_to_none(args.callback_number) {
            None => None,
            Some(raw) => match PhoneNumber::parse(&raw) {
                Ok(number) => Some(number.to_string()),
                Err(_) => {
                    return Run::refused(json!({"ok": false, "error": "bad_callback_number"}));
                }
            },
        };
        let taken = TakenMessage {
            message,
            name: blank_to_none(args.name),
            callback_number,
            preferred_time: blank_to_none(args.preferred_time),
            taken_at: Timestamp::now().to_string(),
        };
        match db::budget::within(DB_BUDGET, self.store_message(&taken)).await {
            Ok(()) => Run::ok(json!({"ok": true})),
            Err(e) => {
                tracing::error!(error = %e, "could not store the caller's message");
                Run::refused(json!({"ok": false, "error": "unavailable"}))
            }
        }
    }

    /// On the call, then on its customer (the call row says which).
    async fn store_message(&self, taken: &TakenMessage) -> Result<(), sqlx::Error> {
        let db = &self.state.db;
        if !db::calls::set_message(db, &self.call_sid, taken).await? {
            return Err(sqlx::Error::RowNotFound);
        }
        let customer = db::calls::get_by_sid(db, &self.call_sid)
            .await?
            .and_then(|c| c.customer_id);
        if let Some(customer) = customer {
            db::customers::note_message(
                db,
                customer,
                taken.name.as_deref(),
                taken.callback_number.as_deref(),
                taken.preferred_time.as_deref(),
            )
            .await?;
        }
        Ok(())
    }

    fn business_hours(&self, arguments: &str) -> Run {
        if parse::<serde_json::Map<String, Value>>(arguments).is_none() {
            return Run::bad_arguments();
        }
        let now = jiff::Timestamp::now();
        let hours = self.business.hours.as_ref();
        Run::ok(json!({
            "open": hours.is_none_or(|h| h.is_open(now)),
            "summary": describe_he(hours, now),
        }))
    }
}

#[async_trait]
impl CallTools for BusinessTools {
    fn specs(&self) -> Vec<ToolSpec> {
        self.offered.iter().copied().map(declare).collect()
    }

    async fn run(&self, name: &str, arguments: &str) -> ToolOutput {
        let started = Instant::now();
        // Enabled rather than offered: a model that calls the transfer of
        // a business without a number hears why it cannot.
        let run = match ToolName::parse(name).filter(|t| self.business.tools.contains(*t)) {
            None => Run::refused(json!({"ok": false, "error": "unknown_tool"})),
            Some(ToolName::TransferToHuman) => self.transfer(arguments).await,
            Some(ToolName::EndCall) => self.end_call(arguments).await,
            Some(ToolName::TakeMessage) => self.take_message(arguments).await,
            Some(ToolName::BusinessHours) => self.business_hours(arguments),
        };
        // Names and outcomes only: the arguments hold what the caller said
        // and numbers.
        tracing::info!(
            tool = name,
            ok = run.ok,
            duration_ms = started.elapsed().as_millis() as u64,
            "tool_run"
        );
        run.output
    }
}

/// A tool's answer and whether it did what was asked.
struct Run {
    output: ToolOutput,
    ok: bool,
}

impl Run {
    fn ok(content: Value) -> Self {
        Self {
            output: ToolOutput::answer(content.to_string()),
            ok: true,
        }
    }

    fn ends(end: CallEnd) -> Self {
        Self {
            output: ToolOutput {
                content: json!({"ok": true}).to_string(),
                ends_call: Some(end),
            },
            ok: true,
        }
    }

    fn refused(content: Value) -> Self {
        Self {
            output: ToolOutput::answer(content.to_string()),
            ok: false,
        }
    }

    fn bad_arguments() -> Self {
        Self::refused(json!({"ok": false, "error": "bad_arguments"}))
    }
}

/// The model's arguments as `T`; `None` for anything else (an empty string
/// reads as `{}`, which some models send for a tool without arguments).
fn parse<T: serde::de::DeserializeOwned>(arguments: &str) -> Option<T> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(text).ok()
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: Option<&str>, summaries: &[&str]) -> ReturningCaller {
        ReturningCaller {
            customer_id: 1,
            name: name.map(str::to_string),
            recent_summaries: summaries.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn business(hours: Value, transfer_number: Value) -> Business {
        serde_json::from_value(json!({
            "id": 1, "name": "מספרת דני", "greeting": null, "system_prompt": null,
            "voice": null, "end_of_turn_ms": 600, "end_of_turn_min_ms": 300,
            "end_of_turn_max_ms": 1500, "enable_calls_stream": true,
            "enable_recording_fallback": true, "max_call_minutes": 20,
            "notify_channel": "none", "notify_to": [], "categories": [],
            "hours": hours, "transfer_number": transfer_number,
            "tools": ["transfer_to_human", "end_call", "take_message", "business_hours"],
            "phone_number": "+97235550001", "max_concurrent_calls": 20,
            "enable_payments_paypal": false, "enable_payments_tranzila": false,
            "active": true, "created_at": null, "updated_at": null
        }))
        .unwrap()
    }

    fn closed_all_week() -> Value {
        json!({"timezone": "Asia/Jerusalem", "weekly": {
            "sun": [], "mon": [], "tue": [], "wed": [], "thu": [], "fri": [], "sat": []
        }})
    }

    #[test]
    fn the_context_gives_the_date_the_hours_the_tools_and_the_returning_caller() {
        let at: jiff::Timestamp = "2026-11-30T09:00:00Z".parse().unwrap();
        let open = business(Value::Null, json!("+972541112233"));
        let dani = caller(Some("דני"), &["ביקש תור.", "שאל על מחירים."]);
        let context = context_he(&open, at, Some(&dani));
        assert!(
            context.contains("30 בנובמבר 2026") || context.contains("2026"),
            "{context}"
        );
        assert!(context.contains("השעה 11:00"), "Jerusalem time: {context}");
        assert!(context.contains("העסק זמין בכל שעה"), "{context}");
        assert!(context.contains("- transfer_to_human"), "{context}");
        assert!(!context.contains(CLOSED_RULE_HE), "{context}");
        assert!(context.contains("בשם דני"), "{context}");
        let first = context.find("ביקש תור.").unwrap();
        assert!(
            first < context.find("שאל על מחירים.").unwrap(),
            "newest first"
        );

        let closed = business(closed_all_week(), Value::Null);
        let context = context_he(&closed, at, None);
        assert!(context.contains(CLOSED_RULE_HE), "{context}");
        assert!(!context.contains("- transfer_to_human"), "{context}");
        assert!(context.contains("אין לעסק מספר להעברת שיחות"), "{context}");
        assert!(!context.contains("## המתקשר"), "{context}");
    }

    #[test]
    fn israeli_numbers_are_written_the_way_people_say_them() {
        let mobile = PhoneNumber::parse("+972501234567").unwrap();
        assert_eq!(spoken_number(&mobile), "050-1234567");
        let landline = PhoneNumber::parse("03-555-0001").unwrap();
        assert_eq!(spoken_number(&landline), "03-5550001");
        let abroad = PhoneNumber::parse("+14155550100").unwrap();
        assert_eq!(spoken_number(&abroad), "+14155550100");
    }

    #[test]
    fn the_whisper_names_the_caller_their_number_and_the_reason() {
        let number = PhoneNumber::parse("+972501234567").unwrap();
        assert_eq!(
            whisper_he(Some("דני כהן"), Some(&number), "רוצה לדבר על ההזמנה שלו."),
            "שיחה מדני כהן, 050-1234567: רוצה לדבר על ההזמנה שלו."
        );
        assert_eq!(
            whisper_he(None, None, ""),
            "שיחה ממספר חסוי: מבקש לדבר עם נציג."
        );
    }

    #[test]
    fn a_known_caller_is_greeted_by_name_before_the_business_greeting() {
        let dani = caller(Some("דני"), &[]);
        assert_eq!(
            greeting_for("שלום, הגעתם למספרה. איך אפשר לעזור?", Some(&dani)),
            "שלום דני, הגעתם למספרה. איך אפשר לעזור?"
        );
        assert_eq!(
            greeting_for("ברוכים הבאים למספרה!", Some(&dani)),
            "שלום דני! ברוכים הבאים למספרה!"
        );
        assert_eq!(
            greeting_for("שלום, הגעתם למספרה.", Some(&caller(None, &[]))),
            "שלום, הגעתם למספרה."
        );
    }

    #[test]
    fn arguments_that_are_not_the_expected_json_do_not_parse() {
        #[derive(Deserialize)]
        #[expect(dead_code, reason = "only whether it parses matters")]
        struct Args {
            reason: String,
        }
        assert!(parse::<Args>("not json").is_none());
        assert!(parse::<Args>(r#"{"reason": 5}"#).is_none());
        assert!(parse::<serde_json::Map<String, Value>>("").is_some());
        assert!(parse::<serde_json::Map<String, Value>>("[1]").is_none());
    }
}
