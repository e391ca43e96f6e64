//! Field capture on the emitting thread: values are copied into a small
//! fixed struct (no JSON, no I/O), bounded in size, credentials never read.

use std::fmt;
use std::time::SystemTime;

use ai_runtime_api::{Layer, Operation};
use tracing_core::field::{Field, Visit};
use tracing_core::Level;
use uuid::Uuid;

use crate::callsite::{Plan, Role};
use crate::stats::InvalidReason;
use crate::text::Text;

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
    I128(i128),
    U128(u128),
    F64(f64),
    Str(Text),
    /// A credential-like field: its value was never copied.
    Redacted,
}

/// A valid runtime event on its way to the writer.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub occurred_at: SystemTime,
    pub level: Level,
    pub target: &'static str,
    pub layer: Layer,
    pub operation: Operation,
    pub reason_code: Text,
    pub entity_id: Text,
    pub task_id: Option<Uuid>,
    pub persona_id: Option<Uuid>,
    pub worker_id: Option<Text>,
    pub message: Option<Text>,
    pub fields: Vec<(&'static str, FieldValue)>,
    /// Some value was cut or dropped to respect the size limits.
    pub truncated: bool,
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
            _ => {}
        }
    }

    fn is_id(&self, field: &Field) -> bool {
        matches!(
            self.plan.role(field.index()),
            Role::EntityId | Role::WorkerId | Role::TaskId | Role::PersonaId
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

/// A runtime event being captured (the event's own fields).
pub(crate) struct EventDraft<'a> {
    plan: &'a Plan,
    limits: Limits,
    budget_left: usize,
    layer: Option<Result<Layer, ()>>,
    operation: Option<Result<Operation, ()>>,
    reason_code: Option<Text>,
    pub ids: SpanIds,
    message: Option<Text>,
    fields: Vec<(&'static str, FieldValue)>,
    truncated: bool,
}

impl<'a> EventDraft<'a> {
    pub(crate) fn new(plan: &'a Plan, limits: Limits, field_count: usize) -> Self {
        EventDraft {
            plan,
            limits,
            budget_left: limits.max_metadata_bytes,
            layer: None,
            operation: None,
            reason_code: None,
            ids: SpanIds::default(),
            message: None,
            // Column fields do not go to metadata, so this is an upper bound.
            fields: Vec::with_capacity(field_count.saturating_sub(3)),
            truncated: false,
        }
    }

    /// Fills ids the event (or an inner span) did not set from `span`'s.
    pub(crate) fn inherit(&mut self, span: &SpanIds) {
        let ids = &mut self.ids;
        if ids.entity_id.is_none() {
            ids.entity_id.clone_from(&span.entity_id);
        }
        if ids.task_id.is_none() {
            ids.task_id = span.task_id;
        }
        if ids.persona_id.is_none() {
            ids.persona_id = span.persona_id;
        }
        if ids.worker_id.is_none() {
            ids.worker_id.clone_from(&span.worker_id);
        }
    }

    /// Validates and completes the event. `entity_id` falls back to the task
    /// id, then the worker id, then the event's target.
    pub(crate) fn finish(
        self,
        occurred_at: SystemTime,
        level: Level,
        target: &'static str,
    ) -> Result<Captured, InvalidReason> {
        let layer = match self.layer {
            None => return Err(InvalidReason::MissingLayer),
            Some(Err(())) => return Err(InvalidReason::UnknownLayer),
            Some(Ok(l)) => l,
        };
        let operation = match self.operation {
            None => return Err(InvalidReason::MissingOperation),
            Some(Err(())) => return Err(InvalidReason::UnknownOperation),
            Some(Ok(o)) => o,
        };
        let reason_code = match self.reason_code {
            Some(code) if !code.as_str().trim().is_empty() => code,
            _ => return Err(InvalidReason::MissingReasonCode),
        };
        let task_id = self
            .ids
            .task_id
            .transpose()
            .map_err(|()| InvalidReason::InvalidTaskId)?;
        let persona_id = self
            .ids
            .persona_id
            .transpose()
            .map_err(|()| InvalidReason::InvalidPersonaId)?;
        let entity_id = match (self.ids.entity_id, task_id, &self.ids.worker_id) {
            (Some(e), _, _) => e,
            (None, Some(task), _) => Text::bounded(
                task.hyphenated().encode_lower(&mut Uuid::encode_buffer()),
                64,
            ),
            (None, None, Some(worker)) => worker.clone(),
            (None, None, None) => Text::bounded(target, self.limits.max_value_bytes),
        };
        Ok(Captured {
            occurred_at,
            level,
            target,
            layer,
            operation,
            reason_code,
            entity_id,
            task_id,
            persona_id,
            worker_id: self.ids.worker_id,
            message: self.message,
            fields: self.fields,
            truncated: self.truncated,
        })
    }

    /// A metadata string, within the per-value and per-event budgets.
    fn metadata_text(&mut self, make: impl FnOnce(usize) -> Text) -> Text {
        let limit = self.limits.max_value_bytes.min(self.budget_left);
        let text = make(limit);
        if text.exceeds(limit) {
            self.truncated = true;
            self.budget_left -= limit;
        } else {
            self.budget_left -= text.len();
        }
        text
    }

    fn column_text(&mut self, role: Role, value: Text) {
        match role {
            Role::Layer => self.layer = Some(value.as_str().parse().map_err(drop)),
            Role::Operation => self.operation = Some(value.as_str().parse().map_err(drop)),
            Role::ReasonCode => self.reason_code = Some(value),
            Role::EntityId => self.ids.entity_id = Some(value),
            Role::WorkerId => self.ids.worker_id = Some(value),
            Role::TaskId => self.ids.task_id = Some(parse_uuid(value.as_str())),
            Role::PersonaId => self.ids.persona_id = Some(parse_uuid(value.as_str())),
            Role::Other | Role::Redacted | Role::Message => {}
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
            Role::Other => self.fields.push((field.name(), value)),
            Role::Redacted => self.fields.push((field.name(), FieldValue::Redacted)),
            Role::Message => self.message = Some(as_text()),
            // A number is never a valid layer, operation or UUID.
            Role::Layer => self.layer = Some(Err(())),
            Role::Operation => self.operation = Some(Err(())),
            Role::TaskId => self.ids.task_id = Some(Err(())),
            Role::PersonaId => self.ids.persona_id = Some(Err(())),
            role => self.column_text(role, as_text()),
        }
    }
}

fn parse_uuid(s: &str) -> Result<Uuid, ()> {
    Uuid::try_parse(s.trim()).map_err(drop)
}

impl Visit for EventDraft<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match self.plan.role(field.index()) {
            Role::Other => {
                let text = self.metadata_text(|limit| Text::bounded(value, limit));
                self.fields.push((field.name(), FieldValue::Str(text)));
            }
            Role::Redacted => self.fields.push((field.name(), FieldValue::Redacted)),
            Role::Message => {
                self.message = Some(self.metadata_text(|limit| Text::bounded(value, limit)))
            }
            // Parsed in place, without a copy.
            Role::Layer => self.layer = Some(value.parse().map_err(drop)),
            Role::Operation => self.operation = Some(value.parse().map_err(drop)),
            Role::TaskId => self.ids.task_id = Some(parse_uuid(value)),
            Role::PersonaId => self.ids.persona_id = Some(parse_uuid(value)),
            role => {
                let text = Text::bounded(value, self.column_limit(role));
                self.column_text(role, text);
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match self.plan.role(field.index()) {
            Role::Other => {
                let text = self.metadata_text(|limit| Text::debug(value, limit));
                self.fields.push((field.name(), FieldValue::Str(text)));
            }
            Role::Redacted => self.fields.push((field.name(), FieldValue::Redacted)),
            Role::Message => {
                self.message = Some(self.metadata_text(|limit| Text::debug(value, limit)))
            }
            role => {
                let text = Text::debug(value, self.column_limit(role));
                self.column_text(role, text);
            }
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match self.plan.role(field.index()) {
            Role::Redacted => self.fields.push((field.name(), FieldValue::Redacted)),
            Role::Other => {
                let text = self.metadata_text(|limit| Text::display(value, limit));
                self.fields.push((field.name(), FieldValue::Str(text)));
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
        self.record_scalar(field, FieldValue::I128(value), || Text::display(&value, 64));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.record_scalar(field, FieldValue::U128(value), || Text::display(&value, 64));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_scalar(field, FieldValue::F64(value), || Text::display(&value, 64));
    }
}
