//! One tracing setup: JSON lines to stdout and to a size-rotated `logs/app.log`.
//!
//! Every line is one JSON object with `ts`, `level`, `module`, `path`,
//! `call_sid`, `business_id`, `msg` and the event's own fields under `extra`.
//! Context fields (`call_sid`, `business_id`, `path`, `request_id`) are taken
//! from the enclosing spans, so a handler that records `call_sid` on its span
//! tags every line logged beneath it.
//!
//! Log lines name callers' numbers and what they said, so the log folder
//! is created readable by the service's user only (0700) and each log file
//! 0600 (on unix; an existing folder or file keeps its mode).

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogConfig;
use crate::domain::Timestamp;

/// Span fields lifted to the top level of every log line beneath the span.
const CONTEXT_FIELDS: [&str; 4] = ["call_sid", "business_id", "path", "request_id"];

/// Keeps the background log writers alive; dropping it flushes them.
#[must_use = "logs are lost when the guard is dropped"]
pub struct TelemetryGuard {
    _guards: Vec<WorkerGuard>,
}

/// Installs the global subscriber. In development the console gets
/// human-readable lines; the file is JSON either way.
pub fn init(config: &LogConfig, development: bool) -> anyhow::Result<TelemetryGuard> {
    use anyhow::Context as _;
    use file_rotate::{ContentLimit, FileRotate, compression::Compression, suffix::AppendCount};

    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    // The modes below, like every file mode, are narrowed further by the
    // process's umask, never widened.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder
        .create(&config.dir)
        .with_context(|| format!("cannot create LOG_DIR {}", config.dir.display()))?;
    // What file-rotate opens with by default, plus the mode of a new file
    // (rotation renames files, so rotated ones keep it).
    let mut open = std::fs::OpenOptions::new();
    open.read(true).create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = FileRotate::new(
        config.dir.join("app.log"),
        AppendCount::new(config.file_max_files),
        // BytesSurpassed rotates after the line that crossed the limit, so a
        // JSON line is never split across two files.
        ContentLimit::BytesSurpassed(config.file_max_bytes),
        Compression::None,
        Some(open),
    );
    let (file_writer, file_guard) = tracing_appender::non_blocking(file);
    let (stdout_writer, stdout_guard) = tracing_appender::non_blocking(std::io::stdout());
    let filter = EnvFilter::try_new(&config.filter)
        .with_context(|| format!("invalid LOG_LEVEL/RUST_LOG {:?}", config.filter))?;

    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(JsonLayer::new(file_writer));
    if development {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .pretty()
                    .with_writer(stdout_writer),
            )
            .try_init()?;
    } else {
        registry.with(JsonLayer::new(stdout_writer)).try_init()?;
    }
    Ok(TelemetryGuard {
        _guards: vec![file_guard, stdout_guard],
    })
}

/// Where a [`JsonLayer`] writes its lines.
pub trait LineSink: Send + Sync + 'static {
    fn write_line(&self, line: &[u8]);
}

impl LineSink for NonBlocking {
    fn write_line(&self, line: &[u8]) {
        // The non-blocking writer drops lines rather than block a call when
        // its buffer is full; there is nothing better to do with the error.
        let _ = self.clone().write_all(line);
    }
}

/// An in-memory sink, for tests that assert what was logged.
#[derive(Clone, Default)]
pub struct MemorySink(pub Arc<Mutex<Vec<String>>>);

impl MemorySink {
    /// Every line logged so far, parsed.
    pub fn lines(&self) -> Vec<Value> {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl LineSink for MemorySink {
    fn write_line(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line).trim_end().to_string();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(text);
    }
}

/// Formats each event as one JSON object per line.
pub struct JsonLayer<S> {
    sink: S,
}

impl<S: LineSink> JsonLayer<S> {
    pub fn new(sink: S) -> Self {
        Self { sink }
    }
}

/// The fields recorded on a span, kept in its extensions.
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

impl<S, Sub> Layer<Sub> for JsonLayer<S>
where
    S: LineSink,
    Sub: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, Sub>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        // With two JSON sinks (file and stdout) the first layer has already
        // stored the same fields.
        if ext.get_mut::<SpanFields>().is_none() {
            let mut fields = Map::new();
            attrs.record(&mut JsonVisitor(&mut fields));
            ext.insert(SpanFields(fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, Sub>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(SpanFields(fields)) = ext.get_mut::<SpanFields>() {
            values.record(&mut JsonVisitor(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, Sub>) {
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let msg = fields.remove("message").unwrap_or(Value::from(""));

        let mut line = Map::new();
        // The same text as a stored `Timestamp`, so logs and rows match by eye.
        line.insert("ts".into(), Value::from(Timestamp::now().as_str()));
        line.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str()),
        );
        line.insert("module".into(), Value::from(event.metadata().target()));
        for name in CONTEXT_FIELDS {
            line.insert(name.into(), Value::Null);
        }
        // Innermost span wins: walk from the root so inner values overwrite.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    for name in CONTEXT_FIELDS {
                        if let Some(v) = span_fields.get(name) {
                            line.insert(name.into(), v.clone());
                        }
                    }
                }
            }
        }
        // An event may carry the context itself (a log outside any span).
        for name in CONTEXT_FIELDS {
            if let Some(v) = fields.remove(name) {
                line.insert(name.into(), v);
            }
        }
        line.insert("msg".into(), msg);
        line.insert("extra".into(), Value::Object(fields));

        let mut bytes = serde_json::to_vec(&Value::Object(line)).unwrap_or_default();
        bytes.push(b'\n');
        self.sink.write_line(&bytes);
    }
}

/// A process-wide in-memory log capture for tests: installed once, shared by
/// every test in the binary (tests tell their lines apart by unique ids).
pub fn install_test_capture() -> MemorySink {
    static SINK: std::sync::OnceLock<MemorySink> = std::sync::OnceLock::new();
    SINK.get_or_init(|| {
        let sink = MemorySink::default();
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::new(
                "debug,sqlx=warn,hyper=info,h2=info,reqwest=info",
            ))
            .with(JsonLayer::new(sink.clone()))
            .try_init();
        sink
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_is_json_with_the_context_of_its_spans() {
        let sink = MemorySink::default();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(sink.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("call", call_sid = "CA1", business_id = 7_i64);
            let _g = span.enter();
            tracing::warn!(chars = 12_u64, "stream_failover -> recording");
        });
        let lines = sink.lines();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["call_sid"], "CA1");
        assert_eq!(line["business_id"], 7);
        assert_eq!(line["msg"], "stream_failover -> recording");
        assert_eq!(line["extra"]["chars"], 12);
        assert!(line["ts"].as_str().unwrap().ends_with('Z'));
        assert!(line["module"].as_str().unwrap().contains("telemetry"));
    }

    #[test]
    fn fields_recorded_later_on_a_span_reach_the_lines_beneath_it() {
        let sink = MemorySink::default();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(sink.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                call_sid = tracing::field::Empty,
                path = "/webhook/x"
            );
            let _g = span.enter();
            span.record("call_sid", "CA9");
            tracing::info!("hello");
        });
        let line = &sink.lines()[0];
        assert_eq!(line["call_sid"], "CA9");
        assert_eq!(line["path"], "/webhook/x");
        assert_eq!(line["business_id"], Value::Null);
    }

    #[test]
    fn timestamps_are_fixed_width_utc() {
        let t = time::macros::datetime!(2026-01-02 03:04:05.006 UTC);
        assert_eq!(Timestamp::from(t).as_str(), "2026-01-02T03:04:05.006Z");
    }
}
