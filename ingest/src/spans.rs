//! Spans into runtime events: a span carrying `gen_ai.operation.name`
//! goes through the GenAI mapping (`ai-runtime-genai`, the one the layer
//! uses for the spans it captures in-process), so it gives the row a
//! library's span through the layer gives. Every other span is ignored
//! (and counted).
//!
//! What the layer takes from `tracing`, a span here takes from OTLP:
//!
//! | layer (tracing) | here (OTLP) |
//! | --- | --- |
//! | the span's fields, at creation and recorded | its attributes (the mapping's table only; content only with `capture_content`) |
//! | `otel.status_code = ERROR` | status `ERROR` (stored as `otel.status_code`) |
//! | an ERROR event inside | an `exception` event |
//! | creation time, duration (`latency_ms`) | start time, end - start |
//! | target | the instrumentation scope's name |
//! | `task_id`, `persona_id`, `worker_id` of the span or its enclosing spans | attributes `task_id` / `ai_runtime.task_id` (and so on) on the span, its ancestors in the same request, then the resource |
//! | `trace_id`, `span_id` recorded on a span | the span's own ids (hex) |
//!
//! Beside the mapping's keys, the resource's attributes are kept in
//! metadata under their names (`service.name`, ...), at most
//! [`MAX_RESOURCE_ATTRIBUTES`] of them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use ai_runtime_genai::{attribute, keys, map, Entity, Kind, Role, SpanFacts};
use observability_layer::PreparedEvent;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{status, Span};
use serde_json::Value;
use tracing::Level;
use uuid::Uuid;

use crate::attributes::{self, MAX_KEY_BYTES};
use crate::decode::{Batch, Decoded};
use crate::outcome::Outcome;

/// Resource attributes kept in a span event's metadata, at most.
pub const MAX_RESOURCE_ATTRIBUTES: usize = 32;
/// Ancestors looked through for an id, at most (a cycle ends there too).
const MAX_ANCESTORS: usize = 64;

/// How spans are mapped.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanSettings {
    /// Keep prompts, replies, instructions, tool arguments and results
    /// (scrubbed and capped by the sink like every value).
    pub capture_content: bool,
}

/// The ids an event takes from its span, its ancestors or the resource.
const ID_ATTRIBUTES: [(IdKind, &str, &str); 3] = [
    (IdKind::Task, "task_id", "ai_runtime.task_id"),
    (IdKind::Persona, "persona_id", "ai_runtime.persona_id"),
    (IdKind::Worker, "worker_id", "ai_runtime.worker_id"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    Task,
    Persona,
    Worker,
}

/// What each span of the request becomes, in order.
pub fn outcomes(decoded: &Decoded<Span>, settings: SpanSettings) -> Vec<Outcome> {
    // Every span of the request by (trace id, span id), for the ancestors.
    let by_id: HashMap<(&[u8], &[u8]), &Span> = decoded
        .batches
        .iter()
        .flat_map(|b| b.items.iter())
        .map(|s| ((s.trace_id.as_slice(), s.span_id.as_slice()), s))
        .collect();
    decoded
        .batches
        .iter()
        .flat_map(|batch| batch.items.iter().map(move |span| (batch, span)))
        .map(|(batch, span)| event(span, batch, &by_id, settings))
        .collect()
}

fn event(
    span: &Span,
    batch: &Batch<Span>,
    by_id: &HashMap<(&[u8], &[u8]), &Span>,
    settings: SpanSettings,
) -> Outcome {
    if !attributes::has(&span.attributes, keys::OPERATION) {
        return Outcome::Ignored;
    }
    // The table's attributes, one value per key, in the order first seen.
    let mut fields: Vec<(&'static str, Value)> = Vec::new();
    let mut facts_text: Vec<(Role, String)> = Vec::new();
    // The roles of the values that are no text (token counts, ...).
    let mut facts_other: Vec<Role> = Vec::new();
    for kv in &span.attributes {
        let Some(attribute) = attribute(&kv.key) else {
            continue;
        };
        if attribute.role == Role::Content && !settings.capture_content {
            continue;
        }
        let value = attributes::to_json(kv.value.as_ref());
        match &value {
            Value::String(text) => facts_text.push((attribute.role, text.clone())),
            _ => facts_other.push(attribute.role),
        }
        match fields.iter_mut().find(|(key, _)| *key == attribute.key) {
            None => fields.push((attribute.key, value)),
            // The legacy provider name never replaces the current one.
            Some(_) if attribute.role == Role::LegacyProvider => {}
            Some((_, slot)) => *slot = value,
        }
    }
    let failed_status = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == status::StatusCode::Error as i32);
    if failed_status {
        match fields.iter_mut().find(|(key, _)| *key == keys::STATUS_CODE) {
            Some((_, slot)) => *slot = Value::from("ERROR"),
            None => fields.push((keys::STATUS_CODE, Value::from("ERROR"))),
        }
        facts_text.push((Role::StatusCode, "ERROR".into()));
    }
    let mut facts = SpanFacts::default();
    // The provider as stored: the current name, else the legacy one.
    for (role, text) in &facts_text {
        if *role != Role::LegacyProvider || facts.legacy_provider.is_none() {
            facts.note(*role, text);
        }
    }
    for role in facts_other {
        facts.note_number(role);
    }
    facts.error_event = span.events.iter().any(|e| e.name == "exception");
    let Some(mapped) = map(&facts) else {
        // create_agent: the mapping writes nothing for it.
        return Outcome::Ignored;
    };
    let ids = match ids(span, batch, by_id) {
        Ok(ids) => ids,
        Err(rejected) => return rejected,
    };
    let start = span.start_time_unix_nano;
    let occurred_at = if start == 0 {
        SystemTime::now()
    } else {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(start)
    };
    let level = if mapped.failed {
        Level::ERROR
    } else {
        Level::INFO
    };
    let mut event = PreparedEvent::new(
        occurred_at,
        level,
        mapped.layer,
        mapped.operation,
        mapped.reason_code,
    );
    event.target = batch.scope.name.clone();
    event.entity_id = match mapped.entity {
        Entity::Unnamed => String::new(),
        named => named.to_string(),
    };
    event.task_id = ids.task;
    event.persona_id = ids.persona;
    event.worker_id = ids.worker;
    event.price = mapped.kind == Kind::Inference;
    let mut fields: Vec<(String, Value)> =
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    // A failed span that named no error type: say what told it failed.
    if facts.error_type.is_none() {
        if let Some(kind) = facts.error_type(mapped.kind).filter(|_| mapped.failed) {
            fields.push((keys::ERROR_TYPE.into(), Value::from(kind)));
        }
    }
    let nanos = span.end_time_unix_nano.saturating_sub(start);
    let latency_ms = (nanos as f64 / 1e6 * 1000.0).round() / 1000.0;
    fields.push((keys::LATENCY_MS.into(), Value::from(latency_ms)));
    for (name, id) in [("trace_id", &span.trace_id), ("span_id", &span.span_id)] {
        if !id.is_empty() {
            fields.push((name.into(), attributes::hex(id).into()));
        }
    }
    fields.extend(resource_fields(&batch.resource.attributes, &fields));
    event.fields = fields;
    Outcome::Event(Box::new(event))
}

/// The resource's attributes to keep, none of them a key the event has.
fn resource_fields(resource: &[KeyValue], taken: &[(String, Value)]) -> Vec<(String, Value)> {
    resource
        .iter()
        .filter(|kv| {
            kv.key.len() <= MAX_KEY_BYTES
                && !kv.key.starts_with("ai_runtime.")
                && attribute(&kv.key).is_none()
                && !ID_ATTRIBUTES.iter().any(|(_, plain, _)| kv.key == *plain)
                && !taken.iter().any(|(key, _)| *key == kv.key)
        })
        .take(MAX_RESOURCE_ATTRIBUTES)
        .map(|kv| (kv.key.clone(), attributes::to_json(kv.value.as_ref())))
        .collect()
}

#[derive(Default)]
struct Ids {
    task: Option<Uuid>,
    persona: Option<Uuid>,
    worker: Option<String>,
}

/// The span's ids: its own, else its nearest ancestor's in the request,
/// else the resource's. An id that is no UUID rejects the span (as the
/// layer counts such an event invalid).
fn ids(
    span: &Span,
    batch: &Batch<Span>,
    by_id: &HashMap<(&[u8], &[u8]), &Span>,
) -> Result<Ids, Outcome> {
    let mut sources: Vec<&[KeyValue]> = vec![&span.attributes];
    let mut current = span;
    while sources.len() <= MAX_ANCESTORS && !current.parent_span_id.is_empty() {
        let key = (
            current.trace_id.as_slice(),
            current.parent_span_id.as_slice(),
        );
        let Some(parent) = by_id.get(&key) else { break };
        sources.push(&parent.attributes);
        current = parent;
    }
    sources.push(&batch.resource.attributes);
    let mut ids = Ids::default();
    for (kind, plain, ours) in ID_ATTRIBUTES {
        let found = sources.iter().find_map(|attrs| {
            attributes::string(attrs, ours).or_else(|| attributes::string(attrs, plain))
        });
        let Some(text) = found.map(str::trim).filter(|t| !t.is_empty()) else {
            continue;
        };
        let uuid = || {
            Uuid::try_parse(text)
                .map(Some)
                .map_err(|_| Outcome::Rejected(format!("{plain} {text:?} is not a UUID")))
        };
        match kind {
            IdKind::Task => ids.task = uuid()?,
            IdKind::Persona => ids.persona = uuid()?,
            IdKind::Worker => ids.worker = Some(text.to_owned()),
        }
    }
    Ok(ids)
}
