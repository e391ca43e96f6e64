//! Spans per second into Postgres through the receiver, against the
//! layer's own ingest rate measured in the same run, and the p95 latency of
//! one request under that load.
//!
//! - baseline: `EVENTS` GenAI-shaped runtime events emitted through the
//!   layer (`tracing::info!` with the fields a mapped chat span has), timed
//!   until Postgres has committed them all;
//! - receiver: the same number of chat spans as protobuf requests of 512,
//!   posted by `CLIENTS` concurrent clients over loopback HTTP, timed until
//!   Postgres has committed them all.
//!
//! Target: receiver / layer >= 0.8. Needs PostgreSQL at `DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); it creates and
//! drops a database of its own.
//!
//! ```text
//! cargo bench -p ai-runtime-ingest --bench ingest_rate
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_runtime_ingest::{router, IngestToken, Receiver, ReceiverSettings};
use observability_layer::{RuntimeLayer, RuntimeSink, SinkHandle};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use sqlx::{Connection as _, PgConnection, PgPool};
use tracing_subscriber::prelude::*;

const SPANS_PER_REQUEST: usize = 512;
const REQUESTS: usize = 160;
const EVENTS: usize = SPANS_PER_REQUEST * REQUESTS;
const CLIENTS: usize = 4;
const TOKEN: &str = "bench-ingest-token-0123456789";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("ingest_bench_{}", std::process::id());
    let pool = runtime.block_on(create_database(&base, &name));

    // Alternate the two, so neither always meets the warmer table.
    let mut layer_rates = Vec::new();
    let mut receiver_rates = Vec::new();
    let mut latencies = Vec::new();
    for round in 0..2 {
        runtime.block_on(truncate(&pool));
        let layer = layer_rate(&pool, &runtime);
        runtime.block_on(truncate(&pool));
        let (receiver, mut round_latencies) = receiver_rate(&pool, &runtime);
        println!(
            "round {round}: layer {layer:.0} events/s, receiver {receiver:.0} spans/s ({:.2})",
            receiver / layer
        );
        layer_rates.push(layer);
        receiver_rates.push(receiver);
        latencies.append(&mut round_latencies);
    }
    let best = |rates: &[f64]| rates.iter().cloned().fold(0.0, f64::max);
    let (layer, receiver) = (best(&layer_rates), best(&receiver_rates));
    latencies.sort();
    let p95 = latencies[(latencies.len() * 95 / 100).min(latencies.len() - 1)];
    let p50 = latencies[latencies.len() / 2];
    println!("layer's own ingest: {layer:.0} events/s (best of 2, {EVENTS} events)");
    println!(
        "receiver: {receiver:.0} spans/s (best of 2, requests of {SPANS_PER_REQUEST} spans, {CLIENTS} clients)"
    );
    println!(
        "ratio receiver / layer: {:.2} (target >= 0.80)",
        receiver / layer
    );
    println!(
        "request latency under that load: p50 {:.1} ms, p95 {:.1} ms ({} requests)",
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        latencies.len()
    );
    runtime.block_on(async {
        pool.close().await;
        drop_database(&base, &name).await;
    });
}

async fn create_database(base: &str, name: &str) -> PgPool {
    let mut admin = PgConnection::connect(base)
        .await
        .expect("PostgreSQL reachable");
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let pool = PgPool::connect(&url).await.unwrap();
    ai_runtime_migrations::MIGRATOR.run(&pool).await.unwrap();
    pool
}

async fn drop_database(base: &str, name: &str) {
    let mut admin = PgConnection::connect(base).await.unwrap();
    let _ = sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&mut admin)
        .await;
}

async fn truncate(pool: &PgPool) {
    sqlx::query("truncate ai_runtime_events")
        .execute(pool)
        .await
        .unwrap();
}

fn sink(pool: &PgPool) -> RuntimeSink {
    RuntimeLayer::builder()
        .pool(pool.clone())
        .agent_type("bench")
        .shutdown_deadline(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Waits until the sink has settled `n` events; fails on any drop.
fn wait_written(handle: &SinkHandle, n: u64) {
    let until = Instant::now() + Duration::from_secs(300);
    while handle.stats().written < n {
        let stats = handle.stats();
        assert_eq!(stats.dropped() + stats.invalid, 0, "{stats:?}");
        assert!(Instant::now() < until, "not written in time: {stats:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The layer alone: events as a mapped chat span gives them, emitted
/// from one thread as fast as the channel takes them (paced so none is
/// dropped), timed until committed.
fn layer_rate(pool: &PgPool, runtime: &tokio::runtime::Runtime) -> f64 {
    let _entered = runtime.enter();
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = sink(pool);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..EVENTS {
            // Within the sink's queue (32,768 by default), as the receiver
            // keeps it (16,384): the baseline is the writer's rate, not drops.
            while handle.queued() > 16_000 {
                std::thread::yield_now();
            }
            tracing::info!(
                layer = "provider_runtime",
                operation = "CALL",
                reason_code = "PROVIDER_CALL_OK",
                entity_id = "openai/gpt-4o-mini",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = "openai",
                gen_ai.request.model = "gpt-4o-mini",
                gen_ai.response.model = "gpt-4o-mini-2024-07-18",
                gen_ai.usage.input_tokens = 120u64,
                gen_ai.usage.output_tokens = 42u64,
                latency_ms = 812u64,
                service.name = "bench-agent",
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                n = i as u64,
            );
        }
    });
    wait_written(&handle, EVENTS as u64);
    let elapsed = started.elapsed();
    guard.shutdown();
    EVENTS as f64 / elapsed.as_secs_f64()
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

/// One request of chat spans, as an SDK batches them.
fn chat_request(first: usize) -> Vec<u8> {
    use any_value::Value::{IntValue, StringValue};
    let spans = (0..SPANS_PER_REQUEST)
        .map(|i| {
            let n = (first + i) as u64;
            Span {
                trace_id: (n as u128 + 1).to_be_bytes().to_vec(),
                span_id: (n + 1).to_be_bytes().to_vec(),
                name: "chat gpt-4o-mini".into(),
                kind: 3,
                start_time_unix_nano: 1_760_000_000_000_000_000 + n * 1_000_000,
                end_time_unix_nano: 1_760_000_000_812_000_000 + n * 1_000_000,
                attributes: vec![
                    kv("gen_ai.operation.name", StringValue("chat".into())),
                    kv("gen_ai.provider.name", StringValue("openai".into())),
                    kv("gen_ai.request.model", StringValue("gpt-4o-mini".into())),
                    kv(
                        "gen_ai.response.model",
                        StringValue("gpt-4o-mini-2024-07-18".into()),
                    ),
                    kv("gen_ai.usage.input_tokens", IntValue(120)),
                    kv("gen_ai.usage.output_tokens", IntValue(42)),
                ],
                ..Span::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", StringValue("bench-agent".into()))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

/// The receiver: `CLIENTS` clients post the requests (retrying a 429 after
/// its `Retry-After`, as SDKs do), timed until committed; each request's
/// latency.
fn receiver_rate(pool: &PgPool, runtime: &tokio::runtime::Runtime) -> (f64, Vec<Duration>) {
    let _entered = runtime.enter();
    let RuntimeSink { guard, handle, .. } = sink(pool);
    let receiver = Receiver::new(
        handle.clone(),
        IngestToken::new(TOKEN).unwrap(),
        ReceiverSettings::default(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let server = runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, router(receiver)).await.unwrap();
    });
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..REQUESTS)
            .map(|r| chat_request(r * SPANS_PER_REQUEST))
            .collect(),
    );
    let started = Instant::now();
    let latencies = runtime.block_on(async {
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (bodies, url) = (Arc::clone(&bodies), url.clone());
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::new();
                for body in bodies.iter().skip(c).step_by(CLIENTS) {
                    loop {
                        let sent = Instant::now();
                        let response = http
                            .post(&url)
                            .header("content-type", "application/x-protobuf")
                            .header("authorization", format!("Bearer {TOKEN}"))
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap();
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                        match status {
                            200 => break,
                            429 => tokio::time::sleep(Duration::from_millis(100)).await,
                            other => panic!("answered {other}"),
                        }
                    }
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for client in clients {
            all.extend(client.await.unwrap());
        }
        all
    });
    wait_written(&handle, EVENTS as u64);
    let elapsed = started.elapsed();
    server.abort();
    guard.shutdown();
    (EVENTS as f64 / elapsed.as_secs_f64(), latencies)
}
