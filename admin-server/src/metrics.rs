//! `GET /metrics`: the runtime's state in the Prometheus exposition format
//! (OpenMetrics text, through the Prometheus project's `prometheus-client`).
//!
//! Every value comes from the cached status the API serves (default trend
//! window), so a scrape adds no query beyond the one status computation per
//! refresh interval that every dashboard shares. The registry is built per
//! scrape from that snapshot: the values are the database's, not this
//! process's, so there is nothing to keep between scrapes.

use std::sync::atomic::AtomicU64;

use ai_runtime_api::{AlertKind, CountScope, StatusResponse, WorkerState};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use serde_json::Value;

/// The content type of [`render`]'s output: OpenMetrics, which Prometheus
/// asks for first.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`to_classic_text`]'s output, for clients that do not
/// accept OpenMetrics (`curl`, `promtool check metrics`).
pub(crate) const CLASSIC_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics.
pub(crate) fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// The classic text format (0.0.4) of an OpenMetrics exposition: the same
/// samples, with the family names the classic format expects (a counter's
/// family carries its `_total`, an info metric is a gauge named `_info`),
/// without the `# UNIT` and `# EOF` lines it does not know. `HELP` comes
/// before `TYPE` in both, so it is held until the type is known.
pub(crate) fn to_classic_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ');
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                other => (name.to_owned(), other),
            };
            if let Some((_, text)) = help.take() {
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerStateLabels {
    worker_id: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    worker_id: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    worker_id: String,
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    alert: &'static str,
}

/// The exposition of `status`.
pub(crate) fn render(status: &StatusResponse) -> String {
    let mut registry = Registry::with_prefix("ai_runtime");

    let build = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
    registry.register("build", "The admin server's version", build);

    let state = Family::<WorkerStateLabels, Gauge>::default();
    let circuit = Family::<WorkerLabels, Gauge>::default();
    let stale = Family::<WorkerLabels, Gauge>::default();
    let age = Family::<WorkerLabels, FloatGauge>::default();
    let emitted = Family::<WorkerLabels, Counter>::default();
    let written = Family::<WorkerLabels, Counter>::default();
    let dropped = Family::<DropLabels, Counter>::default();
    let invalid = Family::<WorkerLabels, Counter>::default();
    let ingested = Family::<IngestLabels, Counter>::default();
    for w in &status.workers {
        let worker = || WorkerLabels {
            worker_id: w.worker_id.clone(),
        };
        for s in WorkerState::ALL {
            let labels = WorkerStateLabels {
                worker_id: w.worker_id.clone(),
                state: s.as_str(),
            };
            state.get_or_create(&labels).set(i64::from(w.status == *s));
        }
        circuit
            .get_or_create(&worker())
            .set(i64::from(w.circuit_open));
        stale.get_or_create(&worker()).set(i64::from(w.stale));
        age.get_or_create(&worker()).set(w.heartbeat_age_seconds);
        // The statistics the worker's event sink reports; workers sharing a
        // sink report the same figures.
        if let Some(sink) = w.metadata.get("sink") {
            let count = |key: &str| sink.get(key).and_then(Value::as_u64).unwrap_or(0);
            emitted.get_or_create(&worker()).inc_by(count("emitted"));
            written.get_or_create(&worker()).inc_by(count("written"));
            invalid.get_or_create(&worker()).inc_by(count("invalid"));
            for (cause, key) in [
                ("channel_full", "droppedChannelFull"),
                ("database", "droppedDatabase"),
            ] {
                let labels = DropLabels {
                    worker_id: w.worker_id.clone(),
                    cause,
                };
                dropped.get_or_create(&labels).inc_by(count(key));
            }
        }
        // An OTLP receiver's row (ai-runtime-ingest) also says what it read.
        if let Some(ingest) = w.metadata.get("ingest") {
            for outcome in ["accepted", "ignored", "rejected", "throttled"] {
                let n = ingest.get(outcome).and_then(Value::as_u64).unwrap_or(0);
                let labels = IngestLabels {
                    worker_id: w.worker_id.clone(),
                    outcome,
                };
                ingested.get_or_create(&labels).inc_by(n);
            }
        }
    }
    registry.register(
        "worker_state",
        "1 for the worker's current state (RUNNING, IDLE, DEGRADED, STOPPED), 0 for the others",
        state,
    );
    registry.register(
        "worker_circuit_open",
        "1 while the worker's circuit breaker is open",
        circuit,
    );
    registry.register(
        "worker_stale",
        "1 when a worker that is not STOPPED missed three heartbeat intervals",
        stale,
    );
    registry.register_with_unit(
        "worker_heartbeat_age",
        "Time since the worker's last heartbeat",
        Unit::Seconds,
        age,
    );
    registry.register(
        "sink_events_emitted",
        "Runtime events the worker's sink saw",
        emitted,
    );
    registry.register(
        "sink_events_written",
        "Runtime events the worker's sink wrote to Postgres",
        written,
    );
    registry.register(
        "sink_events_dropped",
        "Runtime events the worker's sink dropped, by cause (channel_full, database)",
        dropped,
    );
    registry.register(
        "sink_events_invalid",
        "Runtime events the worker's sink refused as invalid",
        invalid,
    );
    registry.register(
        "ingest_items",
        "Spans and log records an OTLP receiver read, by outcome (accepted, ignored, rejected, throttled)",
        ingested,
    );

    let tasks = Family::<StatusLabels, Gauge>::default();
    let finished = Family::<StatusLabels, Gauge>::default();
    for count in &status.queue.counts {
        let labels = StatusLabels {
            status: count.status.as_str(),
        };
        match count.scope {
            CountScope::Current => tasks.get_or_create(&labels).set(count.count),
            CountScope::Window => finished.get_or_create(&labels).set(count.count),
        };
    }
    registry.register(
        "tasks",
        "Tasks in an active status (PENDING, RUNNING, IN_REVIEW) now",
        tasks,
    );
    registry.register(
        "tasks_finished_in_window",
        "Tasks that reached a finished status (DONE, SKIPPED, FAILED) within the status window",
        finished,
    );
    let window = Gauge::<i64>::default();
    window.set(status.queue.window_minutes * 60);
    registry.register_with_unit(
        "status_window",
        "The window of ai_runtime_tasks_finished_in_window",
        Unit::Seconds,
        window,
    );
    let stuck = Family::<StatusLabels, Gauge>::default();
    stuck
        .get_or_create(&StatusLabels { status: "RUNNING" })
        .set(status.queue.stuck_running);
    stuck
        .get_or_create(&StatusLabels { status: "PENDING" })
        .set(status.queue.stuck_pending);
    registry.register(
        "tasks_stuck",
        "RUNNING tasks with an expired lease, PENDING tasks overdue",
        stuck,
    );

    if let Some(at) = status.last_event_at {
        let last = FloatGauge::default();
        last.set(at.timestamp_millis() as f64 / 1000.0);
        registry.register_with_unit(
            "last_event_timestamp",
            "When the newest runtime event occurred (Unix time)",
            Unit::Seconds,
            last,
        );
    }

    let alerts = Family::<AlertLabels, Gauge>::default();
    for kind in AlertKind::ALL {
        let firing = status.alerts.iter().filter(|a| a.alert == kind).count();
        alerts
            .get_or_create(&AlertLabels {
                alert: kind.as_str(),
            })
            .set(firing as i64);
    }
    registry.register(
        "alerts_firing",
        "Built-in alerts firing now, by alert (the admin server's evaluator)",
        alerts,
    );

    let mut body = String::new();
    encode(&mut body, &registry).expect("writing to a String cannot fail");
    body
}
