//! `GET /events`: runtime events, newest first, keyset-paginated on
//! `(occurred_at desc, id desc)`.

mod page_json;

use futures_util::TryStreamExt;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::cursor::{Cursor, CursorKind};
use crate::error::ApiFailure;
use crate::json_body::JsonBody;
use crate::params::EventFilter;
use page_json::{PageWriter, JSON_BYTES_PER_EVENT};

/// The SQL of one page (limit + 1 rows, to know whether another page follows).
pub fn page_query(filter: &EventFilter) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new("");
    push_page_sql(&mut q, filter);
    q
}

/// Appends the page's SQL to `q`. Public so the benchmark can time (and
/// EXPLAIN) exactly the statement the server runs.
pub fn push_page_sql(q: &mut QueryBuilder<'static, Postgres>, filter: &EventFilter) {
    // The columns in the order of `page_json::column`.
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

/// One page of events as the response body. Each row is serialized as it
/// arrives, while the database is still sending the next ones, and dropped.
pub async fn page(pool: &PgPool, filter: &EventFilter) -> Result<JsonBody, ApiFailure> {
    let limit = filter.limit as usize;
    let mut page = PageWriter::with_capacity(64 + limit * JSON_BYTES_PER_EVENT);
    let mut last: Option<Cursor> = None;
    let mut more = false;
    let mut query = page_query(filter);
    // Not persistent: an unnamed statement is planned with the actual
    // parameters every time. A cached generic plan cannot tell a task that
    // owns half the table from one with three events, and picks one index
    // for both.
    let mut rows = query.build().persistent(false).fetch(pool);
    while let Some(row) = rows.try_next().await? {
        if page.len() == limit {
            // The look-ahead row: another page follows.
            more = true;
            continue;
        }
        last = Some(page.push(&row)?);
    }
    let next_cursor = last.filter(|_| more).map(|c| c.encode(CursorKind::Events));
    page.finish(next_cursor.as_deref())
}
