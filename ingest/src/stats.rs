//! The receiver's counters: what arrived and what became of it. What the
//! sink then did with the accepted events (written, dropped, invalid) is
//! the sink's own statistics; `/metrics` shows both, and the worker status
//! row the receiver publishes carries these under `metadata.ingest`
//! beside the sink's under `metadata.sink`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use observability_layer::SinkStats;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct IngestStats {
    /// Spans and log records read from requests.
    pub received: AtomicU64,
    /// Handed to the sink as runtime events.
    pub accepted: AtomicU64,
    /// Not runtime events (ordinary spans, foreign logs): dropped.
    pub ignored: AtomicU64,
    /// Undecodable or unusable: reported back (`partial_success`, or the
    /// `Status` of a 400).
    pub rejected: AtomicU64,
    /// Items of requests answered 429 (nothing taken; the client retries).
    pub throttled: AtomicU64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: AtomicU64,
}

/// A snapshot of [`IngestStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestCounts {
    pub received: u64,
    pub accepted: u64,
    pub ignored: u64,
    pub rejected: u64,
    pub throttled: u64,
    pub unauthorized: u64,
}

impl IngestStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn counts(&self) -> IngestCounts {
        IngestCounts {
            received: self.received.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            ignored: self.ignored.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            throttled: self.throttled.load(Relaxed),
            unauthorized: self.unauthorized.load(Relaxed),
        }
    }
}

impl IngestCounts {
    /// The `"ingest"` object of the receiver's worker status row.
    pub fn to_metadata(self) -> Value {
        json!({
            "received": self.received,
            "accepted": self.accepted,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "throttled": self.throttled,
            "unauthorized": self.unauthorized,
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// `/metrics` in the Prometheus text format: the receiver's counts, then
/// the sink's for the events it accepted.
pub fn prometheus_text(counts: IngestCounts, sink: &SinkStats) -> String {
    let mut registry = Registry::with_prefix("ai_runtime_ingest");
    let items = Family::<Outcome, Counter>::default();
    for (outcome, n) in [
        ("accepted", counts.accepted),
        ("ignored", counts.ignored),
        ("rejected", counts.rejected),
        ("throttled", counts.throttled),
    ] {
        items.get_or_create(&Outcome { outcome }).inc_by(n);
    }
    registry.register(
        "items",
        "Spans and log records received, by what became of them",
        items,
    );
    let unauthorized = Counter::<u64>::default();
    unauthorized.inc_by(counts.unauthorized);
    registry.register(
        "unauthorized_requests",
        "Requests refused for a missing or wrong ingest token",
        unauthorized,
    );
    let events = Family::<Outcome, Counter>::default();
    for (outcome, n) in [
        ("written", sink.written),
        ("dropped", sink.dropped()),
        ("invalid", sink.invalid),
    ] {
        events.get_or_create(&Outcome { outcome }).inc_by(n);
    }
    registry.register(
        "events",
        "Accepted runtime events, by what the sink did with them",
        events,
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_name_every_outcome() {
        let counts = IngestCounts {
            received: 9,
            accepted: 5,
            ignored: 2,
            rejected: 1,
            throttled: 1,
            unauthorized: 3,
        };
        let mut sink = SinkStats::default();
        sink.written = 4;
        sink.dropped_database = 1;
        let text = prometheus_text(counts, &sink);
        for line in [
            "ai_runtime_ingest_items_total{outcome=\"accepted\"} 5",
            "ai_runtime_ingest_items_total{outcome=\"rejected\"} 1",
            "ai_runtime_ingest_unauthorized_requests_total 3",
            "ai_runtime_ingest_events_total{outcome=\"written\"} 4",
            "ai_runtime_ingest_events_total{outcome=\"dropped\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert_eq!(counts.to_metadata()["throttled"], 1);
    }
}
