//! `GET /events`: runtime events, newest first, keyset-paginated on
//! `(occurred_at desc, id desc)`.

use ai_runtime_api::{EventLayer, Operation};
use serde_json::value::RawValue;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::cursor::CursorKind;
use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::json_body::{JsonBody, JsonWriter};
use crate::page::PageWriter;
use crate::params::EventFilter;
use crate::timestamp::Timestamp;

/// One event, borrowed from its row: what [`write_event`] turns into the
/// JSON of [`ai_runtime_api::RuntimeEvent`] (a test checks), without an
/// owned copy of each text column, and with `metadata` passed through as
/// the database's JSON text rather than parsed into a tree and printed
/// again.
#[derive(Clone)]
struct EventJson<'r> {
    id: Uuid,
    layer: EventLayer,
    operation: Operation,
    reason_code: &'r str,
    entity_id: &'r str,
    task_id: Option<Uuid>,
    persona_id: Option<Uuid>,
    worker_id: Option<&'r str>,
    metadata: &'r RawValue,
    occurred_at: Timestamp,
    created_at: Timestamp,
}

/// Bytes of JSON per event in practice (~390 with short metadata): the
/// response buffer's first guess.
const JSON_BYTES_PER_EVENT: usize = 512;

/// The SQL of one page (limit + 1 rows, to know whether another page follows).
pub fn page_query(filter: &EventFilter) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new("");
    push_page_sql(&mut q, filter);
    q
}

/// Appends the page's SQL to `q`. Public so the benchmark can time (and
/// EXPLAIN) exactly the statement the server runs.
pub fn push_page_sql(q: &mut QueryBuilder<'static, Postgres>, filter: &EventFilter) {
    // The columns in the order of `mod column` below.
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

/// One page of events as the response body, written as the rows arrive.
pub async fn page(pool: &PgPool, filter: &EventFilter) -> Result<JsonBody, ApiFailure> {
    let mut query = page_query(filter);
    // Not persistent: an unnamed statement is planned with the actual
    // parameters every time. A cached generic plan cannot tell a task that
    // owns half the table from one with three events, and picks one index
    // for both.
    let rows = query.build().persistent(false).fetch(pool);
    PageWriter::new(
        "events",
        CursorKind::Events,
        filter.limit,
        JSON_BYTES_PER_EVENT,
    )
    .write_all(rows, |json, row| {
        let event = event_of(row)?;
        write_event(json, &event);
        Ok((event.occurred_at, event.id))
    })
    .await
}

/// One event, keys in the order of [`ai_runtime_api::RuntimeEvent`].
fn write_event(json: &mut JsonWriter, event: &EventJson<'_>) {
    json.raw(r#"{"id":"#)
        .uuid(event.id)
        .raw(r#","layer":"#)
        .plain_string(event.layer.as_str())
        .raw(r#","operation":"#)
        .plain_string(event.operation.as_str())
        .raw(r#","reasonCode":"#)
        .string(event.reason_code)
        .raw(r#","entityId":"#)
        .string(event.entity_id)
        .raw(r#","taskId":"#)
        .option(event.task_id, JsonWriter::uuid)
        .raw(r#","personaId":"#)
        .option(event.persona_id, JsonWriter::uuid)
        .raw(r#","workerId":"#)
        .option(event.worker_id, JsonWriter::string)
        .raw(r#","metadata":"#)
        .raw(event.metadata.get())
        .raw(r#","occurredAt":"#)
        .timestamp(event.occurred_at)
        .raw(r#","createdAt":"#)
        .timestamp(event.created_at)
        .raw("}");
}

/// Positions in the select list of [`push_page_sql`] (by position: a lookup
/// by name hashes the name, for every column of every row).
mod column {
    pub const ID: usize = 0;
    pub const LAYER: usize = 1;
    pub const OPERATION: usize = 2;
    pub const REASON_CODE: usize = 3;
    pub const ENTITY_ID: usize = 4;
    pub const TASK_ID: usize = 5;
    pub const PERSONA_ID: usize = 6;
    pub const WORKER_ID: usize = 7;
    pub const METADATA: usize = 8;
    pub const OCCURRED_AT: usize = 9;
    pub const CREATED_AT: usize = 10;
}

/// Reads the columns unchecked: the select list above fixes their types
/// (checking each value's type against its column is a fifth of the cost of
/// a page), and a mismatch would still fail to decode rather than misread.
fn event_of(row: &PgRow) -> Result<EventJson<'_>, ApiFailure> {
    Ok(EventJson {
        id: row.try_get_unchecked(column::ID)?,
        layer: parse_db::<EventLayer>(row.try_get_unchecked(column::LAYER)?)?,
        operation: parse_db::<Operation>(row.try_get_unchecked(column::OPERATION)?)?,
        reason_code: row.try_get_unchecked(column::REASON_CODE)?,
        entity_id: row.try_get_unchecked(column::ENTITY_ID)?,
        task_id: row.try_get_unchecked(column::TASK_ID)?,
        persona_id: row.try_get_unchecked(column::PERSONA_ID)?,
        worker_id: row.try_get_unchecked(column::WORKER_ID)?,
        metadata: row.try_get_unchecked(column::METADATA)?,
        occurred_at: row.try_get_unchecked(column::OCCURRED_AT)?,
        created_at: row.try_get_unchecked(column::CREATED_AT)?,
    })
}

#[cfg(test)]
mod tests {
    use ai_runtime_api::{EventsResponse, RuntimeEvent};
    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::cursor::Cursor;
    use crate::page::page_of;

    /// The hand-written JSON is, byte for byte, what serde prints for the
    /// API type the dashboard reads (and the OpenAPI document describes).
    #[test]
    fn a_page_is_the_events_response() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        // Compact, with sorted keys: how serde_json prints a `Value`, so the
        // whole page can be compared byte for byte.
        let metadata_text = r#"{"level":"INFO","nested":{"list":[1,2.5,null,"x\"y"]}}"#;
        let metadata: Box<RawValue> = RawValue::from_string(metadata_text.into()).unwrap();
        let empty: Box<RawValue> = RawValue::from_string("{}".into()).unwrap();
        let (id, other_id, task, persona) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let tricky = "quote \" backslash \\ newline \n tab \t é \u{1}";
        let borrowed = [
            EventJson {
                id,
                layer: EventLayer::ToolRuntime,
                operation: Operation::Retry,
                reason_code: "TOOL_RETRY",
                entity_id: tricky,
                task_id: Some(task),
                persona_id: Some(persona),
                worker_id: Some(tricky),
                metadata: &metadata,
                occurred_at: Timestamp(at.timestamp_micros()),
                created_at: Timestamp(at.timestamp_micros() + 5_000),
            },
            EventJson {
                id: other_id,
                layer: EventLayer::Worker,
                operation: Operation::Heartbeat,
                reason_code: "WORKER_STARTED",
                entity_id: "worker-1",
                task_id: None,
                persona_id: None,
                worker_id: None,
                metadata: &empty,
                occurred_at: Timestamp(at.timestamp_micros() - 1_000_000),
                created_at: Timestamp(at.timestamp_micros()),
            },
        ];
        let mut owned = EventsResponse {
            events: vec![
                RuntimeEvent {
                    id,
                    layer: EventLayer::ToolRuntime,
                    operation: Operation::Retry,
                    reason_code: "TOOL_RETRY".into(),
                    entity_id: tricky.into(),
                    task_id: Some(task),
                    persona_id: Some(persona),
                    worker_id: Some(tricky.into()),
                    metadata: json!({"level": "INFO", "nested": {"list": [1, 2.5, null, "x\"y"]}}),
                    occurred_at: at,
                    created_at: at + chrono::Duration::milliseconds(5),
                },
                RuntimeEvent {
                    id: other_id,
                    layer: EventLayer::Worker,
                    operation: Operation::Heartbeat,
                    reason_code: "WORKER_STARTED".into(),
                    entity_id: "worker-1".into(),
                    task_id: None,
                    persona_id: None,
                    worker_id: None,
                    metadata: json!({}),
                    occurred_at: at - chrono::Duration::seconds(1),
                    created_at: at,
                },
            ],
            next_cursor: None,
        };
        for more in [true, false] {
            owned.next_cursor = more.then(|| {
                Cursor {
                    at: owned.events[1].occurred_at,
                    id: other_id,
                }
                .encode(CursorKind::Events)
            });
            let text = page_of(
                "events",
                CursorKind::Events,
                &borrowed,
                more,
                |json, event| {
                    write_event(json, event);
                    (event.occurred_at, event.id)
                },
            );
            assert_eq!(text, serde_json::to_string(&owned).unwrap());
            let parsed: EventsResponse = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, owned);
        }
    }
}
