//! The fake chat endpoint's answer to a `json_schema` request: a valid call outcome derived from the conversation.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::FakeLatencies;

/// Longest stretch of the caller's words quoted in the fake summary, so it
/// stays well inside the client's 400-character limit.
const QUOTE_CHARS: usize = 120;

/// The whole (non-streamed) completion for a structured-outcome request, or
/// `None` when the request does not ask for a `json_schema` (the ordinary
/// receptionist answer applies).
pub(super) async fn answer(lat: FakeLatencies, body: &[u8]) -> Option<Response> {
    let request: Value = serde_json::from_slice(body).ok()?;
    if request.pointer("/response_format/type") != Some(&json!("json_schema")) {
        return None;
    }
    let start = Instant::now();
    let categories: Vec<&str> = request
        .pointer("/response_format/json_schema/schema/properties/intent/enum")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let last_user = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let content = outcome_for(last_user, &categories).to_string();

    // Same pacing as the fake's whole chat answers: first token, then one
    // interval per word, so benchmarks see a realistic LLM delay.
    let words = u32::try_from(content.split(' ').count()).unwrap_or(u32::MAX);
    let done = start
        + std::time::Duration::from_millis(lat.llm_ttft_ms)
        + lat.token_interval().saturating_mul(words);
    sleep_until(done).await;
    let model = request.get("model").cloned().unwrap_or(Value::Null);
    let body = json!({
        "id": "chatcmpl-fake-outcome",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    });
    Some(axum::Json(body).into_response())
}

/// An outcome that passes the client's validation: the caller's own words as
/// the summary, the first category they mention (else `other`), and a
/// callback when they asked for one.
fn outcome_for(conversation: &str, categories: &[&str]) -> Value {
    // The client labels caller lines "מתקשר:"; a voicemail has no labels, so
    // every non-header line counts as the caller's.
    let caller: Vec<&str> = conversation
        .lines()
        .filter_map(|l| l.strip_prefix("מתקשר:").map(str::trim))
        .collect();
    let said = if caller.is_empty() {
        conversation
            .lines()
            .filter(|l| !l.trim_end().ends_with(':'))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        caller.join(" ")
    };
    let quote: String = said.trim().chars().take(QUOTE_CHARS).collect();
    let summary = if quote.is_empty() {
        "המתקשר לא אמר דבר.".to_owned()
    } else {
        format!("המתקשר אמר: {quote}")
    };
    let intent = categories
        .iter()
        .find(|c| **c != "other" && said.contains(**c))
        .copied()
        .unwrap_or("other");
    let callback = ["תחזרו", "לחזור", "שיחה חוזרת"]
        .iter()
        .any(|w| said.contains(w));
    json!({
        "summary": summary,
        "caller_name": null,
        "intent": intent,
        "urgency": "normal",
        "callback_requested": callback,
        "preferred_time": null,
        "follow_up": callback || intent != "other",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_outcome_passes_the_clients_validation() {
        let categories = vec!["קביעת תור".to_owned()];
        let conversation = "נציג: שלום, במה אפשר לעזור?\n\
                            מתקשר: אני רוצה קביעת תור, תחזרו אליי בבקשה.";
        let cats: Vec<&str> = vec!["קביעת תור", "other"];
        let text = outcome_for(conversation, &cats).to_string();
        let outcome = providers::outcome::parse_outcome(&text, &categories, false).unwrap();
        assert_eq!(outcome.intent, "קביעת תור");
        assert!(outcome.callback_requested && outcome.follow_up);
        assert_eq!(
            outcome.summary,
            "המתקשר אמר: אני רוצה קביעת תור, תחזרו אליי בבקשה."
        );
    }

    #[test]
    fn a_voicemail_with_no_categories_is_summarised_as_other() {
        let text = outcome_for("הודעה קולית שהשאיר המתקשר:\nשלום, זה דני.", &["other"]);
        let outcome = providers::outcome::parse_outcome(&text.to_string(), &[], false).unwrap();
        assert_eq!(outcome.intent, "other");
        assert_eq!(outcome.summary, "המתקשר אמר: שלום, זה דני.");
    }
}
