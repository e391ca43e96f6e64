//! A Python worker using only the OpenTelemetry SDK, pointed at the OTLP
//! receiver with its token: its GenAI calls on the dashboard's event stream,
//! trends and task page (an external task: the queue does not hold it).

use sqlx::PgPool;
use uuid::Uuid;

use super::browser::*;

#[path = "../../../ingest/tests/common/mod.rs"]
mod receiver;

use ai_runtime_ingest::spawn_status_publisher;
use receiver::{python_client, TestReceiver};

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_python_sdk_workers_calls_reach_the_stream_the_trends_and_the_task_page(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    let task = Uuid::new_v4();
    let mut client = python_client(&receiver, task);
    let output = tokio::task::spawn_blocking(move || client.output().expect("start Python"))
        .await
        .expect("join");
    assert!(
        output.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    receiver.flush();
    // The receiver's status row, as the binary publishes it.
    let publisher = spawn_status_publisher(
        std::sync::Arc::clone(&receiver.receiver),
        "otlp-ingest-1",
        std::time::Duration::from_millis(100),
    );

    let b = Browser::open(pool).await;
    // The event stream, filtered by the task (as a shared link carries it).
    b.goto_signed_in(&format!("?range=1h&taskId={task}")).await;
    let rows = b
        .wait_rows("the Python worker's events", |rows| rows.len() == 3)
        .await;
    let mut reasons: Vec<&str> = rows.iter().filter_map(|r| r["reason"].as_str()).collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        ["PROVIDER_CALL_FAILED", "PROVIDER_CALL_OK", "TOOL_CALL_OK"]
    );
    assert!(
        rows.iter().all(|r| r["worker"] == "py-worker-1"),
        "{rows:?}"
    );
    // The receiver's counts among the health cards: the three GenAI spans
    // accepted, the task span and the database span ignored.
    b.wait_for(
        "the receiver's counts",
        "const row = document.querySelector(\"#receivers tr[data-receiver='otlp-ingest-1']\");
         return !!row && row.querySelector('.accepted').textContent === '3'",
    )
    .await;
    assert_eq!(
        b.texts("#receivers tr[data-receiver='otlp-ingest-1'] .ignored")
            .await,
        ["2"]
    );
    assert_eq!(
        b.texts("#receivers tr[data-receiver='otlp-ingest-1'] .rejected")
            .await,
        ["0"]
    );
    b.assert_accessible("the overview with a receiver").await;
    // The trends: the route's latency line and its cost.
    b.wait_for(
        "the Python worker's route in the trends",
        "return !!document.querySelector(\"#latency-chart .route[data-route='openai/gpt-4o-mini-2024-07-18']\")",
    )
    .await;
    let cost = b.text("#cost-chart-desc").await;
    assert!(
        cost.contains("openai/gpt-4o-mini-2024-07-18: $0.0"),
        "{cost}"
    );

    // The task page: an external task, its two calls.
    b.goto(&format!("/tasks/{task}")).await;
    b.text("#external-task").await;
    b.wait_for(
        "the calls of the Python worker",
        "return document.querySelectorAll('#calls-table tr.call').length === 2",
    )
    .await;
    assert_eq!(
        b.texts("#calls-table tr.call .input-tokens").await[0],
        "120"
    );
    assert!(b.texts("#calls-table tr.call .cost").await[0].starts_with('$'));
    assert_eq!(
        b.js("return document.querySelectorAll('#timeline .timeline-item.event').length")
            .await,
        3
    );
    b.assert_accessible("an external task's page").await;
    b.close().await;
    publisher.abort();
    receiver.shutdown();
}
