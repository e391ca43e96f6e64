//! GenAI spans as runtime events. A span whose callsite carries
//! `gen_ai.operation.name` (rig's, genai's, any library's following the
//! OpenTelemetry GenAI conventions) gets an event box at creation, kept in
//! the opening thread's list of open GenAI spans ([`OpenGenAiSpans`]): the
//! attributes given then and recorded later
//! (`Span::record`) are copied into it under the mapping's keys, one value
//! per key. When the span closes, its duration becomes `latency_ms`, the
//! ids come from the span and its ancestors (innermost wins, as for
//! events), and it is sent like any event. The writer thread then maps it
//! (`ai_runtime_genai::map` gives its columns) and prices it: the host's
//! thread pays for capturing only.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use ai_runtime_genai::{keys, map, Attribute, Entity, Kind, Role, SpanFacts, SLOTS};
use thread_local::ThreadLocal;
use tracing_core::field::{Field, Visit};
use tracing_core::span::Id;

use crate::callsite::{GenAiPlan, PlanRef};
use crate::capture::{Captured, FieldValue, Limits, SpanIds, Unmapped};
use crate::stats::InvalidReason;
use crate::text::Text;

// A bit per slot in `GenAiSpan::filled`.
const _: () = assert!(SLOTS <= u64::BITS as usize);

/// A span's event, or the event and why it is not valid.
pub(crate) type Finished = Result<Box<Captured>, (Box<Captured>, InvalidReason)>;

/// A GenAI span being captured (kept in [`OpenGenAiSpans`]).
pub(crate) struct GenAiSpan {
    pub event: Box<Captured>,
    pub opened: quanta::Instant,
    /// The span's parent (as the layer sees it), whose ids it inherits.
    pub parent: Option<Id>,
    /// An ERROR event was emitted inside the span.
    pub error_event: bool,
    /// The slots with a value in `event.fields` (a bit per slot; the
    /// fields hold nothing else before close). A bit set is all a value
    /// costs; the rare second value for a slot looks its key up.
    filled: u64,
    budget_left: usize,
}

impl GenAiSpan {
    pub(crate) fn new(mut event: Box<Captured>, opened: quanta::Instant, limits: Limits) -> Self {
        // rig's chat spans carry 12 attributes, and close with 3 more fields.
        event.fields.reserve(16);
        GenAiSpan {
            event,
            opened,
            parent: None,
            error_event: false,
            filled: 0,
            budget_left: limits.max_metadata_bytes,
        }
    }

    /// Where the value stored under `key` is in `event.fields`.
    fn position(&self, key: &str) -> Option<usize> {
        self.event.fields.iter().position(|(name, _)| *name == key)
    }

    /// The text stored under `key`.
    fn text(&self, key: &str) -> Option<&str> {
        match self.event.fields.get(self.position(key)?)? {
            (_, FieldValue::Str(text)) => Some(text.as_str()),
            _ => None,
        }
    }

    /// Stores `value` under the attribute's key, replacing an earlier one
    /// (the legacy provider name never replaces the current one).
    /// Inlined into each visitor method: a call per value cost 15 of its 60.
    #[inline(always)]
    fn store(&mut self, attribute: Attribute, value: FieldValue) {
        let bit = 1u64 << attribute.slot;
        if self.filled & bit == 0 {
            self.filled |= bit;
            self.event.fields.push(attribute.key, value);
        } else if attribute.role != Role::LegacyProvider {
            if let Some(at) = self.position(attribute.key) {
                let event = &mut *self.event;
                event.fields.replace(at, value, &mut event.texts);
            }
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

    /// Turns the span into its event, still to be mapped (on the writer
    /// thread, [`map_on_writer`]): `None` when the mapping writes none for
    /// it (`create_agent`, no operation). `latency_ms` is its duration.
    pub(crate) fn finish(mut self, latency_ms: f64, ids: &SpanIds) -> Option<Finished> {
        Kind::of(self.text(keys::OPERATION)?)?;
        let latency_ms = (latency_ms * 1000.0).round() / 1000.0;
        let event = &mut *self.event;
        event
            .fields
            .push(keys::LATENCY_MS, FieldValue::F64(latency_ms));
        event.genai = Some(Unmapped {
            error_event: self.error_event,
        });
        Some(inherit(self.event, ids))
    }
}

/// Maps a captured GenAI span (on the writer thread, off the host's):
/// `ai_runtime_genai::map` gives its columns from the attributes it holds
/// (stored under the table's keys), and `error.type` joins its metadata
/// when it failed without naming one.
pub(crate) fn map_on_writer(event: &mut Captured, unmapped: Unmapped, limits: Limits) {
    let Captured { fields, texts, .. } = event;
    let mut facts = SpanFacts::default();
    for (name, value) in fields.iter() {
        let Some(attribute) = ai_runtime_genai::attribute(name) else {
            continue;
        };
        match value {
            FieldValue::Str(text) => facts.note(attribute.role, text.as_str()),
            _ => facts.note_number(attribute.role),
        }
    }
    facts.error_event = unmapped.error_event;
    let Some(mapped) = map(&facts) else {
        return;
    };
    let limit = limits.max_value_bytes;
    // Copied, not formatted (`fmt` cost a third of the mapping).
    let entity = match mapped.entity {
        Entity::Unnamed => None,
        Entity::Name(name) => Some(Text::bounded_in(name, limit, texts)),
        Entity::Route { provider, model } => {
            Some(Text::joined_in(&[provider, "/", model], limit, texts))
        }
    };
    // A failed span that named no error type: say what told it failed.
    let error_type = match facts.error_type {
        None if mapped.failed => facts
            .error_type(mapped.kind)
            .map(|kind| Text::bounded(kind, 64)),
        _ => None,
    };
    event.layer = mapped.layer;
    event.operation = mapped.operation;
    event.reason_code = Text::bounded(mapped.reason_code, 128);
    event.priced = mapped.kind == Kind::Inference;
    if mapped.failed {
        event.level = tracing_core::Level::ERROR;
    }
    if let Some(kind) = error_type {
        event.fields.push(keys::ERROR_TYPE, FieldValue::Str(kind));
    }
    // Unnamed: the task id, then the worker id, then the target, as for events.
    event.entity_id = match (entity, event.task_id, &event.worker_id) {
        (Some(entity), _, _) => entity,
        (None, Some(task), _) => Text::display(&task.hyphenated(), 64),
        (None, None, Some(worker)) => worker.clone(),
        (None, None, None) => Text::bounded(event.target, limit),
    };
}

/// The ids of the span's scope, as for events.
fn inherit(mut event: Box<Captured>, ids: &SpanIds) -> Finished {
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

/// A GenAI span being captured, with its callsite's plan.
pub(crate) struct OpenSpan {
    id: u64,
    pub plan: PlanRef,
    pub span: GenAiSpan,
}

/// One thread's GenAI spans, innermost last: the ones it opened, and the
/// ones it took over from another thread by recording into them.
type ThreadSpans = Mutex<Vec<OpenSpan>>;

/// The GenAI spans open under one layer, each kept in the list of one
/// thread: the one that opened it, or the one that recorded into it last.
/// rig records the response's 8 attributes one by one on the thread that
/// opened the span, so a record locks that thread's own list, which no
/// other thread holds (about 20 instructions), and finds the span at its
/// end: no registry lookup, no shared counter, and nothing is allocated per
/// span (a span's capture in its extensions took an `Arc`, a box and a
/// map insert, and a lookup per record). A span recorded or closed on
/// another thread (a future moved between a runtime's workers) is found by
/// searching the other threads' lists, and moves to the searching thread's.
///
/// Every method locks a list: call them under [`guarded`](crate::recursion::guarded),
/// so that a host's `Debug` impl running inside a record cannot lock it again.
#[derive(Default)]
pub(crate) struct OpenGenAiSpans {
    count: AtomicUsize,
    threads: ThreadLocal<ThreadSpans>,
}

/// (`parking_lot`: a panic while it was held, in a host's `Debug` impl,
/// leaves it usable, and its lock checks for none: 10 instructions fewer per
/// record than the standard mutex, callgrind's `profile-genai chat`.)
#[inline]
fn lock(spans: &ThreadSpans) -> MutexGuard<'_, Vec<OpenSpan>> {
    spans.lock()
}

#[inline]
fn position(spans: &[OpenSpan], id: &Id) -> Option<usize> {
    let id = id.into_u64();
    spans.iter().rposition(|open| open.id == id)
}

impl OpenGenAiSpans {
    /// Span `id` opened on this thread.
    pub(crate) fn opened(&self, id: &Id, plan: PlanRef, span: GenAiSpan) {
        self.count.fetch_add(1, Ordering::Relaxed);
        lock(self.threads.get_or_default()).push(OpenSpan {
            id: id.into_u64(),
            plan,
            span,
        });
    }

    /// Whether any GenAI span is open: while none is, closing spans and
    /// ERROR events skip the GenAI bookkeeping.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Calls `f` with span `id` when this thread keeps it.
    #[inline]
    pub(crate) fn with_local<R>(&self, id: &Id, f: impl FnOnce(&mut OpenSpan) -> R) -> Option<R> {
        let mut spans = lock(self.threads.get()?);
        let at = position(&spans, id)?;
        Some(f(&mut spans[at]))
    }

    /// Calls `f` with span `id`, wherever it is kept; one another thread
    /// kept moves to this thread's list.
    pub(crate) fn with<R>(&self, id: &Id, f: impl FnOnce(&mut OpenSpan) -> R) -> Option<R> {
        let mut f = Some(f);
        if let Some(done) = self.with_local(id, |open| f.take().map(|f| f(open))) {
            return done;
        }
        let mine = self.threads.get_or_default();
        for theirs in self.threads.iter() {
            if std::ptr::eq(theirs, mine) {
                continue;
            }
            let mut spans = lock(theirs);
            let Some(at) = position(&spans, id) else {
                continue;
            };
            let done = f.take().map(|f| f(&mut spans[at]));
            // `try_lock`: never wait for a second list while holding one
            // (two threads moving spans towards each other would deadlock);
            // the span then stays where it is.
            if let Some(mut mine) = mine.try_lock() {
                mine.push(spans.remove(at));
            }
            return done;
        }
        None
    }

    /// Span `id` closed: takes it out when this thread keeps it.
    #[inline]
    pub(crate) fn take_local(&self, id: &Id) -> Option<OpenSpan> {
        let mut spans = lock(self.threads.get()?);
        let at = position(&spans, id)?;
        self.count.fetch_sub(1, Ordering::Relaxed);
        // Usually the last one: popped, 30 instructions fewer per chat span
        // than `remove` (which calls `memmove` even for nothing to move;
        // callgrind, `profile-genai chat`).
        match at + 1 == spans.len() {
            true => spans.pop(),
            false => Some(spans.remove(at)),
        }
    }

    /// Span `id` closed: takes it out, wherever it is kept.
    pub(crate) fn take(&self, id: &Id) -> Option<OpenSpan> {
        let taken = self.threads.iter().find_map(|spans| {
            let mut spans = lock(spans);
            position(&spans, id).map(|at| spans.remove(at))
        })?;
        self.count.fetch_sub(1, Ordering::Relaxed);
        Some(taken)
    }
}
