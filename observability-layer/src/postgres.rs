//! The Postgres exporter: events into `ai_runtime_events` (one multi-row
//! `INSERT .. SELECT FROM UNNEST` per batch), worker statuses into
//! `ai_worker_status` with the sink's statistics in `metadata.sink`. It
//! owns one connection and a current-thread tokio runtime to drive it on
//! its delivery thread, whatever runtime (or none) the host uses, and
//! reconnects on the next attempt after a failure.

use std::borrow::Cow;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection as _;
use uuid::Uuid;

use crate::capture::Captured;
use crate::exporter::{Deadline, ExportError, Exporter, WorkerStatus};
use crate::metadata::{self, clean};
use crate::redact::redact_json;

/// `application_name` of the writer's database connections.
pub const WRITER_APPLICATION_NAME: &str = "observability-layer-writer";

const INSERT_EVENTS: &str = "\
insert into public.ai_runtime_events
    (id, layer, operation, reason_code, entity_id, task_id, persona_id, worker_id, metadata, occurred_at)
select id, l, o, r, e, t, p, w, m::jsonb, at
from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::uuid[],
            $8::text[], $9::text[], $10::timestamptz[]) as u(id, l, o, r, e, t, p, w, m, at)";

const UPSERT_WORKER: &str = "\
insert into public.ai_worker_status as s
    (worker_id, agent_type, status, circuit_open, circuit_reason, last_heartbeat,
     current_task_id, metadata, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, now())
on conflict (worker_id) do update set
    agent_type = excluded.agent_type,
    status = excluded.status,
    circuit_open = excluded.circuit_open,
    circuit_reason = excluded.circuit_reason,
    last_heartbeat = excluded.last_heartbeat,
    current_task_id = excluded.current_task_id,
    metadata = s.metadata || excluded.metadata,
    updated_at = now()";

const REFRESH_STATS: &str = "\
update public.ai_worker_status
set metadata = jsonb_set(metadata, '{sink}', $2::jsonb)
where worker_id = any($1)";

pub(crate) struct PostgresExporter {
    options: PgConnectOptions,
    agent_type: String,
    runtime: tokio::runtime::Runtime,
    conn: Option<PgConnection>,
    /// Workers whose rows this exporter wrote (their statistics are refreshed).
    known_workers: Vec<String>,
}

impl PostgresExporter {
    pub(crate) fn new(options: PgConnectOptions, agent_type: String) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(PostgresExporter {
            options,
            agent_type,
            runtime,
            conn: None,
            known_workers: Vec::new(),
        })
    }

    /// Runs `op` on the connection (connecting first if needed) within the
    /// deadline. A connection that failed is dropped (the next attempt
    /// reconnects).
    fn attempt<F>(&mut self, deadline: &Deadline, op: F) -> Result<(), ExportError>
    where
        F: AsyncFnOnce(&mut PgConnection) -> Result<(), sqlx::Error>,
    {
        let options = &self.options;
        let slot = &mut self.conn;
        let result = self.runtime.block_on(deadline.bound(async {
            let conn = match slot {
                Some(conn) => conn,
                None => slot.insert(
                    PgConnection::connect_with(options)
                        .await
                        .map_err(|e| ExportError::Unavailable(describe(&e)))?,
                ),
            };
            op(conn).await.map_err(classify)
        }));
        let result = result.unwrap_or_else(|| {
            Err(ExportError::Unavailable(
                "database operation abandoned at its deadline".into(),
            ))
        });
        if matches!(result, Err(ExportError::Unavailable(_))) {
            self.conn = None;
        }
        result
    }
}

impl Exporter for PostgresExporter {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn export(&mut self, events: &[&Captured], deadline: &Deadline) -> Result<(), ExportError> {
        self.attempt(deadline, async |conn| insert_events(conn, events).await)
    }

    fn upsert_workers(
        &mut self,
        statuses: &[WorkerStatus<'_>],
        stats: &Value,
        deadline: &Deadline,
    ) -> Result<(), ExportError> {
        if statuses.is_empty() {
            if self.known_workers.is_empty() {
                return Ok(());
            }
            let workers = self.known_workers.clone();
            return self.attempt(deadline, async |conn| {
                sqlx::query(REFRESH_STATS)
                    .bind(workers)
                    .bind(stats)
                    .execute(conn)
                    .await
                    .map(drop)
            });
        }
        let agent_type = self.agent_type.clone();
        self.attempt(deadline, async |conn| {
            for status in statuses {
                upsert_worker(conn, status, &agent_type, stats).await?;
            }
            Ok(())
        })?;
        for status in statuses {
            if !self.known_workers.iter().any(|w| w == status.worker_id) {
                self.known_workers.push(status.worker_id.to_owned());
            }
        }
        Ok(())
    }

    fn shutdown(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Closing politely needs the server; a dead one is not waited for.
            let close = async {
                tokio::time::timeout(std::time::Duration::from_millis(20), conn.close()).await
            };
            let _ = self.runtime.block_on(close);
        }
    }
}

/// One multi-row insert of `rows`.
///
/// Ids are UUIDv7 (time-ordered), made here rather than by the column's
/// `gen_random_uuid()` default: the primary key's index then grows at its
/// right edge instead of taking each row at a random page, which keeps the
/// writer's rate into a day partition that already holds most of a day's
/// events close to its rate into an empty one (the `ingest-stored` bench).
async fn insert_events(conn: &mut PgConnection, rows: &[&Captured]) -> Result<(), sqlx::Error> {
    let mut id = Vec::with_capacity(rows.len());
    let mut layer = Vec::with_capacity(rows.len());
    let mut operation = Vec::with_capacity(rows.len());
    let mut reason = Vec::with_capacity(rows.len());
    let mut entity = Vec::with_capacity(rows.len());
    let mut task: Vec<Option<Uuid>> = Vec::with_capacity(rows.len());
    let mut persona: Vec<Option<Uuid>> = Vec::with_capacity(rows.len());
    let mut worker: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(rows.len());
    let mut metadata = Vec::with_capacity(rows.len());
    let mut at: Vec<DateTime<Utc>> = Vec::with_capacity(rows.len());
    for row in rows {
        id.push(Uuid::now_v7());
        layer.push(row.layer.as_str());
        operation.push(row.operation.as_str());
        reason.push(clean(row.reason_code.as_str()));
        entity.push(clean(row.entity_id.as_str()));
        task.push(row.task_id);
        persona.push(row.persona_id);
        worker.push(row.worker_id.as_ref().map(|w| clean(w.as_str())));
        metadata.push(metadata::to_json(row));
        at.push(row.occurred_at.max(SystemTime::UNIX_EPOCH).into());
    }
    sqlx::query(INSERT_EVENTS)
        .bind(id)
        .bind(layer)
        .bind(operation)
        .bind(reason)
        .bind(entity)
        .bind(task)
        .bind(persona)
        .bind(worker)
        .bind(metadata)
        .bind(at)
        .execute(conn)
        .await
        .map(drop)
}

/// Upserts a worker's row, merging `stats` into its metadata as `sink`.
async fn upsert_worker(
    conn: &mut PgConnection,
    status: &WorkerStatus<'_>,
    agent_type: &str,
    stats: &Value,
) -> Result<(), sqlx::Error> {
    let report = &status.report.report;
    let mut metadata = Value::Object(report.metadata.clone());
    redact_json(&mut metadata);
    strip_nul_json(&mut metadata);
    if let Value::Object(map) = &mut metadata {
        map.insert("sink".into(), stats.clone());
    }
    sqlx::query(UPSERT_WORKER)
        .bind(clean(status.worker_id))
        .bind(agent_type)
        .bind(report.status.as_str())
        .bind(report.circuit_open)
        .bind(report.circuit_reason.as_deref().map(clean))
        .bind(status.report.at)
        .bind(report.current_task_id)
        .bind(metadata)
        .execute(conn)
        .await
        .map(drop)
}

fn strip_nul_json(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = clean(s).into_owned(),
        Value::Array(items) => items.iter_mut().for_each(strip_nul_json),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().filter(|k| k.contains('\0')).cloned().collect();
            for key in keys {
                if let Some(v) = map.remove(&key) {
                    map.insert(clean(&key).into_owned(), v);
                }
            }
            map.values_mut().for_each(strip_nul_json);
        }
        _ => {}
    }
}

/// Row errors (bad data) versus everything else (connection, server, schema).
fn classify(error: sqlx::Error) -> ExportError {
    let message = describe(&error);
    if let sqlx::Error::Database(db) = &error {
        let code = db.code().unwrap_or_default();
        // 22: data exception, 23: integrity constraint, 54: program limit (e.g. index row too big).
        if code.starts_with("22") || code.starts_with("23") || code.starts_with("54") {
            return ExportError::Rejected(message);
        }
    }
    ExportError::Unavailable(message)
}

fn describe(error: &sqlx::Error) -> String {
    let mut message = error.to_string();
    message.truncate(500);
    message
}
