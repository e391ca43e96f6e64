//! Crafted rows, inserted with plain SQL.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub fn ago(seconds: i64) -> DateTime<Utc> {
    Utc::now() - Duration::seconds(seconds)
}

#[derive(Clone)]
pub struct Event {
    pub layer: &'static str,
    pub operation: &'static str,
    pub reason_code: &'static str,
    pub entity_id: String,
    pub task_id: Option<Uuid>,
    pub worker_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub metadata: Value,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            layer: "provider_runtime",
            operation: "CALL",
            reason_code: "PROVIDER_CALL_OK",
            entity_id: "sim/fast".into(),
            task_id: None,
            worker_id: Some("worker-1".into()),
            occurred_at: Utc::now(),
            metadata: json!({}),
        }
    }
}

pub async fn insert_event(pool: &PgPool, e: Event) -> Uuid {
    sqlx::query_scalar(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, \
         worker_id, metadata, occurred_at) values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(e.layer)
    .bind(e.operation)
    .bind(e.reason_code)
    .bind(e.entity_id)
    .bind(e.task_id)
    .bind(e.worker_id)
    .bind(e.metadata)
    .bind(e.occurred_at)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub struct Task {
    pub status: &'static str,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub reason_code: Option<&'static str>,
}

impl Default for Task {
    fn default() -> Self {
        Task {
            status: "PENDING",
            lease_owner: None,
            lease_expires_at: None,
            scheduled_at: Utc::now(),
            created_at: Utc::now(),
            reason_code: None,
        }
    }
}

pub async fn insert_task(pool: &PgPool, t: Task) -> Uuid {
    sqlx::query_scalar(
        "insert into persona_tasks (persona_id, kind, status, lease_owner, lease_expires_at, \
         scheduled_at, created_at, reason_code, reason, idempotency_key) \
         values ($1, 'reply', $2, $3, $4, $5, $6, $7, $8, $9) returning id",
    )
    .bind(Uuid::new_v4())
    .bind(t.status)
    .bind(t.lease_owner)
    .bind(t.lease_expires_at)
    .bind(t.scheduled_at)
    .bind(t.created_at)
    .bind(t.reason_code)
    .bind(t.reason_code.map(|c| format!("because {c}")))
    .bind(Uuid::new_v4().to_string())
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn insert_transition(
    pool: &PgPool,
    task_id: Uuid,
    from: Option<&str>,
    to: &str,
    occurred_at: DateTime<Utc>,
) {
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code, occurred_at) \
         values ($1, $2, $3, 'TEST', $4)",
    )
    .bind(task_id)
    .bind(from)
    .bind(to)
    .bind(occurred_at)
    .execute(pool)
    .await
    .unwrap();
}

pub struct Worker {
    pub worker_id: &'static str,
    pub status: &'static str,
    pub circuit_open: bool,
    pub circuit_reason: Option<&'static str>,
    pub last_heartbeat: DateTime<Utc>,
    pub metadata: Value,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            worker_id: "worker-1",
            status: "RUNNING",
            circuit_open: false,
            circuit_reason: None,
            last_heartbeat: Utc::now(),
            metadata: json!({
                "route": {"provider": "sim", "model": "fast-1"},
                "heartbeatIntervalSeconds": 10,
            }),
        }
    }
}

pub async fn upsert_worker(pool: &PgPool, w: Worker) {
    sqlx::query(
        "insert into ai_worker_status (worker_id, agent_type, status, circuit_open, circuit_reason, \
         last_heartbeat, metadata) values ($1, 'phase1_reply_runner', $2, $3, $4, $5, $6) \
         on conflict (worker_id) do update set status = excluded.status, \
         circuit_open = excluded.circuit_open, circuit_reason = excluded.circuit_reason, \
         last_heartbeat = excluded.last_heartbeat, metadata = excluded.metadata, updated_at = now()",
    )
    .bind(w.worker_id)
    .bind(w.status)
    .bind(w.circuit_open)
    .bind(w.circuit_reason)
    .bind(w.last_heartbeat)
    .bind(w.metadata)
    .execute(pool)
    .await
    .unwrap();
}
