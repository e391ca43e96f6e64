//! The trends: every bucket the API answers, and a bucket narrowing the stream.

use serde_json::json;
use sqlx::PgPool;

use super::browser::*;
use super::seed::*;

/// The chart's buckets as the SVG draws them.
const DRAWN_BUCKETS: &str = "return Array.from(document.querySelectorAll('#events-chart .bucket')).map(g => ({
    start: g.dataset.start,
    total: Number(g.dataset.total),
    failures: Number(g.dataset.failures),
    layers: Object.fromEntries(Array.from(g.querySelectorAll('.seg')).map(r => [r.dataset.layer, Number(r.dataset.count)])),
}))";

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn trends_draw_the_apis_buckets_and_a_bucket_narrows_the_stream(pool: PgPool) {
    let seeded = seed_trends(&pool).await;
    let b = Browser::open(pool).await;
    let range = format!("?from={}&to={}", seeded.from, seeded.to);
    b.goto_signed_in(&range).await;
    let first_render = b.ms_until("#events-chart .bucket").await;
    println!("overview: first render of the charts {first_render:.0} ms after navigation start");
    b.wait_rows("the range's events", |rows| !rows.is_empty())
        .await;

    // What the API answers for the same range (the dashboard's request).
    let api = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const q = new URLSearchParams({ from: new Date(arguments[0]).toISOString(), to: new Date(arguments[1]).toISOString() });
             fetch('/api/admin/ai/runtime/trends?' + q, { headers: { Authorization: 'Bearer ' + arguments[2] } })
               .then(r => r.json()).then(done, e => done({ error: String(e) }));",
            vec![json!(seeded.from), json!(seeded.to), json!(ADMIN_TOKEN)],
        )
        .await
        .expect("fetch the trends");
    let buckets = api["buckets"].as_array().unwrap_or_else(|| panic!("{api}"));
    assert!(!buckets.is_empty() && buckets.len() <= 400, "{api}");
    let drawn = b
        .wait_for(
            "the chart to draw every bucket",
            &format!(
                "const d = (() => {{ {DRAWN_BUCKETS} }})(); return d.length === {} && d",
                buckets.len()
            ),
        )
        .await;
    let drawn = drawn.as_array().expect("drawn buckets");
    let mut total_events = 0;
    for (shown, answered) in drawn.iter().zip(buckets) {
        let layers = answered["layers"].as_array().expect("layers");
        let total: i64 = layers
            .iter()
            .map(|l| l["count"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(shown["total"], total, "{shown} vs {answered}");
        assert_eq!(
            shown["failures"], answered["failures"],
            "{shown} vs {answered}"
        );
        for layer in layers {
            assert_eq!(
                shown["layers"][layer["layer"].as_str().unwrap_or_default()],
                layer["count"],
                "{shown} vs {answered}"
            );
        }
        total_events += total;
    }
    assert_eq!(
        total_events, seeded.events as i64,
        "every crafted event is in a bucket"
    );
    let failures: i64 = drawn
        .iter()
        .map(|d| d["failures"].as_i64().unwrap_or(0))
        .sum();
    assert!(failures >= 3, "the failed calls are failures: {failures}");

    // worker-b's breaker band, and the route's latency and token lines.
    assert!(
        api["breakerOpen"]
            .as_array()
            .is_some_and(|i| i.iter().any(|i| i["workerId"] == "worker-b")),
        "{api}"
    );
    b.text("#breaker-chart .band[data-worker='worker-b']").await;
    assert!(b
        .text("#breaker-chart-desc")
        .await
        .contains("worker-b open from"));
    b.text("#latency-chart .route[data-route='sim/fast']").await;
    b.text("#tokens-chart .route[data-route='sim/fast']").await;

    // Focus shows a bucket's numbers; Enter narrows the stream and the URL to it.
    let busiest = drawn
        .iter()
        .enumerate()
        .max_by_key(|(_, d)| d["total"].as_i64().unwrap_or(0))
        .map(|(i, _)| i)
        .expect("a bucket");
    let expected = drawn[busiest]["total"].as_i64().unwrap_or(0) as usize;
    let bucket = format!("#events-chart .bucket[data-index='{busiest}']");
    b.js(&format!(
        "document.querySelector({}).focus(); return null",
        json!(bucket)
    ))
    .await;
    let readout = b.text("#trend-readout").await;
    assert!(
        readout.contains(&format!(": {expected} events")),
        "{readout}"
    );
    b.press_enter(&bucket).await;
    b.wait_rows("the bucket's events", |rows| rows.len() == expected)
        .await;
    let query = b.query().await;
    assert!(
        query.contains("bucket=") && query.contains("bucketSeconds="),
        "{query}"
    );
    assert_eq!(
        b.js(&format!(
            "return document.querySelector({}).getAttribute('aria-pressed')",
            json!(bucket)
        ))
        .await,
        "true"
    );
    b.assert_accessible("the overview with the trends").await;

    // A click on another bucket (the first), then back and forward.
    b.click("#events-chart .bucket[data-index='0']").await;
    let first = drawn[0]["total"].as_i64().unwrap_or(0) as usize;
    b.wait_rows("the first bucket's events", |rows| rows.len() == first)
        .await;
    b.client.back().await.expect("back");
    b.wait_rows("back to the busiest bucket", |rows| rows.len() == expected)
        .await;
    b.client.forward().await.expect("forward");
    b.wait_rows("forward to the first bucket", |rows| rows.len() == first)
        .await;
    // The whole range again.
    b.click("#clear-bucket").await;
    b.wait_rows("the whole range", |rows| {
        rows.len() == seeded.events.min(PAGE)
    })
    .await;
    assert!(!b.query().await.contains("bucket="));
    b.close().await;
}
