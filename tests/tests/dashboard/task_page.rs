//! A task's page: deep links, links to it, an unknown task, reloading.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::browser::*;
use super::seed::*;

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_tasks_page_from_a_deep_link_the_tasks_panel_and_an_event_row(pool: PgPool) {
    let seeded = seed(&pool).await;
    let failed = seeded.failed_task;
    // The failed task's earlier transitions: created by the queue, leased by worker-b.
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code, worker_id, occurred_at) values \
         ($1, null, 'PENDING', 'TASK_ENQUEUED', null, now() - interval '320 seconds'), \
         ($1, 'PENDING', 'RUNNING', 'TASK_LEASED', 'worker-b', now() - interval '310 seconds')",
    )
    .bind(failed)
    .execute(&pool)
    .await
    .expect("insert transitions");
    let b = Browser::open(pool).await;

    // A deep link, signed in by the fragment.
    b.goto_signed_in(&format!("/tasks/{failed}?range=15m"))
        .await;
    let first_render = b.ms_until("#timeline .timeline-item").await;
    println!("task page: first render with data {first_render:.0} ms after navigation start");
    b.wait_task_page(failed, 3).await;
    let status = b.text("#task-facts .status").await;
    assert!(status.contains("FAILED"), "{status}");
    assert_eq!(
        b.text("#task-facts .reason").await,
        "PROVIDER_EXHAUSTED: every provider route failed"
    );
    assert_eq!(b.text("#task-facts .attempts").await, "1 of 3");
    assert_eq!(
        b.texts("#transitions-table tr.transition .change").await,
        [
            "created as PENDING",
            "PENDING → RUNNING",
            "PENDING → FAILED"
        ]
    );
    assert_eq!(
        b.texts("#transitions-table tr.transition .by").await,
        ["the queue (no worker)", "worker-b", "the queue (no worker)"]
    );
    // One timeline, oldest first: transitions and events interleaved by time.
    let kinds: Vec<String> = match b
        .js("return Array.from(document.querySelectorAll('#timeline .timeline-item')).map(e => e.classList.contains('event') ? e.querySelector('.reason').textContent : 'transition')")
        .await
    {
        Value::Array(items) => items.iter().map(|i| i.as_str().unwrap_or_default().to_owned()).collect(),
        other => panic!("{other}"),
    };
    assert_eq!(
        kinds,
        [
            "transition",
            "transition",
            "PROVIDER_RETRY",
            "PROVIDER_FALLBACK",
            "TASK_FAILED",
            "transition"
        ]
    );
    // The range of the link is kept for the way back.
    assert!(b.query().await.contains("range=15m"));
    b.assert_accessible("the task page").await;

    // Back to the overview by its link, then a task's page from the tasks panel.
    b.click("#back-to-overview").await;
    b.wait_rows("the overview's events", |rows| !rows.is_empty())
        .await;
    assert_eq!(b.path().await, "/admin/ai/runtime");
    assert!(b.query().await.contains("range=15m"));
    let stuck = seeded.stuck_task;
    b.click(&format!(
        "#tasks-table tr.task[data-id='{stuck}'] a.task-page"
    ))
    .await;
    b.wait_task_page(stuck, 5).await;
    assert!(b.text("#task-facts .status").await.contains("STUCK"));
    assert_eq!(
        b.text("#task-facts .lease").await.split(',').next(),
        Some("worker-a")
    );

    // Back and forward between the overview and the task's page.
    b.client.back().await.expect("back");
    b.wait_rows("the overview after back", |rows| !rows.is_empty())
        .await;
    assert_eq!(b.path().await, "/admin/ai/runtime");
    b.client.forward().await.expect("forward");
    b.wait_task_page(stuck, 5).await;
    b.client.back().await.expect("back");

    // From an event row: the task cell links to the task's page.
    b.wait_rows("the overview again", |rows| !rows.is_empty())
        .await;
    b.click(&format!(
        "#events-table tr.event a.task-link[href*='{failed}']"
    ))
    .await;
    b.wait_task_page(failed, 3).await;

    // An unknown task: the page says so (404); a path that is no page too.
    b.goto(&format!("/tasks/{}", Uuid::new_v4())).await;
    let error = b.text("#task-page [role=alert]").await;
    assert!(error.contains("404"), "{error}");
    b.goto("/tasks/not-a-task").await;
    b.text("#not-found").await;
    b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_task_page_says_why_it_has_no_story_and_keeps_it_while_reloading(pool: PgPool) {
    let b = Browser::open(pool.clone()).await;
    // A task that does not exist (yet): the error boundary says 404, no story.
    let task = Uuid::new_v4();
    b.goto_signed_in(&format!("/tasks/{task}?poll=250")).await;
    let error = b.text("#task-page [role=alert]").await;
    assert!(error.contains("404"), "{error}");
    assert_eq!(
        b.js("return document.querySelector('#task-facts') === null")
            .await,
        json!(true)
    );
    b.assert_accessible("a task page's error").await;

    // The task appears: a later poll's answer replaces the error with the story.
    sqlx::query(
        "insert into persona_tasks (id, persona_id, kind, idempotency_key) \
         values ($1, gen_random_uuid(), 'probe', 'probe')",
    )
    .bind(task)
    .execute(&pool)
    .await
    .expect("insert task");
    b.wait_for(
        "the story in place of the error",
        "return !!document.querySelector('#task-facts') && !document.querySelector('#task-page [role=alert]')",
    )
    .await;
    assert!(b.text("#task-facts .status").await.contains("PENDING"));

    // Reloaded every 250 ms, the story never leaves the screen (the
    // transition keeps it while the next one loads; watched every 5 ms),
    // and a new transition shows up in place.
    b.js("window.storyGaps = 0; window.storyWatch = setInterval(() => { if (!document.querySelector('#task-facts') || document.querySelector('#task-page .loading')) window.storyGaps++; }, 5); return null")
        .await;
    let before = b.texts("#transitions-table tr.transition").await.len();
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code) \
         values ($1, 'PENDING', 'RUNNING', 'TASK_LEASED')",
    )
    .bind(task)
    .execute(&pool)
    .await
    .expect("insert transition");
    b.wait_for(
        "the new transition",
        &format!(
            "return document.querySelectorAll('#transitions-table tr.transition').length === {}",
            before + 1
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        b.js("clearInterval(window.storyWatch); return window.storyGaps")
            .await,
        json!(0),
        "the story was off the screen while reloading"
    );
    b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_tasks_provider_calls_show_their_tokens_and_cost_and_the_trends_the_routes_cost(
    pool: PgPool,
) {
    let task = Uuid::new_v4();
    sqlx::query(
        "insert into persona_tasks (id, persona_id, kind, idempotency_key) \
         values ($1, gen_random_uuid(), 'agent', 'calls')",
    )
    .bind(task)
    .execute(&pool)
    .await
    .expect("insert task");
    // As the layer writes a captured GenAI span: one priced call, then one
    // that failed before the provider said what it cost.
    for (reason, age, metadata) in [
        (
            "PROVIDER_CALL_OK",
            90.0,
            json!({"gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                   "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
                   "cost_usd": 0.00042, "latency_ms": 812.0}),
        ),
        (
            "PROVIDER_CALL_FAILED",
            60.0,
            json!({"gen_ai.request.model": "gpt-4o-mini", "error.type": "429", "latency_ms": 95.0}),
        ),
    ] {
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, worker_id, \
             metadata, occurred_at) values ('provider_runtime', 'CALL', $1, 'openai/gpt-4o-mini', $2, \
             'rig-agent-1', $3, now() - make_interval(secs => $4))",
        )
        .bind(reason)
        .bind(task)
        .bind(metadata)
        .bind(age)
        .execute(&pool)
        .await
        .expect("insert call");
    }
    let b = Browser::open(pool).await;
    b.goto_signed_in(&format!("/tasks/{task}")).await;
    b.wait_for(
        "the calls table",
        "return document.querySelectorAll('#calls-table tr.call').length === 2",
    )
    .await;
    assert_eq!(
        b.texts("#calls-table tr.call .model").await,
        ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"],
        "the model that answered, else the one asked for"
    );
    assert_eq!(
        b.texts("#calls-table tr.call .input-tokens").await,
        ["1200", "—"]
    );
    assert_eq!(
        b.texts("#calls-table tr.call .cost").await,
        ["$0.0004", "unpriced"]
    );
    assert!(b.texts("#calls-table tr.call .outcome").await[1].contains("PROVIDER_CALL_FAILED"));
    let summary = b.text("#calls-summary").await;
    assert!(
        summary.contains("2 calls, 1 failed; 1200 input and 300 output tokens; $0.0004 in all")
            && summary.contains("1 unpriced"),
        "{summary}"
    );
    b.assert_accessible("a task page with provider calls").await;

    // The overview's trends add the route's cost up.
    b.goto("").await;
    b.wait_for(
        "the route's cost in the trends",
        "const d = document.querySelector('#cost-chart-desc'); return !!d && d.textContent.includes('openai/gpt-4o-mini: $0.0004 over 2 calls')",
    )
    .await;
    b.text("#cost-chart .route[data-route='openai/gpt-4o-mini']")
        .await;
    b.close().await;
}
