//! The sink's counters. Every runtime event the layer sees is counted exactly
//! once as emitted and, in the end, exactly once as written, dropped or
//! invalid: `emitted = written + dropped_channel_full + dropped_database + invalid`
//! once the writer has drained (after `SinkHandle::flush` or shutdown).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crossbeam_utils::CachePadded;
use serde_json::{json, Value};
use uuid::Uuid;

/// Why a runtime event was not written although the database was reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum InvalidReason {
    /// No `layer` field value.
    MissingLayer,
    /// A `layer` outside the vocabulary.
    UnknownLayer,
    /// No `operation` field value.
    MissingOperation,
    /// An `operation` outside the vocabulary.
    UnknownOperation,
    /// An empty `reason_code`.
    MissingReasonCode,
    /// A `task_id` (on the event or inherited) that is not a UUID.
    InvalidTaskId,
    /// A `persona_id` (on the event or inherited) that is not a UUID.
    InvalidPersonaId,
    /// The database refused the row itself (the rest of its batch was written).
    RejectedByDatabase,
}

impl InvalidReason {
    pub const ALL: [InvalidReason; 8] = [
        InvalidReason::MissingLayer,
        InvalidReason::UnknownLayer,
        InvalidReason::MissingOperation,
        InvalidReason::UnknownOperation,
        InvalidReason::MissingReasonCode,
        InvalidReason::InvalidTaskId,
        InvalidReason::InvalidPersonaId,
        InvalidReason::RejectedByDatabase,
    ];

    /// A stable snake_case name (the key in [`SinkStats::invalid_by_reason`]).
    pub const fn as_str(self) -> &'static str {
        match self {
            InvalidReason::MissingLayer => "missing_layer",
            InvalidReason::UnknownLayer => "unknown_layer",
            InvalidReason::MissingOperation => "missing_operation",
            InvalidReason::UnknownOperation => "unknown_operation",
            InvalidReason::MissingReasonCode => "missing_reason_code",
            InvalidReason::InvalidTaskId => "invalid_task_id",
            InvalidReason::InvalidPersonaId => "invalid_persona_id",
            InvalidReason::RejectedByDatabase => "rejected_by_database",
        }
    }
}

/// A snapshot of the sink's statistics (`SinkHandle::stats`), as the
/// primary exporter (Postgres) sees them.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct SinkStats {
    /// Runtime events seen by the layer (valid or not).
    pub emitted: u64,
    /// Rows committed to `ai_runtime_events`.
    pub written: u64,
    /// Dropped on the emitting thread because the channel was full (or the
    /// sink had already shut down).
    pub dropped_channel_full: u64,
    /// Dropped by the writer because the database failed for too long, or
    /// was still unreachable when the shutdown deadline passed.
    pub dropped_database: u64,
    /// Not written because a value was missing or unfit for its column.
    pub invalid: u64,
    /// `invalid`, by reason (only reasons that occurred).
    pub invalid_by_reason: BTreeMap<&'static str, u64>,
    /// Failed database attempts that were retried.
    pub retries: u64,
    /// Batches committed.
    pub batches: u64,
    /// Captured GenAI calls written without a price: their model is in
    /// neither the price table nor the builder's prices (never guessed).
    pub unpriced_calls: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Every exporter's own view, the primary one first.
    pub exporters: Vec<ExporterStats>,
}

impl SinkStats {
    /// Both kinds of drop.
    pub fn dropped(&self) -> u64 {
        self.dropped_channel_full + self.dropped_database
    }

    /// Events whose fate is decided: written, dropped or invalid.
    pub fn settled(&self) -> u64 {
        self.written + self.dropped() + self.invalid
    }

    /// The `"sink"` object merged into `ai_worker_status.metadata`.
    pub fn to_metadata(&self, sink_id: Uuid) -> Value {
        let exporters: serde_json::Map<String, Value> = self
            .exporters
            .iter()
            .map(|e| (e.name.to_owned(), e.to_metadata()))
            .collect();
        json!({
            "sinkId": sink_id,
            "emitted": self.emitted,
            "written": self.written,
            "droppedChannelFull": self.dropped_channel_full,
            "droppedDatabase": self.dropped_database,
            "invalid": self.invalid,
            "retries": self.retries,
            "batches": self.batches,
            "unpricedCalls": self.unpriced_calls,
            "lastError": self.last_error,
            "lastErrorAt": self.last_error_at.map(|t| t.to_rfc3339()),
            "exporters": exporters,
        })
    }
}

/// One exporter's statistics. Each exporter accounts for every runtime
/// event on its own: `emitted = exported + dropped() + invalid`, exactly,
/// once the sink has drained.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ExporterStats {
    /// The exporter (`"postgres"`).
    pub name: &'static str,
    /// Runtime events seen by the layer (the same for every exporter).
    pub emitted: u64,
    /// Events this exporter delivered.
    pub exported: u64,
    /// Batches this exporter delivered.
    pub batches: u64,
    /// Dropped before reaching any exporter: the channel was full (the same
    /// for every exporter).
    pub dropped_channel_full: u64,
    /// Dropped because this exporter's queue was full (it was failing or
    /// slow for longer than its queue lasts).
    pub dropped_queue_full: u64,
    /// Dropped because this exporter was still failing at the shutdown
    /// deadline (or had stopped).
    pub dropped_failing: u64,
    /// Invalid on capture (the same for every exporter) plus `rejected`.
    pub invalid: u64,
    /// Events this exporter refused for their data.
    pub rejected: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

impl ExporterStats {
    /// Every kind of drop.
    pub fn dropped(&self) -> u64 {
        self.dropped_channel_full + self.dropped_queue_full + self.dropped_failing
    }

    /// Events whose fate is decided for this exporter.
    pub fn settled(&self) -> u64 {
        self.exported + self.dropped() + self.invalid
    }

    fn to_metadata(&self) -> Value {
        json!({
            "exported": self.exported,
            "batches": self.batches,
            "droppedQueueFull": self.dropped_queue_full,
            "droppedFailing": self.dropped_failing,
            "rejected": self.rejected,
            "retries": self.retries,
            "lastError": self.last_error,
            "lastErrorAt": self.last_error_at.map(|t| t.to_rfc3339()),
        })
    }
}

/// Shards for counters the emitting threads bump, so two threads emitting
/// at full speed do not fight over one cache line.
const SHARDS: usize = 8;

#[derive(Default)]
struct ShardedCounter {
    shards: [CachePadded<AtomicU64>; SHARDS],
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard number: threads are numbered in the order they
/// first ask, so concurrent emitters usually get different shards.
#[inline]
pub(crate) fn thread_shard() -> usize {
    SHARD
        .try_with(|s| {
            let mut v = s.get();
            if v == usize::MAX {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                v = NEXT.fetch_add(1, Relaxed) as usize;
                s.set(v);
            }
            v
        })
        // While the thread exits, any shard will do.
        .unwrap_or(0)
}

impl ShardedCounter {
    fn add(&self, n: u64) {
        self.shards[thread_shard() % SHARDS].fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.shards.iter().map(|s| s.load(Relaxed)).sum()
    }
}

/// The counters the emitting side keeps, common to every exporter.
#[derive(Default)]
pub(crate) struct Counters {
    emitted: ShardedCounter,
    dropped_channel_full: AtomicU64,
    /// Events left in the channel when the writer stopped.
    dropped_leftover: AtomicU64,
    invalid: [AtomicU64; InvalidReason::ALL.len()],
    /// GenAI calls the writer could not price.
    unpriced_calls: AtomicU64,
}

impl Counters {
    pub(crate) fn emitted(&self) {
        self.emitted.add(1);
    }
    pub(crate) fn dropped_channel_full(&self) {
        self.dropped_channel_full.fetch_add(1, Relaxed);
    }
    pub(crate) fn dropped_leftover(&self, n: u64) {
        self.dropped_leftover.fetch_add(n, Relaxed);
    }
    pub(crate) fn invalid(&self, reason: InvalidReason) {
        self.invalid[reason as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn unpriced_call(&self) {
        self.unpriced_calls.fetch_add(1, Relaxed);
    }
}

/// One exporter's live counters (written by its delivery thread).
pub(crate) struct ExporterCounters {
    name: &'static str,
    exported: AtomicU64,
    batches: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_failing: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
    last_error: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl ExporterCounters {
    pub(crate) fn new(name: &'static str) -> Self {
        ExporterCounters {
            name,
            exported: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_failing: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }
    pub(crate) fn exported(&self, n: u64) {
        self.exported.fetch_add(n, Relaxed);
    }
    pub(crate) fn batch(&self) {
        self.batches.fetch_add(1, Relaxed);
    }
    pub(crate) fn dropped_queue_full(&self, n: u64) {
        self.dropped_queue_full.fetch_add(n, Relaxed);
    }
    pub(crate) fn dropped_failing(&self, n: u64) {
        self.dropped_failing.fetch_add(n, Relaxed);
    }
    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
    }
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
    pub(crate) fn error(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((message, Utc::now()));
        }
    }
}

/// All the counters of a sink.
#[derive(Clone)]
pub(crate) struct Statistics {
    pub common: Arc<Counters>,
    /// One per exporter, the primary one first.
    pub exporters: Vec<Arc<ExporterCounters>>,
}

impl Statistics {
    /// A snapshot; `leftover` events raced into the channel after the
    /// writer stopped and count as dropped. Counters are read one by one,
    /// so a snapshot taken while events are in flight may be momentarily
    /// behind; once drained it is exact.
    pub(crate) fn snapshot(&self, leftover: u64) -> SinkStats {
        snapshot(&self.common, &self.exporters, leftover)
    }
}

fn snapshot(
    common: &Counters,
    exporters: &[Arc<ExporterCounters>],
    live_leftover: u64,
) -> SinkStats {
    let mut invalid_by_reason = BTreeMap::new();
    let mut invalid = 0;
    for reason in InvalidReason::ALL {
        let n = common.invalid[reason as usize].load(Relaxed);
        if n > 0 {
            invalid_by_reason.insert(reason.as_str(), n);
            invalid += n;
        }
    }
    let emitted = common.emitted.get();
    let dropped_channel_full = common.dropped_channel_full.load(Relaxed);
    let leftover = common.dropped_leftover.load(Relaxed) + live_leftover;
    let exporters: Vec<ExporterStats> = exporters
        .iter()
        .map(|e| {
            let rejected = e.rejected.load(Relaxed);
            let (last_error, last_error_at) = match e.last_error.lock().as_deref() {
                Ok(Some((m, at))) => (Some(m.clone()), Some(*at)),
                _ => (None, None),
            };
            ExporterStats {
                name: e.name,
                emitted,
                exported: e.exported.load(Relaxed),
                batches: e.batches.load(Relaxed),
                dropped_channel_full,
                dropped_queue_full: e.dropped_queue_full.load(Relaxed),
                dropped_failing: e.dropped_failing.load(Relaxed) + leftover,
                invalid: invalid + rejected,
                rejected,
                retries: e.retries.load(Relaxed),
                last_error,
                last_error_at,
            }
        })
        .collect();
    let mut stats = SinkStats {
        emitted,
        dropped_channel_full,
        invalid,
        invalid_by_reason,
        unpriced_calls: common.unpriced_calls.load(Relaxed),
        ..SinkStats::default()
    };
    if let Some(primary) = exporters.first() {
        stats.written = primary.exported;
        stats.dropped_database = primary.dropped_queue_full + primary.dropped_failing;
        if primary.rejected > 0 {
            stats
                .invalid_by_reason
                .insert(InvalidReason::RejectedByDatabase.as_str(), primary.rejected);
        }
        stats.invalid += primary.rejected;
        stats.retries = primary.retries;
        stats.batches = primary.batches;
        stats.last_error.clone_from(&primary.last_error);
        stats.last_error_at = primary.last_error_at;
    } else {
        stats.dropped_database = leftover;
    }
    stats.exporters = exporters;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_exporter_gives_the_sink_view_and_each_view_balances() {
        let c = Counters::default();
        for _ in 0..6 {
            c.emitted();
        }
        c.invalid(InvalidReason::UnknownLayer);
        c.dropped_channel_full();
        let pg = Arc::new(ExporterCounters::new("postgres"));
        pg.exported(2);
        pg.batch();
        pg.rejected();
        pg.dropped_failing(1);
        pg.error("boom".into());
        let other = Arc::new(ExporterCounters::new("otlp"));
        other.dropped_queue_full(4);
        let s = snapshot(&c, &[pg, other], 0);
        assert_eq!((s.emitted, s.written, s.invalid), (6, 2, 2));
        assert_eq!(s.dropped_database, 1);
        assert_eq!(s.settled(), 6);
        assert_eq!(s.invalid_by_reason.get("unknown_layer"), Some(&1));
        assert_eq!(s.invalid_by_reason.get("rejected_by_database"), Some(&1));
        for e in &s.exporters {
            assert_eq!(e.settled(), e.emitted, "{e:?}");
        }
        assert_eq!(s.exporters[1].invalid, 1);
        let id = Uuid::nil();
        let m = s.to_metadata(id);
        assert_eq!(m["droppedChannelFull"], 1);
        assert_eq!(m["lastError"], "boom");
        assert_eq!(m["sinkId"], id.to_string());
        assert_eq!(m["exporters"]["otlp"]["droppedQueueFull"], 4);
    }
}
