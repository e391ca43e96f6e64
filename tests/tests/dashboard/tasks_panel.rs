//! The recent tasks panel's filters.

use serde_json::json;
use sqlx::PgPool;

use super::browser::*;
use super::seed::*;

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_tasks_filters_live_in_the_url_and_follow_back(pool: PgPool) {
    let seeded = seed(&pool).await;
    let b = Browser::open(pool).await;
    b.goto_signed_in("").await;
    let all = "return document.querySelectorAll('#tasks-table tr.task').length === 5";
    b.wait_for("every task", all).await;

    b.select("#t-status", "FAILED").await;
    b.wait_for("the failed task", &only_task_row(seeded.failed_task))
        .await;
    assert!(b.query().await.contains("taskStatus=FAILED"));
    b.select("#t-status", "").await;
    b.wait_for("every task again", all).await;
    b.click("#t-stuck").await;
    b.wait_for("the stuck task", &only_task_row(seeded.stuck_task))
        .await;
    assert!(b.query().await.contains("stuck=true"));

    // Back and forward: the table and the form follow the URL.
    b.client.back().await.expect("back");
    b.wait_for("every task after back", all).await;
    assert_eq!(
        b.js("return document.querySelector('#t-stuck').checked")
            .await,
        json!(false)
    );
    b.client.back().await.expect("back");
    b.wait_for(
        "the failed task after back",
        &only_task_row(seeded.failed_task),
    )
    .await;
    assert_eq!(b.value("#t-status").await, "FAILED");
    b.client.forward().await.expect("forward");
    b.client.forward().await.expect("forward");
    b.wait_for(
        "the stuck task after forward",
        &only_task_row(seeded.stuck_task),
    )
    .await;
    assert_eq!(
        b.js("return document.querySelector('#t-stuck').checked")
            .await,
        json!(true)
    );
    b.close().await;
}
