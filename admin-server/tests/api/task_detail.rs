//! `GET /tasks/{id}`: the task as the tasks page shows it, its transitions
//! and its events oldest first, the cap on events, 404 and 400.

use ai_runtime_api::MAX_TASK_EVENTS;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{ago, insert_event, insert_task, Event, Task};
use crate::server;

async fn insert_transition(
    pool: &PgPool,
    task: Uuid,
    from: Option<&str>,
    to: &str,
    worker: Option<&str>,
    seconds_ago: i64,
) {
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code, worker_id, metadata, occurred_at) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(task)
    .bind(from)
    .bind(to)
    .bind(format!("TO_{to}"))
    .bind(worker)
    .bind(json!({"attempt": 1}))
    .bind(ago(seconds_ago))
    .execute(pool)
    .await
    .unwrap();
}

fn texts<'a>(items: &'a Value, key: &str) -> Vec<&'a str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap_or("null"))
        .collect()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_tasks_whole_story_oldest_first(pool: PgPool) {
    // A RUNNING task whose lease expired: stuck, as the tasks page says.
    let task = insert_task(
        &pool,
        Task {
            status: "RUNNING",
            lease_owner: Some("worker-2".into()),
            lease_expires_at: Some(ago(30)),
            created_at: ago(600),
            ..Task::default()
        },
    )
    .await;
    let other = insert_task(&pool, Task::default()).await;
    // Written out of order: the answer orders them.
    insert_transition(
        &pool,
        task,
        Some("PENDING"),
        "RUNNING",
        Some("worker-2"),
        300,
    )
    .await;
    insert_transition(&pool, task, None, "PENDING", None, 590).await;
    insert_transition(&pool, other, None, "PENDING", None, 10).await;
    for (reason, seconds_ago) in [
        ("PROVIDER_CALL_OK", 100),
        ("TASK_LEASED", 299),
        ("PROVIDER_RETRY", 200),
    ] {
        insert_event(
            &pool,
            Event {
                reason_code: reason,
                task_id: Some(task),
                occurred_at: ago(seconds_ago),
                metadata: json!({"latency_ms": 12}),
                ..Event::default()
            },
        )
        .await;
    }
    // Another task's event, and an event without a task.
    insert_event(
        &pool,
        Event {
            reason_code: "OTHER_TASK",
            task_id: Some(other),
            ..Event::default()
        },
    )
    .await;
    insert_event(&pool, Event::default()).await;
    let server = server::start(pool.clone()).await;

    let story = server.ok(&format!("tasks/{task}")).await;
    // The task exactly as the tasks page lists it.
    let listed = server.ok("tasks").await["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task.to_string())
        .cloned()
        .unwrap();
    assert_eq!(story["task"], listed);
    assert_eq!(story["task"]["stuck"], true);
    assert_eq!(story["task"]["leaseOwner"], "worker-2");
    assert_eq!(
        story["task"]["latestEvent"]["reasonCode"],
        "PROVIDER_CALL_OK"
    );

    let transitions = &story["transitions"];
    assert_eq!(texts(transitions, "toStatus"), ["PENDING", "RUNNING"]);
    assert_eq!(texts(transitions, "fromStatus"), ["null", "PENDING"]);
    assert_eq!(texts(transitions, "workerId"), ["null", "worker-2"]);
    assert_eq!(
        texts(transitions, "reasonCode"),
        ["TO_PENDING", "TO_RUNNING"]
    );
    assert_eq!(transitions[0]["metadata"], json!({"attempt": 1}));

    let events = &story["events"];
    assert_eq!(
        texts(events, "reasonCode"),
        ["TASK_LEASED", "PROVIDER_RETRY", "PROVIDER_CALL_OK"]
    );
    assert!(texts(events, "taskId")
        .iter()
        .all(|t| *t == task.to_string()));
    assert_eq!(events[0]["metadata"], json!({"latency_ms": 12}));
    assert_eq!(story["eventsTruncated"], false);

    // A task without transitions or events.
    let quiet = insert_task(&pool, Task::default()).await;
    let story = server.ok(&format!("tasks/{quiet}")).await;
    assert_eq!(story["transitions"], json!([]));
    assert_eq!(story["events"], json!([]));
    assert!(story["task"]["latestEvent"].is_null());
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn at_most_the_newest_events(pool: PgPool) {
    let task = insert_task(
        &pool,
        Task {
            status: "DONE",
            created_at: ago(3600),
            ..Task::default()
        },
    )
    .await;
    let extra = 5;
    // One event a second, the oldest first: `seq` 0 is the oldest.
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, metadata, occurred_at) \
         select 'execution', 'TASK', 'STEP', 'e', $1, jsonb_build_object('seq', n), \
                now() - make_interval(secs => 3000 - n) \
         from generate_series(0, $2) n",
    )
    .bind(task)
    .bind(MAX_TASK_EVENTS + extra - 1)
    .execute(&pool)
    .await
    .unwrap();
    let server = server::start(pool).await;
    let story = server.ok(&format!("tasks/{task}")).await;
    let events = story["events"].as_array().unwrap();
    assert_eq!(events.len(), MAX_TASK_EVENTS as usize);
    assert_eq!(story["eventsTruncated"], true);
    // The newest kept, still oldest first.
    assert_eq!(events[0]["metadata"]["seq"], extra);
    assert_eq!(
        events.last().unwrap()["metadata"]["seq"],
        MAX_TASK_EVENTS + extra - 1
    );
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn unknown_is_404_and_malformed_is_a_400_naming_id(pool: PgPool) {
    let task = insert_task(&pool, Task::default()).await;
    let server = server::start(pool).await;
    let (status, body) = server.api(&format!("tasks/{}", Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found");
    for raw in [
        "not-a-uuid",
        "1",
        "%00",
        &format!("{task}%00"),
        "%FF%FE",
        &"a".repeat(2000),
    ] {
        server.bad(&format!("tasks/{raw}"), "id").await;
    }
    // Unknown query parameters are ignored, as elsewhere.
    server.ok(&format!("tasks/{task}?unknown=%00")).await;
    // The guard first.
    let (status, _) = server.api_as(&format!("tasks/{task}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .api_as(&format!("tasks/{task}"), Some("Bearer wrong"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn each_provider_call_with_its_model_tokens_cost_and_duration(pool: PgPool) {
    let task = insert_task(
        &pool,
        Task {
            status: "RUNNING",
            created_at: ago(300),
            ..Task::default()
        },
    )
    .await;
    let event = |code: &'static str, entity: &str, seconds: i64, metadata: Value| Event {
        reason_code: code,
        entity_id: entity.into(),
        task_id: Some(task),
        occurred_at: ago(seconds),
        metadata,
        ..Event::default()
    };
    // A call captured from a GenAI span, priced.
    let captured = insert_event(
        &pool,
        event(
            "PROVIDER_CALL_OK",
            "openai/gpt-4o-mini",
            60,
            json!({
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 9, "cost_usd": 0.0000117, "latency_ms": 812.5}),
        ),
    )
    .await;
    // A hand-written call, short names, unpriced; a failed captured one.
    let hand = insert_event(
        &pool,
        event(
            "PROVIDER_CALL_OK",
            "sim/fast",
            50,
            json!({
        "model": "fast", "input_tokens": 7, "output_tokens": 3, "latency_ms": 12}),
        ),
    )
    .await;
    let failed = insert_event(
        &pool,
        event(
            "PROVIDER_CALL_FAILED",
            "openai/gpt-4o-mini",
            40,
            json!({
        "gen_ai.request.model": "gpt-4o-mini", "error.type": "429", "latency_ms": 3.25}),
        ),
    )
    .await;
    // Not calls: a tool call and the routes-exhausted summary.
    insert_event(
        &pool,
        Event {
            layer: "tool_runtime",
            operation: "TOOL_CALL",
            reason_code: "TOOL_CALL_OK",
            ..event("TOOL_CALL_OK", "lookup_order", 45, json!({"latency_ms": 1}))
        },
    )
    .await;
    insert_event(
        &pool,
        event("PROVIDER_ROUTES_EXHAUSTED", "sim", 30, json!({})),
    )
    .await;

    let server = server::start(pool.clone()).await;
    let body = server.ok(&format!("tasks/{task}")).await;
    let calls = body["calls"].as_array().unwrap();
    let summary: Vec<Value> = calls
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("occurredAt");
            c
        })
        .collect();
    assert_eq!(
        summary,
        [
            json!({"eventId": captured, "route": "openai/gpt-4o-mini", "model": "gpt-4o-mini-2024-07-18",
                   "inputTokens": 42, "outputTokens": 9, "costUsd": 0.0000117, "durationMs": 812.5,
                   "reasonCode": "PROVIDER_CALL_OK", "failed": false}),
            json!({"eventId": hand, "route": "sim/fast", "model": "fast", "inputTokens": 7,
                   "outputTokens": 3, "costUsd": null, "durationMs": 12.0,
                   "reasonCode": "PROVIDER_CALL_OK", "failed": false}),
            json!({"eventId": failed, "route": "openai/gpt-4o-mini", "model": "gpt-4o-mini",
                   "inputTokens": null, "outputTokens": null, "costUsd": null, "durationMs": 3.25,
                   "reasonCode": "PROVIDER_CALL_FAILED", "failed": true}),
        ]
    );
    // Each call is one of the task's events.
    assert_eq!(body["events"].as_array().unwrap().len(), 5);
    server.stop().await;
}

/// A task id the queue does not hold but events carry (an external worker
/// sending through OTLP): its events and calls over the last week, no facts,
/// no transitions; events older than that week are not looked for.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_external_task_is_its_events_of_the_last_week(pool: PgPool) {
    let external = Uuid::new_v4();
    for (code, seconds) in [("PROVIDER_CALL_OK", 120), ("TOOL_CALL_OK", 60)] {
        insert_event(
            &pool,
            Event {
                reason_code: code,
                layer: if code == "TOOL_CALL_OK" {
                    "tool_runtime"
                } else {
                    "provider_runtime"
                },
                operation: if code == "TOOL_CALL_OK" {
                    "TOOL_CALL"
                } else {
                    "CALL"
                },
                entity_id: "openai/gpt-4o-mini".into(),
                task_id: Some(external),
                worker_id: Some("py-worker-1".into()),
                occurred_at: ago(seconds),
                metadata: json!({"gen_ai.usage.input_tokens": 120, "cost_usd": 0.0002}),
            },
        )
        .await;
    }
    let server = server::start(pool.clone()).await;
    let detail = server.ok(&format!("tasks/{external}")).await;
    assert_eq!(detail["task"], Value::Null, "{detail}");
    assert_eq!(detail["transitions"], json!([]));
    assert_eq!(
        texts(&detail["events"], "reasonCode"),
        ["PROVIDER_CALL_OK", "TOOL_CALL_OK"]
    );
    assert_eq!(detail["calls"][0]["inputTokens"], 120);
    assert_eq!(detail["calls"][0]["costUsd"], 0.0002);

    // Only older than the week: nothing knows the task.
    let old = Uuid::new_v4();
    insert_event(
        &pool,
        Event {
            task_id: Some(old),
            occurred_at: ago(8 * 86_400),
            ..Event::default()
        },
    )
    .await;
    let (status, body) = server.api(&format!("tasks/{old}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    server.stop().await;
}
