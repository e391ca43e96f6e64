//! The event stream: filters in the URL, older pages, metadata, polling.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::PgPool;

use super::browser::*;
use super::seed::*;

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn each_filter_narrows_the_stream_and_lives_in_the_url(pool: PgPool) {
    let seeded = seed(&pool).await;
    // A custom range, as a shared link carries it: events 250 to 400 s old when seeded.
    let (from, to): (String, String) = sqlx::query_as(
        "select to_char((now() - interval '400 seconds') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                to_char((now() - interval '250 seconds') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )
    .fetch_one(&pool)
    .await
    .expect("bounds");
    let failed = seeded.failed_task.to_string();
    let b = Browser::open(pool).await;
    b.goto_signed_in("").await;
    b.wait_rows("the first page", |rows| rows.len() == PAGE)
        .await;
    // The default range is the last 24 hours (a bounded range reads only
    // its days of the events table); "any time" is one choice away.
    assert_eq!(b.value("#f-range").await, "24h");
    b.select("#f-range", "any").await;
    b.click("#apply-filters").await;
    b.wait_for(
        "range=any in the URL",
        "return location.search.includes('range=any')",
    )
    .await;
    b.wait_rows("any time", |rows| rows.len() == PAGE).await;
    b.goto_signed_in("").await;
    b.wait_rows("the first page again", |rows| rows.len() == PAGE)
        .await;

    enum Input {
        Select(&'static str),
        Text(&'static str),
    }
    let cases: [(Input, &str, &str, &str, usize); 6] = [
        (
            Input::Select("#f-layer"),
            "provider_runtime",
            "layer",
            "layer",
            3,
        ),
        (
            Input::Select("#f-operation"),
            "BREAKER",
            "operation",
            "operation",
            1,
        ),
        (
            Input::Text("#f-reason"),
            "TASK_FAILED",
            "reasonCode",
            "reason",
            1,
        ),
        (
            Input::Text("#f-entity"),
            "sim-primary/sim-large",
            "entityId",
            "entity",
            2,
        ),
        (Input::Text("#f-task"), &failed, "taskId", "task", 3),
        (
            Input::Text("#f-worker"),
            "worker-b",
            "workerId",
            "worker",
            4,
        ),
    ];
    for (input, value, key, column, expected) in cases {
        let css = match input {
            Input::Select(css) => {
                b.select(css, value).await;
                css
            }
            Input::Text(css) => {
                b.type_into(css, value).await;
                css
            }
        };
        match input {
            Input::Select(_) => b.click("#apply-filters").await,
            // Enter in a text field applies the filters (keyboard use).
            Input::Text(_) => b.press_enter(css).await,
        }
        let what = format!("{key}={value} to narrow the table to {expected} rows");
        b.wait_rows(&what, |rows| {
            rows.len() == expected && all(rows, column, value)
        })
        .await;
        assert!(
            b.query().await.contains(&format!("{key}={value}")),
            "{key} is in the URL: {}",
            b.url().await
        );

        b.reload().await;
        b.wait_rows(&format!("a reload to restore {key}={value}"), |rows| {
            rows.len() == expected && all(rows, column, value)
        })
        .await;
        assert_eq!(
            b.value(css).await,
            value,
            "the form shows the restored {key}"
        );

        b.click("#clear-filters").await;
        b.wait_rows("the cleared filters", |rows| rows.len() == PAGE)
            .await;
        assert!(
            !b.query().await.contains(key),
            "clear removes {key} from the URL"
        );
    }

    // A time preset.
    b.select("#f-range", "15m").await;
    b.click("#apply-filters").await;
    b.wait_rows("the last 15 minutes", |rows| {
        seeded.last_15_min().contains(&rows.len())
    })
    .await;
    assert!(b.query().await.contains("range=15m"));
    b.reload().await;
    b.wait_rows("a reload to restore the preset", |rows| {
        seeded.last_15_min().contains(&rows.len())
    })
    .await;
    assert_eq!(b.value("#f-range").await, "15m");

    b.goto(&format!("?from={from}&to={to}")).await;
    // RETRY, FALLBACK, TASK_FAILED, BREAKER_OPENED and the heartbeats 260, 320 and 380 s old.
    let custom = b
        .wait_rows("the custom range", |rows| rows.len() == 7)
        .await;
    assert!(custom.iter().any(|r| r["reason"] == "BREAKER_OPENED"));
    assert!(custom.iter().all(|r| r["reason"] != "TOOL_CALL_OK"));
    assert_eq!(b.value("#f-range").await, "custom");
    assert!(
        !b.value("#f-from").await.is_empty(),
        "the custom bounds are shown"
    );

    // A custom range typed into the form (minute precision): 10 to 2 minutes
    // before the seeding, so a slow run does not move the seeded events
    // across its bounds.
    b.goto("?").await;
    let newest = b.wait_rows("no filters", |rows| rows.len() == PAGE).await[0]["id"].clone();
    b.select("#f-range", "custom").await;
    b.wait_for(
        "the custom bounds",
        "return !!document.querySelector('#f-to')",
    )
    .await;
    b.client
        .execute(SET_CUSTOM_RANGE, vec![json!(seeded.seeded_at_ms)])
        .await
        .expect("type the custom range");
    b.click("#apply-filters").await;
    let in_range = |rows: &[Value]| {
        rows.len() < 20
            && rows.iter().any(|r| r["reason"] == "TASK_FAILED")
            && rows.iter().all(|r| r["id"] != newest)
    };
    b.wait_rows("the typed custom range", in_range).await;
    let query = b.query().await;
    assert!(query.contains("from=") && query.contains("to="), "{query}");
    b.reload().await;
    b.wait_rows("a reload to restore the typed range", in_range)
        .await;
    assert_eq!(b.value("#f-range").await, "custom");

    // Back and forward walk through the filters.
    b.goto("?").await;
    b.wait_rows("no filters", |rows| rows.len() == PAGE).await;
    b.select("#f-layer", "provider_runtime").await;
    b.click("#apply-filters").await;
    b.wait_rows("the layer filter", |rows| rows.len() == 3)
        .await;
    b.click("#clear-filters").await;
    b.wait_rows("cleared", |rows| rows.len() == PAGE).await;
    b.type_into("#f-worker", "worker-b").await;
    b.click("#apply-filters").await;
    b.wait_rows("the worker filter", |rows| {
        rows.len() == 4 && all(rows, "worker", "worker-b")
    })
    .await;

    b.client.back().await.expect("back");
    b.wait_rows("back to no filters", |rows| rows.len() == PAGE)
        .await;
    b.client.back().await.expect("back");
    b.wait_rows("back to the layer filter", |rows| {
        rows.len() == 3 && all(rows, "layer", "provider_runtime")
    })
    .await;
    assert_eq!(b.value("#f-layer").await, "provider_runtime");
    b.client.forward().await.expect("forward");
    b.wait_rows("forward to no filters", |rows| rows.len() == PAGE)
        .await;
    b.client.forward().await.expect("forward");
    b.wait_rows("forward to the worker filter", |rows| {
        rows.len() == 4 && all(rows, "worker", "worker-b")
    })
    .await;
    assert_eq!(b.value("#f-worker").await, "worker-b");
    b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn load_more_metadata_task_links_and_polling(pool: PgPool) {
    let seeded = seed(&pool).await;
    let b = Browser::open(pool.clone()).await;
    // Any time: the seed holds events older than the default 24 hours.
    b.goto_signed_in("?range=any&poll=1000").await;
    b.wait_rows("the first page", |rows| rows.len() == PAGE)
        .await;

    // Load more: the older page by cursor, without duplicates.
    b.click("#load-more").await;
    let rows = b
        .wait_rows("every event", |rows| rows.len() == seeded.total_events)
        .await;
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), seeded.total_events, "no event twice");
    b.wait_for(
        "the button to go on the last page",
        "return document.querySelector('#load-more') === null",
    )
    .await;

    // A row opens its metadata, by keyboard: Enter on the row's button.
    b.press_enter("#events-table tr.event:first-child .row-toggle")
        .await;
    let metadata = b.text("#events-table tr.metadata pre").await;
    assert!(metadata.contains("latency_ms"), "{metadata}");
    assert_eq!(b.js("return document.querySelector('#events-table tr.event .row-toggle').getAttribute('aria-expanded')").await, "true");
    // The button keeps the focus, also over a poll that brings nothing new
    // (the rows are keyed by the event: a poll leaves them as they are).
    let focused = "return !!document.activeElement && document.activeElement.classList.contains('row-toggle') && document.activeElement.getAttribute('aria-expanded') === 'true'";
    b.wait_for("the focus on the open row's button", focused)
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        b.js(focused).await,
        json!(true),
        "the focus is kept over a poll"
    );

    // A new event appears within one polling interval (1 s here).
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, worker_id, occurred_at) \
         values ('execution', 'TASK', 'LIVE_PROBE', 'probe', 'worker-a', now())",
    )
    .execute(&pool)
    .await
    .expect("insert probe");
    let written = Instant::now();
    let rows = b
        .wait_rows("the new event", |rows| {
            rows.iter().any(|r| r["reason"] == "LIVE_PROBE")
        })
        .await;
    // One 1 s interval plus a request and a render; the slack allows for a
    // loaded CI machine and is still far below the default 12 s interval.
    let waited = written.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "the new event took {waited:?} with a 1 s poll"
    );
    assert_eq!(rows[0]["reason"], "LIVE_PROBE", "newest first");
    assert_eq!(
        rows.len(),
        seeded.total_events + 1,
        "the loaded older pages stay"
    );

    // Polling pauses while the tab is hidden and catches up when it shows.
    let set_visibility = |state: &str| {
        format!(
            "Object.defineProperty(document, 'visibilityState', {{ value: '{state}', configurable: true }});
             Object.defineProperty(document, 'hidden', {{ value: {hidden}, configurable: true }});
             document.dispatchEvent(new Event('visibilitychange'));
             return true;",
            hidden = state == "hidden"
        )
    };
    b.js(&set_visibility("hidden")).await;
    // Let a refresh already under way finish before the new row exists.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, worker_id, occurred_at) \
         values ('execution', 'TASK', 'HIDDEN_PROBE', 'probe', 'worker-a', now())",
    )
    .execute(&pool)
    .await
    .expect("insert hidden probe");
    // Three polling intervals with the tab hidden: no refresh, no new row.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(
        !b.event_rows()
            .await
            .iter()
            .any(|r| r["reason"] == "HIDDEN_PROBE"),
        "the page polled while the tab was hidden"
    );
    b.js(&set_visibility("visible")).await;
    b.wait_rows("the event written while hidden", |rows| {
        rows.first().is_some_and(|r| r["reason"] == "HIDDEN_PROBE")
    })
    .await;

    // A task's link opens its events.
    let failed = seeded.failed_task.to_string();
    b.click(&format!(
        "#tasks-table tr.task[data-id='{failed}'] a.task-events"
    ))
    .await;
    b.wait_rows("the failed task's events", |rows| {
        rows.len() == 3 && all(rows, "task", &failed)
    })
    .await;
    let query = b.query().await;
    assert!(query.contains(&format!("taskId={failed}")), "{query}");
    assert!(query.contains("poll=1000"), "other keys are kept: {query}");
    assert_eq!(b.value("#f-task").await, failed);

    // A failing request shows an error and keeps the data on screen.
    pool.close().await;
    let banner = b.text("#events [role=alert]").await;
    assert!(banner.contains("could not refresh the events"), "{banner}");
    assert_eq!(b.event_rows().await.len(), 3, "the rows stay on screen");
    assert!(
        b.text("#overall").await.contains("DEGRADED"),
        "the cards stay on screen"
    );
    b.close().await;
}
