//! The runner against real Postgres: workers draining a queue together, a
//! worker dying mid-task, the breaker during an outage, shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ai_runtime_vocab::{TaskStatus, WorkerState};
use phase1_worker::capture::EventCapture;
use phase1_worker::clock::ManualClock;
use phase1_worker::status::StatusLog;
use phase1_worker::{
    reason, workload, AgentConfig, BreakerConfig, OutageWindows, ProviderConfig, Queue, RunMode,
    Runner, RunnerConfig,
};
use sqlx::PgPool;
use tracing::instrument::WithSubscriber;
use uuid::Uuid;

/// Zero latency, no backoff, short polls: the queue is the only cost.
fn fast_config(prefix: &str, workers: usize, enqueue: u64, seed: u64) -> RunnerConfig {
    RunnerConfig {
        workers,
        worker_id_prefix: prefix.to_owned(),
        seed,
        enqueue,
        namespace: "t".to_owned(),
        provider: ProviderConfig {
            failure_rate: 0.4,
            latency: Duration::ZERO,
            outages: None,
        },
        agent: AgentConfig {
            retry_backoff: Duration::ZERO,
            breaker: BreakerConfig {
                failure_threshold: 3,
                cooldown: Duration::from_millis(20),
            },
            ..AgentConfig::default()
        },
        lease_duration: Duration::from_secs(10),
        poll_interval: Duration::from_millis(10),
        heartbeat_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(1),
        requeue_delay: Duration::ZERO,
        mode: RunMode::UntilDrained,
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Transition {
    task_id: Uuid,
    from_status: Option<String>,
    to_status: String,
    reason_code: String,
    worker_id: Option<String>,
}

async fn transition_log(pool: &PgPool) -> HashMap<Uuid, Vec<Transition>> {
    let rows: Vec<Transition> = sqlx::query_as(
        "select task_id, from_status, to_status, reason_code, worker_id
         from task_transition_events order by occurred_at, id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut by_task: HashMap<Uuid, Vec<Transition>> = HashMap::new();
    for row in rows {
        by_task.entry(row.task_id).or_default().push(row);
    }
    by_task
}

async fn final_states(pool: &PgPool) -> HashMap<Uuid, (String, i32, i32)> {
    let rows: Vec<(Uuid, String, i32, i32)> =
        sqlx::query_as("select id, status, attempts, max_attempts from persona_tasks")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(id, s, a, m)| (id, (s, a, m)))
        .collect()
}

const SETTLED: [&str; 4] = ["DONE", "SKIPPED", "FAILED", "IN_REVIEW"];

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn two_workers_drain_a_thousand_tasks_each_settled_exactly_once(pool: PgPool) {
    // This test is about correctness, not durability: skip the per-commit
    // flush to keep it fast on a busy machine.
    let options = (*pool.connect_options())
        .clone()
        .options([("synchronous_commit", "off")]);
    let fast_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    let runner = Runner::new(fast_config("drain", 2, 1_000, 11), fast_pool);
    let summary = tokio::time::timeout(Duration::from_secs(60), runner.run(std::future::pending()))
        .await
        .expect("drained within a minute")
        .unwrap();
    assert_eq!(summary.enqueued, 1_000);

    let finals = final_states(&pool).await;
    let log = transition_log(&pool).await;
    assert_eq!(finals.len(), 1_000);
    assert_eq!(log.len(), 1_000);
    let mut by_status: HashMap<String, u64> = HashMap::new();
    let mut leases_by_worker: HashMap<String, u64> = HashMap::new();
    for (id, (status, attempts, max_attempts)) in &finals {
        assert!(SETTLED.contains(&status.as_str()), "{id} ended {status}");
        *by_status.entry(status.clone()).or_default() += 1;
        let steps = &log[id];
        // A chain from creation to the final status, one step at a time.
        assert_eq!(steps[0].from_status, None);
        assert_eq!(steps[0].to_status, "PENDING");
        for pair in steps.windows(2) {
            assert_eq!(
                pair[1].from_status.as_deref(),
                Some(pair[0].to_status.as_str()),
                "{id}"
            );
        }
        assert_eq!(&steps.last().unwrap().to_status, status);
        // Exactly one step into a settled state: the last.
        let settled = steps
            .iter()
            .filter(|s| SETTLED.contains(&s.to_status.as_str()))
            .count();
        assert_eq!(settled, 1, "{id}");
        // Never leased twice at once: every lease is ended by its holder
        // before the next lease (the chain proves the order).
        for pair in steps.windows(2) {
            if pair[0].to_status == "RUNNING" {
                assert_eq!(pair[1].worker_id, pair[0].worker_id, "{id}");
                *leases_by_worker
                    .entry(pair[0].worker_id.clone().unwrap())
                    .or_default() += 1;
            }
        }
        // Attempts are the failed provider rounds.
        let spent = steps
            .iter()
            .filter(|s| {
                s.reason_code == reason::PROVIDER_UNAVAILABLE
                    || s.reason_code == reason::PROVIDER_ATTEMPTS_EXHAUSTED
            })
            .count() as i32;
        assert_eq!(*attempts, spent, "{id}");
        assert!(attempts <= max_attempts);
        assert!(steps.iter().all(|s| s.reason_code != reason::LEASE_EXPIRED));
    }
    // Both workers took part, and the summary matches the database.
    assert_eq!(leases_by_worker.len(), 2, "{leases_by_worker:?}");
    let t = summary.totals;
    let count = |s: &str| by_status.get(s).copied().unwrap_or(0);
    assert_eq!(t.done, count("DONE"));
    assert_eq!(t.skipped, count("SKIPPED"));
    assert_eq!(t.in_review, count("IN_REVIEW"));
    assert_eq!(t.failed, count("FAILED"));
    assert_eq!(t.leased, leases_by_worker.values().sum::<u64>());
    assert!(t.done > 300 && t.skipped > 10 && t.in_review > 100, "{t:?}");
    assert!(
        t.retried > 0,
        "a 40% call failure rate exhausts some routes: {t:?}"
    );
}

/// Waits until `check` holds, polling; panics after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_dead_workers_task_is_taken_over_after_its_lease_expires(pool: PgPool) {
    let lease = Duration::from_millis(300);
    let queue = Queue::new(pool.clone());
    let task_id = queue.enqueue(&workload::task(5, "t", 0)).await.unwrap().id;
    let mut slow = fast_config("doomed", 1, 0, 5);
    slow.provider.latency = Duration::from_secs(30);
    slow.provider.failure_rate = 0.0;
    slow.lease_duration = lease;
    slow.mode = RunMode::UntilStopped;
    let doomed = tokio::spawn(Runner::new(slow, pool.clone()).run(std::future::pending()));

    let q = queue.clone();
    eventually(
        Duration::from_secs(10),
        "the doomed worker to lease",
        || {
            let q = q.clone();
            async move { q.get(task_id).await.unwrap().lease_owner.as_deref() == Some("doomed-1") }
        },
    )
    .await;
    // While it lives, it keeps extending its lease past the initial 300 ms.
    tokio::time::sleep(lease * 2).await;
    assert_eq!(
        queue.get(task_id).await.unwrap().lease_owner.as_deref(),
        Some("doomed-1")
    );

    // The process dies: its worker stops mid-call, the task stays RUNNING.
    doomed.abort();
    let _ = doomed.await;
    let orphan = queue.get(task_id).await.unwrap();
    assert_eq!(orphan.status, TaskStatus::Running);

    let mut rescuer = fast_config("rescuer", 1, 0, 5);
    rescuer.provider.failure_rate = 0.0;
    rescuer.lease_duration = lease;
    let summary = tokio::time::timeout(
        Duration::from_secs(10),
        Runner::new(rescuer, pool.clone()).run(std::future::pending()),
    )
    .await
    .expect("the rescuer drains the queue")
    .unwrap();
    assert_eq!(summary.totals.expired_requeued, 1);
    assert_eq!(summary.totals.leased, 1);

    let task = queue.get(task_id).await.unwrap();
    assert!(SETTLED.contains(&task.status.as_str()), "{task:?}");
    assert_eq!(task.attempts, 1, "the expired lease counts one attempt");
    let steps: Vec<(String, String, Option<String>)> = transition_log(&pool).await[&task_id]
        .iter()
        .map(|s| {
            (
                s.to_status.clone(),
                s.reason_code.clone(),
                s.worker_id.clone(),
            )
        })
        .collect();
    let w = |s: &str| Some(s.to_owned());
    assert_eq!(
        steps[..4],
        [
            ("PENDING".into(), reason::TASK_ENQUEUED.into(), None),
            ("RUNNING".into(), reason::TASK_LEASED.into(), w("doomed-1")),
            (
                "PENDING".into(),
                reason::LEASE_EXPIRED.into(),
                w("rescuer-1")
            ),
            ("RUNNING".into(), reason::TASK_LEASED.into(), w("rescuer-1")),
        ]
    );
    assert_eq!(steps.len(), 5);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_outage_opens_the_breaker_without_burning_tasks_then_it_closes(pool: PgPool) {
    let capture = EventCapture::new();
    let _guard = capture.set_default();
    let clock = ManualClock::new();
    let statuses = StatusLog::new();
    let mut config = fast_config("outage", 1, 0, 9);
    config.provider.failure_rate = 0.0;
    config.provider.outages = Some(OutageWindows {
        every: Duration::from_secs(100),
        duration: Duration::from_secs(50),
    });
    config.agent.breaker = BreakerConfig {
        failure_threshold: 2,
        cooldown: Duration::from_secs(10),
    };
    config.mode = RunMode::UntilStopped;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = Runner::new(config, pool.clone())
        .with_clock(Arc::new(clock.clone()))
        .with_status(Arc::new(statuses.clone()));
    let run = tokio::spawn(
        runner
            .run(async {
                let _ = stopped.await;
            })
            .with_current_subscriber(),
    );

    let breaker_codes = || -> Vec<String> {
        capture
            .events()
            .into_iter()
            .filter(|e| e.operation == "BREAKER")
            .map(|e| e.reason_code)
            .collect()
    };
    // Once the worker is up (its provider's outage clock started), the
    // outage starts, then five tasks arrive.
    eventually(Duration::from_secs(10), "the worker to start", || async {
        !statuses.published().is_empty()
    })
    .await;
    clock.advance(Duration::from_secs(100));
    let queue = Queue::new(pool.clone());
    queue
        .enqueue_all(&workload::tasks(9, "o", 0, 5))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the breaker to open", || async {
        breaker_codes() == [reason::BREAKER_OPENED]
    })
    .await;
    // Open: the worker leases nothing more, so three tasks stay untouched.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let untouched: i64 = sqlx::query_scalar(
        "select count(*) from persona_tasks where status = 'PENDING' and attempts = 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let failed_once: i64 =
        sqlx::query_scalar("select count(*) from persona_tasks where attempts = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    // (Safety-skipped tasks never reach the provider; seed 9 has none in 0..5.)
    assert_eq!((untouched, failed_once), (3, 2));
    let degraded = statuses
        .published()
        .into_iter()
        .find(|s| s.state == WorkerState::Degraded)
        .expect("DEGRADED was published");
    assert!(degraded.breaker.is_open());
    assert_eq!(
        phase1_worker::worker_report(&degraded)
            .circuit_reason
            .as_deref(),
        Some("2 consecutive provider failures, last: outage")
    );

    // Cooldown over, still in the outage: the trial fails, the breaker reopens.
    clock.advance(Duration::from_secs(10));
    eventually(Duration::from_secs(10), "the breaker to reopen", || async {
        breaker_codes().len() == 3
    })
    .await;
    // The outage ends with the next cooldown: the trial succeeds and all drain.
    clock.advance(Duration::from_secs(40));
    eventually(Duration::from_secs(10), "the queue to drain", || {
        let queue = queue.clone();
        async move { queue.unsettled_count().await.unwrap() == 0 }
    })
    .await;
    assert_eq!(
        breaker_codes(),
        [
            reason::BREAKER_OPENED,
            reason::BREAKER_HALF_OPENED,
            reason::BREAKER_REOPENED,
            reason::BREAKER_HALF_OPENED,
            reason::BREAKER_CLOSED
        ]
    );
    let _ = stop.send(());
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.totals.failed, 0);
    let last = statuses.published().pop().unwrap();
    assert_eq!(last.state, WorkerState::Stopped);
    assert!(!last.breaker.is_open());
    let metadata = last.metadata();
    assert_eq!(metadata["route"]["provider"], "simulated");
    assert_eq!(metadata["heartbeatIntervalSeconds"], 0.2);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn stopping_puts_an_unfinished_task_back_and_publishes_stopped(pool: PgPool) {
    let statuses = StatusLog::new();
    let queue = Queue::new(pool.clone());
    queue.enqueue(&workload::task(3, "t", 0)).await.unwrap();
    let mut config = fast_config("stopper", 1, 0, 3);
    config.provider.failure_rate = 0.0;
    config.provider.latency = Duration::from_secs(30);
    config.shutdown_grace = Duration::from_millis(50);
    config.mode = RunMode::UntilStopped;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(
        Runner::new(config, pool.clone())
            .with_status(Arc::new(statuses.clone()))
            .run(async {
                let _ = stopped.await;
            }),
    );
    eventually(Duration::from_secs(10), "the task to be leased", || {
        let queue = queue.clone();
        async move { queue.pending_count().await.unwrap() == 0 }
    })
    .await;
    let _ = stop.send(());
    let summary = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops within the grace period")
        .unwrap()
        .unwrap();
    assert_eq!(summary.totals.put_back, 1);
    let task: (String, String, i32, Option<String>) =
        sqlx::query_as("select status, reason_code, attempts, lease_owner from persona_tasks")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        task,
        (
            "PENDING".into(),
            reason::WORKER_SHUTDOWN_PUT_BACK.into(),
            0,
            None
        )
    );
    let published = statuses.published();
    assert!(published
        .iter()
        .any(|s| s.state == WorkerState::Running && s.current_task_id.is_some()));
    let last = published.last().unwrap();
    assert_eq!(
        (last.state, last.current_task_id),
        (WorkerState::Stopped, None)
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn continuous_mode_enqueues_steadily_until_stopped(pool: PgPool) {
    let mut config = fast_config("steady", 1, 0, 8);
    config.mode = RunMode::Continuous(phase1_worker::ContinuousWorkload {
        tasks_per_second: 50.0,
        max_pending: 5,
    });
    let summary = Runner::new(config, pool.clone())
        .run(tokio::time::sleep(Duration::from_millis(600)))
        .await
        .unwrap();
    let created: i64 = sqlx::query_scalar("select count(*) from persona_tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(summary.enqueued_continuously >= 5, "{summary:?}");
    assert_eq!(summary.enqueued_continuously, created as u64);
    assert!(summary.totals.leased > 0, "{summary:?}");
    assert!(summary.elapsed < Duration::from_secs(5));
}
