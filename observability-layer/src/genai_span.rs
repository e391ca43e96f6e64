//! GenAI spans as runtime events. A span whose callsite carries
//! `gen_ai.operation.name` (rig's, genai's, any library's following the
//! OpenTelemetry GenAI conventions) gets an event box at creation, kept in
//! the span's extensions: the attributes given then and recorded later
//! (`Span::record`) are copied into it under the mapping's keys, one value
//! per key. When the span closes, `ai_runtime_genai::map` gives its
//! columns, its duration becomes `latency_ms`, and the ids come from the
//! span and its ancestors (innermost wins, as for events); then it is sent
//! like any event. Prices are added on the writer thread.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use ai_runtime_genai::{keys, map, Attribute, Entity, Kind, Role, SpanFacts, SLOTS};
use tracing_core::field::{Field, Visit};

use crate::callsite::GenAiPlan;
use crate::capture::{Captured, FieldValue, Limits, SpanIds};
use crate::stats::InvalidReason;
use crate::text::Text;

/// Marks a slot with no value yet.
const NONE: u8 = u8::MAX;

/// A span's event, or the event and why it is not valid.
pub(crate) type Finished = Result<Box<Captured>, (Box<Captured>, InvalidReason)>;

/// A GenAI span being captured (in the span's extensions).
pub(crate) struct GenAiSpan {
    pub event: Box<Captured>,
    pub opened: quanta::Instant,
    /// An ERROR event was emitted inside the span.
    pub error_event: bool,
    /// Where each key's value is in `event.fields` (by the key's slot).
    positions: [u8; SLOTS],
    budget_left: usize,
}

impl GenAiSpan {
    pub(crate) fn new(event: Box<Captured>, opened: quanta::Instant, limits: Limits) -> Self {
        GenAiSpan {
            event,
            opened,
            error_event: false,
            positions: [NONE; SLOTS],
            budget_left: limits.max_metadata_bytes,
        }
    }

    /// The value stored under `key`'s slot.
    fn value(&self, attribute: Attribute) -> Option<&FieldValue> {
        let at = self.positions[attribute.slot as usize];
        (at != NONE)
            .then(|| self.event.fields.get(at as usize))
            .flatten()
            .map(|(_, value)| value)
    }

    /// Stores `value` under the attribute's key, replacing an earlier one
    /// (the legacy provider name never replaces the current one).
    fn store(&mut self, attribute: Attribute, value: FieldValue) {
        let at = &mut self.positions[attribute.slot as usize];
        if *at == NONE {
            *at = self.event.fields.len().min(NONE as usize - 1) as u8;
            self.event.fields.push(attribute.key, value);
        } else if attribute.role != Role::LegacyProvider {
            let event = &mut *self.event;
            event.fields.replace(*at as usize, value, &mut event.texts);
        }
    }

    /// A string value, within the per-value and per-event budgets.
    fn bounded(
        &mut self,
        limits: Limits,
        make: impl FnOnce(usize, &mut crate::text::TextPool) -> Text,
    ) -> Text {
        let limit = limits.max_value_bytes.min(self.budget_left);
        let text = make(limit, &mut self.event.texts);
        if text.exceeds(limit) {
            self.event.truncated = true;
            self.budget_left -= limit;
        } else {
            self.budget_left -= text.len();
        }
        text
    }

    /// Turns the span into its event: `None` when the mapping writes none
    /// for it (`create_agent`). `latency_ms` is its duration.
    pub(crate) fn finish(
        mut self,
        latency_ms: f64,
        ids: &SpanIds,
        limits: Limits,
    ) -> Option<Finished> {
        let mut facts = SpanFacts::default();
        for &attribute in fact_attributes() {
            match self.value(attribute) {
                Some(FieldValue::Str(text)) => facts.note(attribute.role, text.as_str()),
                Some(_) => facts.note_number(attribute.role),
                None => {}
            }
        }
        facts.error_event = self.error_event;
        let mapped = map(&facts)?;
        let entity = match mapped.entity {
            Entity::Unnamed => None,
            named => Some(Text::display(&named, limits.max_value_bytes)),
        };
        // A failed span that named no error type: say what told it failed.
        let error_type = match facts.error_type {
            None if mapped.failed => facts
                .error_type(mapped.kind)
                .map(|kind| Text::bounded(kind, 64)),
            _ => None,
        };
        let (layer, operation, reason_code) = (mapped.layer, mapped.operation, mapped.reason_code);
        let (priced, failed) = (mapped.kind == Kind::Inference, mapped.failed);
        let event = &mut *self.event;
        event.layer = layer;
        event.operation = operation;
        event.reason_code = Text::bounded(reason_code, 128);
        event.priced = priced;
        if failed {
            event.level = tracing_core::Level::ERROR;
        }
        if let Some(kind) = error_type {
            event.fields.push(keys::ERROR_TYPE, FieldValue::Str(kind));
        }
        let latency_ms = (latency_ms * 1000.0).round() / 1000.0;
        event
            .fields
            .push(keys::LATENCY_MS, FieldValue::F64(latency_ms));
        Some(inherit(self.event, entity, ids, limits))
    }
}

/// The attributes the mapping reads (every role but `Plain` and
/// `Content`), one per key, looked up once.
fn fact_attributes() -> &'static [Attribute] {
    static FACTS: LazyLock<Vec<Attribute>> = LazyLock::new(|| {
        let mut facts: Vec<Attribute> = Vec::new();
        for (_, attribute) in ai_runtime_genai::attributes::table() {
            let read = !matches!(attribute.role, Role::Plain | Role::Content);
            // A key's first spelling is its current one (the provider's, not the legacy).
            if read && !facts.iter().any(|a| a.slot == attribute.slot) {
                facts.push(attribute);
            }
        }
        facts
    });
    &FACTS
}

/// The ids of the span's scope, and the entity's fallback (the task id,
/// then the worker id, then the target), as for events.
fn inherit(
    mut event: Box<Captured>,
    entity: Option<Text>,
    ids: &SpanIds,
    limits: Limits,
) -> Finished {
    match ids.task_id {
        Some(Ok(task)) => event.task_id = Some(task),
        Some(Err(())) => return Err((event, InvalidReason::InvalidTaskId)),
        None => {}
    }
    match ids.persona_id {
        Some(Ok(persona)) => event.persona_id = Some(persona),
        Some(Err(())) => return Err((event, InvalidReason::InvalidPersonaId)),
        None => {}
    }
    let pool = &mut event.texts;
    event.worker_id = ids.worker_id.as_ref().map(|w| w.copy_in(pool));
    if let Some(trace) = &ids.trace {
        for (name, value) in [("trace_id", &trace.trace_id), ("span_id", &trace.span_id)] {
            if let Some(value) = value {
                let text = value.copy_in(&mut event.texts);
                event.fields.push(name, FieldValue::Str(text));
            }
        }
    }
    event.entity_id = match (entity, event.task_id, &event.worker_id) {
        (Some(entity), _, _) => entity,
        (None, Some(task), _) => Text::display(&task.hyphenated(), 64),
        (None, None, Some(worker)) => worker.clone(),
        (None, None, None) => Text::bounded(event.target, limits.max_value_bytes),
    };
    Ok(event)
}

/// Records a GenAI span's attributes (at creation and on `Span::record`).
pub(crate) struct GenAiVisitor<'a> {
    pub plan: &'a GenAiPlan,
    pub span: &'a mut GenAiSpan,
    pub limits: Limits,
    /// Prompts, replies, instructions, tool arguments and results are kept.
    pub capture_content: bool,
}

impl GenAiVisitor<'_> {
    /// The field's attribute, when it is one to store.
    fn wanted(&self, field: &Field) -> Option<Attribute> {
        let attribute = self.plan.attribute(field.index())?;
        (attribute.role != Role::Content || self.capture_content).then_some(attribute)
    }
}

impl Visit for GenAiVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(attribute) = self.wanted(field) {
            let limits = self.limits;
            let text = self
                .span
                .bounded(limits, |limit, pool| Text::bounded_in(value, limit, pool));
            self.span.store(attribute, FieldValue::Str(text));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(attribute) = self.wanted(field) {
            let limits = self.limits;
            let text = self
                .span
                .bounded(limits, |limit, pool| Text::debug_in(value, limit, pool));
            self.span.store(attribute, FieldValue::Str(text));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(attribute) = self.wanted(field) {
            self.span.store(attribute, FieldValue::Bool(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(attribute) = self.wanted(field) {
            self.span.store(attribute, FieldValue::I64(value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(attribute) = self.wanted(field) {
            self.span.store(attribute, FieldValue::U64(value));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if let Some(attribute) = self.wanted(field) {
            self.span.store(attribute, FieldValue::F64(value));
        }
    }
}

/// GenAI spans open under one layer: while there are none, closing spans
/// and ERROR events skip the GenAI bookkeeping without a registry lookup.
#[derive(Default)]
pub(crate) struct OpenGenAiSpans(AtomicUsize);

impl OpenGenAiSpans {
    pub(crate) fn opened(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn closed(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}
