//! The hot path: the `tracing_subscriber::Layer` itself. Per event it looks
//! up the callsite's plan (decided once), and only for runtime events
//! captures fields, inherits ids from enclosing spans (innermost wins) and
//! `try_send`s to the writer. No I/O, no JSON, no waiting.

use std::cell::Cell;
use std::sync::Arc;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::callsite::plan;
use crate::capture::{EventVisitor, SpanIds, SpanIdsVisitor};
use crate::clock;
use crate::config::RuntimeLayerBuilder;
use crate::scope::ScopeIds;
use crate::sink::Shared;

/// The layer. Add it to a `tracing_subscriber::registry()` with `.with(layer)`.
pub struct RuntimeLayer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) scopes: ScopeIds,
}

impl RuntimeLayer {
    pub fn builder() -> RuntimeLayerBuilder {
        RuntimeLayerBuilder::default()
    }
}

thread_local! {
    /// Set on the writer thread for its whole life, and on any thread while
    /// the layer is capturing, so that nothing the writer logs (or a value's
    /// `Debug` impl logs) ever becomes a runtime event.
    static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as never producing runtime events.
pub(crate) fn suppress_current_thread() {
    let _ = SUPPRESSED.try_with(|s| s.set(true));
}

/// Runs `f` unless the thread is suppressed; suppresses re-entry while it runs.
#[inline]
fn guarded(f: impl FnOnce()) {
    // `try_with`: while a thread is exiting its thread-locals may be gone;
    // the event is then skipped rather than panicking the host.
    let entered = SUPPRESSED.try_with(|s| !s.replace(true)).unwrap_or(false);
    if entered {
        f();
        let _ = SUPPRESSED.try_with(|s| s.set(false));
    }
}

impl<S> tracing_subscriber::Layer<S> for RuntimeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(
        &self,
        metadata: &'static tracing_core::Metadata<'static>,
    ) -> tracing_core::Interest {
        // Decide (and cache) the plan now; never filter other layers' events.
        let _ = plan(metadata);
        tracing_core::Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let plan = plan(attrs.metadata());
        if !plan.has_ids {
            return;
        }
        guarded(|| {
            let mut ids = SpanIds::default();
            attrs.record(&mut SpanIdsVisitor {
                plan: &plan,
                ids: &mut ids,
                max_value_bytes: self.shared.limits.max_value_bytes,
            });
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(ids);
            }
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let plan = plan(span.metadata());
        if !plan.has_ids {
            return;
        }
        guarded(|| {
            let mut extensions = span.extensions_mut();
            if extensions.get_mut::<SpanIds>().is_none() {
                extensions.insert(SpanIds::default());
            }
            if let Some(ids) = extensions.get_mut::<SpanIds>() {
                values.record(&mut SpanIdsVisitor {
                    plan: &plan,
                    ids,
                    max_value_bytes: self.shared.limits.max_value_bytes,
                });
            }
            drop(extensions);
            self.scopes.ids_recorded();
        });
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        self.scopes.entered(id);
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        self.scopes.exited(id);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let plan = plan(meta);
        if !plan.runtime {
            return;
        }
        guarded(|| {
            let mut captured = self
                .shared
                .fresh_event(clock::now(), *meta.level(), meta.target());
            let mut visitor = EventVisitor::new(&plan, self.shared.limits, &mut captured);
            event.record(&mut visitor);
            self.scopes.with(event, &ctx, |ids| visitor.inherit(ids));
            match visitor.finish() {
                Ok(()) => self.shared.emit(captured),
                Err(reason) => {
                    self.shared.counters.emitted();
                    self.shared.counters.invalid(reason);
                    self.shared.recycle(captured);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tracing_subscriber::prelude::*;

    #[test]
    fn a_suppressed_thread_never_produces_runtime_events() {
        // The writer thread marks itself this way, so whatever it (or sqlx,
        // or tokio) logs cannot come back to it as runtime events.
        let (layer, guard, handle) = crate::RuntimeLayer::builder()
            .database_url("postgres://postgres@127.0.0.1:1/x")
            .shutdown_deadline(Duration::from_millis(100))
            .build()
            .unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let emit = || tracing::info!(layer = "worker", operation = "HEARTBEAT", reason_code = "X");
        std::thread::scope(|s| {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    super::suppress_current_thread();
                    emit();
                })
            });
            s.spawn(|| tracing::dispatcher::with_default(&dispatch, emit));
        });
        assert_eq!(handle.stats().emitted, 1);
        assert_eq!(guard.shutdown().emitted, 1);
    }
}
