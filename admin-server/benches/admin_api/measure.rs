//! The harness: each query shape through the server (in-process, real
//! HTTP, static token, rows turned into JSON for the client), then p50/p95
//! against the targets.

use std::time::{Duration, Instant};

use admin_server::{app, AppConfig};
use ai_runtime_api::API_BASE;
use anyhow::Context;
use chrono::Utc;
use sqlx::PgPool;

use crate::generate::{DataSet, Scale};
use crate::http::{Client, ClientKind};

const TOKEN: &str = "bench-token";

/// The endpoints measured, in the order of the table.
pub const ENDPOINTS: [&str; 4] = ["events", "tasks", "status", "trends"];

/// The p95 targets, in milliseconds: the first wave's on the base data set,
/// the storage issue's (status 20, pages 5) on a month of history.
fn target_p95_ms(endpoint: &str, scale: Scale) -> f64 {
    match (endpoint, scale.name) {
        // Issue 16: a day's trends at 20 million events.
        ("trends", _) => 50.0,
        ("status", "month") => 20.0,
        ("status", _) => 40.0,
        (_, "month") => 5.0,
        _ => 10.0,
    }
}

/// What to measure and how.
pub struct Options {
    /// Timed requests per shape (after a warm-up).
    pub samples: usize,
    pub client: ClientKind,
    /// Endpoints to measure (of [`ENDPOINTS`]).
    pub endpoints: Vec<String>,
    pub scale: Scale,
}
const WARMUP: usize = 10;

struct Shape {
    endpoint: &'static str,
    label: String,
    query: String,
}

fn shape(endpoint: &'static str, label: &str, pairs: &[(&str, String)]) -> Shape {
    Shape {
        endpoint,
        label: label.to_owned(),
        query: query_string(pairs),
    }
}

fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Cursors of pages three days back, as the API issues them.
struct DeepCursors {
    events: String,
    tasks: String,
}

impl DeepCursors {
    async fn fetch(http: &mut Client) -> anyhow::Result<DeepCursors> {
        let back = Utc::now() - chrono::Duration::days(3);
        let to = back.format("%Y-%m-%dT%H:%M:%SZ");
        let page = get_json(http, &format!("events?limit=1&to={to}")).await?;
        let events = page["nextCursor"]
            .as_str()
            .context("no events 3 days back")?;
        // Tasks have no time filter: page back to the same instant.
        let mut query = "tasks?limit=500".to_owned();
        let tasks = loop {
            let page = get_json(http, &query).await?;
            let cursor = page["nextCursor"]
                .as_str()
                .context("no tasks 3 days back")?;
            let last = page["tasks"].as_array().and_then(|t| t.last());
            let created: chrono::DateTime<Utc> = last
                .and_then(|t| t["createdAt"].as_str())
                .context("a task without createdAt")?
                .parse()?;
            if created <= back {
                break cursor.to_owned();
            }
            query = format!("tasks?limit=500&cursor={cursor}");
        };
        Ok(DeepCursors {
            events: events.to_owned(),
            tasks,
        })
    }
}

async fn get_json(http: &mut Client, path_and_query: &str) -> anyhow::Result<serde_json::Value> {
    let url = format!("{API_BASE}/{path_and_query}");
    let response = http.get(&url, TOKEN).await?;
    anyhow::ensure!(response.status == 200, "{url}: {}", response.status);
    Ok(serde_json::from_slice(&response.body)?)
}

fn shapes(data: &DataSet, cursors: &DeepCursors) -> Vec<Shape> {
    let now = Utc::now();
    let ts = |hours: i64| {
        (now - chrono::Duration::hours(hours))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let some = data.some_task.to_string();
    let s = |v: &str| v.to_owned();
    let mut list = vec![
        shape("events", "newest 50", &[]),
        shape("events", "limit 1", &[("limit", s("1"))]),
        shape("events", "limit 500", &[("limit", s("500"))]),
        shape(
            "events",
            "deep cursor (3 days back)",
            &[("cursor", cursors.events.clone())],
        ),
        shape("events", "layer", &[("layer", s("tool_runtime"))]),
        shape("events", "operation (rare)", &[("operation", s("BREAKER"))]),
        shape(
            "events",
            "reasonCode (rare)",
            &[("reasonCode", s("PROVIDER_CIRCUIT_OPENED"))],
        ),
        shape("events", "entityId", &[("entityId", s("tool-3"))]),
        shape("events", "taskId", &[("taskId", some.clone())]),
        shape("events", "workerId", &[("workerId", s("worker-3"))]),
        shape(
            "events",
            "from..to (1 h, a day ago)",
            &[("from", ts(25)), ("to", ts(24))],
        ),
        shape(
            "events",
            "layer+reasonCode",
            &[
                ("layer", s("provider_runtime")),
                ("reasonCode", s("PROVIDER_TIMEOUT")),
            ],
        ),
        shape(
            "events",
            "layer+operation+workerId+from",
            &[
                ("layer", s("provider_runtime")),
                ("operation", s("RETRY")),
                ("workerId", s("worker-1")),
                ("from", ts(48)),
            ],
        ),
        shape(
            "events",
            "rare reason + old window",
            &[
                ("reasonCode", s("TOOL_LOOP_LIMIT")),
                ("from", ts(160)),
                ("to", ts(150)),
            ],
        ),
        shape("tasks", "newest 50", &[]),
        shape("tasks", "status=PENDING", &[("status", s("PENDING"))]),
        shape("tasks", "status=DONE", &[("status", s("DONE"))]),
        shape("tasks", "stuck=true", &[("stuck", s("true"))]),
        shape("tasks", "stuck=false", &[("stuck", s("false"))]),
        shape(
            "tasks",
            "status=RUNNING&stuck=true",
            &[("status", s("RUNNING")), ("stuck", s("true"))],
        ),
        shape(
            "tasks",
            "deep cursor (3 days back)",
            &[("cursor", cursors.tasks.clone())],
        ),
        shape("status", "window 15 min", &[("window", s("15"))]),
        shape("status", "window 24 h", &[("window", s("1440"))]),
        shape("trends", "24 h (default: 5 min buckets)", &[]),
        shape("trends", "1 h (1 min buckets)", &[("from", ts(1))]),
        shape("trends", "7 d (1 h buckets)", &[("from", ts(168))]),
        shape(
            "trends",
            "24 h a day ago, 15 min buckets",
            &[("from", ts(48)), ("to", ts(24)), ("bucket", s("15m"))],
        ),
    ];
    if let Some(hot) = data.hot_task {
        let hot = hot.to_string();
        list.push(shape("events", "hot taskId", &[("taskId", hot.clone())]));
        list.push(shape(
            "events",
            "hot taskId + rare reason",
            &[
                ("taskId", hot.clone()),
                ("reasonCode", s("PROVIDER_CIRCUIT_OPENED")),
            ],
        ));
        list.push(shape(
            "events",
            "hot taskId + layer + 1 h",
            &[
                ("taskId", hot.clone()),
                ("layer", s("execution")),
                ("from", ts(30)),
                ("to", ts(29)),
            ],
        ));
        list.push(shape(
            "events",
            "hot taskId deep cursor",
            &[("taskId", hot), ("cursor", cursors.events.clone())],
        ));
    }
    list
}

pub async fn run(pool: PgPool, data: &DataSet, options: &Options) -> anyhow::Result<()> {
    let (samples, client) = (options.samples, options.client);
    // Every status sample is a computation (no cache), so its p95 is the
    // cost of one; `single_flight` below measures the cache.
    let addr = start_server(&pool, Duration::ZERO).await?;
    // The fixed cost of a request (HTTP, auth, JSON error body) without any
    // query, with the harness's client and with reqwest for comparison.
    let (lean_p50, lean_p95) = floor(ClientKind::Lean, addr, samples).await?;
    let (reqwest_p50, reqwest_p95) = floor(ClientKind::Reqwest, addr, samples).await?;
    println!(
        "\nHTTP round trip without a query (auth + 404 JSON): p50 {lean_p50:.2} ms, \
         p95 {lean_p95:.2} ms (with reqwest as the client: p50 {reqwest_p50:.2} ms, \
         p95 {reqwest_p95:.2} ms)"
    );
    let mut http = Client::connect(client, addr).await?;
    if client == ClientKind::Reqwest {
        println!("\nEvery shape below is timed with reqwest as the client.");
    }
    let cursors = DeepCursors::fetch(&mut http).await?;
    let partitions: i64 = sqlx::query_scalar(
        "select count(*) from pg_inherits where inhparent = 'public.ai_runtime_events'::regclass",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "\n| endpoint | shape | rows | p50 ms | p95 ms | p95 target ms | partitions read (of {partitions}) |\n| --- | --- | ---: | ---: | ---: | ---: | --- |"
    );
    let mut misses = Vec::new();
    let measured = shapes(data, &cursors)
        .into_iter()
        .filter(|shape| options.endpoints.iter().any(|e| e == shape.endpoint));
    for shape in measured {
        let url = format!("{API_BASE}/{}?{}", shape.endpoint, shape.query);
        let mut times = Vec::with_capacity(samples);
        let mut rows = 0;
        for i in 0..WARMUP + samples {
            settle(&pool).await;
            let t = Instant::now();
            let response = http.get(&url, TOKEN).await?;
            let elapsed = t.elapsed();
            anyhow::ensure!(response.status == 200, "{url}: {}", response.status);
            if i >= WARMUP {
                times.push(elapsed);
            }
            if i == 0 {
                rows = rows_of(shape.endpoint, &response.body)
                    .with_context(|| format!("{url}: not a page"))?;
            }
        }
        let (p50, p95) = (percentile(&mut times, 0.50), percentile(&mut times, 0.95));
        let target = target_p95_ms(shape.endpoint, options.scale);
        let read = match shape.endpoint {
            "events" => {
                describe_partitions(&admin_server::planned_partitions(&pool, &shape.query).await?)
            }
            "trends" => {
                let (parts, tail_minutes) =
                    admin_server::planned_trend_tables(&pool, &shape.query).await?;
                describe_trend_tables(&parts, tail_minutes)
            }
            _ => String::new(),
        };
        if p95 > target {
            misses.push(format!("{} {}", shape.endpoint, shape.label));
        }
        println!(
            "| {} | {} | {rows} | {p50:.2} | {p95:.2} | {target} | {read} |",
            shape.endpoint, shape.label
        );
    }
    if misses.is_empty() {
        println!("\nevery shape's p95 is within its target");
    } else {
        println!("\nover the p95 target: {}", misses.join(", "));
    }
    if options.endpoints.iter().any(|e| e == "status") {
        single_flight(&pool).await?;
    }
    Ok(())
}

/// The server in-process on a loopback port, with the static token and
/// `status_ttl` as the status cache's time-to-live.
async fn start_server(pool: &PgPool, status_ttl: Duration) -> anyhow::Result<std::net::SocketAddr> {
    let config = AppConfig {
        admin_token: Some(TOKEN.into()),
        status_ttl,
        ..AppConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(admin_server::serve(
        listener,
        app(config, pool.clone()),
        std::future::pending(),
    ));
    Ok(addr)
}

/// `3: p20261128..p20261130` (+ `default`): the daily partitions a plan reads.
fn describe_partitions(tables: &std::collections::BTreeSet<String>) -> String {
    let days: Vec<&str> = tables
        .iter()
        .filter_map(|t| t.strip_prefix("ai_runtime_events_"))
        .filter(|t| *t != "default")
        .collect();
    let mut text = match (days.first(), days.last()) {
        (Some(first), Some(last)) if first != last => format!("{}: {first}..{last}", days.len()),
        (Some(only), _) => format!("1: {only}"),
        _ => "0".to_owned(),
    };
    if tables.contains("ai_runtime_events_default") {
        text.push_str(" + default");
    }
    text
}

/// The tables each part of a trends answer reads: the roll-ups before the
/// mark, the daily partitions of the raw tail after it (and its length up to
/// now), and those the breaker lookups probe (the reason-code index of
/// every day before and after `from`: breaker events are rare).
fn describe_trend_tables(
    parts: &[(&str, std::collections::BTreeSet<String>)],
    tail_minutes: i64,
) -> String {
    let tables = |part: &str| {
        parts
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let rolled: Vec<String> = tables("rolled").into_iter().collect();
    format!(
        "roll-ups: {}; raw tail ({tail_minutes} min): {}; breaker lookups: {}",
        rolled.join(", "),
        describe_partitions(&tables("tail")),
        describe_partitions(&tables("breakers"))
    )
}

/// 20 dashboards asking for `/status` at once, through the server's status
/// cache (its default 2 s time-to-live): how many computations they cost,
/// counted by the distinct `generatedAt` instants they were answered with
/// and by the transactions the database committed meanwhile.
async fn single_flight(pool: &PgPool) -> anyhow::Result<()> {
    const CALLERS: usize = 20;
    let addr = start_server(pool, AppConfig::default().status_ttl).await?;
    let mut clients = Vec::new();
    for _ in 0..CALLERS {
        clients.push(Client::connect(ClientKind::Lean, addr).await?);
    }
    let path = format!("{API_BASE}/status");
    let commits = || async {
        // Backends report their counts at most 10 s after going idle
        // (PostgreSQL 15's statistics flush); wait that out on both sides.
        tokio::time::sleep(Duration::from_secs(11)).await;
        sqlx::query_scalar::<_, i64>(
            "select xact_commit from pg_stat_database where datname = current_database()",
        )
        .fetch_one(pool)
        .await
    };
    let before = commits().await?;
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for mut client in clients {
        let path = path.clone();
        calls.spawn(async move {
            let response = client.get(&path, TOKEN).await?;
            let body: serde_json::Value = serde_json::from_slice(&response.body)?;
            anyhow::Ok(body["generatedAt"].to_string())
        });
    }
    let mut computed = std::collections::BTreeSet::new();
    while let Some(answer) = calls.join_next().await {
        computed.insert(answer??);
    }
    let took = started.elapsed();
    let after = commits().await?;
    // The two reads of the counter are transactions of their own.
    let transactions = after - before - 1;
    println!(
        "\n{CALLERS} concurrent /status requests: answered in {:.1} ms, {} computation(s) \
         (distinct generatedAt), {transactions} database transaction(s) committed (target: at most 2 computations)",
        took.as_secs_f64() * 1e3,
        computed.len(),
    );
    Ok(())
}

/// p50 and p95 of a request that reaches no query (a 404 behind the guard).
async fn floor(
    kind: ClientKind,
    addr: std::net::SocketAddr,
    samples: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut client = Client::connect(kind, addr).await?;
    let missing = format!("{API_BASE}/no-such-endpoint");
    let mut times = Vec::with_capacity(samples);
    for i in 0..WARMUP + samples {
        let t = Instant::now();
        let response = client.get(&missing, TOKEN).await?;
        anyhow::ensure!(response.status == 404, "{missing}: {}", response.status);
        if i >= WARMUP {
            times.push(t.elapsed());
        }
    }
    Ok((percentile(&mut times, 0.50), percentile(&mut times, 0.95)))
}

/// The rows a response holds (workers for `/status`, buckets for `/trends`).
fn rows_of(endpoint: &str, body: &[u8]) -> anyhow::Result<usize> {
    let json: serde_json::Value = serde_json::from_slice(body)?;
    let key = match endpoint {
        "events" => "events",
        "tasks" => "tasks",
        "trends" => "buckets",
        _ => "workers",
    };
    Ok(json[key].as_array().context("no list")?.len())
}

/// Waits (at most 50 ms) until every connection of `pool` is back in it.
/// sqlx returns a connection in a task of its own, after a ping (a round
/// trip to the server); without this, the ping of one request would run
/// while the next is being timed.
async fn settle(pool: &PgPool) {
    let until = Instant::now() + std::time::Duration::from_millis(50);
    while Instant::now() < until && pool.num_idle() < pool.size() as usize {
        tokio::task::yield_now().await;
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index].as_secs_f64() * 1000.0
}
