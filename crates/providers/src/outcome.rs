//! A finished call's structured outcome, its JSON schema, and the checks model output must pass.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ProviderError;

/// The intent used when none of the business's categories fits; always
/// allowed, so a business without categories still gets valid outcomes.
pub const OTHER_INTENT: &str = "other";
/// Longest summary accepted (characters): two Hebrew sentences fit easily,
/// and an SMS body must still have room for the rest.
pub const MAX_SUMMARY_CHARS: usize = 400;
/// Longest caller name or preferred time accepted (characters).
pub const MAX_SHORT_FIELD_CHARS: usize = 80;

/// The instruction that tells the model what an outcome is: a short summary
/// for the business owner, and the fields they act on.
pub const OUTCOME_SYSTEM_PROMPT_HE: &str = "\
אתה עוזר שמסכם שיחות טלפון שנענו על ידי המזכירה הדיגיטלית של העסק, עבור בעל העסק.\n\
קרא את השיחה וכתוב סיכום קצר בעברית, לכל היותר שני משפטים: מי התקשר, מה הוא רוצה ומה סוכם.\n\
כתוב רק מה שנאמר בשיחה ואל תמציא פרטים.\n\
caller_name: שם המתקשר אם נאמר בשיחה, אחרת null.\n\
intent: הקטגוריה המתאימה ביותר מתוך הרשימה, או \"other\" אם אף אחת אינה מתאימה.\n\
urgency: \"high\" אם יש דחיפות ממשית, \"low\" אם אין צורך בטיפול, אחרת \"normal\".\n\
callback_requested: true אם המתקשר ביקש שיחזרו אליו.\n\
preferred_time: המועד שהמתקשר ביקש (לשיחה חוזרת או לתור) כפי שנאמר, אחרת null.\n\
follow_up: true אם בעל העסק צריך לעשות משהו בעקבות השיחה.";

/// Who said a line of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The person who called.
    Caller,
    /// The receptionist (the agent).
    Agent,
}

/// One line of a conversation, in the order it was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationLine {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said (transcribed or generated text).
    pub text: String,
}

/// What the model is asked to summarise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// A streamed call's lines, caller and agent, in order.
    Turns(Vec<ConversationLine>),
    /// A voicemail's transcript.
    Voicemail(String),
}

impl Conversation {
    /// The conversation as the user message: one labelled line per turn, so
    /// the model can tell the caller's words from the agent's.
    pub fn to_prompt_text(&self) -> String {
        match self {
            Self::Turns(lines) => lines
                .iter()
                .map(|l| {
                    let who = match l.speaker {
                        Speaker::Caller => "מתקשר",
                        Speaker::Agent => "נציג",
                    };
                    format!("{who}: {}", l.text.trim())
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Self::Voicemail(text) => format!("הודעה קולית שהשאיר המתקשר:\n{}", text.trim()),
        }
    }
}

/// Everything one outcome request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRequest {
    /// The business's intent categories (short Hebrew labels; may be empty).
    pub categories: Vec<String>,
    /// The call to summarise.
    pub conversation: Conversation,
}

/// How soon the owner should act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// No action needed soon.
    Low,
    /// The usual case.
    Normal,
    /// Act now.
    High,
}

/// A validated call outcome. Only [`parse_outcome`] builds one from model
/// output, so holding a value means every check passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallOutcome {
    /// At most two Hebrew sentences for the owner.
    pub summary: String,
    /// The caller's name when they said it.
    pub caller_name: Option<String>,
    /// One of the business's categories, or [`OTHER_INTENT`].
    pub intent: String,
    /// How soon to act.
    pub urgency: Urgency,
    /// The caller asked to be called back.
    pub callback_requested: bool,
    /// When the caller wants the callback or appointment, as they said it.
    pub preferred_time: Option<String>,
    /// The owner has something to do.
    pub follow_up: bool,
}

/// Raw model output before validation. `Option` fields are required (no
/// `default`), so a missing key fails instead of silently becoming `null`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutcome {
    summary: String,
    #[serde(deserialize_with = "required_nullable")]
    caller_name: Option<String>,
    intent: String,
    urgency: Urgency,
    callback_requested: bool,
    #[serde(deserialize_with = "required_nullable")]
    preferred_time: Option<String>,
    follow_up: bool,
}

/// serde treats a missing `Option` field as `None`; using a custom
/// deserializer (without `default`) makes the key mandatory, as the schema
/// says.
fn required_nullable<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d)
}

/// The intents a request allows: the categories (trimmed, empty and repeated
/// ones dropped, since strict schemas reject duplicate enum values) then
/// [`OTHER_INTENT`].
pub fn allowed_intents(categories: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(categories.len() + 1);
    for c in categories
        .iter()
        .map(|c| c.trim())
        .chain([OTHER_INTENT])
        .filter(|c| !c.is_empty())
    {
        if !out.iter().any(|o| o == c) {
            out.push(c.to_owned());
        }
    }
    out
}

/// The JSON schema of an outcome for these categories, as sent in
/// `response_format.json_schema.schema` (strict mode: every field required,
/// nullable fields typed `["string","null"]`, no extra properties).
pub fn outcome_schema(categories: &[String]) -> Value {
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "caller_name": {"type": ["string", "null"]},
            "intent": {"type": "string", "enum": allowed_intents(categories)},
            "urgency": {"type": "string", "enum": ["low", "normal", "high"]},
            "callback_requested": {"type": "boolean"},
            "preferred_time": {"type": ["string", "null"]},
            "follow_up": {"type": "boolean"},
        },
        "required": [
            "summary", "caller_name", "intent", "urgency",
            "callback_requested", "preferred_time", "follow_up"
        ],
        "additionalProperties": false,
    })
}

/// Parses and validates model output. With `embedded`, the JSON object may be
/// surrounded by prose or a code fence (the plain-instruction fallback);
/// otherwise the whole text must be the object (what a strict schema yields).
pub fn parse_outcome(
    text: &str,
    categories: &[String],
    embedded: bool,
) -> Result<CallOutcome, ProviderError> {
    let json_text = if embedded {
        embedded_object(text).ok_or_else(|| invalid("no JSON object in the answer".to_owned()))?
    } else {
        text.trim()
    };
    let raw: RawOutcome = serde_json::from_str(json_text)
        .map_err(|e| invalid(format!("does not match the outcome schema: {e}")))?;
    validate(raw, categories)
}

fn invalid(reason: String) -> ProviderError {
    ProviderError::InvalidOutput(reason)
}

/// The span from the first `{` to the last `}`: enough for a single object
/// wrapped in prose or a ```json fence; anything else fails to parse.
fn embedded_object(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (end > start).then(|| &text[start..=end])
}

fn validate(raw: RawOutcome, categories: &[String]) -> Result<CallOutcome, ProviderError> {
    let summary = raw.summary.trim().to_owned();
    if summary.is_empty() {
        return Err(invalid("summary is empty".into()));
    }
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        return Err(invalid(format!(
            "summary longer than {MAX_SUMMARY_CHARS} characters"
        )));
    }
    let intent = raw.intent.trim().to_owned();
    if !allowed_intents(categories).contains(&intent) {
        // The value itself stays out of the message: it is model output.
        return Err(invalid("intent is not one of the categories".into()));
    }
    let caller_name = match raw.caller_name.map(|n| n.trim().to_owned()) {
        Some(n) if n.is_empty() => return Err(invalid("caller_name is empty".into())),
        Some(n) if n.chars().count() > MAX_SHORT_FIELD_CHARS => {
            return Err(invalid(format!(
                "caller_name longer than {MAX_SHORT_FIELD_CHARS} characters"
            )));
        }
        other => other,
    };
    // An empty time says nothing; storing it as absent keeps "no time" single.
    let preferred_time = raw
        .preferred_time
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if preferred_time
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_SHORT_FIELD_CHARS)
    {
        return Err(invalid(format!(
            "preferred_time longer than {MAX_SHORT_FIELD_CHARS} characters"
        )));
    }
    Ok(CallOutcome {
        summary,
        caller_name,
        intent,
        urgency: raw.urgency,
        callback_requested: raw.callback_requested,
        preferred_time,
        follow_up: raw.follow_up,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats() -> Vec<String> {
        vec!["תור".into(), "מחירים".into()]
    }

    const VALID: &str = r#"{"summary":"דני ביקש לקבוע תור לטיפול שיניים ביום שלישי.","caller_name":"דני","intent":"תור","urgency":"normal","callback_requested":true,"preferred_time":"יום שלישי בבוקר","follow_up":true}"#;

    #[test]
    fn a_valid_hebrew_outcome_parses() {
        let o = parse_outcome(VALID, &cats(), false).unwrap();
        assert_eq!(o.caller_name.as_deref(), Some("דני"));
        assert_eq!(o.urgency, Urgency::Normal);
    }

    #[test]
    fn repeated_and_blank_categories_are_dropped_and_other_comes_last() {
        let c = vec!["תור".into(), " ".into(), "תור".into(), "other".into()];
        assert_eq!(allowed_intents(&c), vec!["תור", "other"]);
    }

    #[test]
    fn a_missing_nullable_field_is_invalid_not_null() {
        let text = VALID.replace(r#","preferred_time":"יום שלישי בבוקר""#, "");
        let e = parse_outcome(&text, &cats(), false).unwrap_err();
        assert_eq!(e.kind(), "invalid_output", "{e}");
    }

    #[test]
    fn an_overlong_caller_name_is_invalid() {
        let text = VALID.replace(r#""דני""#, &format!("\"{}\"", "א".repeat(81)));
        assert!(matches!(
            parse_outcome(&text, &cats(), false),
            Err(ProviderError::InvalidOutput(_))
        ));
    }

    #[test]
    fn an_empty_preferred_time_is_stored_as_absent() {
        let text = VALID.replace("יום שלישי בבוקר", " ");
        let o = parse_outcome(&text, &cats(), false).unwrap();
        assert_eq!(o.preferred_time, None);
    }

    #[test]
    fn an_object_inside_a_code_fence_is_found_only_when_embedded_is_allowed() {
        let text = format!("הנה התשובה:\n```json\n{VALID}\n```");
        assert!(parse_outcome(&text, &cats(), true).is_ok());
        assert!(parse_outcome(&text, &cats(), false).is_err());
    }
}
