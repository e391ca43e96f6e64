//! The runtime's health, computed once for both `GET /status` and
//! `ai-runtime-verify`: worker rows with derived staleness, queue counts with
//! exact trend deltas, stuck tasks, dropped events, and the degraded flags.

use std::collections::BTreeMap;
use std::sync::Arc;

use ai_runtime_api::{
    AlertKind, CountScope, DegradedFlag, DegradedKind, FiringAlert, OverallHealth, ProviderRoute,
    QueueCount, QueueSummary, ReceiverCounts, StatusResponse, TaskStatus, WorkerState,
    WorkerStatus,
};
use ai_runtime_maintain::rollup::{rolled_until, Rollup};
use chrono::{DateTime, DurationRound, Utc};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::config::Thresholds;
use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::status_cache::StatusCache;
use crate::stuck::Stuck;

#[derive(sqlx::FromRow)]
struct WorkerRow {
    worker_id: String,
    agent_type: String,
    status: String,
    circuit_open: bool,
    circuit_reason: Option<String>,
    last_heartbeat: DateTime<Utc>,
    current_task_id: Option<Uuid>,
    metadata: Value,
    updated_at: DateTime<Utc>,
    age_seconds: f64,
}

/// The status of `window_minutes` from `cache`, computed on `pool` when the
/// cached one is older than its time-to-live: the one path of the API and
/// `/metrics`, so both share each computation.
pub(crate) async fn cached(
    cache: &StatusCache,
    pool: &PgPool,
    thresholds: &Thresholds,
    window_minutes: i64,
) -> Result<Arc<StatusResponse>, ApiFailure> {
    let compute = async {
        let mut conn = pool.acquire().await?;
        compute(&mut conn, thresholds, window_minutes).await
    };
    cache.get(window_minutes, compute).await
}

/// Computes the status at the database's `now()` with a trend window of
/// `window_minutes`.
pub(crate) async fn compute(
    conn: &mut PgConnection,
    thresholds: &Thresholds,
    window_minutes: i64,
) -> Result<StatusResponse, ApiFailure> {
    // One snapshot, so counts, deltas and stuck tasks agree with each other.
    let mut tx = conn.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let now: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(&mut *tx)
        .await?;
    let worker_rows: Vec<WorkerRow> = sqlx::query_as(WORKERS_SQL).fetch_all(&mut *tx).await?;
    let counts: Vec<(String, i64)> = sqlx::query_as(COUNTS_SQL)
        .bind(status_names())
        .fetch_all(&mut *tx)
        .await?;
    let parts = WindowParts::of(
        now - chrono::Duration::minutes(window_minutes),
        rolled_until(&mut tx, Rollup::Transitions).await?,
    );
    let transitions: Vec<Transitions> = sqlx::query_as(DELTAS_SQL)
        .bind(parts.start)
        .bind(parts.first_minute)
        .bind(parts.rolled_until)
        // Planned for the actual window each time: a generic plan expects a
        // third of the table and runs parallel workers, slower on 2 cores.
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
    let deltas = trend_deltas(&transitions);
    let finished = entries(&transitions);
    let stuck: (i64, i64) = stuck_counts_query(thresholds)
        .build_query_as()
        .fetch_one(&mut *tx)
        .await?;
    let last_event_at: Option<DateTime<Utc>> = sqlx::query_scalar(LAST_EVENT_SQL)
        .fetch_one(&mut *tx)
        .await?;
    // Only looked for when no running worker reports its route itself.
    let reported = worker_rows
        .iter()
        .any(|w| w.status != WorkerState::Stopped.as_str() && route_of(&w.metadata).is_some());
    let captured_route = match reported {
        true => None,
        false => sqlx::query_as::<_, (String, String)>(CAPTURED_ROUTE_SQL)
            .fetch_optional(&mut *tx)
            .await?
            .map(|(provider, model)| ProviderRoute { provider, model }),
    };
    let alerts: Vec<AlertRow> = sqlx::query_as(FIRING_ALERTS_SQL)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;

    let workers = worker_rows
        .into_iter()
        .map(|row| to_worker(row, thresholds))
        .collect::<Result<Vec<_>, _>>()?;
    let queue = QueueSummary {
        window_minutes,
        counts: queue_counts(&counts, &finished, &deltas),
        stuck_running: stuck.0,
        stuck_pending: stuck.1,
    };
    let mut status = assemble(now, workers, queue, last_event_at);
    status.active_route = status.active_route.or(captured_route);
    status.alerts = alerts.into_iter().map(to_alert).collect::<Result<_, _>>()?;
    Ok(status)
}

/// The built-in alerts firing now (the evaluator's table; pending ones, whose
/// condition has not held long enough yet, are left out).
const FIRING_ALERTS_SQL: &str = "select alert, subject, since, firing_at, value, message \
     from public.ai_runtime_alerts where firing_at is not null \
     order by firing_at, alert, subject";

#[derive(sqlx::FromRow)]
struct AlertRow {
    alert: String,
    subject: String,
    since: DateTime<Utc>,
    firing_at: DateTime<Utc>,
    value: f64,
    message: String,
}

fn to_alert(row: AlertRow) -> Result<FiringAlert, ApiFailure> {
    let alert = AlertKind::parse(&row.alert).ok_or_else(|| {
        ApiFailure::Internal(format!(
            "unknown alert {:?} in ai_runtime_alerts",
            row.alert
        ))
    })?;
    Ok(FiringAlert {
        alert,
        worker_id: Some(row.subject).filter(|s| !s.is_empty()),
        since: row.since,
        firing_at: row.firing_at,
        value: row.value,
        message: row.message,
    })
}

const WORKERS_SQL: &str = "select worker_id, agent_type, status, circuit_open, \
     circuit_reason, last_heartbeat, current_task_id, metadata, updated_at, \
     extract(epoch from now() - last_heartbeat)::float8 as age_seconds \
     from public.ai_worker_status order by worker_id";

/// One count per status in `$1` (the active ones: finished tasks are counted
/// over the window, from their transitions, so that this stays cheap as
/// months of them pile up), each an index-only count of that status's range
/// of the `(status, …)` index.
const COUNTS_SQL: &str = "select s.status, \
     (select count(*) from public.persona_tasks t where t.status = s.status) \
     from unnest($1::text[]) as s(status)";

const LAST_EVENT_SQL: &str = "select max(occurred_at) from public.ai_runtime_events";

/// The route of the newest successful provider call captured from a GenAI
/// span in the last 15 minutes: the provider and the model that answered
/// (else the one asked for). The active route when no worker reports one.
const CAPTURED_ROUTE_SQL: &str = "\
select metadata->>'gen_ai.provider.name', \
       coalesce(metadata->>'gen_ai.response.model', metadata->>'gen_ai.request.model') \
from public.ai_runtime_events \
where layer = 'provider_runtime' and operation = 'CALL' and reason_code = 'PROVIDER_CALL_OK' \
  and occurred_at > now() - interval '15 minutes' \
  and metadata ? 'gen_ai.provider.name' \
  and coalesce(metadata->>'gen_ai.response.model', metadata->>'gen_ai.request.model') is not null \
order by occurred_at desc limit 1";

/// Transitions within the window `(start, now]`, counted per `(from_status,
/// to_status)` pair (at most a few dozen rows); `trend_deltas` turns them
/// into entries minus exits. The whole minutes before the roll-up's mark
/// come from `task_transition_minutes` (a day is ~1,440 rows per pair rather
/// than ~520,000 transitions at 2 tasks a second); the partial minute at the
/// window's start and everything from the mark on are counted raw. Grouping
/// the pairs reads each index entry once.
const DELTAS_SQL: &str = "select from_status, to_status, sum(n)::bigint from ( \
       select from_status, to_status, count(*) as n from public.task_transition_events \
       where occurred_at > $1 and occurred_at < $2 group by 1, 2 \
     union all \
       select nullif(from_status, ''), to_status, sum(transitions) from public.task_transition_minutes \
       where minute >= $2 and minute < $3 group by 1, 2 \
     union all \
       select from_status, to_status, count(*) from public.task_transition_events \
       where occurred_at >= $3 group by 1, 2 \
     ) parts group by 1, 2";

/// How [`DELTAS_SQL`] splits a window: raw transitions in `(start,
/// first_minute)`, rolled-up minutes in `[first_minute, rolled_until)`, raw
/// ones from `rolled_until` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowParts {
    start: DateTime<Utc>,
    first_minute: DateTime<Utc>,
    rolled_until: DateTime<Utc>,
}

impl WindowParts {
    /// The parts of the window after `start`, with the roll-up's mark.
    pub(crate) fn of(start: DateTime<Utc>, mark: Option<DateTime<Utc>>) -> Self {
        let minute = chrono::Duration::minutes(1);
        let first_minute = start.duration_trunc(minute).unwrap_or(start) + minute;
        let rolled_until = mark.unwrap_or(first_minute).max(first_minute);
        WindowParts {
            start,
            first_minute,
            rolled_until,
        }
    }
}

/// The stuck tasks counted: RUNNING ones, then PENDING ones.
fn stuck_counts_query(thresholds: &Thresholds) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new("select (select count(*) from public.persona_tasks t where ");
    Stuck::Running.push_condition(&mut q, thresholds);
    q.push("), (select count(*) from public.persona_tasks t where ");
    Stuck::Pending.push_condition(&mut q, thresholds);
    q.push(")");
    q
}

/// The active statuses, the parameter of [`COUNTS_SQL`].
fn status_names() -> Vec<&'static str> {
    TaskStatus::ALL
        .iter()
        .filter(|s| CountScope::of(**s) == CountScope::Current)
        .map(|s| s.as_str())
        .collect()
}

/// `(from_status, to_status, count)` within the window.
type Transitions = (Option<String>, String, i64);

/// Entries per status within the window: the tasks that reached it.
fn entries(transitions: &[Transitions]) -> Vec<(String, i64)> {
    let mut entries: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, to, n) in transitions {
        *entries.entry(to).or_default() += n;
    }
    entries
        .into_iter()
        .map(|(s, n)| (s.to_owned(), n))
        .collect()
}

/// Entries minus exits per status: each transition adds one to its
/// `to_status` and takes one from its `from_status` (none for a new task).
fn trend_deltas(transitions: &[Transitions]) -> Vec<(String, i64)> {
    let mut deltas: BTreeMap<&str, i64> = BTreeMap::new();
    for (from, to, n) in transitions {
        *deltas.entry(to).or_default() += n;
        if let Some(from) = from {
            *deltas.entry(from).or_default() -= n;
        }
    }
    deltas.into_iter().map(|(s, n)| (s.to_owned(), n)).collect()
}

/// Active statuses with their current counts, finished ones with the tasks
/// that reached them within the window; each with its delta.
fn queue_counts(
    current: &[(String, i64)],
    finished: &[(String, i64)],
    deltas: &[(String, i64)],
) -> Vec<QueueCount> {
    let lookup = |rows: &[(String, i64)], status: TaskStatus| {
        rows.iter()
            .find(|(s, _)| s == status.as_str())
            .map_or(0, |(_, n)| *n)
    };
    TaskStatus::ALL
        .iter()
        .map(|&status| {
            let scope = CountScope::of(status);
            let count = match scope {
                CountScope::Current => lookup(current, status),
                CountScope::Window => lookup(finished, status),
            };
            QueueCount {
                status,
                count,
                scope,
                delta: lookup(deltas, status),
            }
        })
        .collect()
}

fn to_worker(row: WorkerRow, thresholds: &Thresholds) -> Result<WorkerStatus, ApiFailure> {
    let status = parse_db::<WorkerState>(&row.status)?;
    let interval = row
        .metadata
        .get("heartbeatIntervalSeconds")
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
        .unwrap_or(thresholds.default_heartbeat_interval.as_secs_f64());
    let stale = status != WorkerState::Stopped
        && row.age_seconds > interval * f64::from(thresholds.stale_after_intervals);
    Ok(WorkerStatus {
        worker_id: row.worker_id,
        agent_type: row.agent_type,
        status,
        circuit_open: row.circuit_open,
        circuit_reason: row.circuit_reason,
        last_heartbeat: row.last_heartbeat,
        heartbeat_age_seconds: row.age_seconds.max(0.0),
        stale,
        current_task_id: row.current_task_id,
        route: route_of(&row.metadata),
        dropped_events: sink_of(&row.metadata).map_or(0, |s| s.dropped),
        metadata: row.metadata,
        updated_at: row.updated_at,
    })
}

fn route_of(metadata: &Value) -> Option<ProviderRoute> {
    let route = metadata.get("route")?;
    Some(ProviderRoute {
        provider: route.get("provider")?.as_str()?.to_owned(),
        model: route.get("model")?.as_str()?.to_owned(),
    })
}

/// What a worker's event sink reports (`metadata.sink`).
struct SinkReport {
    id: String,
    dropped: i64,
}

fn sink_of(metadata: &Value) -> Option<SinkReport> {
    let sink = metadata.get("sink")?;
    let count = |key: &str| sink.get(key).and_then(Value::as_f64).unwrap_or(0.0) as i64;
    Some(SinkReport {
        id: sink.get("sinkId")?.as_str()?.to_owned(),
        dropped: count("droppedChannelFull") + count("droppedDatabase"),
    })
}

/// An OTLP receiver's counts, when the row is a receiver's: its own under
/// `metadata.ingest`, its sink's under `metadata.sink`.
fn receiver_of(worker: &WorkerStatus) -> Option<ReceiverCounts> {
    let ingest = worker.metadata.get("ingest")?;
    let sink = worker.metadata.get("sink");
    let count = |object: Option<&Value>, key: &str| {
        object
            .and_then(|o| o.get(key))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    Some(ReceiverCounts {
        worker_id: worker.worker_id.clone(),
        accepted: count(Some(ingest), "accepted"),
        written: count(sink, "written"),
        dropped: count(sink, "droppedChannelFull") + count(sink, "droppedDatabase"),
        rejected: count(Some(ingest), "rejected"),
        ignored: count(Some(ingest), "ignored"),
        throttled: count(Some(ingest), "throttled"),
    })
}

/// Puts the parts together and raises the degraded flags.
fn assemble(
    now: DateTime<Utc>,
    workers: Vec<WorkerStatus>,
    queue: QueueSummary,
    last_event_at: Option<DateTime<Utc>>,
) -> StatusResponse {
    let live: Vec<&WorkerStatus> = workers
        .iter()
        .filter(|w| w.status != WorkerState::Stopped)
        .collect();
    let mut degraded = Vec::new();
    if live.is_empty() {
        degraded.push(flag(
            DegradedKind::NoWorkers,
            None,
            "no worker is running".into(),
        ));
    }
    for w in &live {
        if w.circuit_open {
            let reason = w.circuit_reason.as_deref().unwrap_or("no reason given");
            degraded.push(flag(
                DegradedKind::BreakerOpen,
                Some(&w.worker_id),
                format!("circuit breaker of {} is open: {reason}", w.worker_id),
            ));
        }
        if w.stale {
            degraded.push(flag(
                DegradedKind::StaleHeartbeat,
                Some(&w.worker_id),
                format!(
                    "{} has not sent a heartbeat for {:.0} s",
                    w.worker_id, w.heartbeat_age_seconds
                ),
            ));
        }
    }
    if queue.stuck_running + queue.stuck_pending > 0 {
        degraded.push(flag(
            DegradedKind::StuckTasks,
            None,
            format!(
                "{} RUNNING task(s) with an expired lease, {} PENDING task(s) overdue",
                queue.stuck_running, queue.stuck_pending
            ),
        ));
    }
    // Several workers may share one sink: count each sink once.
    let mut sinks = BTreeMap::new();
    for w in &live {
        if let Some(sink) = sink_of(&w.metadata) {
            sinks.entry(sink.id).or_insert(sink.dropped);
        }
    }
    let dropped_events: i64 = sinks.values().sum();
    if dropped_events > 0 {
        degraded.push(flag(
            DegradedKind::EventsDropped,
            None,
            format!("the event sinks of running workers dropped {dropped_events} event(s)"),
        ));
    }
    let active_route = live
        .iter()
        .filter(|w| w.route.is_some())
        .max_by_key(|w| (!w.stale, w.last_heartbeat))
        .and_then(|w| w.route.clone());
    // Stopped receivers too: their last counts are still their totals.
    let receivers = workers.iter().filter_map(receiver_of).collect();
    StatusResponse {
        generated_at: now,
        overall: if degraded.is_empty() {
            OverallHealth::Healthy
        } else {
            OverallHealth::Degraded
        },
        degraded,
        workers,
        queue,
        last_event_at,
        active_route,
        dropped_events,
        alerts: Vec::new(),
        receivers,
    }
}

fn flag(kind: DegradedKind, worker_id: Option<&str>, message: String) -> DegradedFlag {
    DegradedFlag {
        kind,
        message,
        worker_id: worker_id.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_window_splits_at_its_first_whole_minute_and_the_mark() {
        let start = at("2026-11-29T10:07:30.5Z");
        let parts = WindowParts::of(start, Some(at("2026-11-30T10:06:00Z")));
        assert_eq!(parts.first_minute, at("2026-11-29T10:08:00Z"));
        assert_eq!(parts.rolled_until, at("2026-11-30T10:06:00Z"));
        // A start on a whole minute: that minute holds the instant the
        // window leaves out, so it is counted raw too.
        let parts = WindowParts::of(at("2026-11-29T10:07:00Z"), None);
        assert_eq!(parts.first_minute, at("2026-11-29T10:08:00Z"));
        assert_eq!(
            parts.rolled_until, parts.first_minute,
            "no roll-up: all raw"
        );
        // A mark older than the window: all raw.
        let parts = WindowParts::of(start, Some(at("2026-11-01T00:00:00Z")));
        assert_eq!(parts.rolled_until, parts.first_minute);
    }
}
