//! The ids an event inherits from its enclosing spans, kept per thread.
//!
//! Finding them means walking the event's scope in the registry: two slab
//! lookups and a read lock per span, a third of an event's cost. Events
//! emitted one after another in the same span (a loop, a provider call and
//! its retries) would repeat that walk for the same answer, so each thread
//! keeps its last answer until it is no longer certain: when the thread
//! enters or exits any span (its current scope may have changed: a
//! per-thread epoch, one increment per enter or exit), or when any span
//! records an id field (a generation number, bumped after the span's ids
//! are updated).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use thread_local::ThreadLocal;
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::capture::SpanIds;

thread_local! {
    /// Bumped whenever this thread enters or exits a span (of any subscriber:
    /// one cell for all is cheaper, and a needless walk is only slower).
    static STACK_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// The current thread entered or exited a span.
#[inline]
pub(crate) fn stack_changed() {
    let _ = STACK_EPOCH.try_with(|epoch| epoch.set(epoch.get().wrapping_add(1)));
}

/// The per-thread answers of one layer.
#[derive(Default)]
pub(crate) struct ScopeIds {
    threads: ThreadLocal<ThreadScope>,
    /// Bumped whenever a span's ids change.
    generation: AtomicU64,
}

#[derive(Default)]
struct ThreadScope {
    /// Whether `ids` describes the thread's scope at `epoch` and `generation`.
    valid: Cell<bool>,
    epoch: Cell<u64>,
    generation: Cell<u64>,
    /// The merged ids of the scope (for each id, the innermost span's).
    ids: RefCell<SpanIds>,
}

impl ScopeIds {
    /// Some span's ids changed; call after storing them.
    pub(crate) fn ids_recorded(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Calls `f` with the ids `event` inherits from its scope.
    #[inline]
    pub(crate) fn with<S, R>(
        &self,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
        f: impl FnOnce(&SpanIds) -> R,
    ) -> R
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        // Events with an explicit parent (or none) are not in the thread's
        // current scope: walk theirs.
        let Some(epoch) = event
            .is_contextual()
            .then(|| STACK_EPOCH.try_with(Cell::get).ok())
            .flatten()
        else {
            return f(&walk(event, ctx));
        };
        let thread = self.threads.get_or_default();
        let generation = self.generation.load(Ordering::Acquire);
        let Ok(mut ids) = thread.ids.try_borrow_mut() else {
            // Re-entered while borrowed (cannot happen: nothing here calls
            // out to host code); answer without the cache all the same.
            return f(&walk(event, ctx));
        };
        let known = thread.valid.get()
            && thread.epoch.get() == epoch
            && thread.generation.get() == generation;
        if !known {
            *ids = walk(event, ctx);
            thread.epoch.set(epoch);
            thread.generation.set(generation);
            thread.valid.set(true);
        }
        f(&ids)
    }
}

/// The ids of the event's scope, innermost span first, merged.
fn walk<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> SpanIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let mut merged = SpanIds::default();
    if let Some(scope) = ctx.event_scope(event) {
        for span in scope {
            if let Some(ids) = span.extensions().get::<SpanIds>() {
                merged.fill_from(ids);
            }
        }
    }
    merged
}
