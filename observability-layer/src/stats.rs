//! The sink's counters. Every runtime event the layer sees is counted exactly
//! once as emitted and, in the end, exactly once as written, dropped or
//! invalid: `emitted = written + dropped_channel_full + dropped_database + invalid`
//! once the writer has drained (after `SinkHandle::flush` or shutdown).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use crossbeam_utils::CachePadded;
use serde_json::{json, Value};
use uuid::Uuid;

/// Why a runtime event was not written although the database was reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// A snapshot of the sink's statistics (`SinkHandle::stats`).
#[derive(Debug, Clone, PartialEq, Default)]
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
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
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
        json!({
            "sinkId": sink_id,
            "emitted": self.emitted,
            "written": self.written,
            "droppedChannelFull": self.dropped_channel_full,
            "droppedDatabase": self.dropped_database,
            "invalid": self.invalid,
            "retries": self.retries,
            "batches": self.batches,
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

/// The live counters, shared by the layer, the writer and the handle.
#[derive(Default)]
pub(crate) struct Counters {
    emitted: ShardedCounter,
    written: AtomicU64,
    dropped_channel_full: AtomicU64,
    dropped_database: AtomicU64,
    invalid: [AtomicU64; InvalidReason::ALL.len()],
    retries: AtomicU64,
    batches: AtomicU64,
    last_error: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl Counters {
    pub(crate) fn emitted(&self) {
        self.emitted.add(1);
    }
    pub(crate) fn written(&self, n: u64) {
        self.written.fetch_add(n, Relaxed);
    }
    pub(crate) fn batch(&self) {
        self.batches.fetch_add(1, Relaxed);
    }
    pub(crate) fn dropped_channel_full(&self) {
        self.dropped_channel_full.fetch_add(1, Relaxed);
    }
    pub(crate) fn dropped_database(&self, n: u64) {
        self.dropped_database.fetch_add(n, Relaxed);
    }
    pub(crate) fn invalid(&self, reason: InvalidReason) {
        self.invalid[reason as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
    pub(crate) fn error(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((message, Utc::now()));
        }
    }

    /// A snapshot. Counters are read one by one, so a snapshot taken while
    /// events are in flight may be momentarily behind; once drained it is exact.
    pub(crate) fn snapshot(&self) -> SinkStats {
        let mut invalid_by_reason = BTreeMap::new();
        let mut invalid = 0;
        for reason in InvalidReason::ALL {
            let n = self.invalid[reason as usize].load(Relaxed);
            if n > 0 {
                invalid_by_reason.insert(reason.as_str(), n);
                invalid += n;
            }
        }
        let (last_error, last_error_at) = match self.last_error.lock() {
            Ok(last) => match &*last {
                Some((m, at)) => (Some(m.clone()), Some(*at)),
                None => (None, None),
            },
            Err(_) => (None, None),
        };
        SinkStats {
            emitted: self.emitted.get(),
            written: self.written.load(Relaxed),
            dropped_channel_full: self.dropped_channel_full.load(Relaxed),
            dropped_database: self.dropped_database.load(Relaxed),
            invalid,
            invalid_by_reason,
            retries: self.retries.load(Relaxed),
            batches: self.batches.load(Relaxed),
            last_error,
            last_error_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_invalid_reasons_and_serializes_camel_case() {
        let c = Counters::default();
        c.emitted();
        c.emitted();
        c.emitted();
        c.invalid(InvalidReason::UnknownLayer);
        c.invalid(InvalidReason::InvalidTaskId);
        c.written(1);
        c.batch();
        c.error("boom".into());
        let s = c.snapshot();
        assert_eq!(s.emitted, 3);
        assert_eq!(s.invalid, 2);
        assert_eq!(s.settled(), 3);
        assert_eq!(s.invalid_by_reason.get("unknown_layer"), Some(&1));
        let id = Uuid::nil();
        let m = s.to_metadata(id);
        assert_eq!(m["droppedChannelFull"], 0);
        assert_eq!(m["lastError"], "boom");
        assert_eq!(m["sinkId"], id.to_string());
    }
}
