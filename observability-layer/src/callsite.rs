//! Per-callsite decisions, made once. A callsite's field names are static,
//! so whether it is a runtime event, which field fills which column, and
//! which fields are credentials are decided the first time it is seen and
//! kept in a table of `OnceLock` slots keyed by the callsite's `Metadata`
//! address. An ordinary event then costs one hash and one load.

use std::sync::OnceLock;

use ai_runtime_genai::{attribute, keys, Attribute};
use tracing_core::Metadata;

use crate::redact::is_secret_name;

/// Fields per callsite (tracing's own limit).
const MAX_FIELDS: usize = 32;

/// What a field is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Goes to `metadata` under its name.
    Other,
    /// Credential-like: `metadata` gets a placeholder, the value is never read.
    Redacted,
    Message,
    Layer,
    Operation,
    ReasonCode,
    EntityId,
    TaskId,
    PersonaId,
    WorkerId,
    /// A span's W3C trace context (`trace_id`, `span_id`), inherited by
    /// the events inside as metadata.
    TraceId,
    SpanId,
}

/// Targets whose events never become runtime events: the writer's own
/// logging and the libraries it drives.
const IGNORED_TARGETS: &[&str] = &[
    "sqlx",
    "tokio",
    "observability_layer::writer",
    "observability_layer::delivery",
    "observability_layer::postgres",
    "observability_layer::otlp",
    "hyper",
];

/// Targets whose events never become runtime events although a host could
/// give them runtime fields: rig logs whole request and reply bodies there
/// (TRACE), which must not reach the database whatever filter is set.
const CONTENT_TARGETS: &[&str] = &["rig::completions", "rig::streaming"];

pub(crate) struct Plan {
    key: usize,
    /// An event carrying `reason_code` (layer and operation are then required).
    pub runtime: bool,
    /// A span carrying one of the inherited id fields.
    pub has_ids: bool,
    /// A span carrying `gen_ai.operation.name`: what each field is.
    pub genai: Option<Box<GenAiPlan>>,
    roles: [Role; MAX_FIELDS],
}

/// The GenAI attribute of each field of a GenAI span's callsite (`None`:
/// not in the mapping's table, never stored).
pub(crate) struct GenAiPlan {
    attributes: [Option<Attribute>; MAX_FIELDS],
}

impl GenAiPlan {
    fn new(meta: &'static Metadata<'static>) -> Option<Box<GenAiPlan>> {
        let mut attributes = [None; MAX_FIELDS];
        let mut has_operation = false;
        for field in meta.fields() {
            let found = attribute(field.name());
            has_operation |= found.is_some_and(|a| a.key == keys::OPERATION);
            if let Some(slot) = attributes.get_mut(field.index()) {
                *slot = found;
            }
        }
        has_operation.then(|| Box::new(GenAiPlan { attributes }))
    }

    pub(crate) fn attribute(&self, index: usize) -> Option<Attribute> {
        self.attributes.get(index).copied().flatten()
    }
}

impl Plan {
    fn new(meta: &'static Metadata<'static>) -> Plan {
        let mut roles = [Role::Other; MAX_FIELDS];
        let mut has_reason_code = false;
        let mut has_ids = false;
        for field in meta.fields() {
            let role = match field.name() {
                "message" => Role::Message,
                "layer" => Role::Layer,
                "operation" => Role::Operation,
                "reason_code" => Role::ReasonCode,
                "entity_id" => Role::EntityId,
                "task_id" => Role::TaskId,
                "persona_id" => Role::PersonaId,
                "worker_id" => Role::WorkerId,
                // On an event they are ordinary metadata (the OTLP
                // exporter reads them there); a span's are inherited.
                "trace_id" if meta.is_span() => Role::TraceId,
                "span_id" if meta.is_span() => Role::SpanId,
                name if is_secret_name(name) => Role::Redacted,
                _ => Role::Other,
            };
            has_reason_code |= role == Role::ReasonCode;
            has_ids |= matches!(
                role,
                Role::EntityId
                    | Role::TaskId
                    | Role::PersonaId
                    | Role::WorkerId
                    | Role::TraceId
                    | Role::SpanId
            );
            if let Some(slot) = roles.get_mut(field.index()) {
                *slot = role;
            }
        }
        let target = meta.target();
        let ignored = IGNORED_TARGETS.iter().any(|t| target.starts_with(t));
        let content = CONTENT_TARGETS.iter().any(|t| target.starts_with(t));
        Plan {
            key: key(meta),
            runtime: meta.is_event() && has_reason_code && !ignored && !content,
            has_ids: meta.is_span() && has_ids,
            genai: match meta.is_span() && !ignored {
                true => GenAiPlan::new(meta),
                false => None,
            },
            roles,
        }
    }

    pub(crate) fn role(&self, index: usize) -> Role {
        self.roles.get(index).copied().unwrap_or(Role::Other)
    }
}

fn key(meta: &'static Metadata<'static>) -> usize {
    meta as *const Metadata<'static> as usize
}

/// Slots in the table; beyond it (an unusual number of callsites) plans are
/// recomputed per use, which is correct, only slower.
const SLOTS: usize = 4096;
const PROBES: usize = 8;

/// A slot is set once, to the plan of the first callsite that hashes (or
/// probes) to it, and then only read.
static TABLE: [OnceLock<Plan>; SLOTS] = [const { OnceLock::new() }; SLOTS];

/// A plan for `meta`, from the table or computed.
pub(crate) enum PlanRef {
    Cached(&'static Plan),
    Computed(Box<Plan>),
}

impl std::ops::Deref for PlanRef {
    type Target = Plan;
    fn deref(&self) -> &Plan {
        match self {
            PlanRef::Cached(p) => p,
            PlanRef::Computed(p) => p,
        }
    }
}

/// The callsite's plan, computing and caching it on first use.
#[inline]
pub(crate) fn plan(meta: &'static Metadata<'static>) -> PlanRef {
    let key = key(meta);
    let start = slot_of(key);
    for probe in 0..PROBES {
        let slot = &TABLE[(start + probe) % SLOTS];
        let plan = match slot.get() {
            Some(plan) => plan,
            None => insert(meta, slot),
        };
        if plan.key == key {
            return PlanRef::Cached(plan);
        }
    }
    PlanRef::Computed(Box::new(Plan::new(meta)))
}

/// Fills an empty slot with `meta`'s plan; another thread may fill it
/// first (with its own callsite's plan), which the caller then skips.
#[cold]
fn insert(meta: &'static Metadata<'static>, slot: &'static OnceLock<Plan>) -> &'static Plan {
    slot.get_or_init(|| Plan::new(meta))
}

fn slot_of(key: usize) -> usize {
    // Fibonacci hashing of the address (its low bits are alignment zeros).
    ((key as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_core::callsite::Callsite;

    #[test]
    fn runtime_events_and_id_spans_are_recognised_once() {
        struct Cs;
        impl Callsite for Cs {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                &META
            }
        }
        static CS: Cs = Cs;
        static META: Metadata<'static> = tracing_core::metadata! {
            name: "e",
            target: "host",
            level: tracing_core::Level::INFO,
            fields: &["message", "layer", "operation", "reason_code", "api_key", "latency_ms"],
            callsite: &CS,
            kind: tracing_core::metadata::Kind::EVENT,
        };
        let p = plan(&META);
        assert!(p.runtime);
        assert!(!p.has_ids);
        assert_eq!(p.role(3), Role::ReasonCode);
        assert_eq!(p.role(4), Role::Redacted);
        assert_eq!(p.role(5), Role::Other);
        assert!(matches!(plan(&META), PlanRef::Cached(_)));
        assert!(p.genai.is_none());
    }

    #[test]
    fn genai_spans_are_told_by_their_operation_field() {
        let chat = tracing::info_span!(target: "anything", "chat",
            gen_ai.operation.name = "chat", gen_ai.request.model = "m", some.other = 1);
        let plain = tracing::info_span!("plain", gen_ai.request.model = "m");
        let chat_plan = plan(chat.metadata().unwrap());
        let genai = chat_plan.genai.as_ref().expect("a GenAI plan");
        assert_eq!(genai.attribute(1).unwrap().key, "gen_ai.request.model");
        assert_eq!(genai.attribute(2), None);
        assert!(plan(plain.metadata().unwrap()).genai.is_none());
    }

    #[test]
    fn rig_body_events_are_never_runtime_events() {
        struct Cs;
        impl Callsite for Cs {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                &META
            }
        }
        static CS: Cs = Cs;
        static META: Metadata<'static> = tracing_core::metadata! {
            name: "body",
            target: "rig::completions",
            level: tracing_core::Level::TRACE,
            fields: &["message", "layer", "operation", "reason_code"],
            callsite: &CS,
            kind: tracing_core::metadata::Kind::EVENT,
        };
        assert!(!plan(&META).runtime);
    }
}
