//! The hot path: the `tracing_subscriber::Layer` itself. Per event it looks
//! up the callsite's plan (decided once), and only for runtime events
//! captures fields, inherits ids from enclosing spans (innermost wins) and
//! `try_send`s to the writer. No I/O, no JSON, no waiting. GenAI spans
//! (`genai_span`) are captured from creation to close.

use std::sync::Arc;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::callsite::{plan, PlanRef};
use crate::capture::{EventVisitor, SpanIds, SpanIdsVisitor};
use crate::clock::EventClock;
use crate::config::RuntimeLayerBuilder;
use crate::emitter::Emitter;
use crate::genai_span::{GenAiSpan, GenAiVisitor, OpenGenAiSpans, OpenSpan};
use crate::recursion::guarded;
use crate::scope::ScopeIds;

/// The layer. Add it to a `tracing_subscriber::registry()` with `.with(layer)`.
pub struct RuntimeLayer {
    pub(crate) emitter: Arc<Emitter>,
    pub(crate) clock: Arc<EventClock>,
    pub(crate) scopes: ScopeIds,
    pub(crate) open_genai: OpenGenAiSpans,
    /// GenAI content (prompts, replies, tool arguments and results) is kept.
    pub(crate) capture_content: bool,
}

impl RuntimeLayer {
    pub fn builder() -> RuntimeLayerBuilder {
        RuntimeLayerBuilder::default()
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
        if plan.has_ids {
            guarded(|| {
                let mut ids = SpanIds::default();
                attrs.record(&mut SpanIdsVisitor {
                    plan: &plan,
                    ids: &mut ids,
                    max_value_bytes: self.emitter.limits.max_value_bytes,
                });
                if let Some(span) = ctx.span(id) {
                    span.extensions_mut().insert(ids);
                }
            });
        }
        if plan.genai.is_some() {
            guarded(|| self.open_genai_span(attrs, id, plan));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // A GenAI span this thread keeps (rig records on the opening thread).
        let kept = match self.open_genai.any() {
            true => self.record_kept(id, values),
            false => None,
        };
        if kept != Some(false) {
            self.record_registered(id, values, &ctx, kept.is_some());
        }
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        self.scopes.entered(id);
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        self.scopes.exited(id);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.open_genai.any() {
            return;
        }
        guarded(|| {
            // Usually kept by this thread; else, when it is a GenAI span at
            // all, by another.
            let taken = self.open_genai.take_local(&id).or_else(|| {
                ctx.span(&id)
                    .is_some_and(|span| plan(span.metadata()).genai.is_some())
                    .then(|| self.open_genai.take(&id))
                    .flatten()
            });
            let Some(OpenSpan { plan, span, .. }) = taken else {
                return;
            };
            let latency = self.clock.instant().saturating_duration_since(span.opened);
            // The span's own ids (rig's carry none), then its ancestors'.
            let own = match plan.has_ids {
                true => ctx
                    .span(&id)
                    .and_then(|span| span.extensions().get::<SpanIds>().cloned()),
                false => None,
            };
            let parent = span.parent.clone();
            let walk = || {
                let mut ids = SpanIds::default();
                let scope = parent.as_ref().and_then(|parent| ctx.span(parent));
                for scope in scope.iter().flat_map(|parent| parent.scope()) {
                    if let Some(found) = scope.extensions().get::<SpanIds>() {
                        ids.fill_from(found);
                    }
                }
                ids
            };
            let latency_ms = latency.as_secs_f64() * 1000.0;
            let finished = self
                .scopes
                .of_parent(parent.clone(), walk, |inherited| match own {
                    Some(mut own) => {
                        own.fill_from(inherited);
                        span.finish(latency_ms, &own)
                    }
                    None => span.finish(latency_ms, inherited),
                });
            match finished {
                Some(Ok(event)) => self.emitter.emit(event),
                Some(Err((event, reason))) => self.emitter.invalid(event, reason),
                None => {}
            }
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing_core::Level::ERROR && self.open_genai.any() {
            // An ERROR inside a GenAI span fails it (rig's chat spans carry no error status).
            let innermost = ctx
                .event_scope(event)
                .and_then(|mut scope| scope.find(|span| plan(span.metadata()).genai.is_some()));
            if let Some(span) = innermost {
                guarded(|| {
                    self.open_genai
                        .with(&span.id(), |open| open.span.error_event = true);
                });
            }
        }
        let plan = plan(meta);
        if !plan.runtime {
            return;
        }
        guarded(|| {
            let mut captured =
                self.emitter
                    .fresh_event(self.clock.now(), *meta.level(), meta.target());
            let mut visitor = EventVisitor::new(&plan, self.emitter.limits, &mut captured);
            event.record(&mut visitor);
            self.scopes.with(event, &ctx, |ids| visitor.inherit(ids));
            match visitor.finish() {
                Ok(()) => self.emitter.emit(captured),
                Err(reason) => self.emitter.invalid(captured, reason),
            }
        });
    }
}

impl RuntimeLayer {
    /// Opens a GenAI span's capture, with the attributes it was created with.
    fn open_genai_span(&self, attrs: &Attributes<'_>, id: &Id, plan: PlanRef) {
        let Some(genai) = plan.genai.as_deref() else {
            return;
        };
        let meta = attrs.metadata();
        let (now, opened) = self.clock.now_and_instant();
        let event = self.emitter.fresh_event(now, *meta.level(), meta.target());
        let limits = self.emitter.limits;
        let mut span = GenAiSpan::new(event, opened, limits);
        attrs.record(&mut GenAiVisitor {
            plan: genai,
            span: &mut span,
            limits,
            capture_content: self.capture_content,
        });
        // The registry's rule for the parent, without asking it (a lookup).
        span.parent = match attrs.parent() {
            Some(parent) => Some(parent.clone()),
            None if attrs.is_contextual() => self.scopes.current().map(Id::from_u64),
            None => None,
        };
        self.open_genai.opened(id, plan, span);
    }

    /// Records `values` into span `id` when this thread keeps it: whether
    /// the span also carries ids (`None`: not kept here).
    #[inline]
    fn record_kept(&self, id: &Id, values: &Record<'_>) -> Option<bool> {
        let mut kept = None;
        guarded(|| {
            kept = self.open_genai.with_local(id, |open| {
                self.record_genai(open, values);
                open.plan.has_ids
            })
        });
        kept
    }

    /// The rest of a record, with the registry: a GenAI span another thread
    /// keeps, and the ids of a span carrying some. Out of line, so that
    /// the usual record above saves no registers for it.
    #[inline(never)]
    fn record_registered<S>(&self, id: &Id, values: &Record<'_>, ctx: &Context<'_, S>, kept: bool)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else { return };
        let plan = plan(span.metadata());
        if !kept && plan.genai.is_some() {
            // Kept by another thread (or opened before this layer saw it).
            guarded(|| {
                self.open_genai
                    .with(id, |open| self.record_genai(open, values));
            });
        }
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
                    max_value_bytes: self.emitter.limits.max_value_bytes,
                });
            }
            drop(extensions);
            self.scopes.ids_recorded();
        });
    }

    /// Records `values` into a GenAI span's capture.
    #[inline]
    fn record_genai(&self, open: &mut OpenSpan, values: &Record<'_>) {
        if let Some(plan) = open.plan.genai.as_deref() {
            values.record(&mut GenAiVisitor {
                plan,
                span: &mut open.span,
                limits: self.emitter.limits,
                capture_content: self.capture_content,
            });
        }
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
        let sink = super::RuntimeLayer::builder()
            .database_url("postgres://postgres@127.0.0.1:1/x")
            .shutdown_deadline(Duration::from_millis(100))
            .build()
            .unwrap();
        let (layer, guard, handle) = (sink.layer, sink.guard, sink.handle);
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let emit = || tracing::info!(layer = "worker", operation = "HEARTBEAT", reason_code = "X");
        std::thread::scope(|s| {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    crate::recursion::suppress_current_thread();
                    emit();
                })
            });
            s.spawn(|| tracing::dispatcher::with_default(&dispatch, emit));
        });
        assert_eq!(handle.stats().emitted, 1);
        assert_eq!(guard.shutdown().emitted, 1);
    }

    #[test]
    fn a_panicking_debug_impl_does_not_mute_the_thread() {
        struct Explodes;
        impl std::fmt::Debug for Explodes {
            fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                panic!("Debug impl panicked")
            }
        }
        let sink = super::RuntimeLayer::builder()
            .database_url("postgres://postgres@127.0.0.1:1/x")
            .flush_interval(Duration::from_millis(10))
            .shutdown_deadline(Duration::from_millis(100))
            .build()
            .unwrap();
        let (layer, guard, handle) = (sink.layer, sink.guard, sink.handle);
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        tracing::dispatcher::with_default(&dispatch, || {
            let panicked = std::panic::catch_unwind(|| {
                tracing::info!(layer = "worker", operation = "HEARTBEAT", reason_code = "X",
                    value = ?Explodes);
            });
            assert!(panicked.is_err());
            tracing::info!(layer = "worker", operation = "HEARTBEAT", reason_code = "Y");
        });
        // The first event never got past its capture; the second proves
        // the thread was not left muted.
        let seen = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            handle.recent_events().iter().any(|e| e.reason_code == "Y")
        });
        assert!(seen, "the event after the panic was not captured");
        assert_eq!(guard.shutdown().emitted, 1);
    }
}
