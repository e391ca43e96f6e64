//! The ids an event inherits from its enclosing spans, kept per thread.
//!
//! Finding them means walking the event's scope in the registry: two slab
//! lookups and a read lock per span, a third of an event's cost. Events
//! emitted one after another in the same span (a loop, a provider call and
//! its retries, every poll of an instrumented future, which enters and
//! exits its span each time) would repeat that walk for the same answer, so
//! each thread keeps its last answer with the span it was found for, and
//! reuses it while that span is still the thread's current one and no span
//! has recorded an id field since (a generation number, bumped after a
//! span's ids are updated).
//!
//! Which span is current is known without asking the registry (that would
//! be a slab lookup again): the layer sees every enter and exit, and keeps
//! a per-thread stack of entered spans by the registry's own rules (a span
//! entered again while already entered does not become current; an exit
//! removes the span's last entry), and a per-thread epoch, bumped on every
//! enter and exit, so that events with nothing entered or exited between
//! them do not even look at the stack. An id names one span: the registry's
//! ids carry the generation of their slot, so a span created in a closed
//! span's slot gets a new id.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use thread_local::ThreadLocal;
use tracing_core::span::Id;
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::capture::SpanIds;

/// A span entered on this thread and not yet exited.
#[derive(Clone, Copy)]
struct Entry {
    /// The [`ScopeIds`] (so the layer) that saw the enter: span ids are
    /// only unique within one subscriber.
    scopes: u64,
    span: u64,
}

thread_local! {
    /// The thread's entered spans, innermost last, for every layer (one
    /// stack for all is cheaper than a stack per layer per thread).
    static ENTERED: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// Bumped on every enter and exit on this thread: while it stays the
    /// same, so does the current span, and the stack need not be read.
    static EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// Changes this thread's stack of entered spans (nothing while the thread
/// exits and its locals are gone), and bumps the epoch.
#[inline]
fn change_stack(change: impl FnOnce(&mut Vec<Entry>)) {
    let _ = EPOCH.try_with(|epoch| epoch.set(epoch.get().wrapping_add(1)));
    let _ = ENTERED.try_with(|stack| {
        if let Ok(mut stack) = stack.try_borrow_mut() {
            change(&mut stack);
        }
    });
}

/// The per-thread answers of one layer.
pub(crate) struct ScopeIds {
    /// Tells this layer's entries in [`ENTERED`] from other layers'.
    key: u64,
    threads: ThreadLocal<ThreadScope>,
    /// Bumped whenever a span's ids change.
    generation: AtomicU64,
}

#[derive(Default)]
struct ThreadScope {
    /// The span `ids` were found for (`None`: not known), the generation
    /// then, and the epoch when that span was last seen current.
    span: Cell<Option<u64>>,
    generation: Cell<u64>,
    epoch: Cell<u64>,
    /// The merged ids of that span's scope (for each id, the innermost span's).
    ids: RefCell<SpanIds>,
    /// The same for the parent of the last closed GenAI span, and the
    /// generation then: the next one closing under that parent (a rig
    /// agent's next chat) inherits them without a walk.
    parent: Cell<Option<u64>>,
    parent_generation: Cell<u64>,
    parent_ids: RefCell<SpanIds>,
}

impl Default for ScopeIds {
    fn default() -> Self {
        static NEXT_KEY: AtomicU64 = AtomicU64::new(0);
        ScopeIds {
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            threads: ThreadLocal::new(),
            generation: AtomicU64::new(0),
        }
    }
}

impl ScopeIds {
    /// Some span's ids changed; call after storing them.
    pub(crate) fn ids_recorded(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current thread entered `span`.
    #[inline]
    pub(crate) fn entered(&self, span: &Id) {
        let span = span.into_u64();
        // Whether the span was already entered is asked by `current`, which
        // runs far less often than enters do (once per event after a change).
        change_stack(|stack| {
            stack.push(Entry {
                scopes: self.key,
                span,
            })
        });
    }

    /// The current thread exited `span`.
    #[inline]
    pub(crate) fn exited(&self, span: &Id) {
        let span = span.into_u64();
        change_stack(|stack| {
            let mine = |entry: &Entry| entry.scopes == self.key && entry.span == span;
            // Usually the innermost entry: popped without a search or a move.
            if stack.last().is_some_and(mine) {
                stack.pop();
            } else if let Some(at) = stack.iter().rposition(mine) {
                stack.remove(at);
            }
        });
    }

    /// The span the registry considers current on this thread, if any.
    pub(crate) fn current(&self) -> Option<u64> {
        ENTERED
            .try_with(|stack| {
                let stack = stack.try_borrow().ok()?;
                // The innermost entry not entered already further out: an
                // exit removes a span's last entry, so an entry is a
                // re-entry exactly while an earlier one has its span.
                let entered_before = |at: usize, span: u64| {
                    stack[..at]
                        .iter()
                        .any(|earlier| earlier.scopes == self.key && earlier.span == span)
                };
                stack
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(at, entry)| {
                        entry.scopes == self.key && !entered_before(*at, entry.span)
                    })
                    .map(|(_, entry)| entry.span)
            })
            .ok()
            .flatten()
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
            .then(|| EPOCH.try_with(Cell::get).ok())
            .flatten()
        else {
            return f(&walk(event, ctx).1);
        };
        let thread = self.threads.get_or_default();
        let generation = self.generation.load(Ordering::Acquire);
        let Ok(mut ids) = thread.ids.try_borrow_mut() else {
            // Re-entered while borrowed (cannot happen: nothing here calls
            // out to host code); answer without the cache all the same.
            return f(&walk(event, ctx).1);
        };
        let known = thread.span.get().is_some()
            && thread.generation.get() == generation
            && (thread.epoch.get() == epoch || self.current() == thread.span.get());
        if !known {
            // Keyed by the innermost span the walk actually found, so a
            // stack that disagreed with the registry would only miss.
            let (innermost, walked) = walk(event, ctx);
            *ids = walked;
            thread.span.set(innermost);
            thread.generation.set(generation);
        }
        thread.epoch.set(epoch);
        f(&ids)
    }
}

impl ScopeIds {
    /// Calls `f` with the ids a span under `parent` inherits: `walk`'s
    /// answer (the merged ids of the parent's scope), found once per parent
    /// and thread, and again only after some span recorded an id. An id
    /// names one span, and a span's ancestors never change, so the parent's
    /// id is key enough.
    pub(crate) fn of_parent<R>(
        &self,
        parent: Option<Id>,
        walk: impl FnOnce() -> SpanIds,
        f: impl FnOnce(&SpanIds) -> R,
    ) -> R {
        let Some(parent) = parent.map(|id| id.into_u64()) else {
            return f(&walk());
        };
        let thread = self.threads.get_or_default();
        let generation = self.generation.load(Ordering::Acquire);
        let Ok(mut ids) = thread.parent_ids.try_borrow_mut() else {
            return f(&walk());
        };
        if thread.parent.get() != Some(parent) || thread.parent_generation.get() != generation {
            *ids = walk();
            thread.parent.set(Some(parent));
            thread.parent_generation.set(generation);
        }
        f(&ids)
    }
}

/// The innermost span of the event's scope, and the ids of the scope,
/// innermost span first, merged.
fn walk<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> (Option<u64>, SpanIds)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let mut innermost = None;
    let mut merged = SpanIds::default();
    if let Some(scope) = ctx.event_scope(event) {
        for span in scope {
            innermost.get_or_insert(span.id().into_u64());
            if let Some(ids) = span.extensions().get::<SpanIds>() {
                merged.fill_from(ids);
            }
        }
    }
    (innermost, merged)
}
