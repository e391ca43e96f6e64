//! The README's screenshots, from a running demo.

use fantoccini::Locator;

use super::browser::*;

/// The README's screenshots, taken from a running demo (`./scripts/demo`)
/// after a breaker episode (one every 3 minutes):
/// `DEMO_URL='http://127.0.0.1:8080/admin/ai/runtime#token=…' cargo nextest run
/// -p cross-crate-tests --test dashboard --run-ignored only readme_screenshots`,
/// then copy `target/artifacts/{trends,task-page}.png` to `docs/`.
#[tokio::test]
#[ignore = "needs a running demo: DEMO_URL"]
async fn readme_screenshots_of_the_demo() {
    let url = std::env::var("DEMO_URL").expect("DEMO_URL: the demo's printed URL");
    let (base, fragment) = url.split_once('#').unwrap_or((&url, ""));
    let b = Browser::launch(base.trim_end_matches('/').to_owned()).await;
    b.goto(&format!("?range=15m#{fragment}")).await;
    b.wait_for(
        "a breaker band",
        "return !!document.querySelector('#breaker-chart .band')",
    )
    .await;
    b.wait_rows("the events", |rows| !rows.is_empty()).await;
    b.wait_for(
        "the trends panel laid out",
        "const t = document.querySelector('#trends');
         return !!t && t.getBoundingClientRect().height > 200",
    )
    .await;
    // Below the fold now (the stat cards above it); ChromeDriver shoots
    // only what of an element is inside the viewport.
    b.js("document.querySelector('#trends').scrollIntoView({block: 'start'}); return true")
        .await;
    let trends = b
        .client
        .find(Locator::Css("#trends"))
        .await
        .expect("the trends panel");
    let png = trends.screenshot().await.expect("screenshot");
    let dir = repo_root().join("target/artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    std::fs::write(dir.join("trends.png"), png).expect("write");
    // The page of a task that went through a retry or a fallback, or else the newest.
    b.wait_for(
        "the tasks",
        "return document.querySelectorAll('#tasks-table tr.task').length > 0",
    )
    .await;
    let task = b
        .js(
            "const rows = Array.from(document.querySelectorAll('#tasks-table tr.task'));
             const done = rows.filter(r => ['DONE', 'FAILED'].includes(r.dataset.status));
             return (done[3] || done[0] || rows[0]).dataset.id",
        )
        .await;
    let task = task.as_str().expect("a task id").to_owned();
    b.click(&format!(
        "#tasks-table tr.task[data-id='{task}'] a.task-page"
    ))
    .await;
    b.wait_for(
        "the task's timeline",
        "return document.querySelectorAll('#timeline .timeline-item').length > 0",
    )
    .await;
    b.save_full_page_screenshot("task-page.png").await;
    b.close().await;
}
