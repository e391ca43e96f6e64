//! `GET /tasks`: recent tasks, most recently created first, keyset-paginated
//! on `(created_at desc, id desc)`, each with its stuck flag and latest event.

use ai_runtime_api::{EventSummary, Layer, Operation, TaskStatus, TaskSummary, TasksResponse};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::config::Thresholds;
use crate::cursor::{Cursor, CursorKind};
use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::params::TaskFilter;

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: Uuid,
    persona_id: Uuid,
    kind: String,
    status: String,
    reason_code: Option<String>,
    reason: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    attempts: i32,
    max_attempts: i32,
    scheduled_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    stuck: bool,
    event_id: Option<Uuid>,
    event_layer: Option<String>,
    event_operation: Option<String>,
    event_reason_code: Option<String>,
    event_occurred_at: Option<DateTime<Utc>>,
}

/// The SQL condition "this task is stuck": RUNNING with an expired lease, or
/// PENDING and due for longer than the threshold (bound as seconds).
pub fn push_stuck_condition(q: &mut QueryBuilder<'static, Postgres>, thresholds: &Thresholds) {
    q.push(
        "((t.status = 'RUNNING' and t.lease_expires_at < now()) \
         or (t.status = 'PENDING' and t.scheduled_at < now() - make_interval(secs => ",
    )
    .push_bind(thresholds.stuck_pending_after.as_secs_f64())
    .push(")))");
}

/// The SQL of one page (limit + 1 rows).
pub fn page_query(filter: &TaskFilter, thresholds: &Thresholds) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new("");
    push_page_sql(&mut q, filter, thresholds);
    q
}

/// Appends the page's SQL to `q` (public for the benchmark's timing and EXPLAIN).
/// The page is cut first and only its rows look up their latest event, so
/// the lateral lookup runs `limit + 1` times whatever the filter matches.
pub fn push_page_sql(
    q: &mut QueryBuilder<'static, Postgres>,
    filter: &TaskFilter,
    thresholds: &Thresholds,
) {
    q.push(
        "select t.*, e.id as event_id, e.layer as event_layer, \
         e.operation as event_operation, e.reason_code as event_reason_code, \
         e.occurred_at as event_occurred_at \
         from (select t.id, t.persona_id, t.kind, t.status, t.reason_code, t.reason, \
             t.lease_owner, t.lease_expires_at, t.attempts, t.max_attempts, t.scheduled_at, \
             t.created_at, t.updated_at, coalesce(",
    );
    push_stuck_condition(q, thresholds);
    q.push(", false) as stuck from public.persona_tasks t where true");
    if let Some(status) = filter.status {
        q.push(" and t.status = ").push_bind(status.as_str());
    }
    match filter.stuck {
        Some(true) => {
            q.push(" and ");
            push_stuck_condition(q, thresholds);
        }
        Some(false) => {
            q.push(" and not coalesce(");
            push_stuck_condition(q, thresholds);
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
    q.push(
        ") t left join lateral (select id, layer, operation, reason_code, occurred_at \
             from public.ai_runtime_events where task_id = t.id \
             order by occurred_at desc, id desc limit 1) e on true \
         order by t.created_at desc, t.id desc",
    );
}

pub async fn list(
    pool: &PgPool,
    filter: &TaskFilter,
    thresholds: &Thresholds,
) -> Result<TasksResponse, ApiFailure> {
    let mut rows: Vec<TaskRow> = page_query(filter, thresholds)
        .build_query_as()
        // Planned with the actual parameters each time (see events::list).
        .persistent(false)
        .fetch_all(pool)
        .await?;
    let mut next_cursor = None;
    if rows.len() as i64 > filter.limit {
        rows.truncate(filter.limit as usize);
        next_cursor = rows.last().map(|last| {
            Cursor {
                at: last.created_at,
                id: last.id,
            }
            .encode(CursorKind::Tasks)
        });
    }
    let tasks = rows.into_iter().map(to_task).collect::<Result<_, _>>()?;
    Ok(TasksResponse { tasks, next_cursor })
}

fn to_task(row: TaskRow) -> Result<TaskSummary, ApiFailure> {
    let latest_event = match (
        row.event_id,
        row.event_layer,
        row.event_operation,
        row.event_reason_code,
        row.event_occurred_at,
    ) {
        (Some(id), Some(layer), Some(operation), Some(reason_code), Some(occurred_at)) => {
            Some(EventSummary {
                id,
                layer: parse_db::<Layer>(&layer)?,
                operation: parse_db::<Operation>(&operation)?,
                reason_code,
                occurred_at,
            })
        }
        _ => None,
    };
    Ok(TaskSummary {
        id: row.id,
        persona_id: row.persona_id,
        kind: row.kind,
        status: parse_db::<TaskStatus>(&row.status)?,
        reason_code: row.reason_code,
        reason: row.reason,
        lease_owner: row.lease_owner,
        lease_expires_at: row.lease_expires_at,
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        scheduled_at: row.scheduled_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        stuck: row.stuck,
        latest_event,
    })
}
