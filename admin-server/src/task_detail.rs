//! `GET /tasks/{id}`: a task's whole story: the task as the tasks page shows
//! it (stuck flag and latest event included), its queue transitions and its
//! runtime events, both oldest first.
//!
//! A task id this queue does not hold but runtime events carry (an external
//! worker's, through OTLP) is an external task: its story is its events
//! over the last [`EXTERNAL_TASK_DAYS`] days, without the queue's facts and
//! transitions; an id nothing knows is a 404.
//!
//! Every query is bounded. The events table is partitioned by day on
//! `occurred_at`, so the event query is bounded by the task's lifetime
//! ([`EventWindow`]): Postgres reads only the days the task lived, not every
//! day the retention keeps. At most [`MAX_TASK_EVENTS`] events and
//! transitions are sent, the newest when there are more.

use ai_runtime_api::{ProviderCall, TaskStatus, EXTERNAL_TASK_DAYS, MAX_TASK_EVENTS};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::config::Thresholds;
use crate::db::Vocab;
use crate::error::ApiFailure;
use crate::event_window::EventWindow;
use crate::events::{self, EventJson};
use crate::params::TaskFilter;
use crate::provider_calls;
use crate::tasks::{self, TaskJson};

/// The path's task id, or a 400 naming `id`.
pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiFailure> {
    if raw.contains('\0') {
        return Err(ApiFailure::bad(
            "id",
            "must not contain NUL (U+0000): no text column can hold it",
        ));
    }
    Uuid::parse_str(raw).map_err(|_| ApiFailure::bad("id", "expected a task id (a UUID)"))
}

/// A row of `task_transition_events`, borrowed, serialized as
/// [`ai_runtime_api::TaskTransition`] (a test checks).
#[derive(Debug, FromRow, Serialize)]
#[serde(rename_all = "camelCase")]
struct TransitionJson<'r> {
    id: Uuid,
    from_status: Option<Vocab<TaskStatus>>,
    to_status: Vocab<TaskStatus>,
    reason_code: &'r str,
    worker_id: Option<&'r str>,
    metadata: &'r RawValue,
    occurred_at: DateTime<Utc>,
}

/// [`ai_runtime_api::TaskDetail`], borrowed from the rows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskDetailJson<'r> {
    task: Option<TaskJson<'r>>,
    transitions: Vec<TransitionJson<'r>>,
    events: Vec<EventJson<'r>>,
    events_truncated: bool,
    calls: Vec<ProviderCall>,
}

/// The newest `MAX_TASK_EVENTS + 1` events of the task within `window`,
/// newest first (the extra row only says that there were more).
fn events_query(id: Uuid, window: EventWindow, select: &str) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new(select);
    q.push(" and task_id = ")
        .push_bind(id)
        .push(" and occurred_at >= ")
        .push_bind(window.from)
        .push(" and occurred_at < ")
        .push_bind(window.to)
        .push(" order by occurred_at desc, id desc limit ")
        .push_bind(MAX_TASK_EVENTS + 1);
    q
}

/// The newest `MAX_TASK_EVENTS` transitions of the task, newest first.
fn transitions_query(id: Uuid) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new(
        "select id, from_status, to_status, reason_code, worker_id, metadata, occurred_at \
         from public.task_transition_events where task_id = ",
    );
    q.push_bind(id)
        .push(" order by occurred_at desc, id desc limit ")
        .push_bind(MAX_TASK_EVENTS);
    q
}

/// The task's story as the response; 404 when neither the queue nor an
/// event knows the task.
pub(crate) async fn get(
    pool: &PgPool,
    id: Uuid,
    thresholds: &Thresholds,
) -> Result<Response, ApiFailure> {
    let mut tx = pool.begin().await?;
    // One snapshot: the task, its transitions and its events agree.
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let body = story(&mut tx, id, thresholds).await?;
    tx.commit().await?;
    Ok(body)
}

async fn story(
    conn: &mut PgConnection,
    id: Uuid,
    thresholds: &Thresholds,
) -> Result<Response, ApiFailure> {
    let one = TaskFilter {
        id: Some(id),
        limit: 1,
        ..TaskFilter::default()
    };
    let task_rows = tasks::PageRows::fetch(&mut *conn, &one, thresholds).await?;
    let task = task_rows.tasks()?.into_iter().next();
    let now = Utc::now();
    let window = match &task {
        Some(task) => EventWindow::of(task.status.0, task.created_at, task.updated_at, now),
        None => EventWindow::external(now, EXTERNAL_TASK_DAYS),
    };

    let transition_rows = match task {
        Some(_) => transitions_query(id).build().fetch_all(&mut *conn).await?,
        None => Vec::new(),
    };
    let mut transitions = transition_rows
        .iter()
        .map(TransitionJson::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    transitions.reverse();

    // Planned with the bounds' values (not a cached generic plan), so the
    // days outside the window are pruned while planning.
    let event_rows = events_query(id, window, events::SELECT)
        .build()
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
    let mut events = event_rows
        .iter()
        .map(EventJson::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if task.is_none() && events.is_empty() {
        return Err(ApiFailure::NotFound(format!("no task {id}")));
    }
    let events_truncated = events.len() > MAX_TASK_EVENTS as usize;
    events.truncate(MAX_TASK_EVENTS as usize);
    events.reverse();

    let calls = provider_calls::of(&events);
    Ok(Json(TaskDetailJson {
        task,
        transitions,
        events,
        events_truncated,
        calls,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ai_runtime_api::{EventLayer, Operation, TaskDetail, TaskSummary, TaskTransition};
    use serde_json::{json, Value};

    use chrono::Duration;

    use super::*;
    use crate::partition_fixtures::{partitions_of, ten_days_of_partitions};

    /// The tables the event query of `window` reads, as planned.
    async fn tables_read(pool: &PgPool, window: EventWindow) -> BTreeSet<String> {
        let explain = format!("explain (format json) {}", events::SELECT);
        let plan: Value = events_query(Uuid::new_v4(), window, &explain)
            .build_query_scalar()
            .persistent(false)
            .fetch_one(pool)
            .await
            .unwrap();
        let mut tables = BTreeSet::new();
        events::relations(&plan[0]["Plan"], &mut tables);
        tables
    }

    /// A finished task's events are looked for in the days it lived (and
    /// the next), an unfinished one's up to tomorrow: never the other days.
    #[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
    async fn the_event_query_reads_only_the_tasks_days(pool: PgPool) {
        ten_days_of_partitions(&pool, 3).await;
        let now = Utc::now();
        let today = now.date_naive();
        let day = |n: i64| today - Duration::days(n);
        let noon = |n: i64| day(n).and_hms_opt(12, 0, 0).unwrap().and_utc();

        // Created six days ago at noon, done five days ago at noon.
        let done = EventWindow::of(TaskStatus::Done, noon(6), noon(5), now);
        assert_eq!(
            tables_read(&pool, done).await,
            partitions_of(&[day(6), day(5), day(4)])
        );

        // Created two days ago, still running: up to tomorrow, not the days made ahead after it.
        let running = EventWindow::of(TaskStatus::Running, noon(2), noon(2), now);
        let read = tables_read(&pool, running).await;
        assert!(
            read.is_superset(&partitions_of(&[day(2), day(1), today])),
            "{read:?}"
        );
        assert!(
            read.is_disjoint(&partitions_of(&[day(3), day(9), day(-2), day(-3)])),
            "{read:?}"
        );
    }

    #[test]
    fn malformed_ids_are_named() {
        for raw in [
            "",
            "1",
            "not-a-uuid",
            "00000000-0000-0000-0000-00000000000\0",
        ] {
            match parse_id(raw) {
                Err(ApiFailure::BadParameter { parameter, .. }) => assert_eq!(parameter, "id"),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
        let id = Uuid::new_v4();
        assert_eq!(parse_id(&id.to_string()).unwrap(), id);
    }

    /// The borrowed answer serializes, byte for byte, as the API type the
    /// dashboard reads.
    #[test]
    fn the_answer_is_the_task_detail() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let (task_id, persona, transition, event) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let transition_metadata = RawValue::from_string(r#"{"attempt":1}"#.into()).unwrap();
        let event_metadata = RawValue::from_string(r#"{"latency_ms":12}"#.into()).unwrap();
        let text = r#"quote " \ é"#;
        let borrowed = TaskDetailJson {
            task: Some(TaskJson::for_test(task_id, persona, at)),
            transitions: vec![TransitionJson {
                id: transition,
                from_status: None,
                to_status: Vocab(TaskStatus::Pending),
                reason_code: "ENQUEUED",
                worker_id: Some(text),
                metadata: &transition_metadata,
                occurred_at: at,
            }],
            events: vec![EventJson {
                id: event,
                layer: Vocab(EventLayer::Execution),
                operation: Vocab(Operation::Task),
                reason_code: "TASK_STARTED",
                entity_id: text,
                task_id: Some(task_id),
                persona_id: None,
                worker_id: None,
                metadata: &event_metadata,
                occurred_at: at,
                created_at: at,
            }],
            events_truncated: true,
            calls: Vec::new(),
        };
        let owned = TaskDetail {
            task: Some(TaskSummary {
                id: task_id,
                persona_id: persona,
                kind: "reply".into(),
                status: TaskStatus::Running,
                reason_code: None,
                reason: None,
                lease_owner: Some("worker-1".into()),
                lease_expires_at: Some(at),
                attempts: 1,
                max_attempts: 3,
                scheduled_at: at,
                created_at: at,
                updated_at: at,
                stuck: false,
                latest_event: None,
            }),
            transitions: vec![TaskTransition {
                id: transition,
                from_status: None,
                to_status: TaskStatus::Pending,
                reason_code: "ENQUEUED".into(),
                worker_id: Some(text.into()),
                metadata: json!({"attempt": 1}),
                occurred_at: at,
            }],
            events: vec![ai_runtime_api::RuntimeEvent {
                id: event,
                layer: EventLayer::Execution,
                operation: Operation::Task,
                reason_code: "TASK_STARTED".into(),
                entity_id: text.into(),
                task_id: Some(task_id),
                persona_id: None,
                worker_id: None,
                metadata: json!({"latency_ms": 12}),
                occurred_at: at,
                created_at: at,
            }],
            events_truncated: true,
            calls: Vec::new(),
        };
        let sent = serde_json::to_string(&borrowed).unwrap();
        assert_eq!(sent, serde_json::to_string(&owned).unwrap());
        assert_eq!(serde_json::from_str::<TaskDetail>(&sent).unwrap(), owned);
    }
}
