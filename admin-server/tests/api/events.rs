//! `GET /events`: every filter alone and combined, paging under concurrent
//! inserts, and every bad parameter.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{insert_event, insert_task, Event, Task};
use crate::server::{self, TestServer};

/// One inserted event, as the test remembers it.
#[derive(Clone)]
struct Seeded {
    id: Uuid,
    e: Event,
}

const LAYERS: &[&str] = &["provider_runtime", "tool_runtime", "execution", "worker"];
const OPERATIONS: &[&str] = &["CALL", "RETRY", "TASK", "HEARTBEAT", "BREAKER"];
const REASONS: &[&str] = &["PROVIDER_CALL_OK", "PROVIDER_TIMEOUT", "TASK_DONE"];

async fn seed(pool: &PgPool, base: DateTime<Utc>) -> (Vec<Seeded>, Vec<Uuid>) {
    let tasks = vec![Uuid::new_v4(), Uuid::new_v4()];
    let mut seeded = Vec::new();
    for i in 0..60_i64 {
        // Every fifth group of three shares one timestamp, to exercise the id tie-break.
        let occurred_at = base - Duration::seconds(if i % 5 == 0 { 1000 } else { i * 10 });
        let e = Event {
            layer: LAYERS[i as usize % LAYERS.len()],
            operation: OPERATIONS[i as usize % OPERATIONS.len()],
            reason_code: REASONS[i as usize % REASONS.len()],
            entity_id: format!("entity-{}", i % 4),
            task_id: (i % 3 != 0).then(|| tasks[i as usize % 2]),
            worker_id: (i % 7 != 0).then(|| format!("worker-{}", i % 2)),
            occurred_at,
            ..Event::default()
        };
        let id = insert_event(pool, e.clone()).await;
        seeded.push(Seeded { id, e });
    }
    (seeded, tasks)
}

/// Newest first, id as tie-break: the order the API promises.
fn expected(seeded: &[Seeded], keep: impl Fn(&Event) -> bool) -> Vec<Uuid> {
    let mut rows: Vec<&Seeded> = seeded.iter().filter(|s| keep(&s.e)).collect();
    rows.sort_by_key(|s| std::cmp::Reverse((s.e.occurred_at, s.id)));
    rows.iter().map(|s| s.id).collect()
}

/// Follows `nextCursor` to the end.
async fn all_pages(server: &TestServer, query: &str, limit: usize) -> Vec<Uuid> {
    let mut url = format!("events?limit={limit}");
    if !query.is_empty() {
        url.push('&');
        url.push_str(query);
    }
    let pages = server.every_page(&url).await;
    let mut ids = Vec::new();
    for (i, body) in pages.iter().enumerate() {
        let page = body["events"].as_array().unwrap();
        assert!(page.len() <= limit);
        if i + 1 < pages.len() {
            assert_eq!(page.len(), limit, "a short page must be the last");
        }
        ids.extend(
            page.iter()
                .map(|e| e["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
        );
    }
    ids
}

fn ts(t: DateTime<Utc>) -> String {
    // Encoded `+` would also work; `Z` needs no escaping.
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn each_filter_alone_and_combined(pool: PgPool) {
    let base = Utc::now();
    let (seeded, tasks) = seed(&pool, base).await;
    let server = server::start(pool).await;
    let from = base - Duration::seconds(400);
    let to = base - Duration::seconds(100);
    let t0 = tasks[0];
    type Keep = Box<dyn Fn(&Event) -> bool>;
    let cases: Vec<(String, Keep)> = vec![
        (String::new(), Box::new(|_| true)),
        ("layer=tool_runtime".into(), Box::new(|e| e.layer == "tool_runtime")),
        ("operation=RETRY".into(), Box::new(|e| e.operation == "RETRY")),
        ("reasonCode=PROVIDER_TIMEOUT".into(), Box::new(|e| e.reason_code == "PROVIDER_TIMEOUT")),
        ("entityId=entity-2".into(), Box::new(|e| e.entity_id == "entity-2")),
        (format!("taskId={t0}"), Box::new(move |e| e.task_id == Some(t0))),
        ("workerId=worker-1".into(), Box::new(|e| e.worker_id.as_deref() == Some("worker-1"))),
        (format!("from={}", ts(from)), Box::new(move |e| e.occurred_at >= from)),
        (format!("to={}", ts(to)), Box::new(move |e| e.occurred_at <= to)),
        (
            format!("from={}&to={}", ts(from), ts(to)),
            Box::new(move |e| e.occurred_at >= from && e.occurred_at <= to),
        ),
        (
            "layer=provider_runtime&reasonCode=PROVIDER_CALL_OK".into(),
            Box::new(|e| e.layer == "provider_runtime" && e.reason_code == "PROVIDER_CALL_OK"),
        ),
        (
            format!("taskId={t0}&workerId=worker-0&operation=CALL"),
            Box::new(move |e| {
                e.task_id == Some(t0) && e.worker_id.as_deref() == Some("worker-0") && e.operation == "CALL"
            }),
        ),
        (
            format!("entityId=entity-1&layer=tool_runtime&from={}", ts(from)),
            Box::new(move |e| e.entity_id == "entity-1" && e.layer == "tool_runtime" && e.occurred_at >= from),
        ),
        (
            format!(
                "layer=execution&operation=TASK&reasonCode=TASK_DONE&entityId=entity-2&taskId={t0}&workerId=worker-0&from={}&to={}",
                ts(base - Duration::seconds(2000)),
                ts(base)
            ),
            Box::new(move |e| {
                e.layer == "execution" && e.operation == "TASK" && e.reason_code == "TASK_DONE"
                    && e.entity_id == "entity-2" && e.task_id == Some(t0)
                    && e.worker_id.as_deref() == Some("worker-0")
            }),
        ),
        ("layer=dispatcher".into(), Box::new(|e| e.layer == "dispatcher")),
    ];
    let mut non_trivial = 0;
    for (query, keep) in &cases {
        let want = expected(&seeded, keep);
        if !want.is_empty() && want.len() < seeded.len() {
            non_trivial += 1;
        }
        for limit in [7, 500] {
            let got = all_pages(&server, query, limit).await;
            assert_eq!(got, want, "query `{query}` with limit {limit}");
        }
    }
    assert!(
        non_trivial >= 12,
        "the fixture must make most filters select a proper subset"
    );
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn default_limit_and_event_shape(pool: PgPool) {
    let base = Utc::now();
    let (seeded, _) = seed(&pool, base).await;
    let server = server::start(pool).await;
    let body = server.ok("events").await;
    assert_eq!(body["events"].as_array().unwrap().len(), 50);
    assert!(body["nextCursor"].is_string());
    let first = &body["events"][0];
    let newest = expected(&seeded, |_| true)[0];
    assert_eq!(first["id"], newest.to_string());
    for key in [
        "layer",
        "operation",
        "reasonCode",
        "entityId",
        "occurredAt",
        "createdAt",
        "metadata",
    ] {
        assert!(!first[key].is_null(), "missing {key}: {first}");
    }
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn paging_is_stable_while_events_arrive(pool: PgPool) {
    let start = Utc::now() - Duration::seconds(10);
    let mut old = HashSet::new();
    for i in 0..150 {
        // Pairs share a timestamp so ties straddle page boundaries.
        let occurred_at = start - Duration::milliseconds((i / 2) * 10);
        old.insert(
            insert_event(
                &pool,
                Event {
                    occurred_at,
                    ..Event::default()
                },
            )
            .await,
        );
    }
    let server = server::start(pool.clone()).await;
    let writer = tokio::spawn(async move {
        let mut fresh = HashSet::new();
        for _ in 0..200 {
            fresh.insert(insert_event(&pool, Event::default()).await);
            tokio::task::yield_now().await;
        }
        fresh
    });
    let got = all_pages(&server, "", 11).await;
    let fresh = writer.await.unwrap();
    let unique: HashSet<Uuid> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "a row appeared twice");
    assert!(old.is_subset(&unique), "a row was skipped");
    assert!(unique
        .iter()
        .all(|id| old.contains(id) || fresh.contains(id)));
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn bad_parameters_are_named(pool: PgPool) {
    // A genuine cursor of the tasks endpoint, which this one must refuse.
    insert_task(&pool, Task::default()).await;
    insert_task(&pool, Task::default()).await;
    let server = server::start(pool).await;
    let tasks_cursor = server.ok("tasks?limit=1").await["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        ("events?layer=providers", "layer"),
        ("events?layer=", "layer"),
        ("events?operation=call", "operation"),
        ("events?reasonCode=", "reasonCode"),
        ("events?entityId=", "entityId"),
        ("events?workerId=", "workerId"),
        ("events?taskId=123", "taskId"),
        ("events?from=yesterday", "from"),
        ("events?to=2026-13-01T00:00:00Z", "to"),
        (
            "events?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            "from",
        ),
        ("events?limit=0", "limit"),
        ("events?limit=501", "limit"),
        ("events?limit=ten", "limit"),
        ("events?limit=-1", "limit"),
        ("events?cursor=not-a-cursor", "cursor"),
        ("events?cursor=ZTE6MTox", "cursor"),
    ];
    for (query, parameter) in cases {
        server.bad(query, parameter).await;
    }
    server
        .bad(&format!("events?cursor={tasks_cursor}"), "cursor")
        .await;
    let long = "x".repeat(600);
    server
        .bad(&format!("events?entityId={long}"), "entityId")
        .await;
    // A repeated parameter is not a list.
    server
        .bad("events?layer=worker&layer=execution", "layer")
        .await;
    // Issue 18: NUL, which no text column holds, is a 400 naming the
    // parameter (it was a 500 from Postgres).
    for (query, parameter) in [
        ("events?entityId=a%00b", "entityId"),
        ("events?reasonCode=%00", "reasonCode"),
        ("events?workerId=%00x", "workerId"),
        ("events?limit=5&taskId=%00", "taskId"),
        ("events?cursor=%00", "cursor"),
    ] {
        server.bad(query, parameter).await;
    }
    // Bytes that are not UTF-8, and a malformed escape, are still a 400.
    for query in [
        "events?layer=%FF%FE",
        "events?taskId=%ZZ",
        "events?limit=%F0%28%8C%28",
    ] {
        let (status, body) = server.api(query).await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"], "bad_parameter", "{query}: {body}");
    }
    // An encoded offset works, and so does a `+` sent unencoded (it arrives as a space).
    server.ok("events?from=2026-01-01T00:00:00%2B01:00").await;
    server.ok("events?from=2026-01-01T00:00:00+01:00").await;
    server.stop().await;
}

/// The dashboard reads pages as `EventsResponse`; metadata (passed through
/// as the database's JSON text) arrives as the JSON that was stored.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn pages_decode_as_the_dashboard_type(pool: PgPool) {
    let metadata = serde_json::json!({
        "latency_ms": 12,
        "ratio": 0.25,
        "big": 12345678901234_i64,
        "text": "quote \" backslash \\ newline \n unicode é ✓",
        "nested": {"list": [1, null, true, {"k": []}]},
    });
    let task = Uuid::new_v4();
    let id = insert_event(
        &pool,
        Event {
            task_id: Some(task),
            worker_id: None,
            metadata: metadata.clone(),
            ..Event::default()
        },
    )
    .await;
    insert_event(&pool, Event::default()).await;
    let server = server::start(pool).await;
    let body = server.ok("events?limit=1").await;
    let page: ai_runtime_api::EventsResponse = serde_json::from_value(body).unwrap();
    assert_eq!(page.events.len(), 1);
    assert!(page.next_cursor.is_some());
    let body = server.ok(&format!("events?taskId={task}")).await;
    let page: ai_runtime_api::EventsResponse = serde_json::from_value(body).unwrap();
    assert_eq!(page.next_cursor, None);
    let event = &page.events[0];
    assert_eq!(event.id, id);
    assert_eq!(event.task_id, Some(task));
    assert_eq!(event.worker_id, None);
    assert_eq!(event.layer, ai_runtime_api::EventLayer::ProviderRuntime);
    assert_eq!(event.operation, ai_runtime_api::Operation::Call);
    assert_eq!(event.metadata, metadata);
    server.stop().await;
}
