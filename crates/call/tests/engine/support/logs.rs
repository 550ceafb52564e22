//! Captures tracing events in memory so tests can assert on what was logged.
//!
//! One global subscriber hands each event to the capture installed on the
//! thread that emitted it. Thread-local subscribers (`set_default`) would
//! be simpler, but tracing caches each callsite's interest across all
//! dispatchers, and tests without a subscriber running in parallel can
//! race that cache into dropping events of tests that have one.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// One captured event.
#[derive(Debug, Clone)]
pub struct Line {
    pub level: Level,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

/// The captured events; install it for the current thread with [`Logs::install`].
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<Line>>>);

thread_local! {
    static CURRENT: RefCell<Option<Logs>> = const { RefCell::new(None) };
}

/// Stops capturing on this thread when dropped.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Forwards every event to the capture of the emitting thread, if any.
struct Router;

impl<S: Subscriber> Layer<S> for Router {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        CURRENT.with(|c| {
            if let Some(logs) = &*c.borrow() {
                logs.on_event(event, ctx);
            }
        });
    }
}

impl Logs {
    /// Captures every event on this thread (the whole current-thread test
    /// runtime) until the guard is dropped.
    pub fn install() -> (Self, Guard) {
        static GLOBAL: Once = Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(Router);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
        });
        let logs = Self::default();
        CURRENT.with(|c| *c.borrow_mut() = Some(logs.clone()));
        (logs, Guard)
    }

    fn on_event<S: Subscriber>(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = Visitor::default();
        event.record(&mut visitor);
        self.0.lock().unwrap().push(Line {
            level: *event.metadata().level(),
            message: visitor.message,
            fields: visitor.fields,
        });
    }

    /// Every line captured so far.
    pub fn all(&self) -> Vec<Line> {
        self.0.lock().unwrap().clone()
    }

    /// Lines whose message is `message`.
    pub fn named(&self, message: &str) -> Vec<Line> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.message == message)
            .cloned()
            .collect()
    }
}

#[derive(Default)]
struct Visitor {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Visit for Visitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let value = format!("{value:?}");
        if field.name() == "message" {
            self.message = value;
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}
