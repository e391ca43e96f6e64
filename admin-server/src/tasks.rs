//! `GET /tasks`: recent tasks, most recently created first, keyset-paginated
//! on `(created_at desc, id desc)`, each with its stuck flag and latest event.

use ai_runtime_api::{EventLayer, Operation, TaskStatus};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::config::Thresholds;
use crate::cursor::CursorKind;
use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::json_body::{JsonBody, JsonWriter};
use crate::page::PageWriter;
use crate::params::TaskFilter;
use crate::timestamp::Timestamp;

/// One task, borrowed from its row: what [`write_task`] turns into the JSON
/// of [`ai_runtime_api::TaskSummary`] (a test checks).
#[derive(Clone)]
struct TaskJson<'r> {
    id: Uuid,
    persona_id: Uuid,
    kind: &'r str,
    status: TaskStatus,
    reason_code: Option<&'r str>,
    reason: Option<&'r str>,
    lease_owner: Option<&'r str>,
    lease_expires_at: Option<Timestamp>,
    attempts: i32,
    max_attempts: i32,
    scheduled_at: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
    stuck: bool,
    latest_event: Option<LatestEvent<'r>>,
}

/// [`ai_runtime_api::EventSummary`], borrowed.
#[derive(Clone)]
struct LatestEvent<'r> {
    id: Uuid,
    layer: EventLayer,
    operation: Operation,
    reason_code: &'r str,
    occurred_at: Timestamp,
}

/// Bytes of JSON per task in practice (~560): the buffer's first guess.
const JSON_BYTES_PER_TASK: usize = 640;

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
    // The columns in the order of `mod column` below (`t.*` is the inner
    // select list).
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

/// One page of tasks as the response body, written as the rows arrive.
pub async fn page(
    pool: &PgPool,
    filter: &TaskFilter,
    thresholds: &Thresholds,
) -> Result<JsonBody, ApiFailure> {
    let mut query = page_query(filter, thresholds);
    // Planned with the actual parameters each time (see events::page).
    let rows = query.build().persistent(false).fetch(pool);
    PageWriter::new(
        "tasks",
        CursorKind::Tasks,
        filter.limit,
        JSON_BYTES_PER_TASK,
    )
    .write_all(rows, |json, row| {
        let task = task_of(row)?;
        write_task(json, &task);
        Ok((task.created_at, task.id))
    })
    .await
}

/// Positions in the select list of [`push_page_sql`].
mod column {
    pub const ID: usize = 0;
    pub const PERSONA_ID: usize = 1;
    pub const KIND: usize = 2;
    pub const STATUS: usize = 3;
    pub const REASON_CODE: usize = 4;
    pub const REASON: usize = 5;
    pub const LEASE_OWNER: usize = 6;
    pub const LEASE_EXPIRES_AT: usize = 7;
    pub const ATTEMPTS: usize = 8;
    pub const MAX_ATTEMPTS: usize = 9;
    pub const SCHEDULED_AT: usize = 10;
    pub const CREATED_AT: usize = 11;
    pub const UPDATED_AT: usize = 12;
    pub const STUCK: usize = 13;
    pub const EVENT_ID: usize = 14;
    pub const EVENT_LAYER: usize = 15;
    pub const EVENT_OPERATION: usize = 16;
    pub const EVENT_REASON_CODE: usize = 17;
    pub const EVENT_OCCURRED_AT: usize = 18;
}

/// Reads the columns unchecked, as `events::event_of` does (the select list
/// fixes their types).
fn task_of(row: &PgRow) -> Result<TaskJson<'_>, ApiFailure> {
    let event_id: Option<Uuid> = row.try_get_unchecked(column::EVENT_ID)?;
    let latest_event = match event_id {
        Some(id) => Some(LatestEvent {
            id,
            layer: parse_db::<EventLayer>(row.try_get_unchecked(column::EVENT_LAYER)?)?,
            operation: parse_db::<Operation>(row.try_get_unchecked(column::EVENT_OPERATION)?)?,
            reason_code: row.try_get_unchecked(column::EVENT_REASON_CODE)?,
            occurred_at: row.try_get_unchecked(column::EVENT_OCCURRED_AT)?,
        }),
        None => None,
    };
    Ok(TaskJson {
        id: row.try_get_unchecked(column::ID)?,
        persona_id: row.try_get_unchecked(column::PERSONA_ID)?,
        kind: row.try_get_unchecked(column::KIND)?,
        status: parse_db::<TaskStatus>(row.try_get_unchecked(column::STATUS)?)?,
        reason_code: row.try_get_unchecked(column::REASON_CODE)?,
        reason: row.try_get_unchecked(column::REASON)?,
        lease_owner: row.try_get_unchecked(column::LEASE_OWNER)?,
        lease_expires_at: row.try_get_unchecked(column::LEASE_EXPIRES_AT)?,
        attempts: row.try_get_unchecked(column::ATTEMPTS)?,
        max_attempts: row.try_get_unchecked(column::MAX_ATTEMPTS)?,
        scheduled_at: row.try_get_unchecked(column::SCHEDULED_AT)?,
        created_at: row.try_get_unchecked(column::CREATED_AT)?,
        updated_at: row.try_get_unchecked(column::UPDATED_AT)?,
        stuck: row.try_get_unchecked(column::STUCK)?,
        latest_event,
    })
}

/// One task, keys in the order of [`ai_runtime_api::TaskSummary`].
fn write_task(json: &mut JsonWriter, task: &TaskJson<'_>) {
    json.raw(r#"{"id":"#)
        .uuid(task.id)
        .raw(r#","personaId":"#)
        .uuid(task.persona_id)
        .raw(r#","kind":"#)
        .string(task.kind)
        .raw(r#","status":"#)
        .plain_string(task.status.as_str())
        .raw(r#","reasonCode":"#)
        .option(task.reason_code, JsonWriter::string)
        .raw(r#","reason":"#)
        .option(task.reason, JsonWriter::string)
        .raw(r#","leaseOwner":"#)
        .option(task.lease_owner, JsonWriter::string)
        .raw(r#","leaseExpiresAt":"#)
        .option(task.lease_expires_at, JsonWriter::timestamp)
        .raw(r#","attempts":"#)
        .integer(task.attempts)
        .raw(r#","maxAttempts":"#)
        .integer(task.max_attempts)
        .raw(r#","scheduledAt":"#)
        .timestamp(task.scheduled_at)
        .raw(r#","createdAt":"#)
        .timestamp(task.created_at)
        .raw(r#","updatedAt":"#)
        .timestamp(task.updated_at)
        .raw(r#","stuck":"#)
        .raw(if task.stuck { "true" } else { "false" })
        .raw(r#","latestEvent":"#)
        .option(task.latest_event.as_ref(), write_latest_event)
        .raw("}");
}

fn write_latest_event<'w>(json: &'w mut JsonWriter, event: &LatestEvent<'_>) -> &'w mut JsonWriter {
    json.raw(r#"{"id":"#)
        .uuid(event.id)
        .raw(r#","layer":"#)
        .plain_string(event.layer.as_str())
        .raw(r#","operation":"#)
        .plain_string(event.operation.as_str())
        .raw(r#","reasonCode":"#)
        .string(event.reason_code)
        .raw(r#","occurredAt":"#)
        .timestamp(event.occurred_at)
        .raw("}")
}

#[cfg(test)]
mod tests {
    use ai_runtime_api::{EventSummary, TaskSummary, TasksResponse};
    use chrono::{DateTime, Duration};

    use super::*;
    use crate::cursor::Cursor;
    use crate::page::page_of;

    /// The hand-written JSON is, byte for byte, what serde prints for the
    /// API type the dashboard reads.
    #[test]
    fn a_page_is_the_tasks_response() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let micros = |d: Duration| Timestamp((at + d).timestamp_micros());
        let (id, other, persona, event) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let tricky = "provider said \"no\"\n\\ é";
        let borrowed = [
            TaskJson {
                id,
                persona_id: persona,
                kind: "llm_call",
                status: TaskStatus::Failed,
                reason_code: Some("PROVIDER_FAILED"),
                reason: Some(tricky),
                lease_owner: Some("worker-2"),
                lease_expires_at: Some(micros(Duration::seconds(30))),
                attempts: 3,
                max_attempts: -1,
                scheduled_at: micros(Duration::seconds(-60)),
                created_at: micros(Duration::seconds(-61)),
                updated_at: micros(Duration::zero()),
                stuck: true,
                latest_event: Some(LatestEvent {
                    id: event,
                    layer: EventLayer::ProviderRuntime,
                    operation: Operation::Call,
                    reason_code: "PROVIDER_CALL_FAILED",
                    occurred_at: micros(Duration::milliseconds(-5)),
                }),
            },
            TaskJson {
                id: other,
                persona_id: persona,
                kind: "tool_run",
                status: TaskStatus::Pending,
                reason_code: None,
                reason: None,
                lease_owner: None,
                lease_expires_at: None,
                attempts: 0,
                max_attempts: 5,
                scheduled_at: micros(Duration::zero()),
                created_at: micros(Duration::zero()),
                updated_at: micros(Duration::zero()),
                stuck: false,
                latest_event: None,
            },
        ];
        let mut owned = TasksResponse {
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
            next_cursor: None,
        };
        for more in [true, false] {
            owned.next_cursor = more.then(|| {
                Cursor {
                    at: owned.tasks[1].created_at,
                    id: other,
                }
                .encode(CursorKind::Tasks)
            });
            let text = page_of("tasks", CursorKind::Tasks, &borrowed, more, |json, task| {
                write_task(json, task);
                (task.created_at, task.id)
            });
            assert_eq!(text, serde_json::to_string(&owned).unwrap());
        }
    }
}
