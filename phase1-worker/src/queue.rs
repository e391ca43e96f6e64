//! The phase1 task queue over `persona_tasks` and `task_transition_events`.
//!
//! Every status change goes through the state machine (`state.rs`) and
//! writes its transition row in the same transaction as the status update.
//! Leasing uses `FOR UPDATE SKIP LOCKED`, so concurrent workers never take
//! the same task; a lease has an expiry that the holder extends while it
//! works, and expired leases are requeued by whichever worker notices first.

use std::time::Duration;

use ai_runtime_vocab::{TaskStatus, UnknownValue};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::reason;
use crate::state::{self, IllegalTransition};

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// The task is no longer in the expected status or held by this worker
    /// (its lease expired and another worker took it over).
    #[error("task {task_id} is no longer {expected} under this worker's lease")]
    LeaseLost { task_id: Uuid, expected: TaskStatus },
    #[error("task {0} does not exist")]
    NotFound(Uuid),
    #[error("task row has an unknown status: {0}")]
    UnknownStatus(#[from] UnknownValue),
}

/// A task to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub persona_id: Uuid,
    pub kind: String,
    pub payload: Value,
    /// Enqueueing the same key twice creates one task.
    pub idempotency_key: String,
    pub max_attempts: i32,
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: Uuid,
    /// `false` when a task with this idempotency key already existed.
    pub created: bool,
}

/// A task row.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: Uuid,
    pub persona_id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub status: TaskStatus,
    /// Attempts spent so far (a lease that expired, a provider that failed).
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub idempotency_key: String,
}

impl Task {
    fn from_row(row: &PgRow) -> Result<Task, QueueError> {
        Ok(Task {
            id: row.try_get("id")?,
            persona_id: row.try_get("persona_id")?,
            kind: row.try_get("kind")?,
            payload: row.try_get("payload")?,
            status: row.try_get::<String, _>("status")?.parse()?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
            lease_owner: row.try_get("lease_owner")?,
            lease_expires_at: row.try_get("lease_expires_at")?,
            reason_code: row.try_get("reason_code")?,
            reason: row.try_get("reason")?,
            idempotency_key: row.try_get("idempotency_key")?,
        })
    }
}

/// How a worker gives a RUNNING task back without finishing it.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// Back to PENDING untouched: no attempt counted, due at once
    /// (breaker open, worker shutting down).
    PutBack { reason_code: &'static str },
    /// An attempt failed: count it; back to PENDING after `delay`, or FAILED
    /// with `exhausted_reason_code` when no attempt is left.
    Retry {
        reason_code: &'static str,
        exhausted_reason_code: &'static str,
        reason: String,
        delay: Duration,
    },
}

/// What `release` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Released {
    /// PENDING, or FAILED when the last attempt was spent.
    pub status: TaskStatus,
    pub reason_code: String,
    pub attempts: i32,
}

/// A task that `requeue_expired` moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Requeued {
    pub task_id: Uuid,
    pub previous_owner: Option<String>,
    pub status: TaskStatus,
    pub reason_code: String,
    pub attempts: i32,
}

const TASK_COLUMNS: &str = "id, persona_id, kind, payload, status, attempts, max_attempts, \
     lease_owner, lease_expires_at, reason_code, reason, idempotency_key";

/// The queue, over a connection pool.
#[derive(Debug, Clone)]
pub struct Queue {
    pool: PgPool,
}

impl Queue {
    pub fn new(pool: PgPool) -> Queue {
        Queue { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Enqueues a task unless one with the same idempotency key exists.
    pub async fn enqueue(&self, task: &NewTask) -> Result<Enqueued, QueueError> {
        let mut tx = self.pool.begin().await?;
        let enqueued = enqueue_in(&mut tx, task).await?;
        tx.commit().await?;
        Ok(enqueued)
    }

    /// Enqueues many tasks in one transaction (same idempotency rule).
    pub async fn enqueue_all(&self, tasks: &[NewTask]) -> Result<Vec<Enqueued>, QueueError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(enqueue_in(&mut tx, task).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Leases the next due PENDING task for `worker_id`, or `None` when
    /// nothing is due. Tasks locked by a concurrent lease are skipped.
    pub async fn lease(
        &self,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Task>, QueueError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "with next as (
                 select id as next_id from persona_tasks
                 where status = 'PENDING' and scheduled_at <= now()
                 order by scheduled_at, created_at, idempotency_key
                 limit 1
                 for update skip locked)
             update persona_tasks t
             set status = 'RUNNING', lease_owner = $1,
                 lease_expires_at = now() + make_interval(secs => $2),
                 reason_code = $3, reason = null, updated_at = now()
             from next where t.id = next.next_id
             returning {TASK_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(worker_id)
            .bind(lease.as_secs_f64())
            .bind(reason::TASK_LEASED)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let task = Task::from_row(&row)?;
        let metadata = json!({ "attempts": task.attempts, "leaseSeconds": lease.as_secs_f64() });
        insert_transition(
            &mut tx,
            task.id,
            Some(TaskStatus::Pending),
            TaskStatus::Running,
            reason::TASK_LEASED,
            Some(worker_id),
            metadata,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(task))
    }

    /// Pushes the lease expiry of a task this worker holds; `false` when the
    /// worker no longer holds it.
    pub async fn extend_lease(
        &self,
        task_id: Uuid,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool, QueueError> {
        let result = sqlx::query(
            "update persona_tasks
             set lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
             where id = $1 and status = 'RUNNING' and lease_owner = $2",
        )
        .bind(task_id)
        .bind(worker_id)
        .bind(lease.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Moves a task from `from` to `to`. With `owner`, the task must be
    /// leased by that worker. Clears the lease; refuses illegal changes.
    pub async fn transition(
        &self,
        task_id: Uuid,
        owner: Option<&str>,
        from: TaskStatus,
        to: TaskStatus,
        reason_code: &str,
        reason: Option<&str>,
    ) -> Result<(), QueueError> {
        state::check(Some(from), to)?;
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "update persona_tasks
             set status = $3, reason_code = $4, reason = $5,
                 lease_owner = null, lease_expires_at = null, updated_at = now()
             where id = $1 and status = $2 and ($6::text is null or lease_owner = $6)",
        )
        .bind(task_id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(reason_code)
        .bind(reason)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            drop(tx);
            return Err(self.explain_missing(task_id, from).await);
        }
        insert_transition(
            &mut tx,
            task_id,
            Some(from),
            to,
            reason_code,
            owner,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives a RUNNING task back (see [`Release`]).
    pub async fn release(
        &self,
        task_id: Uuid,
        worker_id: &str,
        release: Release,
    ) -> Result<Released, QueueError> {
        let (count, delay, reason_code, exhausted_code, reason) = match &release {
            Release::PutBack { reason_code } => {
                (0, Duration::ZERO, *reason_code, *reason_code, None)
            }
            Release::Retry {
                reason_code,
                exhausted_reason_code,
                reason,
                delay,
            } => (
                1,
                *delay,
                *reason_code,
                *exhausted_reason_code,
                Some(reason.as_str()),
            ),
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "update persona_tasks
             set attempts = attempts + $3,
                 status = case when attempts + $3 >= max_attempts and $3 > 0
                               then 'FAILED' else 'PENDING' end,
                 reason_code = case when attempts + $3 >= max_attempts and $3 > 0
                                    then $6 else $5 end,
                 reason = $7,
                 scheduled_at = now() + make_interval(secs => $4),
                 lease_owner = null, lease_expires_at = null, updated_at = now()
             where id = $1 and status = 'RUNNING' and lease_owner = $2
             returning status, reason_code, attempts",
        )
        .bind(task_id)
        .bind(worker_id)
        .bind(count)
        .bind(delay.as_secs_f64())
        .bind(reason_code)
        .bind(exhausted_code)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.explain_missing(task_id, TaskStatus::Running).await);
        };
        let status: TaskStatus = row.try_get::<String, _>("status")?.parse()?;
        let code: String = row.try_get("reason_code")?;
        let attempts: i32 = row.try_get("attempts")?;
        state::check(Some(TaskStatus::Running), status)?;
        insert_transition(
            &mut tx,
            task_id,
            Some(TaskStatus::Running),
            status,
            &code,
            Some(worker_id),
            json!({ "attempts": attempts, "attemptCounted": count == 1 }),
        )
        .await?;
        tx.commit().await?;
        Ok(Released {
            status,
            reason_code: code,
            attempts,
        })
    }

    /// Requeues up to `limit` RUNNING tasks whose lease expired: an attempt
    /// is counted; PENDING again, or FAILED when no attempt is left.
    /// `worker_id` is the worker that noticed (recorded on the transition).
    pub async fn requeue_expired(
        &self,
        worker_id: &str,
        limit: i64,
    ) -> Result<Vec<Requeued>, QueueError> {
        let rows = sqlx::query(
            "with expired as (
                 select id, lease_owner from persona_tasks
                 where status = 'RUNNING' and lease_expires_at < now()
                 order by lease_expires_at
                 limit $2
                 for update skip locked),
             moved as (
                 update persona_tasks t
                 set attempts = t.attempts + 1,
                     status = case when t.attempts + 1 >= t.max_attempts
                                   then 'FAILED' else 'PENDING' end,
                     reason_code = case when t.attempts + 1 >= t.max_attempts
                                        then $4 else $3 end,
                     reason = 'lease of ' || coalesce(e.lease_owner, '?') || ' expired',
                     lease_owner = null, lease_expires_at = null,
                     scheduled_at = now(), updated_at = now()
                 from expired e where t.id = e.id
                 returning t.id, t.status, t.reason_code, t.attempts, e.lease_owner)
             insert into task_transition_events
                 (task_id, from_status, to_status, reason_code, worker_id, metadata, occurred_at)
             select id, 'RUNNING', status, reason_code, $1,
                    jsonb_build_object('previousOwner', lease_owner, 'attempts', attempts),
                    clock_timestamp()
             from moved
             returning task_id, to_status, reason_code,
                       (metadata->>'attempts')::int as attempts,
                       metadata->>'previousOwner' as previous_owner",
        )
        .bind(worker_id)
        .bind(limit)
        .bind(reason::LEASE_EXPIRED)
        .bind(reason::LEASE_EXPIRED_ATTEMPTS_EXHAUSTED)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Requeued {
                    task_id: row.try_get("task_id")?,
                    previous_owner: row.try_get("previous_owner")?,
                    status: row.try_get::<String, _>("to_status")?.parse()?,
                    reason_code: row.try_get("reason_code")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Tasks not yet settled: PENDING (due or not) or RUNNING.
    pub async fn unsettled_count(&self) -> Result<i64, QueueError> {
        let count = sqlx::query_scalar(
            "select count(*) from persona_tasks where status in ('PENDING', 'RUNNING')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    /// PENDING tasks (due or not).
    pub async fn pending_count(&self) -> Result<i64, QueueError> {
        let count =
            sqlx::query_scalar("select count(*) from persona_tasks where status = 'PENDING'")
                .fetch_one(&self.pool)
                .await?;
        Ok(count)
    }

    pub async fn get(&self, task_id: Uuid) -> Result<Task, QueueError> {
        let sql = format!("select {TASK_COLUMNS} from persona_tasks where id = $1");
        let row = sqlx::query(&sql)
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(QueueError::NotFound(task_id))?;
        Task::from_row(&row)
    }

    /// Why an update guarded by status/owner matched nothing.
    async fn explain_missing(&self, task_id: Uuid, expected: TaskStatus) -> QueueError {
        match self.get(task_id).await {
            Ok(_) => QueueError::LeaseLost { task_id, expected },
            Err(err) => err,
        }
    }
}

async fn enqueue_in(
    tx: &mut Transaction<'_, Postgres>,
    task: &NewTask,
) -> Result<Enqueued, QueueError> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "insert into persona_tasks
             (persona_id, kind, payload, max_attempts, idempotency_key, reason_code)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (idempotency_key) do nothing
         returning id",
    )
    .bind(task.persona_id)
    .bind(&task.kind)
    .bind(&task.payload)
    .bind(task.max_attempts)
    .bind(&task.idempotency_key)
    .bind(reason::TASK_ENQUEUED)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = inserted {
        insert_transition(
            tx,
            id,
            None,
            TaskStatus::Pending,
            reason::TASK_ENQUEUED,
            None,
            json!({ "idempotencyKey": task.idempotency_key }),
        )
        .await?;
        return Ok(Enqueued { id, created: true });
    }
    let id = sqlx::query_scalar("select id from persona_tasks where idempotency_key = $1")
        .bind(&task.idempotency_key)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Enqueued { id, created: false })
}

async fn insert_transition(
    tx: &mut Transaction<'_, Postgres>,
    task_id: Uuid,
    from: Option<TaskStatus>,
    to: TaskStatus,
    reason_code: &str,
    worker_id: Option<&str>,
    metadata: Value,
) -> Result<(), QueueError> {
    state::check(from, to)?;
    sqlx::query(
        "insert into task_transition_events
             (task_id, from_status, to_status, reason_code, worker_id, metadata, occurred_at)
         values ($1, $2, $3, $4, $5, $6, clock_timestamp())",
    )
    .bind(task_id)
    .bind(from.map(TaskStatus::as_str))
    .bind(to.as_str())
    .bind(reason_code)
    .bind(worker_id)
    .bind(metadata)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
