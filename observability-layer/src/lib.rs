#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! The modules, in the order an event travels: [`layer`](RuntimeLayer)
//! (hot path), `callsite` (what a callsite's fields are for, decided once),
//! `capture` and `text` (what is copied, bounded), `redact`, `clock`,
//! `emitter` (hands the event over), `channel` (sharded per emitting
//! thread), `writer` (batches, scrubs secrets out of values with `scrub`,
//! fans out), `batch` (shared by the
//! exporters, its boxes recycled through `spare`), `delivery` (one thread
//! and queue per exporter: retries, backoff, splitting, deadlines),
//! `exporter` (the interface), `postgres` (the first exporter, with
//! `metadata`) and `otlp` (the second, feature `otlp`: OTLP logs over
//! HTTP with the GenAI conventions); `prepared` (events made outside
//! `tracing`, handed in through [`SinkHandle::submit`]); `recorder`, `stats`, `worker_status`; `handle` (handle,
//! guard, reporters), `stop`, `recursion`, `config` (the builder) and `sink`
//! (assembles them). See the crate README for the convention.

mod batch;
mod callsite;
mod capture;
mod channel;
mod clock;
pub mod config;
mod delivery;
mod emitter;
mod exporter;
mod genai_span;
mod handle;
mod layer;
mod macros;
mod metadata;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "postgres")]
mod postgres;
mod prepared;
pub mod reason_codes;
mod recorder;
mod recursion;
pub mod redact;
mod scope;
mod scrub;
mod sink;
mod spare;
mod stats;
mod stop;
mod text;
mod worker_status;
mod writer;

pub use ai_runtime_genai::prices::ModelPrice;
pub use ai_runtime_vocab::{EventLayer, Operation, WorkerState};
pub use config::{BuildError, RuntimeLayerBuilder};
pub use handle::{SinkGuard, SinkHandle, WorkerReporter};
pub use layer::RuntimeLayer;
#[cfg(feature = "postgres")]
pub use postgres::WRITER_APPLICATION_NAME;
pub use prepared::{Backpressure, PreparedEvent};
pub use recorder::RecordedEvent;
pub use scrub::PatternError;
pub use sink::RuntimeSink;
pub use stats::{ExporterStats, InvalidReason, SinkStats};
pub use worker_status::WorkerReport;

#[doc(hidden)]
pub mod __private {
    pub use tracing;
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
