//! Tests of the chat stream parser driven with hand-cut byte chunks, and of the request body.

use std::time::Duration;

use futures::channel::mpsc;
use proptest::prelude::*;
use serde_json::json;

use super::*;

const SPOKEN: &str = "רגע, אני בודקת.";
/// JSON text with Hebrew, escaped quotes and an escaped newline.
const MESSAGE_ARGS: &str = r#"{"message": "תגיד לדני \"דחוף\"\nתודה", "name": "רותי"}"#;
const HOURS_ARGS: &str = r#"{"day": "שישי"}"#;

fn event(delta: &Value, finish: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

fn text_event(text: &str) -> String {
    event(&json!({"content": text}), Value::Null)
}

fn fragments_event(fragments: Value) -> String {
    event(&json!({"tool_calls": fragments}), Value::Null)
}

fn first_fragment(index: u64, id: &str, name: &str, arguments: &str) -> Value {
    json!({"index": index, "id": id, "type": "function",
           "function": {"name": name, "arguments": arguments}})
}

fn more_arguments(index: u64, arguments: &str) -> Value {
    json!({"index": index, "function": {"arguments": arguments}})
}

fn finish_event(reason: &str) -> String {
    event(&json!({}), json!(reason))
}

/// `s` split at these char boundaries.
fn split_at_chars(s: &str, at: &[usize]) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut last = 0;
    for &cut in at.iter().chain(std::iter::once(&chars.len())) {
        out.push(chars[last..cut].iter().collect());
        last = cut;
    }
    out
}

/// Text, then two tool calls whose arguments arrive in pieces, some chunks
/// carrying pieces of both calls, then `finish_reason` and `[DONE]`.
fn canned_body() -> String {
    let m = split_at_chars(MESSAGE_ARGS, &[3, 14, 30, 41]);
    let h = split_at_chars(HOURS_ARGS, &[2, 9]);
    [
        ": keep-alive\n\n".to_owned(),
        event(&json!({"role": "assistant", "content": ""}), Value::Null),
        text_event("רגע, "),
        text_event("אני בודקת."),
        fragments_event(json!([first_fragment(
            0,
            "call_msg",
            "take_message",
            &m[0]
        )])),
        fragments_event(json!([more_arguments(0, &m[1])])),
        fragments_event(json!([
            more_arguments(0, &m[2]),
            first_fragment(1, "call_hours", "business_hours", &h[0])
        ])),
        fragments_event(json!([more_arguments(1, &h[1]), more_arguments(0, &m[3])])),
        fragments_event(json!([more_arguments(0, &m[4]), more_arguments(1, &h[2])])),
        finish_event("tool_calls"),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat()
}

fn expected_calls() -> Vec<ToolCall> {
    vec![
        ToolCall {
            id: "call_msg".into(),
            name: "take_message".into(),
            arguments: MESSAGE_ARGS.into(),
        },
        ToolCall {
            id: "call_hours".into(),
            name: "business_hours".into(),
            arguments: HOURS_ARGS.into(),
        },
    ]
}

fn parse<S>(bytes: S) -> BoxStream<'static, Result<ChatDelta, ProviderError>>
where
    S: Stream<Item = Result<Bytes, ProviderError>> + Send + 'static,
{
    let now = Instant::now();
    let far = now + Duration::from_secs(30);
    delta_stream(bytes, now, far, far)
}

fn chunks(parts: Vec<Vec<u8>>) -> impl Stream<Item = Result<Bytes, ProviderError>> + Send {
    stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))))
}

/// The text said, the calls made, and the error that ended the stream.
async fn drain(
    mut deltas: BoxStream<'static, Result<ChatDelta, ProviderError>>,
) -> (String, Vec<ToolCall>, Option<ProviderError>) {
    let (mut text, mut calls) = (String::new(), Vec::new());
    while let Some(item) = deltas.next().await {
        match item {
            Ok(ChatDelta::Text(t)) => {
                assert!(calls.is_empty(), "text after a tool call: {t}");
                text.push_str(&t);
            }
            Ok(ChatDelta::ToolCall(call)) => calls.push(call),
            Err(e) => {
                assert!(
                    deltas.next().await.is_none(),
                    "stream must end after an error"
                );
                return (text, calls, Some(e));
            }
        }
    }
    (text, calls, None)
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

/// `body` cut at these byte offsets, wherever they fall.
fn cut(body: &[u8], mut at: Vec<usize>) -> Vec<Vec<u8>> {
    at.sort_unstable();
    at.dedup();
    let mut parts = Vec::new();
    let mut last = 0;
    for c in at.into_iter().chain(std::iter::once(body.len())) {
        parts.push(body[last..c].to_vec());
        last = c;
    }
    parts
}

proptest! {
    #[test]
    fn text_and_two_tool_calls_survive_any_cutting_of_the_stream(
        fractions in prop::collection::vec(0.0..1.0_f64, 0..48)
    ) {
        let body = canned_body();
        let len = body.len();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let at: Vec<usize> = fractions.iter().map(|f| (f * len as f64) as usize).collect();
        let (text, calls, err) = run(drain(parse(chunks(cut(body.as_bytes(), at)))));
        prop_assert!(err.is_none(), "{err:?}");
        prop_assert_eq!(text, SPOKEN);
        prop_assert_eq!(calls, expected_calls());
    }
}

#[tokio::test]
async fn a_stream_read_one_byte_at_a_time_gives_the_same_text_and_calls() {
    let body = canned_body();
    let bytes: Vec<Vec<u8>> = body.bytes().map(|b| vec![b]).collect();
    let (text, calls, err) = drain(parse(chunks(bytes))).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text, SPOKEN);
    assert_eq!(calls, expected_calls());
    let args: Value = serde_json::from_str(&calls[0].arguments).unwrap();
    assert_eq!(args["message"], "תגיד לדני \"דחוף\"\nתודה");
}

#[tokio::test]
async fn text_before_a_tool_call_arrives_while_the_call_is_still_coming() {
    let (tx, rx) = mpsc::unbounded::<Result<Bytes, ProviderError>>();
    let send = |s: String| tx.unbounded_send(Ok(Bytes::from(s))).unwrap();
    let mut deltas = parse(rx);
    send(text_event("רגע"));
    send(fragments_event(json!([first_fragment(
        0, "call_1", "end_call", "{"
    )])));
    assert_eq!(
        deltas.next().await.unwrap().unwrap(),
        ChatDelta::Text("רגע".into())
    );
    send(fragments_event(json!([more_arguments(0, "}")])));
    send(finish_event("tool_calls"));
    drop(tx);
    let (text, calls, err) = drain(deltas).await;
    assert!(err.is_none(), "{err:?}");
    assert!(text.is_empty());
    assert_eq!(calls[0].name, "end_call");
    assert_eq!(calls[0].arguments, "{}");
}

#[tokio::test]
async fn a_stream_cut_off_in_the_middle_of_a_tool_call_is_an_error_not_a_short_call() {
    let body = [
        text_event("רגע"),
        fragments_event(json!([first_fragment(
            0,
            "call_1",
            "take_message",
            r#"{"message": "#
        )])),
    ]
    .concat();
    let (text, calls, err) = drain(parse(chunks(vec![body.into_bytes()]))).await;
    assert_eq!(text, "רגע");
    assert!(calls.is_empty(), "{calls:?}");
    assert!(matches!(err, Some(ProviderError::Http(_))), "{err:?}");
}

#[tokio::test]
async fn a_tool_call_without_a_name_is_malformed() {
    let body = [
        fragments_event(json!([{"index": 0, "id": "call_1", "function": {"arguments": "{}"}}])),
        finish_event("tool_calls"),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (_, calls, err) = drain(parse(chunks(vec![body.into_bytes()]))).await;
    assert!(calls.is_empty());
    assert!(matches!(err, Some(ProviderError::Malformed(_))), "{err:?}");
}

#[tokio::test]
async fn tool_call_arguments_that_are_not_json_are_malformed() {
    let body = [
        fragments_event(json!([first_fragment(0, "call_1", "end_call", "{\"a\":")])),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (_, calls, err) = drain(parse(chunks(vec![body.into_bytes()]))).await;
    assert!(calls.is_empty());
    assert!(matches!(err, Some(ProviderError::Malformed(_))), "{err:?}");
}

#[tokio::test]
async fn a_call_finished_by_its_finish_reason_counts_even_without_done() {
    let body = [
        fragments_event(json!([first_fragment(0, "call_1", "end_call", "{}")])),
        finish_event("tool_calls"),
    ]
    .concat();
    let (_, calls, err) = drain(parse(chunks(vec![body.into_bytes()]))).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(calls.len(), 1);
}

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "end_call".into(),
        description: "מסיים את השיחה".into(),
        parameters: json!({"type": "object", "properties": {}}),
    }]
}

#[test]
fn the_request_offers_tools_only_when_there_are_some() {
    let messages = [ChatMessage::user("ביי")];
    let without = request_body("m", &messages, &[]);
    assert!(without.get("tools").is_none(), "{without}");

    let with = request_body("m", &messages, &tools());
    assert_eq!(
        with["tools"],
        json!([{"type": "function", "function": {
            "name": "end_call",
            "description": "מסיים את השיחה",
            "parameters": {"type": "object", "properties": {}},
        }}])
    );
}

#[test]
fn tool_calls_and_their_results_are_sent_in_openais_shape() {
    let call = ToolCall {
        id: "call_1".into(),
        name: "end_call".into(),
        arguments: "{}".into(),
    };
    let messages = [
        ChatMessage::user("ביי"),
        ChatMessage::assistant_tool_calls("", vec![call]),
        ChatMessage::tool_result("call_1", r#"{"ok":true}"#),
    ];
    let body = request_body("m", &messages, &tools());
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "ביי"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "end_call", "arguments": "{}"}}
            ]},
            {"role": "tool", "content": r#"{"ok":true}"#, "tool_call_id": "call_1"},
        ])
    );
}

#[test]
fn a_whole_json_answer_carries_its_tool_calls() {
    let body = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
    "role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "business_hours", "arguments": HOURS_ARGS}}
    ]}}]});
    let answer = whole_json_answer(body.to_string().as_bytes()).unwrap();
    assert!(answer.text.is_empty());
    assert_eq!(answer.tool_calls[0].name, "business_hours");
    assert_eq!(answer.tool_calls[0].arguments, HOURS_ARGS);
}
