//! How events and worker reports become rows: the SQL, the column arrays
//! of a batch insert, the metadata JSON, and the clean-up Postgres needs
//! (it cannot store NUL characters).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::capture::{Captured, FieldValue};
use crate::redact::{redact_json, REDACTED};
use crate::worker_status::PendingReport;

const INSERT_EVENTS: &str = "\
insert into public.ai_runtime_events
    (layer, operation, reason_code, entity_id, task_id, persona_id, worker_id, metadata, occurred_at)
select l, o, r, e, t, p, w, m::jsonb, at
from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::uuid[],
            $7::text[], $8::text[], $9::timestamptz[]) as u(l, o, r, e, t, p, w, m, at)";

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

const PERSIST_STATS: &str = "\
update public.ai_worker_status
set metadata = jsonb_set(metadata, '{sink}', $2::jsonb)
where worker_id = any($1)";

/// One multi-row insert of `rows`.
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    rows: &[Box<Captured>],
) -> Result<(), sqlx::Error> {
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
        layer.push(row.layer.as_str());
        operation.push(row.operation.as_str());
        reason.push(clean(row.reason_code.as_str()));
        entity.push(clean(row.entity_id.as_str()));
        task.push(row.task_id);
        persona.push(row.persona_id);
        worker.push(row.worker_id.as_ref().map(|w| clean(w.as_str())));
        metadata.push(metadata_json(row));
        at.push(row.occurred_at.max(SystemTime::UNIX_EPOCH).into());
    }
    sqlx::query(INSERT_EVENTS)
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

/// Upserts a worker's row, merging `sink` (the statistics) into its metadata.
pub(crate) async fn upsert_worker(
    conn: &mut PgConnection,
    worker_id: Arc<str>,
    agent_type: String,
    pending: PendingReport,
    sink: Value,
) -> Result<(), sqlx::Error> {
    let report = pending.report;
    let mut metadata = Value::Object(report.metadata);
    redact_json(&mut metadata);
    strip_nul_json(&mut metadata);
    if let Value::Object(map) = &mut metadata {
        map.insert("sink".into(), sink);
    }
    sqlx::query(UPSERT_WORKER)
        .bind(strip_nul(&worker_id))
        .bind(agent_type)
        .bind(report.status.as_str())
        .bind(report.circuit_open)
        .bind(report.circuit_reason.as_deref().map(strip_nul))
        .bind(pending.at)
        .bind(report.current_task_id)
        .bind(metadata)
        .execute(conn)
        .await
        .map(drop)
}

/// Postgres text cannot hold NUL; replace it rather than lose the row.
fn strip_nul(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn strip_nul_json(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = strip_nul(s),
        Value::Array(items) => items.iter_mut().for_each(strip_nul_json),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().filter(|k| k.contains('\0')).cloned().collect();
            for key in keys {
                if let Some(v) = map.remove(&key) {
                    map.insert(strip_nul(&key), v);
                }
            }
            map.values_mut().for_each(strip_nul_json);
        }
        _ => {}
    }
}

/// Postgres text cannot hold NUL: replaced, only when present.
fn clean(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(strip_nul(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// The event's `metadata` object as JSON text, written straight from the
/// captured fields: the other fields, then `message`, `level`, `target` and,
/// when something was cut, `truncated`.
pub(crate) fn metadata_json(event: &Captured) -> String {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        json_string(out, name);
        out.push(b':');
    };
    for (name, value) in event.fields.iter() {
        key(&mut out, name);
        match value {
            FieldValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            FieldValue::I64(n) => json_display(&mut out, n),
            FieldValue::U64(n) => json_display(&mut out, n),
            // NaN and infinities have no JSON number.
            FieldValue::F64(f) if f.is_finite() => json_display(&mut out, f),
            FieldValue::F64(f) => json_string(&mut out, &f.to_string()),
            FieldValue::Str(t) => json_string(&mut out, t.as_str()),
            FieldValue::Redacted => json_string(&mut out, REDACTED),
        }
    }
    if let Some(message) = &event.message {
        key(&mut out, "message");
        json_string(&mut out, message.as_str());
    }
    key(&mut out, "level");
    json_string(&mut out, event.level.as_str());
    key(&mut out, "target");
    json_string(&mut out, event.target);
    if event.truncated {
        key(&mut out, "truncated");
        out.extend_from_slice(b"true");
    }
    out.push(b'}');
    // Only whole UTF-8 strings and ASCII were written.
    String::from_utf8(out).unwrap_or_else(|_| "{}".into())
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, clean(s).as_ref());
}

fn json_display(out: &mut Vec<u8>, value: &impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = write!(out, "{value}");
}

/// Refreshes the statistics in the rows of `workers`.
pub(crate) async fn persist_stats(
    conn: &mut PgConnection,
    workers: Vec<String>,
    sink: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(PERSIST_STATS)
        .bind(workers)
        .bind(sink)
        .execute(conn)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Text;

    #[test]
    fn metadata_json_is_valid_escaped_json() {
        let mut event = Captured::empty(SystemTime::now(), tracing_core::Level::WARN, "host::x");
        let text = |s: &str| FieldValue::Str(Text::bounded(s, 100));
        event.fields.push("quote", text("say \"hi\"\n"));
        event.fields.push("nul", text("a\0b"));
        event.fields.push("nan", FieldValue::F64(f64::NAN));
        event.fields.push("ratio", FieldValue::F64(0.25));
        event.fields.push("big", FieldValue::U64(u64::MAX));
        event.fields.push("api_key", FieldValue::Redacted);
        event.message = Some(Text::bounded("done", 100));
        event.truncated = true;
        let json: Value = serde_json::from_str(&metadata_json(&event)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "quote": "say \"hi\"\n",
                "nul": "a\u{FFFD}b",
                "nan": "NaN",
                "ratio": 0.25,
                "big": u64::MAX,
                "api_key": REDACTED,
                "message": "done",
                "level": "WARN",
                "target": "host::x",
                "truncated": true,
            })
        );
    }
}
