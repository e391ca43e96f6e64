//! The JSON of a page of events, written row by row straight from the
//! database's binary rows.

use ai_runtime_api::{Layer, Operation};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::columns;
use crate::cursor::Cursor;
use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::json_body::JsonBody;
use crate::timestamp::Rfc3339;

/// Bytes of JSON per event in practice (~390 with short metadata): the
/// response buffer's first guess.
pub const JSON_BYTES_PER_EVENT: usize = 512;

/// Writes `{"events":[…],"nextCursor":…}`, the JSON of
/// [`ai_runtime_api::EventsResponse`], one event at a time.
pub struct PageWriter {
    buffer: Vec<u8>,
    events: usize,
}

impl PageWriter {
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buffer = Vec::with_capacity(capacity);
        buffer.extend_from_slice(br#"{"events":["#);
        PageWriter { buffer, events: 0 }
    }

    pub fn len(&self) -> usize {
        self.events
    }

    /// Appends the event of `row`; returns its sort key.
    pub fn push(&mut self, row: &PgRow) -> Result<Cursor, ApiFailure> {
        if self.events > 0 {
            self.buffer.push(b',');
        }
        let key = write_event(&mut self.buffer, row)?;
        self.events += 1;
        Ok(key)
    }

    pub fn finish(mut self, next_cursor: Option<&str>) -> Result<JsonBody, ApiFailure> {
        self.buffer.extend_from_slice(br#"],"nextCursor":"#);
        serde_json::to_writer(&mut self.buffer, &next_cursor).map_err(encode_failure)?;
        self.buffer.push(b'}');
        Ok(JsonBody::from_json(self.buffer))
    }
}

fn encode_failure(e: serde_json::Error) -> ApiFailure {
    ApiFailure::Internal(format!("cannot encode an event: {e}"))
}

/// Positions in the select list of [`super::push_page_sql`] (by position: a lookup
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

/// Writes the event of `row` as [`ai_runtime_api::RuntimeEvent`]'s JSON
/// (same keys, same order, same value formats; a test compares), reading
/// each column straight into the output: no owned copy of the texts, and
/// `metadata` copied as the database's JSON text rather than parsed into a
/// tree and printed again (jsonb's text form is valid JSON by construction).
fn write_event(out: &mut Vec<u8>, row: &PgRow) -> Result<Cursor, ApiFailure> {
    let id = columns::uuid(row, column::ID)?;
    let layer = parse_db::<Layer>(columns::text(row, column::LAYER)?)?;
    let operation = parse_db::<Operation>(columns::text(row, column::OPERATION)?)?;
    let occurred_at = columns::timestamp(row, column::OCCURRED_AT)?;
    let mut json = JsonOut(out);
    json.key(br#"{"id":"#).uuid(Some(id));
    json.key(br#","layer":"#).str(layer.as_str())?;
    json.key(br#","operation":"#).str(operation.as_str())?;
    json.key(br#","reasonCode":"#)
        .str(columns::text(row, column::REASON_CODE)?)?;
    json.key(br#","entityId":"#)
        .str(columns::text(row, column::ENTITY_ID)?)?;
    json.key(br#","taskId":"#)
        .uuid(columns::optional_uuid(row, column::TASK_ID)?);
    json.key(br#","personaId":"#)
        .uuid(columns::optional_uuid(row, column::PERSONA_ID)?);
    json.key(br#","workerId":"#)
        .optional_str(columns::optional_text(row, column::WORKER_ID)?)?;
    json.key(br#","metadata":"#)
        .raw(columns::jsonb(row, column::METADATA)?);
    json.key(br#","occurredAt":"#).timestamp(occurred_at)?;
    json.key(br#","createdAt":"#)
        .timestamp(columns::timestamp(row, column::CREATED_AT)?)?;
    json.key(b"}");
    Ok(Cursor {
        at: occurred_at,
        id,
    })
}

/// JSON values appended to a buffer.
struct JsonOut<'a>(&'a mut Vec<u8>);

impl JsonOut<'_> {
    /// Literal punctuation and key names (ASCII, nothing to escape).
    fn key(&mut self, literal: &[u8]) -> &mut Self {
        self.0.extend_from_slice(literal);
        self
    }

    fn str(&mut self, text: &str) -> Result<(), ApiFailure> {
        serde_json::to_writer(&mut *self.0, text).map_err(encode_failure)
    }

    fn optional_str(&mut self, text: Option<&str>) -> Result<(), ApiFailure> {
        match text {
            Some(text) => self.str(text),
            None => {
                self.0.extend_from_slice(b"null");
                Ok(())
            }
        }
    }

    /// Hyphenated lowercase, as `Uuid`'s serde writes it.
    fn uuid(&mut self, id: Option<Uuid>) {
        match id {
            Some(id) => {
                self.0.push(b'"');
                let mut text = Uuid::encode_buffer();
                let text = id.hyphenated().encode_lower(&mut text);
                self.0.extend_from_slice(text.as_bytes());
                self.0.push(b'"');
            }
            None => self.0.extend_from_slice(b"null"),
        }
    }

    fn raw(&mut self, json: &[u8]) {
        self.0.extend_from_slice(json);
    }

    fn timestamp(&mut self, at: DateTime<Utc>) -> Result<(), ApiFailure> {
        serde_json::to_writer(&mut *self.0, &Rfc3339(at)).map_err(encode_failure)
    }
}

#[cfg(test)]
mod tests {
    use ai_runtime_api::{EventsResponse, RuntimeEvent};
    use serde_json::Value;

    use super::*;
    use crate::cursor::CursorKind;
    use crate::events::{page, page_query};
    use crate::params::EventFilter;
    use sqlx::PgPool;

    type Typed = (
        Uuid,
        String,
        String,
        String,
        String,
        Option<Uuid>,
        Option<Uuid>,
        Option<String>,
        Value,
        DateTime<Utc>,
        DateTime<Utc>,
    );

    /// The events as the API type, decoded by sqlx the ordinary way.
    async fn typed(pool: &PgPool, filter: &EventFilter) -> Vec<RuntimeEvent> {
        let rows: Vec<Typed> = page_query(filter)
            .build_query_as()
            .fetch_all(pool)
            .await
            .unwrap();
        rows.into_iter()
            .map(|r| RuntimeEvent {
                id: r.0,
                layer: r.1.parse().unwrap(),
                operation: r.2.parse().unwrap(),
                reason_code: r.3,
                entity_id: r.4,
                task_id: r.5,
                persona_id: r.6,
                worker_id: r.7,
                metadata: r.8,
                occurred_at: r.9,
                created_at: r.10,
            })
            .collect()
    }

    /// Pages print the JSON of the API type the dashboard reads and the
    /// OpenAPI document describes: byte for byte, but for the whitespace
    /// and key order of `metadata`, which is jsonb's text.
    #[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
    async fn pages_print_the_json_of_events_response(pool: PgPool) {
        sqlx::raw_sql(
            r#"insert into public.ai_runtime_events (layer, operation, reason_code, entity_id,
                 task_id, persona_id, worker_id, metadata, occurred_at) values
               ('tool_runtime', 'RETRY', 'TOOL_RETRY', 'tool-3', gen_random_uuid(),
                 gen_random_uuid(), 'worker-1',
                 '{"level": "INFO", "n": {"list": [1, 2.5, null, "x\"y"]}, "big": 12345678901234}',
                 now() - interval '1 second'),
               ('execution', 'TASK', 'TASK_DONE', E'quote " backslash \\ tab \t é ✓',
                 null, null, null, '{}', '2026-01-01 00:00:00.5+00'),
               ('worker', 'HEARTBEAT', 'W', 'e', null, null, 'w', '[]', '2025-01-01 00:00:00+00')"#,
        )
        .execute(&pool)
        .await
        .unwrap();

        let first_two = EventFilter {
            limit: 2,
            ..EventFilter::default()
        };
        let body = page(&pool, &first_two).await.unwrap();
        let mut events = typed(&pool, &first_two).await;
        events.truncate(2);
        let cursor = Cursor {
            at: events[1].occurred_at,
            id: events[1].id,
        };
        let expected = EventsResponse {
            events,
            next_cursor: Some(cursor.encode(CursorKind::Events)),
        };
        let parsed: EventsResponse = serde_json::from_slice(body.as_bytes()).unwrap();
        assert_eq!(parsed, expected);

        // Metadata without whitespace of its own: the very bytes serde prints.
        for layer in [Layer::Execution, Layer::Worker] {
            let one = EventFilter {
                layer: Some(layer),
                limit: 5,
                ..EventFilter::default()
            };
            let body = page(&pool, &one).await.unwrap();
            let expected = EventsResponse {
                events: typed(&pool, &one).await,
                next_cursor: None,
            };
            assert_eq!(
                std::str::from_utf8(body.as_bytes()).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }

        // An empty page.
        let none = EventFilter {
            layer: Some(Layer::Dispatcher),
            limit: 5,
            ..EventFilter::default()
        };
        let body = page(&pool, &none).await.unwrap();
        assert_eq!(body.as_bytes(), br#"{"events":[],"nextCursor":null}"#);
    }
}
