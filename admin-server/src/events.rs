//! `GET /events`: runtime events, newest first, keyset-paginated on
//! `(occurred_at desc, id desc)`.

use ai_runtime_api::{EventsResponse, Layer, Operation, RuntimeEvent};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::cursor::{Cursor, CursorKind};
use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::params::EventFilter;

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    layer: String,
    operation: String,
    reason_code: String,
    entity_id: String,
    task_id: Option<Uuid>,
    persona_id: Option<Uuid>,
    worker_id: Option<String>,
    metadata: serde_json::Value,
    occurred_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// The SQL of one page (limit + 1 rows, to know whether another page follows).
pub fn page_query(filter: &EventFilter) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new("");
    push_page_sql(&mut q, filter);
    q
}

/// Appends the page's SQL to `q`. Public so the benchmark can time (and
/// EXPLAIN) exactly the statement the server runs.
pub fn push_page_sql(q: &mut QueryBuilder<'static, Postgres>, filter: &EventFilter) {
    q.push(
        "select id, layer, operation, reason_code, entity_id, task_id, persona_id, worker_id, \
         metadata, occurred_at, created_at from public.ai_runtime_events where true",
    );
    if let Some(layer) = filter.layer {
        q.push(" and layer = ").push_bind(layer.as_str());
    }
    if let Some(operation) = filter.operation {
        q.push(" and operation = ").push_bind(operation.as_str());
    }
    if let Some(code) = &filter.reason_code {
        q.push(" and reason_code = ").push_bind(code.clone());
    }
    if let Some(entity) = &filter.entity_id {
        q.push(" and entity_id = ").push_bind(entity.clone());
    }
    if let Some(task) = filter.task_id {
        q.push(" and task_id = ").push_bind(task);
    }
    if let Some(worker) = &filter.worker_id {
        q.push(" and worker_id = ").push_bind(worker.clone());
    }
    if let Some(from) = filter.from {
        q.push(" and occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" and occurred_at <= ").push_bind(to);
    }
    if let Some(after) = filter.after {
        // Row comparison: lets every `(…, occurred_at desc)` index seek to the cursor.
        q.push(" and (occurred_at, id) < (")
            .push_bind(after.at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    q.push(" order by occurred_at desc, id desc limit ")
        .push_bind(filter.limit + 1);
}

pub async fn list(pool: &PgPool, filter: &EventFilter) -> Result<EventsResponse, ApiFailure> {
    // Not persistent: an unnamed statement is planned with the actual
    // parameters every time. A cached generic plan cannot tell a task that
    // owns half the table from one with three events, and picks one index
    // for both.
    let mut rows: Vec<EventRow> = page_query(filter)
        .build_query_as()
        .persistent(false)
        .fetch_all(pool)
        .await?;
    let next_cursor = next_cursor(&mut rows, filter.limit);
    let events = rows.into_iter().map(to_event).collect::<Result<_, _>>()?;
    Ok(EventsResponse {
        events,
        next_cursor,
    })
}

fn next_cursor(rows: &mut Vec<EventRow>, limit: i64) -> Option<String> {
    if rows.len() as i64 <= limit {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|last| {
        Cursor {
            at: last.occurred_at,
            id: last.id,
        }
        .encode(CursorKind::Events)
    })
}

fn to_event(row: EventRow) -> Result<RuntimeEvent, ApiFailure> {
    Ok(RuntimeEvent {
        id: row.id,
        layer: parse_db::<Layer>(&row.layer)?,
        operation: parse_db::<Operation>(&row.operation)?,
        reason_code: row.reason_code,
        entity_id: row.entity_id,
        task_id: row.task_id,
        persona_id: row.persona_id,
        worker_id: row.worker_id,
        metadata: row.metadata,
        occurred_at: row.occurred_at,
        created_at: row.created_at,
    })
}
