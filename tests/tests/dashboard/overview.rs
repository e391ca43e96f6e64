//! The overview's cards, queue and tasks, and host strings shown as text.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::browser::*;
use super::seed::*;

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn cards_show_workers_breakers_and_the_queue(pool: PgPool) {
    let seeded = seed(&pool).await;
    let b = Browser::open(pool).await;
    // A time range, which the queue's links keep (it is the page's, not a panel's).
    b.goto_signed_in("?range=24h").await;
    let first_render = b.ms_until("#events-table tr.event").await;
    println!("overview: first render with data {first_render:.0} ms after navigation start");

    let overall = b.text("#overall").await;
    assert!(overall.contains("DEGRADED"), "overall card: {overall}");
    assert!(
        overall.contains("worker-b"),
        "the open breaker is a reason: {overall}"
    );
    let breaker_b = b.text("[data-worker='worker-b'] .breaker").await;
    assert!(
        breaker_b.contains("OPEN") && breaker_b.contains("5 consecutive provider failures"),
        "{breaker_b}"
    );
    assert_eq!(
        b.text("[data-worker='worker-b'] .worker-state").await,
        "DEGRADED"
    );
    assert!(b
        .text("[data-worker='worker-a'] .breaker")
        .await
        .contains("closed"));
    assert_eq!(
        b.text("[data-worker='worker-a'] .worker-state").await,
        "RUNNING"
    );
    let heartbeat_c = b.text("[data-worker='worker-c'] .heartbeat").await;
    assert!(
        heartbeat_c.contains("10 min ago") && heartbeat_c.contains("STALE"),
        "{heartbeat_c}"
    );
    assert!(!b
        .text("[data-worker='worker-a'] .heartbeat")
        .await
        .contains("STALE"));
    assert_eq!(
        b.text("#active-route .state").await,
        "sim-primary / sim-large"
    );
    assert!(b.text("#dropped-events").await.contains("5 dropped"));
    let alerts = b.text("#alerts").await;
    assert!(
        alerts.contains(
            "BREAKER_OPEN: circuit breaker of worker-b open for 300 s: 5 consecutive provider failures (since"
        ),
        "the firing alert: {alerts}"
    );

    // Active statuses count what is in them now; finished ones what
    // finished within the window, and say so.
    for (status, count) in [
        ("PENDING", "1 now"),
        ("RUNNING", "1 now"),
        ("IN_REVIEW", "0 now"),
        ("DONE", "1 in the last 15 min"),
        ("SKIPPED", "1 in the last 15 min"),
        ("FAILED", "1 in the last 15 min"),
    ] {
        assert_eq!(
            b.text(&format!("#queue tr[data-status='{status}'] .count"))
                .await,
            count,
            "{status}"
        );
    }
    assert!(b.text("#stuck-summary").await.contains("1 stuck tasks"));

    // The stuck count links to the stuck tasks.
    b.wait_for(
        "the tasks table",
        "return document.querySelectorAll('#tasks-table tr.task').length === 5",
    )
    .await;
    b.click("#stuck-summary a").await;
    let stuck_row = format!("return (() => {{ const rows = document.querySelectorAll('#tasks-table tr.task'); return rows.length === 1 && rows[0].dataset.id === '{}'; }})()", seeded.stuck_task);
    b.wait_for("only the stuck task", &stuck_row).await;
    let query = b.query().await;
    assert!(
        query.contains("stuck=true") && query.contains("range=24h"),
        "{query}"
    );
    assert!(b
        .text("#tasks-table tr.task .stuck-flag")
        .await
        .contains("STUCK"));

    // The queue's FAILED count links to the failed tasks.
    b.click("#queue tr[data-status='FAILED'] a").await;
    let failed_row = format!("return (() => {{ const rows = document.querySelectorAll('#tasks-table tr.task'); return rows.length === 1 && rows[0].dataset.id === '{}'; }})()", seeded.failed_task);
    b.wait_for("only the failed task", &failed_row).await;
    assert!(b.query().await.contains("taskStatus=FAILED"));

    // The README's screenshot: the last 15 minutes of events.
    b.goto("?range=15m").await;
    b.wait_rows("the last 15 minutes", |rows| {
        seeded.last_15_min().contains(&rows.len())
    })
    .await;
    b.wait_for(
        "the tasks",
        "return document.querySelectorAll('#tasks-table tr.task').length === 5",
    )
    .await;
    b.assert_accessible("the overview").await;
    let shot = b.save_full_page_screenshot("dashboard.png").await;
    assert!(std::fs::metadata(&shot).expect("screenshot").len() > 10_000);
    b.close().await;
}

/// Strings the hosts write (worker ids, circuit reasons, agent types, task
/// reasons, transition workers, event columns, routes) reach the panels
/// written as markup escaped: shown as text, never parsed as HTML or run.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn host_strings_are_shown_as_text_never_run(pool: PgPool) {
    const EVIL: &str = r#"<img src=x onerror="window.__xss=1">"#;
    let worker = format!("w{EVIL}");
    sqlx::query(
        "insert into ai_worker_status (worker_id, agent_type, status, circuit_open, circuit_reason, \
         last_heartbeat, metadata) values ($1, $2, 'DEGRADED', true, $2, now(), $3)",
    )
    .bind(&worker)
    .bind(EVIL)
    .bind(json!({"route": {"provider": EVIL, "model": EVIL}, "heartbeatIntervalSeconds": 10}))
    .execute(&pool)
    .await
    .expect("insert worker");
    let task: Uuid = sqlx::query_scalar(
        "insert into persona_tasks (persona_id, kind, status, reason_code, reason, idempotency_key) \
         values (gen_random_uuid(), $1, 'FAILED', $1, $1, 'evil') returning id",
    )
    .bind(EVIL)
    .fetch_one(&pool)
    .await
    .expect("insert task");
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code, worker_id) \
         values ($1, 'RUNNING', 'FAILED', $2, $3)",
    )
    .bind(task)
    .bind(EVIL)
    .bind(&worker)
    .execute(&pool)
    .await
    .expect("insert transition");
    for (layer, operation, reason) in [
        ("provider_runtime", "CALL", EVIL),
        ("worker", "HEARTBEAT", "WORKER_CIRCUIT_OPENED"),
    ] {
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, \
             worker_id, metadata, occurred_at) values ($1, $2, $3, $4, $5, $6, $7, now())",
        )
        .bind(layer)
        .bind(operation)
        .bind(reason)
        .bind(EVIL)
        .bind(task)
        .bind(&worker)
        .bind(json!({"latency_ms": 12, "note": EVIL, "circuit_reason": EVIL}))
        .execute(&pool)
        .await
        .expect("insert event");
    }
    let b = Browser::open(pool).await;
    let injected = "return window.__xss === undefined \
        && document.querySelectorAll('main img, #app img, body img').length === 0";

    b.goto_signed_in("?range=1h").await;
    b.wait_rows("the events", |rows| rows.len() == 2).await;
    b.wait_for(
        "the worker card",
        "return document.querySelectorAll('.card.worker').length === 1",
    )
    .await;
    b.wait_for(
        "the task row",
        "return document.querySelectorAll('#tasks-table tr.task').length === 1",
    )
    .await;
    b.wait_for(
        "the breaker band",
        "return !!document.querySelector('#breaker-chart .band')",
    )
    .await;
    assert_eq!(b.js(injected).await, json!(true), "markup was injected");
    let card = b.text(".card.worker").await;
    assert!(card.contains(&worker) && card.contains(EVIL), "{card}");
    assert!(b.text("#tasks-table").await.contains(EVIL));
    assert!(b.text("#breaker-chart-desc").await.contains(&worker));

    b.goto_signed_in(&format!("/tasks/{task}")).await;
    b.wait_for(
        "the task's timeline",
        "return document.querySelectorAll('#timeline .timeline-item').length > 0",
    )
    .await;
    assert_eq!(b.js(injected).await, json!(true), "markup was injected");
    assert!(b.text("#task-facts").await.contains(EVIL));
    assert!(b.text("#transitions-table").await.contains(&worker));
    b.close().await;
}
