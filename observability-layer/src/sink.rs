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
use crate::handle::{Parts, SinkGuard, SinkHandle};
use crate::layer::RuntimeLayer;
use crate::postgres::PostgresExporter;
use crate::recorder::Recorder;
use crate::scope::ScopeIds;
use crate::spare::SpareBoxes;
use crate::stats::{ExporterCounters, Statistics};
use crate::stop::stop_channel;
use crate::worker_status::Board;
use crate::writer::{self, Writer};

impl RuntimeLayerBuilder {
    /// Starts the writer thread and returns the layer, the guard that stops
    /// the writer (flushing within the shutdown deadline) and a handle to the
    /// statistics. Never connects: an unreachable database is not an error.
    pub fn build(self) -> Result<(RuntimeLayer, SinkGuard, SinkHandle), BuildError> {
        let options = self.resolve()?;
        let settings = self.settings;
        let postgres = PostgresExporter::new(options, settings.agent_type.clone())
            .map_err(BuildError::Spawn)?;
        start(settings, vec![Box::new(postgres)])
    }
}

/// Starts a sink over `exporters` (the first is the primary one).
pub(crate) fn start(
    settings: Settings,
    exporters: Exporters,
) -> Result<(RuntimeLayer, SinkGuard, SinkHandle), BuildError> {
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
    let (control, control_rx) = crossbeam_channel::unbounded();
    let (reports_published, reports_rx) = crossbeam_channel::bounded(1);
    let board = Arc::new(Board::default());
    let recorder = Arc::new(Recorder::new(settings.recorder_capacity));
    let clock = Arc::new(EventClock::new());
    let done = writer::spawn(Writer {
        emitter: Arc::clone(&emitter),
        events: inbox,
        control: control_rx,
        reports_published: reports_rx,
        board: Arc::clone(&board),
        recorder: Arc::clone(&recorder),
        clock: Arc::clone(&clock),
        spare,
        outlets,
        stop: stop_rx,
        batch_size: settings.batch_size,
        flush_interval: settings.flush_interval,
        pending: Vec::new(),
        oldest_at: None,
    })
    .map_err(BuildError::Spawn)?;
    let parts = Arc::new(Parts {
        sink_id,
        emitter: Arc::clone(&emitter),
        statistics,
        recorder,
        board,
        control,
        reports_published,
    });
    Ok((
        RuntimeLayer {
            emitter,
            clock,
            scopes: ScopeIds::default(),
        },
        SinkGuard {
            parts: Arc::clone(&parts),
            stop,
            shutdown_deadline: settings.shutdown_deadline,
            done: Some(done),
        },
        SinkHandle { parts },
    ))
}
