//! `GET /tasks`: recent tasks, most recently created first, keyset-paginated
//! on `(created_at desc, id desc)`, each with its stuck flag and latest event.

use ai_runtime_api::{EventLayer, Operation, TaskStatus};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::config::Thresholds;
use crate::cursor::CursorKind;
use crate::db::Vocab;
use crate::error::ApiFailure;
use crate::event_window::EventWindow;
use crate::page::{Page, PageItem};
use crate::params::TaskFilter;
use crate::stuck::Stuck;

/// One task, borrowed from its row, serialized as
/// [`ai_runtime_api::TaskSummary`] (a test checks).
#[derive(Debug, FromRow, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskJson<'r> {
    pub(crate) id: Uuid,
    persona_id: Uuid,
    kind: &'r str,
    pub(crate) status: Vocab<TaskStatus>,
    reason_code: Option<&'r str>,
    reason: Option<&'r str>,
    lease_owner: Option<&'r str>,
    lease_expires_at: Option<DateTime<Utc>>,
    attempts: i32,
    max_attempts: i32,
    scheduled_at: DateTime<Utc>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    stuck: bool,
    /// Looked up by [`PageRows::fetch`] after the page is cut.
    #[sqlx(skip)]
    latest_event: Option<LatestEvent<'r>>,
}

impl PageItem for TaskJson<'_> {
    const ITEMS: &'static str = "tasks";
    const CURSOR: CursorKind = CursorKind::Tasks;
    fn sort_key(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }
}

#[cfg(test)]
impl TaskJson<'static> {
    /// A RUNNING task of kind `reply` leased by `worker-1`, without events.
    pub(crate) fn for_test(id: Uuid, persona_id: Uuid, at: DateTime<Utc>) -> Self {
        TaskJson {
            id,
            persona_id,
            kind: "reply",
            status: Vocab(TaskStatus::Running),
            reason_code: None,
            reason: None,
            lease_owner: Some("worker-1"),
            lease_expires_at: Some(at),
            attempts: 1,
            max_attempts: 3,
            scheduled_at: at,
            created_at: at,
            updated_at: at,
            stuck: false,
            latest_event: None,
        }
    }
}

/// A task's latest event, borrowed from its row, serialized as
/// [`ai_runtime_api::EventSummary`].
#[derive(Debug, FromRow, Serialize)]
#[serde(rename_all = "camelCase")]
struct LatestEvent<'r> {
    id: Uuid,
    layer: Vocab<EventLayer>,
    operation: Vocab<Operation>,
    reason_code: &'r str,
    occurred_at: DateTime<Utc>,
}

/// The SQL of one page of tasks (limit + 1 rows), without their events.
pub(crate) fn page_query(
    filter: &TaskFilter,
    thresholds: &Thresholds,
) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new("");
    if filter.stuck == Some(true) && filter.status.is_none() {
        // A stuck task is RUNNING or PENDING, each by its own condition. The
        // page merges the newest stuck tasks of each status: each walks the
        // (status, created_at) index newest first and stops after a page,
        // where one condition over both would collect every active task and
        // sort them (6.6 ms p50 at 3,800 active tasks, README).
        q.push("select * from ((");
        push_page_select(&mut q, filter, thresholds, Stuck::Running);
        q.push(") union all (");
        push_page_select(&mut q, filter, thresholds, Stuck::Pending);
        q.push(")) t order by created_at desc, id desc limit ")
            .push_bind(filter.limit + 1);
    } else {
        // Asked for one status, only its own condition can hold.
        let stuck = match filter.status {
            Some(TaskStatus::Running) => Stuck::Running,
            Some(TaskStatus::Pending) => Stuck::Pending,
            _ => Stuck::Any,
        };
        push_page_select(&mut q, filter, thresholds, stuck);
    }
    q
}

/// A `select` of one page of the tasks `filter` asks for, where a stuck
/// filter means the tasks that `stuck` selects.
fn push_page_select(
    q: &mut QueryBuilder<'static, Postgres>,
    filter: &TaskFilter,
    thresholds: &Thresholds,
    stuck: Stuck,
) {
    q.push(
        "select t.id, t.persona_id, t.kind, t.status, t.reason_code, t.reason, \
         t.lease_owner, t.lease_expires_at, t.attempts, t.max_attempts, t.scheduled_at, \
         t.created_at, t.updated_at, coalesce(",
    );
    Stuck::Any.push_condition(q, thresholds);
    q.push(", false) as stuck from public.persona_tasks t where true");
    if let Some(id) = filter.id {
        q.push(" and t.id = ").push_bind(id);
    }
    if let Some(status) = filter.status {
        q.push(" and t.status = ").push_bind(status.as_str());
    }
    match filter.stuck {
        Some(true) => {
            q.push(" and ");
            stuck.push_listing_condition(q, thresholds);
        }
        Some(false) => {
            q.push(" and not coalesce(");
            Stuck::Any.push_condition(q, thresholds);
            q.push(", false)");
        }
        None => {}
    }
    if let Some(after) = filter.after {
        q.push(" and (t.created_at, t.id) < (")
            .push_bind(after.at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    q.push(" order by t.created_at desc, t.id desc limit ")
        .push_bind(filter.limit + 1);
}

/// The SQL that looks up the latest event of each task in `windows`, each
/// within its own [`EventWindow`]. The windows' span is also bound as
/// constants: planned with their values, the statement reads only the days
/// of the page's tasks (for a fresh page, today's and tomorrow's partitions),
/// where a lookup joined to the page in one statement would be planned over
/// every daily partition (most of a page's cost with a month of them).
/// `head` goes before the `select` (an `explain` in the tests).
fn latest_events_query(
    windows: &[(Uuid, EventWindow)],
    head: &str,
) -> QueryBuilder<'static, Postgres> {
    let ids: Vec<Uuid> = windows.iter().map(|(id, _)| *id).collect();
    let froms: Vec<DateTime<Utc>> = windows.iter().map(|(_, w)| w.from).collect();
    let tos: Vec<DateTime<Utc>> = windows.iter().map(|(_, w)| w.to).collect();
    let span_from = froms.iter().min().copied();
    let span_to = tos.iter().max().copied();
    let mut q = QueryBuilder::new(format!(
        "{head}select w.task_id, e.id, e.layer, e.operation, e.reason_code, e.occurred_at \
         from unnest("
    ));
    q.push_bind(ids)
        .push("::uuid[], ")
        .push_bind(froms)
        .push("::timestamptz[], ")
        .push_bind(tos)
        .push(
            "::timestamptz[]) as w(task_id, events_from, events_to) \
             cross join lateral (select id, layer, operation, reason_code, occurred_at \
                 from public.ai_runtime_events where task_id = w.task_id \
                 and occurred_at >= w.events_from and occurred_at < w.events_to \
                 and occurred_at >= ",
        )
        .push_bind(span_from)
        .push(" and occurred_at < ")
        .push_bind(span_to)
        .push(" order by occurred_at desc, id desc limit 1) e");
    q
}

/// The rows of one page: its tasks, then their latest events, looked up for
/// the `limit + 1` tasks of the page only, whatever the filter matches. A
/// task's events happen while it is worked on ([`EventWindow`]), so an old
/// page (a deep cursor) reads the days of its tasks, not every day since.
/// The task page reads one task's row through the same two statements.
pub(crate) struct PageRows {
    tasks: Vec<PgRow>,
    latest_events: Vec<PgRow>,
}

impl PageRows {
    pub(crate) async fn fetch(
        conn: &mut PgConnection,
        filter: &TaskFilter,
        thresholds: &Thresholds,
    ) -> Result<Self, sqlx::Error> {
        // Prepared once per connection: the tasks table has no skew a
        // generic plan would misjudge (unlike events::page).
        let tasks = page_query(filter, thresholds)
            .build()
            .fetch_all(&mut *conn)
            .await?;
        let now = Utc::now();
        let windows = tasks
            .iter()
            .map(|row| {
                let status: Vocab<TaskStatus> = row.try_get("status")?;
                let window = EventWindow::of(
                    status.0,
                    row.try_get("created_at")?,
                    row.try_get("updated_at")?,
                    now,
                );
                Ok((row.try_get("id")?, window))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let latest_events = if windows.is_empty() {
            Vec::new()
        } else {
            // Planned with the span's values each time (unnamed), so the
            // days outside it are pruned while planning.
            latest_events_query(&windows, "")
                .build()
                .persistent(false)
                .fetch_all(&mut *conn)
                .await?
        };
        Ok(PageRows {
            tasks,
            latest_events,
        })
    }

    /// The page's tasks, each with its latest event.
    pub(crate) fn tasks(&self) -> Result<Vec<TaskJson<'_>>, sqlx::Error> {
        let mut latest: HashMap<Uuid, LatestEvent<'_>> = self
            .latest_events
            .iter()
            .map(|row| Ok((row.try_get("task_id")?, LatestEvent::from_row(row)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        self.tasks
            .iter()
            .map(|row| {
                let mut task = TaskJson::from_row(row)?;
                task.latest_event = latest.remove(&task.id);
                Ok(task)
            })
            .collect()
    }
}

/// One page of tasks as the response.
pub(crate) async fn page(
    pool: &PgPool,
    filter: &TaskFilter,
    thresholds: &Thresholds,
) -> Result<Response, ApiFailure> {
    let mut conn = pool.acquire().await?;
    let rows = PageRows::fetch(&mut conn, filter, thresholds).await?;
    Ok(Json(Page::from_look_ahead(rows.tasks()?, filter.limit)).into_response())
}

#[cfg(test)]
mod tests {
    use ai_runtime_api::{EventSummary, TaskSummary, TasksResponse};
    use chrono::Duration;

    use super::*;
    use crate::cursor::Cursor;
    use crate::partition_fixtures::{partitions_of, ten_days_of_partitions};

    /// The tables the latest-event lookup of `windows` reads, as planned.
    async fn tables_read(
        pool: &PgPool,
        windows: &[(Uuid, EventWindow)],
    ) -> std::collections::BTreeSet<String> {
        let plan: serde_json::Value = latest_events_query(windows, "explain (format json) ")
            .build_query_scalar()
            .persistent(false)
            .fetch_one(pool)
            .await
            .unwrap();
        let mut tables = std::collections::BTreeSet::new();
        crate::events::relations(&plan[0]["Plan"], &mut tables);
        tables.retain(|t| t.starts_with("ai_runtime_events"));
        tables
    }

    /// A page of tasks of two days ago looks up their events in those days
    /// (and the next) only, and a fresh page in today's and tomorrow's: never
    /// the other days a month of retention keeps.
    #[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
    async fn the_latest_event_lookup_reads_only_the_pages_days(pool: PgPool) {
        ten_days_of_partitions(&pool, 3).await;
        let now = Utc::now();
        let today = now.date_naive();
        let day = |n: i64| today - Duration::days(n);
        let noon = |n: i64| day(n).and_hms_opt(12, 0, 0).unwrap().and_utc();

        let done = |created| {
            let window = EventWindow::of(TaskStatus::Done, created, created, now);
            (Uuid::new_v4(), window)
        };
        let old_page = [done(noon(6)), done(noon(6) + Duration::minutes(1))];
        assert_eq!(
            tables_read(&pool, &old_page).await,
            partitions_of(&[day(6), day(5)])
        );

        let fresh = |created| {
            let window = EventWindow::of(TaskStatus::Running, created, created, now);
            (Uuid::new_v4(), window)
        };
        let fresh_page = [fresh(now - Duration::seconds(20)), fresh(now)];
        let read = tables_read(&pool, &fresh_page).await;
        assert!(
            read.is_subset(&partitions_of(&[day(1), today, day(-1)])),
            "{read:?}"
        );
        assert!(
            read.contains(&partitions_of(&[today]).pop_first().unwrap()),
            "{read:?}"
        );
    }

    /// A page serializes, byte for byte, as the API type the dashboard reads.
    #[test]
    fn a_page_is_the_tasks_response() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let (id, other, persona, event) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let tricky = "provider said \"no\"\n\\ é";
        let with_event = TaskJson {
            id,
            persona_id: persona,
            kind: "llm_call",
            status: Vocab(TaskStatus::Failed),
            reason_code: Some("PROVIDER_FAILED"),
            reason: Some(tricky),
            lease_owner: Some("worker-2"),
            lease_expires_at: Some(at + Duration::seconds(30)),
            attempts: 3,
            max_attempts: -1,
            scheduled_at: at - Duration::seconds(60),
            created_at: at - Duration::seconds(61),
            updated_at: at,
            stuck: true,
            latest_event: Some(LatestEvent {
                id: event,
                layer: Vocab(EventLayer::ProviderRuntime),
                operation: Vocab(Operation::Call),
                reason_code: "PROVIDER_CALL_FAILED",
                occurred_at: at - Duration::milliseconds(5),
            }),
        };
        let without_event = |id| TaskJson {
            id,
            persona_id: persona,
            kind: "tool_run",
            status: Vocab(TaskStatus::Pending),
            reason_code: None,
            reason: None,
            lease_owner: None,
            lease_expires_at: None,
            attempts: 0,
            max_attempts: 5,
            scheduled_at: at,
            created_at: at,
            updated_at: at,
            stuck: false,
            latest_event: None,
        };
        let expected = TasksResponse {
            tasks: vec![
                TaskSummary {
                    id,
                    persona_id: persona,
                    kind: "llm_call".into(),
                    status: TaskStatus::Failed,
                    reason_code: Some("PROVIDER_FAILED".into()),
                    reason: Some(tricky.into()),
                    lease_owner: Some("worker-2".into()),
                    lease_expires_at: Some(at + Duration::seconds(30)),
                    attempts: 3,
                    max_attempts: -1,
                    scheduled_at: at - Duration::seconds(60),
                    created_at: at - Duration::seconds(61),
                    updated_at: at,
                    stuck: true,
                    latest_event: Some(EventSummary {
                        id: event,
                        layer: EventLayer::ProviderRuntime,
                        operation: Operation::Call,
                        reason_code: "PROVIDER_CALL_FAILED".into(),
                        occurred_at: at - Duration::milliseconds(5),
                    }),
                },
                TaskSummary {
                    id: other,
                    persona_id: persona,
                    kind: "tool_run".into(),
                    status: TaskStatus::Pending,
                    reason_code: None,
                    reason: None,
                    lease_owner: None,
                    lease_expires_at: None,
                    attempts: 0,
                    max_attempts: 5,
                    scheduled_at: at,
                    created_at: at,
                    updated_at: at,
                    stuck: false,
                    latest_event: None,
                },
            ],
            next_cursor: Some(Cursor { at, id: other }.encode(CursorKind::Tasks)),
        };
        let rows = vec![
            with_event,
            without_event(other),
            without_event(Uuid::new_v4()),
        ];
        let text = serde_json::to_string(&Page::from_look_ahead(rows, 2)).unwrap();
        assert_eq!(text, serde_json::to_string(&expected).unwrap());
    }
}
