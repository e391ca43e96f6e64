//! A `tracing-subscriber` Layer that persists AI runtime events to Postgres
//! (`ai_runtime_events`, `ai_worker_status`), best-effort: logging never
//! blocks, fails or slows the host. What cannot be written is dropped and
//! counted.
//!
//! ```no_run
//! use std::time::Duration;
//! use observability_layer::{runtime_event, EventLayer, Operation, RuntimeLayer, WorkerReport, WorkerState};
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (layer, guard, handle) = RuntimeLayer::builder()
//!     .from_env()? // AI_RUNTIME_EVENTS_DATABASE_URL or DATABASE_URL, ...
//!     .agent_type("phase1_reply_runner")
//!     .build()?;
//! tracing_subscriber::registry().with(layer).init();
//!
//! // A runtime event: `layer`, `operation` and `reason_code`; ids as columns;
//! // everything else (and the message and level) into `metadata`.
//! let task = uuid::Uuid::new_v4();
//! let span = tracing::info_span!("task", task_id = %task, worker_id = "worker-1");
//! let _entered = span.enter();
//! tracing::info!(layer = "provider_runtime", operation = "CALL",
//!     reason_code = "PROVIDER_CALL_OK", entity_id = "sim/gpt-sim-1", latency_ms = 12, "llm call ok");
//! // The same, typed:
//! runtime_event!(tracing::Level::INFO, EventLayer::ProviderRuntime, Operation::Call,
//!     "PROVIDER_CALL_OK", entity_id = "sim/gpt-sim-1", latency_ms = 12, "llm call ok");
//!
//! // Worker status: upserts ai_worker_status; an event only on change.
//! let reporter = handle.worker("worker-1");
//! reporter.publish(WorkerReport::new(WorkerState::Running));
//!
//! println!("{:?}", handle.stats());
//! guard.shutdown(); // or drop it: flushes within the shutdown deadline
//! # Ok(()) }
//! ```
//!
//! The modules, in the order an event travels: [`layer`](crate::RuntimeLayer)
//! (hot path), `callsite` (what a callsite's fields are for, decided once),
//! `capture` and `text` (what is copied, bounded), `redact`, `channel`
//! (sharded per emitting thread), `spare` (event boxes for reuse), `writer`
//! (batching, retries, shutdown) and `rows` (the SQL), `recorder`, `stats`,
//! `worker_status`; `sink` holds what they share, `config` the builder. See
//! the crate README for the convention.

mod callsite;
mod capture;
mod channel;
mod clock;
pub mod config;
mod layer;
mod macros;
pub mod reason_codes;
mod recorder;
pub mod redact;
mod rows;
mod scope;
mod sink;
mod spare;
mod stats;
mod text;
mod worker_status;
mod writer;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

pub use ai_runtime_vocab::{EventLayer, Operation, WorkerState};
pub use config::{BuildError, RuntimeLayerBuilder};
pub use layer::RuntimeLayer;
pub use recorder::RecordedEvent;
pub use sink::{SinkGuard, SinkHandle};
pub use stats::{InvalidReason, SinkStats};
pub use worker_status::{WorkerReport, WorkerReporter};

/// `application_name` of the writer's database connections.
pub const WRITER_APPLICATION_NAME: &str = "observability-layer-writer";

#[doc(hidden)]
pub mod __private {
    pub use tracing;
}

impl RuntimeLayerBuilder {
    /// Starts the writer thread and returns the layer, the guard that stops
    /// the writer (flushing within the shutdown deadline) and a handle to the
    /// statistics. Never connects: an unreachable database is not an error.
    pub fn build(self) -> Result<(RuntimeLayer, SinkGuard, SinkHandle), BuildError> {
        let options = self.resolve()?;
        let settings = self.settings;
        clock::use_tsc_if_trusted();
        let (events_tx, events_rx) = channel::sharded(settings.channel_capacity);
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let shared = Arc::new(sink::Shared {
            sink_id: uuid::Uuid::new_v4(),
            limits: capture::Limits {
                max_value_bytes: settings.max_value_bytes,
                max_metadata_bytes: settings.max_metadata_bytes,
            },
            counters: stats::Counters::default(),
            recorder: recorder::Recorder::new(settings.recorder_capacity),
            board: worker_status::Board::default(),
            closed: AtomicBool::new(false),
            events: events_tx,
            leftovers: events_rx.clone(),
            // As many spare boxes as one channel shard holds: a full shard's
            // worth is recycled without touching the allocator again.
            spare: spare::SpareBoxes::new(settings.channel_capacity),
            wake: wake_tx,
            flush_requested: AtomicBool::new(false),
            shutdown_at: Mutex::new(None),
            settings,
        });
        writer::spawn(Arc::clone(&shared), events_rx, wake_rx, options, done_tx)
            .map_err(BuildError::Spawn)?;
        Ok((
            RuntimeLayer {
                shared: Arc::clone(&shared),
                scopes: scope::ScopeIds::default(),
            },
            SinkGuard {
                shared: Arc::clone(&shared),
                done: Some(done_rx),
            },
            SinkHandle { shared },
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_cross_threads() {
        fn send_sync_clone<T: Send + Sync + Clone>() {}
        fn send_sync<T: Send + Sync>() {}
        send_sync_clone::<crate::WorkerReporter>();
        send_sync_clone::<crate::SinkHandle>();
        send_sync::<crate::RuntimeLayer>();
        send_sync::<crate::SinkGuard>();
    }
}
