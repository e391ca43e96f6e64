//! The queue against real Postgres: idempotent enqueue, leasing, lease
//! extension and expiry, the state machine and its transition log.

use std::time::Duration;

use ai_runtime_vocab::TaskStatus;
use phase1_worker::queue::{Queue, QueueError, Release};
use phase1_worker::{reason, workload};
use sqlx::PgPool;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);

async fn transitions(pool: &PgPool, task: Uuid) -> Vec<(Option<String>, String, String)> {
    sqlx::query_as(
        "select from_status, to_status, reason_code from task_transition_events
         where task_id = $1 order by occurred_at",
    )
    .bind(task)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn t(from: Option<&str>, to: &str, code: &str) -> (Option<String>, String, String) {
    (from.map(str::to_owned), to.to_owned(), code.to_owned())
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn enqueue_is_idempotent_by_key(pool: PgPool) {
    let queue = Queue::new(pool.clone());
    let task = workload::task(1, "q", 0);
    let first = queue.enqueue(&task).await.unwrap();
    let again = queue.enqueue(&task).await.unwrap();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(first.id, again.id);
    let all = queue
        .enqueue_all(&workload::tasks(1, "q", 0, 3))
        .await
        .unwrap();
    assert_eq!(all.iter().filter(|e| e.created).count(), 2);
    let count: i64 = sqlx::query_scalar("select count(*) from persona_tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 3);
    assert_eq!(
        transitions(&pool, first.id).await,
        vec![t(None, "PENDING", reason::TASK_ENQUEUED)]
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn lease_takes_each_task_once_and_sets_owner_and_expiry(pool: PgPool) {
    let queue = Queue::new(pool.clone());
    queue
        .enqueue_all(&workload::tasks(2, "q", 0, 2))
        .await
        .unwrap();
    let a = queue.lease("w1", LEASE).await.unwrap().unwrap();
    let b = queue.lease("w2", LEASE).await.unwrap().unwrap();
    assert_ne!(a.id, b.id);
    assert!(queue.lease("w3", LEASE).await.unwrap().is_none());
    assert_eq!(a.status, TaskStatus::Running);
    assert_eq!(a.lease_owner.as_deref(), Some("w1"));
    let remaining = a.lease_expires_at.unwrap() - chrono::Utc::now();
    assert!(remaining > chrono::Duration::seconds(25), "{remaining}");

    // Extension only works for the holder.
    assert!(queue
        .extend_lease(a.id, "w1", Duration::from_secs(120))
        .await
        .unwrap());
    assert!(!queue.extend_lease(a.id, "w2", LEASE).await.unwrap());
    let extended = queue.get(a.id).await.unwrap().lease_expires_at.unwrap();
    assert!(extended - chrono::Utc::now() > chrono::Duration::seconds(100));
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn concurrent_leases_never_share_a_task(pool: PgPool) {
    let queue = Queue::new(pool.clone());
    queue
        .enqueue_all(&workload::tasks(3, "q", 0, 40))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for w in 0..8 {
        let queue = queue.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(task) = queue.lease(&format!("w{w}"), LEASE).await.unwrap() {
                got.push(task.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40);
    assert_eq!(unique.len(), 40);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn transitions_check_the_state_machine_and_the_lease(pool: PgPool) {
    let queue = Queue::new(pool.clone());
    let id = queue.enqueue(&workload::task(4, "q", 0)).await.unwrap().id;

    // Illegal: PENDING -> DONE is refused before touching the database.
    let err = queue
        .transition(
            id,
            None,
            TaskStatus::Pending,
            TaskStatus::Done,
            reason::TASK_COMPLETED,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::IllegalTransition(_)), "{err}");
    assert_eq!(err.to_string(), "illegal task transition PENDING -> DONE");

    let task = queue.lease("w1", LEASE).await.unwrap().unwrap();
    // Another worker cannot settle it.
    let err = queue
        .transition(
            id,
            Some("w2"),
            TaskStatus::Running,
            TaskStatus::Done,
            reason::TASK_COMPLETED,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::LeaseLost { .. }), "{err}");
    queue
        .transition(
            task.id,
            Some("w1"),
            TaskStatus::Running,
            TaskStatus::InReview,
            reason::REVIEW_LOW_CONFIDENCE,
            Some("low"),
        )
        .await
        .unwrap();
    // A person approves it later.
    queue
        .transition(
            id,
            None,
            TaskStatus::InReview,
            TaskStatus::Done,
            "REVIEW_APPROVED",
            None,
        )
        .await
        .unwrap();
    let err = queue
        .transition(id, None, TaskStatus::Done, TaskStatus::Pending, "X", None)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::IllegalTransition(_)));
    let missing = queue
        .transition(
            Uuid::new_v4(),
            None,
            TaskStatus::Running,
            TaskStatus::Done,
            "X",
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, QueueError::NotFound(_)));

    let done = queue.get(id).await.unwrap();
    assert_eq!(done.status, TaskStatus::Done);
    assert_eq!(done.lease_owner, None);
    assert_eq!(
        transitions(&pool, id).await,
        vec![
            t(None, "PENDING", reason::TASK_ENQUEUED),
            t(Some("PENDING"), "RUNNING", reason::TASK_LEASED),
            t(Some("RUNNING"), "IN_REVIEW", reason::REVIEW_LOW_CONFIDENCE),
            t(Some("IN_REVIEW"), "DONE", "REVIEW_APPROVED"),
        ]
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn retries_count_attempts_until_failed_and_put_back_counts_none(pool: PgPool) {
    let queue = Queue::new(pool.clone());
    let id = queue.enqueue(&workload::task(5, "q", 0)).await.unwrap().id;
    let retry = || Release::Retry {
        reason_code: reason::PROVIDER_UNAVAILABLE,
        exhausted_reason_code: reason::PROVIDER_ATTEMPTS_EXHAUSTED,
        reason: "down".into(),
        delay: Duration::ZERO,
    };
    queue.lease("w1", LEASE).await.unwrap().unwrap();
    let put_back = Release::PutBack {
        reason_code: reason::BREAKER_OPEN_PUT_BACK,
    };
    let released = queue.release(id, "w1", put_back).await.unwrap();
    assert_eq!(
        (released.status, released.attempts),
        (TaskStatus::Pending, 0)
    );
    for expected_attempts in 1..=2 {
        queue.lease("w1", LEASE).await.unwrap().unwrap();
        let released = queue.release(id, "w1", retry()).await.unwrap();
        assert_eq!(released.status, TaskStatus::Pending);
        assert_eq!(released.attempts, expected_attempts);
    }
    queue.lease("w1", LEASE).await.unwrap().unwrap();
    let released = queue.release(id, "w1", retry()).await.unwrap();
    assert_eq!(released.status, TaskStatus::Failed);
    assert_eq!(released.reason_code, reason::PROVIDER_ATTEMPTS_EXHAUSTED);
    let err = queue.release(id, "w1", retry()).await.unwrap_err();
    assert!(matches!(err, QueueError::LeaseLost { .. }));

    // A retry with a delay is not due at once.
    let other = queue.enqueue(&workload::task(5, "q", 1)).await.unwrap().id;
    queue.lease("w1", LEASE).await.unwrap().unwrap();
    let delayed = Release::Retry {
        reason_code: reason::PROVIDER_UNAVAILABLE,
        exhausted_reason_code: reason::PROVIDER_ATTEMPTS_EXHAUSTED,
        reason: "down".into(),
        delay: Duration::from_secs(60),
    };
    queue.release(other, "w1", delayed).await.unwrap();
    assert!(queue.lease("w1", LEASE).await.unwrap().is_none());
    assert_eq!(queue.unsettled_count().await.unwrap(), 1);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn expired_leases_are_requeued_with_an_attempt_or_failed(pool: PgPool) {
    let queue = Queue::new(pool.clone());
    let id = queue.enqueue(&workload::task(6, "q", 0)).await.unwrap().id;
    // Long enough that a loaded machine cannot expire it before the first
    // check below; the sleep then outlasts it.
    let short = Duration::from_millis(1000);
    for round in 1..=3 {
        let task = queue.lease("dead", short).await.unwrap().unwrap();
        assert_eq!(task.id, id);
        // Not expired yet: nothing moves.
        if round == 1 {
            assert!(queue.requeue_expired("w2", 10).await.unwrap().is_empty());
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let moved = queue.requeue_expired("w2", 10).await.unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].previous_owner.as_deref(), Some("dead"));
        assert_eq!(moved[0].attempts, round);
        if round < 3 {
            assert_eq!(moved[0].status, TaskStatus::Pending);
            assert_eq!(moved[0].reason_code, reason::LEASE_EXPIRED);
        } else {
            assert_eq!(moved[0].status, TaskStatus::Failed);
            assert_eq!(
                moved[0].reason_code,
                reason::LEASE_EXPIRED_ATTEMPTS_EXHAUSTED
            );
        }
    }
    let task = queue.get(id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(task.attempts, 3);
    let log = transitions(&pool, id).await;
    assert_eq!(log.len(), 7);
    assert_eq!(
        log[6],
        t(
            Some("RUNNING"),
            "FAILED",
            reason::LEASE_EXPIRED_ATTEMPTS_EXHAUSTED
        )
    );
    let recorded_by: Vec<Option<String>> = sqlx::query_scalar(
        "select worker_id from task_transition_events where task_id = $1 and from_status = 'RUNNING'",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(recorded_by.iter().all(|w| w.as_deref() == Some("w2")));
}
