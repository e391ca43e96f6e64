//! The evaluator against real Postgres and a real HTTP receiver on loopback.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use sqlx::PgPool;

use super::*;
use crate::alert_state::Transition;

/// What the receiver does with one request.
#[derive(Clone, Copy)]
enum Answer {
    Ok,
    Fail,
    Hang,
}

#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    /// Starts a receiver answering with `script`, then 200s; returns its URL.
    async fn start(script: &[Answer]) -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend(script);
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (at most 5 s), then returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            if self.bodies().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.bodies()
    }
}

async fn receive(State(r): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
    r.bodies.lock().unwrap().push(body);
    let answer = r.script.lock().unwrap().pop_front().unwrap_or(Answer::Ok);
    match answer {
        Answer::Ok => StatusCode::OK,
        Answer::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
    }
}

fn options(url: &str) -> AlertOptions {
    AlertOptions {
        thresholds: AlertThresholds {
            breaker_open_for: Duration::from_millis(1500),
            ..AlertThresholds::default()
        },
        webhook_url: Some(url.to_owned()),
        dashboard_url: Some("http://admin.example/admin/ai/runtime".into()),
        webhook_timeout: Duration::from_secs(30),
        webhook_backoff: Duration::from_millis(50),
        ..AlertOptions::default()
    }
}

async fn worker(pool: &PgPool, id: &str, circuit_open: bool) {
    sqlx::query(
        "insert into ai_worker_status (worker_id, agent_type, status, circuit_open, circuit_reason, \
         last_heartbeat, metadata) values ($1, 'test', 'RUNNING', $2, 'BREAKER_OPENED', now(), \
         '{\"heartbeatIntervalSeconds\": 10}') \
         on conflict (worker_id) do update set circuit_open = excluded.circuit_open, \
         last_heartbeat = now(), updated_at = now()",
    )
    .bind(id)
    .bind(circuit_open)
    .execute(pool)
    .await
    .unwrap();
}

/// A RUNNING task whose lease expired: STUCK_TASKS holds at once.
async fn stuck_task(pool: &PgPool) {
    sqlx::query(
        "insert into persona_tasks (persona_id, kind, status, lease_owner, lease_expires_at, idempotency_key) \
         values (gen_random_uuid(), 'reply', 'RUNNING', 'w', now() - interval '1 minute', gen_random_uuid()::text)",
    )
    .execute(pool)
    .await
    .unwrap();
}

fn evaluated(tick: Tick) -> Vec<Notice> {
    match tick {
        Tick::Evaluated(notices) => notices,
        Tick::Standby => panic!("expected to evaluate, got standby"),
    }
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_breaker_held_open_fires_once_and_resolves_once(pool: PgPool) {
    worker(&pool, "worker-a", false).await;
    worker(&pool, "worker-b", true).await;
    let (receiver, url) = Receiver::start(&[]).await;
    let mut evaluator = Evaluator::new(pool.clone(), Thresholds::default(), options(&url));

    // Seen open, not yet for long enough: pending, nothing sent.
    assert!(evaluated(evaluator.tick().await.unwrap()).is_empty());
    let mut conn = pool.acquire().await.unwrap();
    let status = crate::status::compute(&mut conn, &Thresholds::default(), 15)
        .await
        .unwrap();
    assert!(status.alerts.is_empty(), "a pending alert is not shown");

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let fired = evaluated(evaluator.tick().await.unwrap());
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].transition, Transition::Fired);
    assert_eq!(fired[0].kind, AlertKind::BreakerOpen);
    assert_eq!(fired[0].subject, "worker-b");
    assert!(fired[0].value >= 1.5, "seconds open: {}", fired[0].value);

    // Later evaluations while it stays open send nothing more.
    for _ in 0..3 {
        assert!(evaluated(evaluator.tick().await.unwrap()).is_empty());
    }
    let status = crate::status::compute(&mut conn, &Thresholds::default(), 15)
        .await
        .unwrap();
    assert_eq!(status.alerts.len(), 1);
    assert_eq!(status.alerts[0].alert, AlertKind::BreakerOpen);
    assert_eq!(status.alerts[0].worker_id.as_deref(), Some("worker-b"));

    worker(&pool, "worker-b", false).await;
    let resolved = evaluated(evaluator.tick().await.unwrap());
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].transition, Transition::Resolved);
    assert!(evaluated(evaluator.tick().await.unwrap()).is_empty());

    let bodies = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bodies_after = receiver.bodies();
    assert_eq!(
        bodies_after.len(),
        2,
        "exactly one call each: {bodies_after:?}"
    );
    let (fire, resolve) = (&bodies[0], &bodies[1]);
    assert_eq!(fire["status"], "firing");
    assert_eq!(fire["alert"], "BREAKER_OPEN");
    assert_eq!(fire["worker"], "worker-b");
    assert_eq!(
        fire["dashboardUrl"],
        "http://admin.example/admin/ai/runtime"
    );
    assert!(fire["since"].as_str().unwrap().ends_with('Z'));
    assert!(fire["value"].as_f64().unwrap() >= 1.5);
    let text = fire["text"].as_str().unwrap();
    assert!(
        text.starts_with("[FIRING] BREAKER_OPEN worker-b: circuit breaker of worker-b open for ")
            && text.contains(" s: BREAKER_OPENED (since ")
            && text.ends_with("<http://admin.example/admin/ai/runtime|dashboard>"),
        "{text}"
    );
    assert_eq!(resolve["status"], "resolved");
    assert_eq!(resolve["alert"], "BREAKER_OPEN");
    assert!(resolve["text"]
        .as_str()
        .unwrap()
        .starts_with("[RESOLVED] BREAKER_OPEN worker-b"));
    let status = crate::status::compute(&mut conn, &Thresholds::default(), 15)
        .await
        .unwrap();
    assert!(status.alerts.is_empty());
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_failed_post_is_retried_with_backoff(pool: PgPool) {
    worker(&pool, "worker-a", false).await;
    stuck_task(&pool).await;
    let (receiver, url) = Receiver::start(&[Answer::Fail, Answer::Fail]).await;
    let mut evaluator = Evaluator::new(pool.clone(), Thresholds::default(), options(&url));
    let fired = evaluated(evaluator.tick().await.unwrap());
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].kind, AlertKind::StuckTasks);
    let bodies = receiver.wait_for(3).await;
    assert_eq!(bodies.len(), 3, "two 500s, then delivered: {bodies:?}");
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "the same notice each time"
    );
    assert_eq!(bodies[0]["alert"], "STUCK_TASKS");
    assert_eq!(bodies[0]["value"], 1.0);
    let counts = evaluator.notifier().counts();
    for _ in 0..50 {
        if counts.sent.load(Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counts.sent.load(Ordering::Relaxed), 1);
    assert_eq!(counts.failed.load(Ordering::Relaxed), 0);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_hanging_receiver_delays_nothing_else(pool: PgPool) {
    worker(&pool, "worker-a", false).await;
    stuck_task(&pool).await;
    let (receiver, url) = Receiver::start(&[Answer::Hang]).await;
    let mut evaluator = Evaluator::new(pool.clone(), Thresholds::default(), options(&url));
    let server = crate::app(
        crate::AppConfig {
            admin_token: Some("t".into()),
            ..crate::AppConfig::default()
        },
        pool.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await });

    assert_eq!(evaluated(evaluator.tick().await.unwrap()).len(), 1);
    receiver.wait_for(1).await;
    // The receiver now holds the request; evaluations and requests go on.
    worker(&pool, "worker-b", true).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let started = Instant::now();
        evaluator.tick().await.unwrap();
        let status = client
            .get(format!("{base}/api/admin/ai/runtime/status"))
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, reqwest::StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "an evaluation and a request took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(receiver.bodies().len(), 1, "still waiting on the first");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn one_server_evaluates_and_another_takes_over(pool: PgPool) {
    worker(&pool, "worker-a", false).await;
    stuck_task(&pool).await;
    let (receiver, url) = Receiver::start(&[]).await;
    // Two servers: each its own pool over the same database.
    let pool_b = crate::pool_options()
        .max_connections(2)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let mut a = Evaluator::new(pool.clone(), Thresholds::default(), options(&url));
    let mut b = Evaluator::new(pool_b.clone(), Thresholds::default(), options(&url));
    assert_eq!(evaluated(a.tick().await.unwrap()).len(), 1);
    for _ in 0..3 {
        assert!(matches!(b.tick().await.unwrap(), Tick::Standby));
        assert!(evaluated(a.tick().await.unwrap()).is_empty());
    }
    // The leader goes away (its connection with it): the other takes over,
    // and does not send the firing alert again.
    drop(a);
    let mut took_over = None;
    for _ in 0..50 {
        match b.tick().await.unwrap() {
            Tick::Evaluated(notices) => {
                took_over = Some(notices);
                break;
            }
            Tick::Standby => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(took_over.expect("b took over"), vec![]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.bodies().len(), 1, "{:?}", receiver.bodies());
    pool_b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn without_a_webhook_alerts_go_to_the_log(pool: PgPool) {
    worker(&pool, "worker-a", false).await;
    stuck_task(&pool).await;
    let mut evaluator =
        Evaluator::new(pool.clone(), Thresholds::default(), AlertOptions::default());
    assert_eq!(evaluated(evaluator.tick().await.unwrap()).len(), 1);
    let counts = evaluator.notifier().counts();
    for _ in 0..50 {
        if counts.sent.load(Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counts.sent.load(Ordering::Relaxed), 1);
}
