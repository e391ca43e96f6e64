//! `GET /trends` on crafted data: counts per bucket and layer, failures,
//! latency percentiles, tokens and breaker intervals checked exactly against
//! a model, with events in rolled-up minutes, in the raw tail after the
//! roll-ups' mark, and stored late; and every bad parameter.

use std::collections::BTreeMap;

use ai_runtime_maintain::failure::is_failure;
use ai_runtime_maintain::rollup::{latency_bin, latency_bin_value, LATENCY_BINS};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::fixtures::{insert_event, Event};
use crate::server::{self, TestServer};

const BUCKET: i64 = 15 * 60;

/// The expected answer, built from the events the test stored.
#[derive(Default)]
struct Model {
    /// (bucket, layer) -> events; bucket -> failures.
    layers: BTreeMap<(DateTime<Utc>, String), i64>,
    failures: BTreeMap<DateTime<Utc>, i64>,
    calls: BTreeMap<(String, DateTime<Utc>), CallsModel>,
}

/// A route's calls in a bucket: (latencies, input tokens, output tokens, calls).
type CallsModel = (Vec<f64>, i64, i64, i64);

fn bucket_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::seconds(BUCKET)).unwrap()
}

impl Model {
    fn add(&mut self, e: &Event) {
        let bucket = bucket_of(e.occurred_at);
        *self.layers.entry((bucket, e.layer.to_owned())).or_default() += 1;
        if is_failure(e.reason_code) {
            *self.failures.entry(bucket).or_default() += 1;
        }
        if e.layer == "provider_runtime"
            && e.operation == "CALL"
            && e.reason_code != "PROVIDER_ROUTES_EXHAUSTED"
        {
            let point = self.calls.entry((e.entity_id.clone(), bucket)).or_default();
            if let Some(ms) = e.metadata["latency_ms"].as_f64() {
                point.0.push(ms);
            }
            // The first name present decides, as in the roll-up.
            let tokens = |names: [&str; 3]| {
                names
                    .iter()
                    .find_map(|name| e.metadata.get(*name).filter(|v| !v.is_null()))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            };
            point.1 += tokens(["gen_ai.usage.input_tokens", "input_tokens", "prompt_tokens"]);
            point.2 += tokens([
                "gen_ai.usage.output_tokens",
                "output_tokens",
                "completion_tokens",
            ]);
            point.3 += 1;
        }
    }

    /// The nearest-rank percentile of `latencies`, as the bin's value the
    /// API reports (checked within 4.9% of the true one too).
    fn percentile(latencies: &[f64], q: f64) -> Value {
        if latencies.is_empty() {
            return Value::Null;
        }
        let mut sorted = latencies.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        let truth = sorted[rank - 1];
        let bin = latency_bin(truth);
        assert!(bin > 0 && bin < LATENCY_BINS - 1);
        let reported = latency_bin_value(bin);
        assert!(
            (reported - truth).abs() / truth <= 0.049,
            "{truth} {reported}"
        );
        json!(reported)
    }

    /// Checks `body` (a `/trends` answer over the model's buckets).
    fn check(&self, body: &Value, when: &str) {
        assert_eq!(body["bucketSeconds"], BUCKET, "{when}");
        for bucket in body["buckets"].as_array().unwrap() {
            let start: DateTime<Utc> = bucket["start"].as_str().unwrap().parse().unwrap();
            let got: BTreeMap<String, i64> = bucket["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        l["layer"].as_str().unwrap().to_owned(),
                        l["count"].as_i64().unwrap(),
                    )
                })
                .collect();
            let expected: BTreeMap<String, i64> = self
                .layers
                .iter()
                .filter(|((b, _), _)| *b == start)
                .map(|((_, layer), n)| (layer.clone(), *n))
                .collect();
            assert_eq!(got, expected, "{when}: layers of the bucket at {start}");
            assert_eq!(
                bucket["failures"],
                self.failures.get(&start).copied().unwrap_or(0),
                "{when}: failures of the bucket at {start}"
            );
        }
        let mut got = BTreeMap::new();
        for route in body["routes"].as_array().unwrap() {
            for point in route["points"].as_array().unwrap() {
                let start: DateTime<Utc> = point["start"].as_str().unwrap().parse().unwrap();
                got.insert(
                    (route["route"].as_str().unwrap().to_owned(), start),
                    point.clone(),
                );
            }
        }
        let expected: BTreeMap<(String, DateTime<Utc>), Value> = self
            .calls
            .iter()
            .map(|((route, start), (latencies, input, output, calls))| {
                (
                    (route.clone(), *start),
                    json!({
                        "start": start,
                        "calls": calls,
                        "p50Ms": Self::percentile(latencies, 0.5),
                        "p95Ms": Self::percentile(latencies, 0.95),
                        "inputTokens": input,
                        "outputTokens": output,
                    }),
                )
            })
            .collect();
        // Compared as values: the timestamps as instants, not as text.
        assert_eq!(got.len(), expected.len(), "{when}: route points {got:#?}");
        for (key, want) in &expected {
            let point = &got[key];
            for field in ["calls", "inputTokens", "outputTokens"] {
                assert_eq!(point[field], want[field], "{when}: {key:?} {field}");
            }
            // serde_json's default float parsing may differ in the last bit.
            for field in ["p50Ms", "p95Ms"] {
                match (point[field].as_f64(), want[field].as_f64()) {
                    (Some(got), Some(want)) => {
                        assert!(
                            (got - want).abs() <= want * 1e-12,
                            "{when}: {key:?} {field} {got} {want}"
                        )
                    }
                    _ => assert_eq!(point[field], want[field], "{when}: {key:?} {field}"),
                }
            }
        }
    }
}

async fn store(pool: &PgPool, model: &mut Model, e: Event) {
    model.add(&e);
    insert_event(pool, e).await;
}

fn call(route: &str, at: DateTime<Utc>, latency: f64, tokens: Option<(i64, i64)>) -> Event {
    let mut metadata = json!({"latency_ms": latency});
    if let Some((input, output)) = tokens {
        metadata["gen_ai.usage.input_tokens"] = json!(input);
        metadata["gen_ai.usage.output_tokens"] = json!(output);
    }
    Event {
        entity_id: route.into(),
        occurred_at: at,
        metadata,
        ..Event::default()
    }
}

fn other(
    layer: &'static str,
    operation: &'static str,
    code: &'static str,
    at: DateTime<Utc>,
) -> Event {
    Event {
        layer,
        operation,
        reason_code: code,
        entity_id: "e".into(),
        occurred_at: at,
        ..Event::default()
    }
}

async fn pass(pool: &PgPool) {
    ai_runtime_maintain::run_rollup(pool, &ai_runtime_maintain::Options::default())
        .await
        .unwrap()
        .expect("no other roll-up runs");
}

/// The query of the test's range: the last three hours and the next hour,
/// in 15-minute buckets.
fn range_query(now: DateTime<Utc>) -> String {
    let from = bucket_of(now - Duration::hours(3));
    format!(
        "trends?from={}&to={}&bucket=15m",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        (from + Duration::hours(4)).format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn buckets_failures_percentiles_and_tokens_match_a_model(pool: PgPool) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let mut model = Model::default();
    // Two hours of history, rolled up by a pass: calls on two routes, some
    // without latency or tokens, failures, the routes-exhausted summary
    // (an event and a failure, not a call), and other layers.
    for i in 0..120_i64 {
        let at = now - Duration::minutes(125) + Duration::seconds(i * 61);
        let route = if i % 3 == 0 { "sim/slow" } else { "sim/fast" };
        let latency = (1 + (i * 37) % 900) as f64 * if i % 3 == 0 { 4.0 } else { 1.0 };
        let mut ok = call(route, at, latency, Some((10 + i, 2 * i)));
        if i % 2 == 1 {
            // The short names a host may use (the reference worker does).
            ok.metadata =
                json!({"latency_ms": latency, "input_tokens": 10 + i, "output_tokens": 2 * i});
        }
        store(&pool, &mut model, ok).await;
        if i % 5 == 0 {
            let mut failed = call(route, at, latency, None);
            failed.reason_code = "PROVIDER_CALL_FAILED";
            store(&pool, &mut model, failed).await;
        }
        if i % 7 == 0 {
            let mut bare = call(route, at, 0.0, None);
            bare.metadata = json!({"latency_ms": "slow", "gen_ai.usage.input_tokens": "many"});
            store(&pool, &mut model, bare).await;
        }
        if i % 11 == 0 {
            store(
                &pool,
                &mut model,
                other("provider_runtime", "CALL", "PROVIDER_ROUTES_EXHAUSTED", at),
            )
            .await;
        }
        store(
            &pool,
            &mut model,
            other("tool_runtime", "TOOL_CALL", "TOOL_CALL_OK", at),
        )
        .await;
        if i % 4 == 0 {
            store(
                &pool,
                &mut model,
                other("dispatcher", "TASK", "LEASE_EXPIRED", at),
            )
            .await;
        }
    }
    let server = server::start(pool.clone()).await;
    let query = range_query(now);
    // All raw (no pass yet), then all rolled up: the same answer.
    let raw = server.ok(&query).await;
    model.check(&raw, "before any pass");
    assert_eq!(raw["buckets"].as_array().unwrap().len(), 16);
    pass(&pool).await;
    let rolled_minutes: i64 = sqlx::query_scalar(
        "select count(distinct start) from ai_runtime_event_rollups where grain_seconds = 60",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(rolled_minutes >= 100, "{rolled_minutes}");
    let rolled = server.ok(&query).await;
    model.check(&rolled, "rolled up");
    assert_eq!(rolled["buckets"], raw["buckets"]);
    assert_eq!(rolled["routes"], raw["routes"]);

    // The raw tail: events after the pass's mark (now or later).
    let tail_at = Utc::now() + Duration::seconds(30);
    for i in 0..6 {
        store(
            &pool,
            &mut model,
            call("sim/fast", tail_at, 100.0 + i as f64, Some((1, 1))),
        )
        .await;
    }
    store(
        &pool,
        &mut model,
        other("worker", "HEARTBEAT", "WORKER_CIRCUIT_OPENED", tail_at),
    )
    .await;
    model.check(&server.ok(&query).await, "raw tail after the pass");

    // A late event: stored now, it occurred five minutes ago, in a minute
    // already rolled up. Not counted until a pass rolls that minute up
    // again; then counted once.
    let late = call(
        "sim/late",
        Utc::now() - Duration::minutes(5),
        42.0,
        Some((7, 3)),
    );
    insert_event(&pool, late.clone()).await;
    let before = server.ok(&query).await;
    model.check(&before, "late event before the next pass");
    model.add(&late);
    pass(&pool).await;
    model.check(&server.ok(&query).await, "late event after the next pass");
    pass(&pool).await;
    model.check(&server.ok(&query).await, "a third pass changes nothing");

    // Later than the roll-ups look back (15 minutes): in the event stream,
    // not in the trends (the documented bound).
    let too_late = other(
        "execution",
        "TASK",
        "TASK_COMPLETED",
        now - Duration::minutes(100),
    );
    insert_event(&pool, too_late).await;
    pass(&pool).await;
    model.check(&server.ok(&query).await, "an event stored too late");
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn breaker_intervals_overlapping_the_range(pool: PgPool) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let breaker =
        |worker: &str, code: &'static str, at: DateTime<Utc>, reason: Option<&str>| Event {
            layer: "worker",
            operation: "HEARTBEAT",
            reason_code: code,
            entity_id: worker.into(),
            worker_id: Some(worker.into()),
            occurred_at: at,
            metadata: json!({"circuit_reason": reason}),
            ..Event::default()
        };
    let h = |hours: i64| now - Duration::hours(hours);
    for e in [
        // Opened before the range, closed inside it.
        breaker(
            "w-a",
            "WORKER_CIRCUIT_OPENED",
            h(30),
            Some("PROVIDER_OUTAGE"),
        ),
        breaker("w-a", "WORKER_CIRCUIT_CLOSED", h(20), None),
        // Opened and closed before the range: left out.
        breaker("w-b", "WORKER_CIRCUIT_OPENED", h(40), Some("old")),
        breaker("w-b", "WORKER_CIRCUIT_CLOSED", h(39), None),
        // Inside: open, a repeated open report, closed; opened again, still open.
        breaker("w-b", "WORKER_CIRCUIT_OPENED", h(10), Some("TIMEOUTS")),
        breaker("w-b", "WORKER_CIRCUIT_OPENED", h(9), Some("again")),
        breaker("w-b", "WORKER_CIRCUIT_CLOSED", h(8), None),
        breaker("w-b", "WORKER_CIRCUIT_OPENED", h(2), Some("ERRORS")),
        // Opened before the range and still open.
        breaker("w-c", "WORKER_CIRCUIT_OPENED", h(50), Some("LONG")),
    ] {
        insert_event(&pool, e).await;
    }
    let server = server::start(pool.clone()).await;
    pass(&pool).await;
    let body = server.ok("trends").await;
    let intervals: Vec<Value> = body["breakerOpen"].as_array().unwrap().clone();
    let expected = [
        ("w-a", h(30), Some(h(20)), Some("PROVIDER_OUTAGE")),
        ("w-b", h(10), Some(h(8)), Some("TIMEOUTS")),
        ("w-b", h(2), None, Some("ERRORS")),
        ("w-c", h(50), None, Some("LONG")),
    ];
    assert_eq!(intervals.len(), expected.len(), "{intervals:#?}");
    for (got, (worker, opened, closed, reason)) in intervals.iter().zip(expected) {
        assert_eq!(got["workerId"], worker, "{got}");
        let parse = |v: &Value| v.as_str().map(|s| s.parse::<DateTime<Utc>>().unwrap());
        assert_eq!(parse(&got["openedAt"]), Some(opened), "{got}");
        assert_eq!(parse(&got["closedAt"]), closed, "{got}");
        assert_eq!(got["reason"], json!(reason), "{got}");
    }
    // A range that ended while w-b was open (between h(10) and h(8)): the
    // interval closes after the range, and says when.
    let past = format!(
        "trends?from={}&to={}",
        h(12).format("%Y-%m-%dT%H:%M:%SZ"),
        h(9).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let body = server.ok(&past).await;
    let b: Vec<&Value> = body["breakerOpen"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["workerId"] == "w-b")
        .collect();
    assert_eq!(b.len(), 1, "{body}");
    assert_eq!(
        b[0]["closedAt"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        h(8)
    );
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_default_range_is_the_last_day_in_automatic_buckets(pool: PgPool) {
    insert_event(&pool, Event::default()).await;
    let server = server::start(pool).await;
    let body = server.ok("trends").await;
    assert_eq!(body["bucketSeconds"], 300);
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 289, "a day of 5 minutes, aligned outwards");
    let from: DateTime<Utc> = body["from"].as_str().unwrap().parse().unwrap();
    let to: DateTime<Utc> = body["to"].as_str().unwrap().parse().unwrap();
    assert!(to > Utc::now() - Duration::minutes(1) && to <= Utc::now() + Duration::minutes(5));
    assert_eq!(to - from, Duration::minutes(289 * 5));
    let last = buckets.last().unwrap();
    assert_eq!(
        last["layers"],
        json!([{"layer": "provider_runtime", "count": 1}])
    );
    assert_eq!(body["routes"][0]["route"], "sim/fast");
    assert_eq!(body["routes"][0]["points"][0]["p50Ms"], Value::Null);
    let hour = server
        .ok(&format!(
            "trends?from={}",
            (Utc::now() - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    assert_eq!(hour["bucketSeconds"], 60);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn bad_parameters_are_named(pool: PgPool) {
    let server: TestServer = server::start(pool).await;
    for (query, parameter) in [
        ("from=2026-11-30T10:00:00Z&to=2026-11-30T10:00:00Z", "from"),
        ("from=2026-11-30T11:00:00Z&to=2026-11-30T10:00:00Z", "from"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("bucket=1m", "bucket"),
        ("bucket=30s", "bucket"),
        ("bucket=5x", "bucket"),
        ("bucket=", "bucket"),
        ("bucket=5m%00", "bucket"),
        ("bucket=5m&bucket=1h", "bucket"),
        (
            "from=2026-11-30T10:00:00Z&from=2026-11-30T11:00:00Z",
            "from",
        ),
        ("from=1990-01-01T00:00:00Z", "from"),
    ] {
        server.bad(&format!("trends?{query}"), parameter).await;
    }
    // 400 buckets are allowed, 401 are not.
    server
        .ok("trends?from=2026-11-01T00:00:00Z&to=2026-11-01T06:40:00Z&bucket=1m")
        .await;
    server
        .bad(
            "trends?from=2026-11-01T00:00:00Z&to=2026-11-01T06:41:00Z&bucket=1m",
            "bucket",
        )
        .await;
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn cost_per_route_beside_tokens_raw_and_rolled_up(pool: PgPool) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let at = now - Duration::minutes(40);
    let priced = |cost: Value| {
        let mut e = call("openai/gpt-4o-mini", at, 100.0, Some((1000, 100)));
        e.metadata["cost_usd"] = cost;
        e
    };
    // Binary fractions: their sums are exact.
    insert_event(&pool, priced(json!(0.25))).await;
    insert_event(&pool, priced(json!(0.5))).await;
    // Not a number, negative: no cost.
    insert_event(&pool, priced(json!("a lot"))).await;
    insert_event(&pool, priced(json!(-3.0))).await;
    // A route whose calls are never priced.
    insert_event(&pool, call("sim/fast", at, 10.0, Some((5, 5)))).await;
    let server = server::start(pool.clone()).await;
    let query = range_query(now);
    let cost_of = |body: &Value, route: &str| -> Vec<(i64, f64)> {
        body["routes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["route"] == route)
            .flat_map(|r| r["points"].as_array().unwrap().clone())
            .map(|p| {
                (
                    p["inputTokens"].as_i64().unwrap(),
                    p["costUsd"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let raw = server.ok(&query).await;
    assert_eq!(cost_of(&raw, "openai/gpt-4o-mini"), [(4000, 0.75)]);
    assert_eq!(cost_of(&raw, "sim/fast"), [(5, 0.0)]);
    pass(&pool).await;
    let rolled = server.ok(&query).await;
    assert_eq!(rolled["routes"], raw["routes"]);
    // The hourly grain sums the minutes' costs too.
    let hourly = server
        .ok(&format!(
            "trends?from={}&to={}&bucket=1h",
            (now - Duration::hours(3))
                .duration_trunc(Duration::hours(1))
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ"),
            (now + Duration::hours(1))
                .duration_trunc(Duration::hours(1))
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ"),
        ))
        .await;
    let total: f64 = cost_of(&hourly, "openai/gpt-4o-mini")
        .iter()
        .map(|p| p.1)
        .sum();
    assert_eq!(total, 0.75);
    server.stop().await;
}
