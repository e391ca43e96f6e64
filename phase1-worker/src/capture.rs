//! An in-memory capture of tracing events, for tests: records every event's
//! fields as text, so tests can check which runtime events were emitted
//! without a database.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One captured event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedEvent {
    pub layer: String,
    pub operation: String,
    pub reason_code: String,
    pub fields: BTreeMap<String, String>,
}

impl CapturedEvent {
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields.get(name).cloned()
    }
}

/// A tracing layer that keeps every event it sees.
#[derive(Debug, Clone, Default)]
pub struct EventCapture {
    events: Arc<Mutex<Vec<CapturedEvent>>>,
}

impl EventCapture {
    pub fn new() -> EventCapture {
        EventCapture::default()
    }

    pub fn events(&self) -> Vec<CapturedEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runtime events (those with a `layer` field) with this layer and operation.
    pub fn count(&self, layer: &str, operation: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.layer == layer && e.operation == operation)
            .count()
    }

    /// Makes this capture the thread's subscriber until the guard drops
    /// (for async tests on a current-thread runtime).
    pub fn set_default(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(self.clone()))
    }

    /// Runs `f` with only this capture as the thread's subscriber.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }
}

impl<S: Subscriber> Layer<S> for EventCapture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = FieldText::default();
        event.record(&mut visitor);
        let mut fields = visitor.0;
        let captured = CapturedEvent {
            layer: fields.remove("layer").unwrap_or_default(),
            operation: fields.remove("operation").unwrap_or_default(),
            reason_code: fields.remove("reason_code").unwrap_or_default(),
            fields,
        };
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(captured);
    }
}

#[derive(Default)]
struct FieldText(BTreeMap<String, String>);

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}
