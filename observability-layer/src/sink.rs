//! Assembles a sink: the emitting side, the writer thread, one delivery
//! thread per exporter, and the handle and guard over them.
//!
//! ```text
//! host threads --try_send--> channel (4 shards) --> writer --Arc<Batch>--> queue --> delivery --> exporter (Postgres)
//!   (layer: capture,            bounded              batches, recorder,       bounded    retry, backoff,
//!    emitter)                                        worker reports           per exporter  split, deadlines
//! ```

use std::sync::Arc;

use uuid::Uuid;

use crate::capture::Limits;
use crate::channel;
use crate::clock::EventClock;
use crate::config::{BuildError, RuntimeLayerBuilder, Settings};
use crate::delivery::{self, DeliverySettings, StatsJson};
use crate::emitter::Emitter;
use crate::exporter::Exporters;
use crate::genai_span::OpenGenAiSpans;
use crate::handle::{Parts, SinkGuard, SinkHandle};
use crate::layer::RuntimeLayer;
#[cfg(feature = "postgres")]
use crate::postgres::PostgresExporter;
use crate::recorder::Recorder;
use crate::scope::ScopeIds;
use crate::scrub::Scrubber;
use crate::spare::SpareBoxes;
use crate::stats::{ExporterCounters, Statistics};
use crate::stop::stop_channel;
use crate::worker_status::Board;
use crate::writer::{self, Writer};

/// What [`RuntimeLayerBuilder::build`] returns: the layer to add to the
/// subscriber, the guard that flushes and stops the writer when dropped
/// (keep it alive as long as events should be written), and the handle
/// (statistics, recent events, worker reporters).
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// # fn main() -> Result<(), observability_layer::BuildError> {
/// let sink = observability_layer::RuntimeLayer::builder()
///     .database_url("postgres://writer@127.0.0.1/app")
///     .build()?;
/// tracing_subscriber::registry().with(sink.layer).init();
/// let (_guard, handle) = (sink.guard, sink.handle);
/// # Ok(()) }
/// ```
#[non_exhaustive]
pub struct RuntimeSink {
    pub layer: RuntimeLayer,
    pub guard: SinkGuard,
    pub handle: SinkHandle,
}

impl RuntimeLayerBuilder {
    /// Starts the writer thread and returns the layer, the guard that stops
    /// the writer (flushing within the shutdown deadline) and a handle to the
    /// statistics, as a [`RuntimeSink`]. Never connects: an unreachable database is not an error.
    /// Postgres, when configured, is the primary exporter (whose view
    /// `SinkStats` gives), then OTLP, when configured.
    pub fn build(self) -> Result<RuntimeSink, BuildError> {
        let options = self.resolve()?;
        let mut exporters: Exporters = Vec::new();
        #[cfg(feature = "postgres")]
        if let Some(options) = options {
            let postgres = PostgresExporter::new(options, self.settings.agent_type.clone())
                .map_err(BuildError::Spawn)?;
            exporters.push(Box::new(postgres));
        }
        #[cfg(not(feature = "postgres"))]
        if let Some(never) = options {
            match never {}
        }
        #[cfg(feature = "otlp")]
        if let Some(target) = self.otlp.resolve(&self.settings.agent_type)? {
            let otlp = crate::otlp::OtlpExporter::new(target).map_err(BuildError::Spawn)?;
            exporters.push(Box::new(otlp));
        }
        start(self.settings, exporters)
    }
}

/// Starts a sink over `exporters` (the first is the primary one).
pub(crate) fn start(settings: Settings, exporters: Exporters) -> Result<RuntimeSink, BuildError> {
    let sink_id = Uuid::new_v4();
    let (events, inbox) = channel::sharded(settings.channel_capacity);
    // As many spare boxes as one channel shard holds: a full shard's worth
    // is recycled without touching the allocator again.
    let spare = Arc::new(SpareBoxes::new(settings.channel_capacity));
    let limits = Limits {
        max_value_bytes: settings.max_value_bytes,
        max_metadata_bytes: settings.max_metadata_bytes,
    };
    let emitter = Arc::new(Emitter::new(
        limits,
        events,
        inbox.clone(),
        Arc::clone(&spare),
    ));
    let statistics = Statistics {
        common: Arc::clone(&emitter.counters),
        exporters: exporters
            .iter()
            .map(|e| Arc::new(ExporterCounters::new(e.name())))
            .collect(),
    };
    let stats_json: StatsJson = {
        let statistics = statistics.clone();
        Arc::new(move || statistics.snapshot(0).to_metadata(sink_id))
    };
    let (stop, stop_rx) = stop_channel();
    let delivery_settings = DeliverySettings {
        batch_size: settings.batch_size,
        capacity: settings.channel_capacity.max(settings.batch_size),
        max_backoff: settings.max_backoff,
        operation_timeout: settings.operation_timeout,
        stats_interval: settings.stats_interval,
    };
    let mut outlets = Vec::with_capacity(exporters.len());
    for (exporter, counters) in exporters.into_iter().zip(&statistics.exporters) {
        outlets.push(
            delivery::spawn(
                exporter,
                Arc::clone(counters),
                delivery_settings.clone(),
                stop_rx.clone(),
                Arc::clone(&stats_json),
            )
            .map_err(BuildError::Spawn)?,
        );
    }
    let primary_queue = outlets.first().map(|o| o.queue_gauge());
    let (control, control_rx) = crossbeam_channel::unbounded();
    let (reports_published, reports_rx) = crossbeam_channel::bounded(1);
    let board = Arc::new(Board::default());
    let scrubber = Scrubber::new(&settings.secret_patterns)?;
    let recorder = Arc::new(Recorder::new(settings.recorder_capacity));
    let clock = Arc::new(EventClock::new());
    // The price table is decoded once per process, off the writer thread,
    // so that the first captured call is not held up by it.
    let _ = std::thread::Builder::new()
        .name("genai-prices-warm-up".into())
        .spawn(ai_runtime_genai::prices::warm_up);
    let done = writer::spawn(Writer {
        emitter: Arc::clone(&emitter),
        events: inbox,
        control: control_rx,
        reports_published: reports_rx,
        board: Arc::clone(&board),
        scrubber,
        prices: settings.prices.clone(),
        recorder: Arc::clone(&recorder),
        clock: Arc::clone(&clock),
        spare,
        outlets,
        stop: stop_rx,
        batch_size: settings.batch_size,
        flush_interval: settings.flush_interval,
        pending: Vec::new(),
        oldest_at: None,
        flushes: Vec::new(),
    })
    .map_err(BuildError::Spawn)?;
    let parts = Arc::new(Parts {
        sink_id,
        emitter: Arc::clone(&emitter),
        primary_queue,
        statistics,
        recorder,
        board,
        control,
        reports_published,
    });
    Ok(RuntimeSink {
        layer: RuntimeLayer {
            emitter,
            clock,
            scopes: ScopeIds::default(),
            open_genai: OpenGenAiSpans::default(),
            capture_content: settings.capture_content,
        },
        guard: SinkGuard {
            parts: Arc::clone(&parts),
            stop,
            shutdown_deadline: settings.shutdown_deadline,
            done: Some(done),
        },
        handle: SinkHandle { parts },
    })
}

#[cfg(test)]
mod tests {
    //! The whole pipeline against fake exporters, without a database.

    use std::time::{Duration, Instant};

    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::exporter::fake::Fake;
    use crate::worker_status::WorkerReport;

    fn settings() -> Settings {
        Settings {
            batch_size: 4,
            flush_interval: Duration::from_millis(50),
            shutdown_deadline: Duration::from_millis(300),
            max_backoff: Duration::from_millis(20),
            ..Settings::default()
        }
    }

    fn emit(dispatch: &tracing::Dispatch, codes: &[&str]) {
        tracing::dispatcher::with_default(dispatch, || {
            for code in codes {
                tracing::info!(layer = "worker", operation = "TASK", reason_code = *code);
            }
        });
    }

    fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while !f() {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn batches_are_cut_by_size_then_by_interval() {
        let (fake, script) = Fake::boxed("fake");
        let RuntimeSink {
            layer,
            guard,
            handle,
            ..
        } = start(settings(), vec![fake]).unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let started = Instant::now();
        emit(
            &dispatch,
            &["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"],
        );
        assert!(wait_for(|| script.exported.lock().unwrap().len() == 10));
        // Two full batches at once, the rest after the flush interval.
        assert_eq!(*script.attempts.lock().unwrap(), [4, 4, 2]);
        assert!(started.elapsed() >= Duration::from_millis(50));
        let stats = guard.shutdown();
        assert_eq!((stats.emitted, stats.written, stats.batches), (10, 10, 3));
        assert_eq!(handle.recent_events().len(), 10);
    }

    #[test]
    fn flush_hands_over_a_partial_batch_and_waits_for_every_exporter() {
        let mut s = settings();
        s.flush_interval = Duration::from_secs(60);
        let (first, first_script) = Fake::boxed("first");
        let (second, second_script) = Fake::boxed("second");
        let RuntimeSink {
            layer,
            guard: _guard,
            handle,
            ..
        } = start(s, vec![first, second]).unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        emit(&dispatch, &["A", "B"]);
        handle
            .worker("w-1")
            .publish(WorkerReport::new(ai_runtime_vocab::WorkerState::Running));
        assert!(handle.flush(Duration::from_secs(5)));
        for script in [&first_script, &second_script] {
            // The report's change event, then the two.
            assert_eq!(script.exported.lock().unwrap().len(), 3);
            assert_eq!(*script.upserted.lock().unwrap(), ["w-1"]);
        }
        let stats = handle.exporter_stats();
        assert_eq!(stats.len(), 2);
        assert!(stats
            .iter()
            .all(|e| e.exported == 3 && e.settled() == e.emitted));
    }

    #[test]
    fn submitted_events_are_taken_all_or_none_and_exported_like_captured_ones() {
        let mut s = settings();
        // 32 places over the 4 shards; the exporter's queue holds 8.
        s.channel_capacity = 8;
        s.flush_interval = Duration::from_secs(60);
        let (fake, script) = Fake::boxed("fake");
        let RuntimeSink { guard, handle, .. } = start(s, vec![fake]).unwrap();
        let event = |code: &str| {
            let mut e = crate::PreparedEvent::new(
                std::time::SystemTime::now(),
                tracing::Level::INFO,
                ai_runtime_vocab::EventLayer::ToolRuntime,
                ai_runtime_vocab::Operation::ToolCall,
                code,
            );
            e.target = "otlp.receiver".into();
            e.fields = vec![("gen_ai.tool.name".into(), "search".into())];
            e
        };
        let too_many: Vec<_> = (0..33).map(|_| event("TOOL_CALL_OK")).collect();
        assert_eq!(
            handle.submit(too_many),
            Err(crate::Backpressure {
                wanted: 33,
                room: 32
            })
        );
        assert_eq!(handle.stats().emitted, 0, "nothing was counted");
        let mut fits: Vec<_> = (0..7).map(|_| event("TOOL_CALL_OK")).collect();
        fits.push(event(" "));
        handle.submit(fits).unwrap();
        assert!(handle.flush(Duration::from_secs(5)));
        let stats = guard.shutdown();
        assert_eq!((stats.emitted, stats.written, stats.invalid), (8, 7, 1));
        assert_eq!(stats.invalid_by_reason.get("missing_reason_code"), Some(&1));
        let recent = handle.recent_events();
        assert_eq!(recent.len(), 7);
        assert_eq!(recent[0].metadata["gen_ai.tool.name"], "search");
        assert_eq!(recent[0].metadata["target"], "otlp.receiver");
        assert_eq!(script.exported.lock().unwrap().len(), 7);
    }

    #[test]
    fn every_exporter_accounts_for_every_event() {
        let mut s = settings();
        s.channel_capacity = 8;
        let (flaky, flaky_script) = Fake::boxed("flaky");
        *flaky_script.unavailable_attempts.lock().unwrap() = 3;
        *flaky_script.reject_code.lock().unwrap() = Some("BAD".into());
        let (dead, dead_script) = Fake::boxed("dead");
        dead_script
            .hang
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let RuntimeSink {
            layer,
            guard,
            handle,
            ..
        } = start(s, vec![flaky, dead]).unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        // Faster than the writer polls: some are dropped on the channel.
        let codes: Vec<&str> = (0..2000)
            .map(|i| if i == 7 { "BAD" } else { "OK" })
            .collect();
        emit(&dispatch, &codes);
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!(layer = "nope", operation = "TASK", reason_code = "X");
        });
        let stats = guard.shutdown();
        assert_eq!(stats.emitted, 2001);
        assert_eq!(stats.invalid_by_reason.get("unknown_layer"), Some(&1));
        assert_eq!(stats.settled(), stats.emitted, "{stats:?}");
        assert_eq!(stats.exporters.len(), 2);
        for e in &stats.exporters {
            assert_eq!(e.settled(), e.emitted, "{e:?}");
        }
        let (flaky, dead) = (&stats.exporters[0], &stats.exporters[1]);
        assert!(flaky.retries >= 3 && flaky.exported > 0, "{flaky:?}");
        assert_eq!(dead.exported, 0);
        assert!(
            dead.dropped_queue_full + dead.dropped_failing > 0,
            "{dead:?}"
        );
        // The dead exporter did not hold the flaky one back.
        assert_eq!(flaky.dropped_failing, 0, "{flaky:?}");
        assert_eq!(
            flaky.exported + flaky.rejected + flaky.dropped_queue_full,
            stats.emitted - stats.dropped_channel_full - 1
        );
        // After shutdown there is nothing left to wait for.
        assert!(handle.flush(Duration::from_millis(10)));
    }
}
