//! Field capture on the emitting thread: values are copied into a small
//! fixed struct (no JSON, no I/O), bounded in size, credentials never read.

use std::fmt;
use std::time::SystemTime;

use ai_runtime_vocab::{EventLayer, Operation};
use tracing_core::field::{Field, Visit};
use tracing_core::Level;
use uuid::Uuid;

use crate::callsite::{Plan, Role};
use crate::stats::InvalidReason;
use crate::text::{Text, TextPool};

/// Longest reason code kept (they are short constants).
const MAX_REASON_CODE: usize = 128;
/// Longest text parsed as a UUID.
const MAX_ID_TEXT: usize = 64;

/// A metadata value, as captured.
#[derive(Debug, Clone)]
pub(crate) enum FieldValue {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    /// Strings, and 128-bit integers (kept as text to keep this small).
    Str(Text),
    /// A credential-like field: its value was never copied.
    Redacted,
}

/// Metadata fields kept inline (no allocation) before spilling to the heap.
const INLINE_FIELDS: usize = 4;

/// The metadata fields of an event, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldList {
    /// Slots of `inline` in use (`Some`), from the first.
    inline_len: usize,
    inline: [Option<(&'static str, FieldValue)>; INLINE_FIELDS],
    spill: Vec<(&'static str, FieldValue)>,
}

impl FieldList {
    #[inline]
    pub(crate) fn push(&mut self, name: &'static str, value: FieldValue) {
        match self.inline.get_mut(self.inline_len) {
            Some(slot) => {
                *slot = Some((name, value));
                self.inline_len += 1;
            }
            None => self.spill.push((name, value)),
        }
    }

    /// Makes room for `fields` fields in all without growing step by step
    /// (a GenAI span stores a dozen; a recycled list keeps its room).
    #[inline]
    pub(crate) fn reserve(&mut self, fields: usize) {
        let spilled = fields.saturating_sub(INLINE_FIELDS);
        if self.spill.capacity() < spilled {
            self.spill.reserve(spilled - self.spill.len());
        }
    }

    /// The field at `index` (in push order).
    pub(crate) fn get(&self, index: usize) -> Option<&(&'static str, FieldValue)> {
        match self.inline.get(index) {
            Some(slot) => slot.as_ref(),
            None => self.spill.get(index - INLINE_FIELDS),
        }
    }

    /// Replaces the value at `index`, keeping the old one's buffer in `pool`.
    pub(crate) fn replace(&mut self, index: usize, value: FieldValue, pool: &mut TextPool) {
        let slot = match self.inline.get_mut(index) {
            Some(slot) => slot.as_mut(),
            None => self.spill.get_mut(index - INLINE_FIELDS),
        };
        if let Some((_, old)) = slot {
            if let FieldValue::Str(text) = old {
                pool.recycle(text);
            }
            *old = value;
        }
    }

    /// Empties the list, keeping the buffers of its long strings in `pool`.
    pub(crate) fn clear(&mut self, pool: &mut TextPool) {
        for slot in &mut self.inline[..self.inline_len] {
            if let Some((_, FieldValue::Str(text))) = slot {
                pool.recycle(text);
            }
            *slot = None;
        }
        self.inline_len = 0;
        for (_, value) in &mut self.spill {
            if let FieldValue::Str(text) = value {
                pool.recycle(text);
            }
        }
        self.spill.clear();
    }

    /// The values, to change in place (scrubbing).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut FieldValue> {
        self.inline[..self.inline_len]
            .iter_mut()
            .flatten()
            .chain(&mut self.spill)
            .map(|(_, value)| value)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(&'static str, FieldValue)> {
        self.inline[..self.inline_len]
            .iter()
            .flatten()
            .chain(&self.spill)
    }
}

/// A runtime event, filled in place on the emitting thread: short strings
/// and the first fields are inline, and the box itself is recycled (see
/// `Emitter::fresh_event`), so a typical event allocates nothing and the
/// channel moves a pointer. Valid once [`EventVisitor::finish`] accepted it.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub occurred_at: SystemTime,
    pub level: Level,
    pub target: &'static str,
    pub layer: EventLayer,
    pub operation: Operation,
    pub reason_code: Text,
    pub entity_id: Text,
    pub task_id: Option<Uuid>,
    pub persona_id: Option<Uuid>,
    pub worker_id: Option<Text>,
    pub message: Option<Text>,
    pub fields: FieldList,
    /// Some value was cut or dropped to respect the size limits.
    pub truncated: bool,
    /// A captured GenAI inference: the writer prices it (`cost_usd`).
    pub priced: bool,
    /// A captured GenAI span, still to be mapped by the writer.
    pub genai: Option<Unmapped>,
    /// The channel shard of the thread that filled it: the event travels
    /// through that shard and its box goes back to that shard's spares, so
    /// a thread reuses memory it wrote itself (still in its core's cache).
    pub home: usize,
    /// Buffers of the previous event's long strings, reused for this one's
    /// (allocating them on the emitting thread and freeing them after the
    /// export cost 1,200 instructions per event with three such strings).
    pub texts: TextPool,
    /// What an event handed in from outside `tracing` has that a callsite
    /// cannot give (`SinkHandle::submit`); `None` for the layer's own.
    pub foreign: Option<Box<Foreign>>,
}

/// The parts of a submitted event whose names are not `'static`: its
/// target and its metadata fields (after the `fields`, which it leaves empty).
#[derive(Debug, Clone, Default)]
pub(crate) struct Foreign {
    pub target: String,
    pub fields: Vec<(String, FieldValue)>,
}

impl Captured {
    /// Clears a recycled event, field by field (cheaper than overwriting it whole).
    pub(crate) fn reset(&mut self, occurred_at: SystemTime, level: Level, target: &'static str) {
        self.occurred_at = occurred_at;
        self.level = level;
        self.target = target;
        self.layer = EventLayer::Worker;
        self.operation = Operation::Heartbeat;
        let pool = &mut self.texts;
        pool.recycle(&mut self.reason_code);
        pool.recycle(&mut self.entity_id);
        self.task_id = None;
        self.persona_id = None;
        if let Some(mut worker) = self.worker_id.take() {
            pool.recycle(&mut worker);
        }
        if let Some(mut message) = self.message.take() {
            pool.recycle(&mut message);
        }
        self.fields.clear(pool);
        self.truncated = false;
        self.priced = false;
        self.genai = None;
        self.foreign = None;
    }

    /// The event's target: its callsite's, or a submitted event's own.
    pub(crate) fn target(&self) -> &str {
        match &self.foreign {
            Some(foreign) => &foreign.target,
            None => self.target,
        }
    }

    /// Every metadata field in order: the captured ones, then a submitted
    /// event's own.
    pub(crate) fn all_fields(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        let foreign = self.foreign.as_deref().map(|f| f.fields.as_slice());
        self.fields
            .iter()
            .map(|(name, value)| (*name, value))
            .chain(foreign.unwrap_or(&[]).iter().map(|(n, v)| (n.as_str(), v)))
    }

    /// Every metadata value, to change in place (scrubbing).
    pub(crate) fn all_values_mut(&mut self) -> impl Iterator<Item = &mut FieldValue> {
        let foreign = self.foreign.as_deref_mut().map(|f| f.fields.as_mut_slice());
        self.fields
            .values_mut()
            .chain(foreign.unwrap_or(&mut []).iter_mut().map(|(_, v)| v))
    }

    /// An event with no fields yet (layer and operation are placeholders
    /// until the visitor has seen them).
    pub(crate) fn empty(occurred_at: SystemTime, level: Level, target: &'static str) -> Self {
        Captured {
            occurred_at,
            level,
            target,
            layer: EventLayer::Worker,
            operation: Operation::Heartbeat,
            reason_code: Text::empty(),
            entity_id: Text::empty(),
            task_id: None,
            persona_id: None,
            worker_id: None,
            message: None,
            fields: FieldList::default(),
            truncated: false,
            priced: false,
            genai: None,
            home: 0,
            texts: TextPool::default(),
            foreign: None,
        }
    }
}

/// Size limits applied while capturing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_value_bytes: usize,
    pub max_metadata_bytes: usize,
}

/// An id as found: absent, a value, or present but unusable.
type Id<T> = Option<Result<T, ()>>;

/// The ids a span carries for the events inside it.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpanIds {
    pub entity_id: Option<Text>,
    pub task_id: Id<Uuid>,
    pub persona_id: Id<Uuid>,
    pub worker_id: Option<Text>,
    /// The span's W3C trace context, as the host recorded it: boxed, so
    /// that an event in a scope without one pays a single check.
    pub trace: Option<Box<TraceContext>>,
}

/// `trace_id` / `span_id` as recorded on a span (hex text; the OTLP
/// exporter checks the shape), given to the events inside as metadata.
#[derive(Debug, Default, Clone)]
pub(crate) struct TraceContext {
    pub trace_id: Option<Text>,
    pub span_id: Option<Text>,
}

impl SpanIds {
    /// Takes from `outer` (an enclosing span) the ids this one lacks: the
    /// innermost span's id wins.
    pub(crate) fn fill_from(&mut self, outer: &SpanIds) {
        if self.entity_id.is_none() {
            self.entity_id.clone_from(&outer.entity_id);
        }
        if self.worker_id.is_none() {
            self.worker_id.clone_from(&outer.worker_id);
        }
        self.task_id = self.task_id.or(outer.task_id);
        self.persona_id = self.persona_id.or(outer.persona_id);
        match (&mut self.trace, &outer.trace) {
            (None, Some(outer)) => self.trace = Some(outer.clone()),
            (Some(inner), Some(outer)) => {
                if inner.trace_id.is_none() {
                    inner.trace_id.clone_from(&outer.trace_id);
                }
                if inner.span_id.is_none() {
                    inner.span_id.clone_from(&outer.span_id);
                }
            }
            _ => {}
        }
    }
}

/// Records only the id fields of a span.
pub(crate) struct SpanIdsVisitor<'a> {
    pub plan: &'a Plan,
    pub ids: &'a mut SpanIds,
    pub max_value_bytes: usize,
}

impl SpanIdsVisitor<'_> {
    fn text(&mut self, field: &Field, value: Text) {
        match self.plan.role(field.index()) {
            Role::EntityId => self.ids.entity_id = Some(value),
            Role::WorkerId => self.ids.worker_id = Some(value),
            Role::TaskId => self.ids.task_id = Some(parse_uuid(value.as_str())),
            Role::PersonaId => self.ids.persona_id = Some(parse_uuid(value.as_str())),
            Role::TraceId => self.ids.trace.get_or_insert_default().trace_id = Some(value),
            Role::SpanId => self.ids.trace.get_or_insert_default().span_id = Some(value),
            _ => {}
        }
    }

    fn is_id(&self, field: &Field) -> bool {
        matches!(
            self.plan.role(field.index()),
            Role::EntityId
                | Role::WorkerId
                | Role::TaskId
                | Role::PersonaId
                | Role::TraceId
                | Role::SpanId
        )
    }
}

impl Visit for SpanIdsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.is_id(field) {
            self.text(field, Text::bounded(value, self.max_value_bytes));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.is_id(field) {
            self.text(field, Text::debug(value, self.max_value_bytes));
        }
    }
}

/// What the visitor saw of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    No,
    Valid,
    Invalid,
}

/// Records an event's fields into a [`Captured`], tracking what is missing
/// or invalid.
pub(crate) struct EventVisitor<'a> {
    plan: &'a Plan,
    limits: Limits,
    budget_left: usize,
    event: &'a mut Captured,
    layer: Seen,
    operation: Seen,
    reason_code: Seen,
    entity_id: Seen,
    task_id: Seen,
    persona_id: Seen,
    worker_id: Seen,
}

impl<'a> EventVisitor<'a> {
    pub(crate) fn new(plan: &'a Plan, limits: Limits, event: &'a mut Captured) -> Self {
        EventVisitor {
            plan,
            limits,
            budget_left: limits.max_metadata_bytes,
            event,
            layer: Seen::No,
            operation: Seen::No,
            reason_code: Seen::No,
            entity_id: Seen::No,
            task_id: Seen::No,
            persona_id: Seen::No,
            worker_id: Seen::No,
        }
    }

    /// Fills ids the event did not set from its scope's.
    pub(crate) fn inherit(&mut self, span: &SpanIds) {
        if self.entity_id == Seen::No {
            if let Some(entity) = &span.entity_id {
                self.event.entity_id = entity.copy_in(&mut self.event.texts);
                self.entity_id = Seen::Valid;
            }
        }
        if self.worker_id == Seen::No {
            if let Some(worker) = &span.worker_id {
                self.event.worker_id = Some(worker.copy_in(&mut self.event.texts));
                self.worker_id = Seen::Valid;
            }
        }
        if self.task_id == Seen::No {
            self.task_id = inherit_id(span.task_id, &mut self.event.task_id);
        }
        if self.persona_id == Seen::No {
            self.persona_id = inherit_id(span.persona_id, &mut self.event.persona_id);
        }
        if let Some(trace) = &span.trace {
            self.inherit_trace(trace);
        }
    }

    /// Adds the scope's `trace_id` / `span_id` to the metadata, unless the
    /// event has its own (rare: only hosts that record a trace context).
    #[cold]
    #[inline(never)]
    fn inherit_trace(&mut self, trace: &TraceContext) {
        for (name, value) in [("trace_id", &trace.trace_id), ("span_id", &trace.span_id)] {
            let Some(value) = value else { continue };
            if self.event.fields.iter().any(|(field, _)| *field == name) {
                continue;
            }
            let text = value.copy_in(&mut self.event.texts);
            self.event.fields.push(name, FieldValue::Str(text));
        }
    }

    /// Validates the event. `entity_id` falls back to the task id, then the
    /// worker id, then the event's target.
    pub(crate) fn finish(self) -> Result<(), InvalidReason> {
        match self.layer {
            Seen::No => return Err(InvalidReason::MissingLayer),
            Seen::Invalid => return Err(InvalidReason::UnknownLayer),
            Seen::Valid => {}
        }
        match self.operation {
            Seen::No => return Err(InvalidReason::MissingOperation),
            Seen::Invalid => return Err(InvalidReason::UnknownOperation),
            Seen::Valid => {}
        }
        if self.reason_code != Seen::Valid || is_blank(self.event.reason_code.as_str()) {
            return Err(InvalidReason::MissingReasonCode);
        }
        if self.task_id == Seen::Invalid {
            return Err(InvalidReason::InvalidTaskId);
        }
        if self.persona_id == Seen::Invalid {
            return Err(InvalidReason::InvalidPersonaId);
        }
        if self.entity_id == Seen::No {
            let event = &mut *self.event;
            let pool = &mut event.texts;
            event.entity_id = match (event.task_id, &event.worker_id) {
                (Some(task), _) => Text::bounded_in(
                    task.hyphenated().encode_lower(&mut Uuid::encode_buffer()),
                    64,
                    pool,
                ),
                (None, Some(worker)) => worker.copy_in(pool),
                (None, None) => Text::bounded_in(event.target, self.limits.max_value_bytes, pool),
            };
        }
        Ok(())
    }

    /// A metadata string, within the per-value and per-event budgets.
    fn metadata_text(&mut self, make: impl FnOnce(usize, &mut TextPool) -> Text) -> Text {
        let limit = self.limits.max_value_bytes.min(self.budget_left);
        let text = make(limit, &mut self.event.texts);
        if text.exceeds(limit) {
            self.event.truncated = true;
            self.budget_left -= limit;
        } else {
            self.budget_left -= text.len();
        }
        text
    }

    fn set_layer(&mut self, value: &str) {
        self.layer = match value.parse() {
            Ok(layer) => {
                self.event.layer = layer;
                Seen::Valid
            }
            Err(_) => Seen::Invalid,
        };
    }

    fn set_operation(&mut self, value: &str) {
        self.operation = match value.parse() {
            Ok(operation) => {
                self.event.operation = operation;
                Seen::Valid
            }
            Err(_) => Seen::Invalid,
        };
    }

    fn set_id(&mut self, role: Role, value: &str) {
        let (seen, slot) = match role {
            Role::TaskId => (&mut self.task_id, &mut self.event.task_id),
            Role::PersonaId => (&mut self.persona_id, &mut self.event.persona_id),
            _ => return,
        };
        match parse_uuid(value) {
            Ok(id) => {
                *slot = Some(id);
                *seen = Seen::Valid;
            }
            Err(()) => *seen = Seen::Invalid,
        }
    }

    /// A column value given as text.
    fn column(&mut self, role: Role, value: &str) {
        match role {
            Role::Layer => self.set_layer(value),
            Role::Operation => self.set_operation(value),
            Role::TaskId | Role::PersonaId => self.set_id(role, value),
            Role::ReasonCode => {
                self.event.reason_code =
                    Text::bounded_in(value, MAX_REASON_CODE, &mut self.event.texts);
                self.reason_code = Seen::Valid;
            }
            Role::EntityId => {
                self.event.entity_id =
                    Text::bounded_in(value, self.limits.max_value_bytes, &mut self.event.texts);
                self.entity_id = Seen::Valid;
            }
            Role::WorkerId => {
                self.event.worker_id = Some(Text::bounded_in(
                    value,
                    self.limits.max_value_bytes,
                    &mut self.event.texts,
                ));
                self.worker_id = Seen::Valid;
            }
            Role::Other | Role::Redacted | Role::Message | Role::TraceId | Role::SpanId => {}
        }
    }

    fn column_limit(&self, role: Role) -> usize {
        match role {
            Role::ReasonCode => MAX_REASON_CODE,
            Role::TaskId | Role::PersonaId | Role::Layer | Role::Operation => MAX_ID_TEXT,
            _ => self.limits.max_value_bytes,
        }
    }

    fn record_scalar(&mut self, field: &Field, value: FieldValue, as_text: impl FnOnce() -> Text) {
        match self.plan.role(field.index()) {
            Role::Other => self.event.fields.push(field.name(), value),
            Role::Redacted => self.event.fields.push(field.name(), FieldValue::Redacted),
            Role::Message => self.event.message = Some(as_text()),
            // A number is never a valid layer, operation or UUID.
            Role::Layer => self.layer = Seen::Invalid,
            Role::Operation => self.operation = Seen::Invalid,
            Role::TaskId => self.task_id = Seen::Invalid,
            Role::PersonaId => self.persona_id = Seen::Invalid,
            role => self.column(role, as_text().as_str()),
        }
    }
}

fn inherit_id(from_span: Id<Uuid>, slot: &mut Option<Uuid>) -> Seen {
    match from_span {
        None => Seen::No,
        Some(Ok(id)) => {
            *slot = Some(id);
            Seen::Valid
        }
        Some(Err(())) => Seen::Invalid,
    }
}

/// Empty or only whitespace; a code starting with a letter (they all do)
/// is settled by its first byte.
fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() => false,
        Some(_) => s.trim().is_empty(),
    }
}

fn parse_uuid(s: &str) -> Result<Uuid, ()> {
    Uuid::try_parse(s.trim()).map_err(drop)
}

impl Visit for EventVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match self.plan.role(field.index()) {
            Role::Other => {
                let text = self.metadata_text(|limit, pool| Text::bounded_in(value, limit, pool));
                self.event.fields.push(field.name(), FieldValue::Str(text));
            }
            Role::Redacted => self.event.fields.push(field.name(), FieldValue::Redacted),
            Role::Message => {
                self.event.message =
                    Some(self.metadata_text(|limit, pool| Text::bounded_in(value, limit, pool)))
            }
            role => self.column(role, value),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match self.plan.role(field.index()) {
            Role::Other => {
                let text = self.metadata_text(|limit, pool| Text::debug_in(value, limit, pool));
                self.event.fields.push(field.name(), FieldValue::Str(text));
            }
            Role::Redacted => self.event.fields.push(field.name(), FieldValue::Redacted),
            Role::Message => {
                self.event.message =
                    Some(self.metadata_text(|limit, pool| Text::debug_in(value, limit, pool)))
            }
            // Kept as formatted (`entity_id = %route`): no second copy.
            Role::EntityId => {
                let limit = self.limits.max_value_bytes;
                self.event.entity_id = Text::debug_in(value, limit, &mut self.event.texts);
                self.entity_id = Seen::Valid;
            }
            role => {
                let text = Text::debug(value, self.column_limit(role));
                self.column(role, text.as_str());
            }
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match self.plan.role(field.index()) {
            Role::Redacted => self.event.fields.push(field.name(), FieldValue::Redacted),
            Role::Other => {
                let text = self.metadata_text(|limit, pool| Text::display_in(value, limit, pool));
                self.event.fields.push(field.name(), FieldValue::Str(text));
            }
            _ => self.record_debug(field, &format_args!("{value}")),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_scalar(field, FieldValue::Bool(value), || {
            Text::bounded(if value { "true" } else { "false" }, 8)
        });
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_scalar(field, FieldValue::I64(value), || Text::display(&value, 64));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_scalar(field, FieldValue::U64(value), || Text::display(&value, 64));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(small) => self.record_i64(field, small),
            Err(_) => self.record_str(field, Text::display(&value, 64).as_str()),
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(small) => self.record_u64(field, small),
            Err(_) => self.record_str(field, Text::display(&value, 64).as_str()),
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_scalar(field, FieldValue::F64(value), || Text::display(&value, 64));
    }
}

/// What the writer needs, beyond the event's fields, to map a GenAI span
/// (one byte: the event box keeps its size).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unmapped {
    /// An ERROR event was emitted inside the span.
    pub error_event: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stay_small() {
        // Every queued, pending or spare event is a box of this size.
        let size = std::mem::size_of::<Captured>();
        assert!(size <= 480, "Captured is {size} bytes");
        assert_eq!(std::mem::size_of::<Text>(), 32);
    }

    #[test]
    fn fields_spill_past_the_inline_ones_in_order() {
        let mut list = FieldList::default();
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        for (i, name) in names.iter().enumerate() {
            list.push(name, FieldValue::I64(i as i64));
        }
        let got: Vec<_> = list.iter().map(|(n, _)| *n).collect();
        assert_eq!(got, names);
    }
}
