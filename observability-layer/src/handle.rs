//! What the host holds besides the layer: the handle (statistics, recent
//! events, worker reporters, flush), the guard (shutdown) and the worker
//! reporters. Flush and shutdown are messages to the writer's thread (and,
//! through it, every exporter's), answered on a reply channel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use uuid::Uuid;

use crate::emitter::Emitter;
use crate::prepared::{Backpressure, PreparedEvent};
use crate::recorder::{RecordedEvent, Recorder};
use crate::stats::{ExporterStats, SinkStats, Statistics};
use crate::stop::StopSender;
use crate::worker_status::{Board, WorkerReport};
use crate::writer::{Control, FINISH_MARGIN};

/// What the handle, the guard and the reporters share.
pub(crate) struct Parts {
    pub sink_id: Uuid,
    pub emitter: Arc<Emitter>,
    /// Events in the primary exporter's queue.
    pub primary_queue: Option<Arc<AtomicUsize>>,
    pub statistics: Statistics,
    pub recorder: Arc<Recorder>,
    pub board: Arc<Board>,
    pub control: Sender<Control>,
    /// Wakes the writer when a report is published (a full channel means
    /// a wake-up is already pending).
    pub reports_published: Sender<()>,
}

impl Parts {
    fn stats(&self) -> SinkStats {
        self.statistics.snapshot(self.emitter.leftovers() as u64)
    }
}

/// Reads the sink's statistics and recent events; hands out worker reporters.
/// Cheap to clone.
#[derive(Clone)]
pub struct SinkHandle {
    pub(crate) parts: Arc<Parts>,
}

impl SinkHandle {
    /// The counters now, as the primary exporter (Postgres) sees them;
    /// every exporter's own view is in `exporters`.
    pub fn stats(&self) -> SinkStats {
        self.parts.stats()
    }

    /// Every exporter's statistics, the primary one first.
    pub fn exporter_stats(&self) -> Vec<ExporterStats> {
        self.parts.stats().exporters
    }

    /// The most recent valid runtime events, oldest first, whether or not
    /// they reached the database.
    pub fn recent_events(&self) -> Vec<RecordedEvent> {
        self.parts.recorder.recent()
    }

    /// A reporter for `worker_id`'s row in `ai_worker_status`.
    pub fn worker(&self, worker_id: &str) -> WorkerReporter {
        WorkerReporter {
            worker_id: worker_id.into(),
            parts: Arc::clone(&self.parts),
        }
    }

    /// Hands runtime events made outside `tracing` (an OTLP receiver's) to
    /// the writer: all of them, or none when the channel lacks room for all
    /// (then nothing is counted, and the caller answers "try later").
    /// Taken events are counted as emitted and settled like the layer's
    /// own; one with a blank reason code is counted as invalid. Never blocks.
    pub fn submit(&self, events: Vec<PreparedEvent>) -> Result<(), Backpressure> {
        let limits = self.parts.emitter.limits;
        let events = events
            .into_iter()
            .map(|e| e.into_captured(limits))
            .collect();
        self.parts.emitter.emit_all(events)
    }

    /// This sink instance's id (`metadata.sink.sinkId` of reported workers).
    pub fn sink_id(&self) -> Uuid {
        self.parts.sink_id
    }

    /// Events waiting for the primary exporter: in the channel to the
    /// writer and in that exporter's queue (a host may slow down while it
    /// is high; beyond the capacity, events are dropped).
    pub fn queued(&self) -> usize {
        let exporter = self.parts.primary_queue.as_ref();
        self.parts.emitter.queued() + exporter.map_or(0, |q| q.load(Ordering::Acquire))
    }

    /// Asks the writer to hand over everything now and waits, at most
    /// `timeout`, until every event emitted and every report published
    /// before the call is settled (exported, dropped or invalid) by every
    /// exporter. Returns whether it was. Meant for tests and lifecycle
    /// points, never the hot path.
    pub fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let exporters = self.parts.statistics.exporters.len();
        let (reply, answers) = crossbeam_channel::unbounded();
        let _ = self.parts.control.send(Control::Flush(reply));
        for _ in 0..exporters {
            match answers.recv_deadline(until) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => {
                    // The writer (or an exporter) has stopped: no answer
                    // will come, and what it held is counted as dropped.
                    let stats = self.stats();
                    return stats.settled() >= stats.emitted;
                }
            }
        }
        true
    }
}

/// Stops the writer when dropped (or on [`shutdown`](Self::shutdown)): what
/// is queued is exported within the shutdown deadline, the rest is counted
/// as dropped, and the call returns on time even when the database is dead.
/// It blocks the calling thread for at most the deadline (plus 50 ms); in
/// async code, call it from `spawn_blocking` or at the end of `main`.
#[must_use = "dropping the guard stops the writer"]
pub struct SinkGuard {
    pub(crate) parts: Arc<Parts>,
    pub(crate) stop: StopSender,
    pub(crate) shutdown_deadline: Duration,
    /// Disconnects when the writer has finished.
    pub(crate) done: Option<Receiver<()>>,
}

impl SinkGuard {
    /// Flushes and stops the writer; returns the final statistics.
    pub fn shutdown(mut self) -> SinkStats {
        self.stop();
        self.parts.stats()
    }

    fn stop(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        let at = Instant::now() + self.shutdown_deadline;
        self.stop.stop(at);
        // Everything bounds its work by `at`; the margins cover the
        // exporters' counting and the hand-over.
        let _ = done.recv_deadline(at + FINISH_MARGIN + Duration::from_millis(50));
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Publishes one worker's status. Cheap to clone, `Send + Sync`, never blocks.
#[derive(Clone)]
pub struct WorkerReporter {
    worker_id: Arc<str>,
    parts: Arc<Parts>,
}

impl WorkerReporter {
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Publishes `report` as of now (call at a fixed interval and at every
    /// lifecycle boundary: start, task start/end, breaker change, stop).
    pub fn publish(&self, report: WorkerReport) {
        if let Some(event) = self.parts.board.publish(&self.worker_id, report) {
            self.parts.emitter.emit(event);
        }
        let _ = self.parts.reports_published.try_send(());
    }

    /// Re-publishes the last report with a fresh heartbeat; no-op before the first.
    pub fn heartbeat(&self) {
        if let Some(last) = self.parts.board.last(&self.worker_id) {
            self.publish(last);
        }
    }
}
