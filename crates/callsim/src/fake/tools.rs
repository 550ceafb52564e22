//! The fake chat endpoint's answers to a request that offers tools: a tool call chosen by Hebrew keywords, and a Hebrew continuation once the tool has answered.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::{FakeLatencies, sse_chunk, tokens};

/// Longest stretch of the caller's words quoted in a transfer reason.
const REASON_CHARS: usize = 80;

/// Arguments are cut into pieces of at most this many characters, so a
/// client sees a call arrive over several chunks as from a real model.
const ARGUMENT_PIECE_CHARS: usize = 12;

/// Which tool a caller's words ask for, in order of precedence: a message
/// names what to pass on, so it wins over "someone"; a goodbye is last
/// because callers say thanks in passing.
const RULES: &[(&str, &[&str])] = &[
    ("take_message", &["להשאיר הודעה", "תמסור", "תגיד ל"]),
    ("transfer_to_human", &["לדבר עם", "נציג", "בן אדם", "מישהו"]),
    ("business_hours", &["שעות", "פתוחים", "מתי אתם"]),
    ("end_call", &["להתראות", "ביי", "זהו תודה"]),
];

/// What the fake will answer: words to say, then maybe one tool call.
#[derive(Debug, PartialEq)]
struct Reply {
    text: String,
    call: Option<(&'static str, Value)>,
}

/// The answer to a request with `tools`, or `None` when it offers none, or
/// its last message neither asks for a declared tool nor is a tool's result
/// (the ordinary receptionist answer applies).
pub(super) async fn answer(lat: FakeLatencies, body: &[u8]) -> Option<Response> {
    let start = Instant::now();
    let request: Value = serde_json::from_slice(body).ok()?;
    let declared: Vec<&str> = request
        .get("tools")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
        .collect();
    let messages = request.get("messages").and_then(Value::as_array)?;
    let last = messages.last()?;
    let reply = match last.get("role").and_then(Value::as_str)? {
        "user" => choose_call(content(last), &declared)?,
        "tool" => Reply {
            text: continuation(messages, last),
            call: None,
        },
        _ => return None,
    };
    let model = request.get("model").cloned().unwrap_or(Value::Null);
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        Some(streamed(start, lat, &model, &reply))
    } else {
        Some(whole(start, lat, &model, &reply).await)
    }
}

fn content(message: &Value) -> &str {
    message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The call the caller's words ask for, among the tools the request offers.
fn choose_call(said: &str, declared: &[&str]) -> Option<Reply> {
    let (tool, _) = RULES.iter().find(|(tool, keywords)| {
        declared.contains(tool) && keywords.iter().any(|k| mentions(said, k))
    })?;
    let words = said.trim();
    let (text, arguments) = match *tool {
        "take_message" => {
            let mut arguments = json!({"message": words});
            if let Some(name) = caller_name(words) {
                arguments["name"] = json!(name);
            }
            ("בסדר, אני רושמת.", arguments)
        }
        "transfer_to_human" => {
            let quoted: String = words.chars().take(REASON_CHARS).collect();
            (
                "רגע, אני מעבירה אותך לנציג.",
                json!({"reason": format!("המתקשר ביקש לדבר עם נציג: {quoted}")}),
            )
        }
        "business_hours" => ("רגע, אני בודקת.", json!({})),
        // Nothing to say before hanging up: the goodbye comes after the
        // tool has answered.
        _ => ("", json!({})),
    };
    Some(Reply {
        text: text.to_owned(),
        call: Some((tool, arguments)),
    })
}

/// Whether `said` contains `keyword`; "תגיד לי" asks the agent something,
/// it does not pass a message on.
fn mentions(said: &str, keyword: &str) -> bool {
    said.match_indices(keyword)
        .any(|(at, _)| !(keyword == "תגיד ל" && said[at..].starts_with("תגיד לי")))
}

/// The caller's name after "קוראים לי", up to the end of the clause and at
/// most two words.
fn caller_name(said: &str) -> Option<String> {
    let after = said.split_once("קוראים לי")?.1;
    let clause = after.split([',', '.', '!', '?']).next()?;
    let name = clause
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// What the agent says once the tool `result` (the last message) answered.
fn continuation(messages: &[Value], result: &Value) -> String {
    let id = result.get("tool_call_id").and_then(Value::as_str);
    let tool = messages
        .iter()
        .filter_map(|m| m.get("tool_calls").and_then(Value::as_array))
        .flatten()
        .find(|c| c.get("id").and_then(Value::as_str) == id)
        .and_then(|c| c.pointer("/function/name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    match tool {
        "business_hours" => serde_json::from_str::<Value>(content(result))
            .ok()
            .and_then(|r| r.get("summary").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "אין לי כרגע את שעות הפתיחה, אפשר להשאיר הודעה.".to_owned()),
        "take_message" => "רשמתי את ההודעה ואעביר אותה.".to_owned(),
        "end_call" => "תודה שהתקשרת, יום טוב.".to_owned(),
        "transfer_to_human" => "מעבירה אותך עכשיו.".to_owned(),
        _ => "בסדר.".to_owned(),
    }
}

/// The reply as SSE events: the words one token each, the call's first
/// chunk (id and name) and its arguments in pieces, then the finish.
fn events(model: &str, reply: &Reply) -> Vec<String> {
    let mut events: Vec<String> = if reply.text.is_empty() {
        Vec::new()
    } else {
        tokens(&reply.text)
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut delta = json!({"content": t});
                if i == 0 {
                    delta["role"] = json!("assistant");
                }
                sse_chunk(model, &delta, Value::Null)
            })
            .collect()
    };
    let finish = match &reply.call {
        None => "stop",
        Some((name, arguments)) => {
            let fragment = |f: Value| json!({"tool_calls": [f]});
            events.push(sse_chunk(
                model,
                &fragment(json!({"index": 0, "id": call_id(name), "type": "function",
                                 "function": {"name": name, "arguments": ""}})),
                Value::Null,
            ));
            let arguments: Vec<char> = arguments.to_string().chars().collect();
            let piece = ARGUMENT_PIECE_CHARS.min(arguments.len().div_ceil(2)).max(1);
            for chunk in arguments.chunks(piece) {
                let text: String = chunk.iter().collect();
                events.push(sse_chunk(
                    model,
                    &fragment(json!({"index": 0, "function": {"arguments": text}})),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
    };
    events.push(sse_chunk(model, &json!({}), json!(finish)) + "data: [DONE]\n\n");
    events
}

fn call_id(tool: &str) -> String {
    format!("call_fake_{tool}")
}

/// The events at the fake's pace: the first after the first-token latency,
/// then one per token interval, the finish right after the last.
fn streamed(start: Instant, lat: FakeLatencies, model: &Value, reply: &Reply) -> Response {
    let events = Arc::new(events(model.as_str().unwrap_or_default(), reply));
    let first = start + Duration::from_millis(lat.llm_ttft_ms);
    let interval = lat.token_interval();
    let body = futures::stream::unfold(0_usize, move |i| {
        let events = Arc::clone(&events);
        async move {
            let event = events.get(i)?.clone();
            let slot = i.min(events.len().saturating_sub(2));
            sleep_until(first + interval.saturating_mul(u32::try_from(slot).unwrap_or(u32::MAX)))
                .await;
            Some((Ok::<_, Infallible>(Bytes::from(event)), i + 1))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The whole completion after the same total time as the streamed one.
async fn whole(start: Instant, lat: FakeLatencies, model: &Value, reply: &Reply) -> Response {
    let steps = events(model.as_str().unwrap_or_default(), reply).len();
    let steps = u32::try_from(steps.saturating_sub(1)).unwrap_or(u32::MAX);
    sleep_until(
        start + Duration::from_millis(lat.llm_ttft_ms) + lat.token_interval().saturating_mul(steps),
    )
    .await;
    let mut message = json!({"role": "assistant", "content": reply.text});
    let mut finish = "stop";
    if let Some((name, arguments)) = &reply.call {
        message["tool_calls"] = json!([{
            "id": call_id(name),
            "type": "function",
            "function": {"name": name, "arguments": arguments.to_string()},
        }]);
        if reply.text.is_empty() {
            message["content"] = Value::Null;
        }
        finish = "tool_calls";
    }
    axum::Json(json!({
        "id": "chatcmpl-fake-tools",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &[
        "transfer_to_human",
        "end_call",
        "business_hours",
        "take_message",
    ];

    fn tool_of(said: &str, declared: &[&str]) -> Option<&'static str> {
        choose_call(said, declared).and_then(|r| r.call.map(|(name, _)| name))
    }

    #[test]
    fn the_callers_words_pick_the_tool_they_ask_for() {
        assert_eq!(
            tool_of("אפשר לדבר עם נציג?", ALL),
            Some("transfer_to_human")
        );
        assert_eq!(tool_of("זהו תודה", ALL), Some("end_call"));
        assert_eq!(
            tool_of("מתי אתם פתוחים ביום שישי?", ALL),
            Some("business_hours")
        );
        assert_eq!(
            tool_of("אני רוצה להשאיר הודעה לדני", ALL),
            Some("take_message")
        );
        assert_eq!(tool_of("אני צריך תור למחר", ALL), None);
    }

    #[test]
    fn only_a_tool_the_request_declares_is_called() {
        assert_eq!(tool_of("אפשר לדבר עם נציג?", &["end_call"]), None);
        assert_eq!(
            tool_of(
                "תמסור לו שאני מגיע, ואפשר גם לדבר עם מישהו",
                &["transfer_to_human"]
            ),
            Some("transfer_to_human")
        );
    }

    #[test]
    fn asking_the_agent_to_tell_me_something_is_not_a_message() {
        assert_eq!(
            tool_of("תגיד לי מה השעות שלכם", ALL),
            Some("business_hours")
        );
        assert_eq!(tool_of("תגיד לדני שאני מאחר", ALL), Some("take_message"));
    }

    #[test]
    fn a_message_carries_the_callers_words_and_the_name_they_gave() {
        let reply = choose_call("קוראים לי רותי לוי, תמסור שאני מאחרת", ALL).unwrap();
        let (_, arguments) = reply.call.unwrap();
        assert_eq!(arguments["name"], "רותי לוי");
        assert_eq!(arguments["message"], "קוראים לי רותי לוי, תמסור שאני מאחרת");
    }

    #[test]
    fn a_tool_call_arrives_over_at_least_three_chunks_after_the_spoken_words() {
        let reply = choose_call("נציג בבקשה", ALL).unwrap();
        let events = events("m", &reply);
        let calls = events
            .iter()
            .filter(|e| e.contains("tool_calls\":["))
            .count();
        assert!(calls >= 3, "{events:?}");
        let first_call = events
            .iter()
            .position(|e| e.contains("tool_calls\":["))
            .unwrap();
        assert!(events[..first_call].iter().all(|e| e.contains("content")));
        assert!(events.last().unwrap().ends_with("data: [DONE]\n\n"));
        assert!(
            events
                .last()
                .unwrap()
                .contains("\"finish_reason\":\"tool_calls\"")
        );
    }

    #[test]
    fn after_business_hours_the_agent_says_the_summary_it_got() {
        let messages = vec![
            json!({"role": "user", "content": "מתי אתם פתוחים?"}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "business_hours", "arguments": "{}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "{\"summary\":\"פתוחים עד שש\"}"}),
        ];
        assert_eq!(continuation(&messages, &messages[2]), "פתוחים עד שש");
    }
}
