//! The harness: each query shape through the server (HTTP, auth, JSON) and
//! as the same SQL on a pool of its own, alternating, then p50/p95 and ratios.

use std::time::{Duration, Instant};

use admin_server::cursor::{Cursor, CursorKind};
use admin_server::params::{EventFilter, EventsQuery, TaskFilter, TasksQuery};
use admin_server::{app, events, status, tasks, AppConfig, Thresholds};
use ai_runtime_api::API_BASE;
use anyhow::Context;
use chrono::Utc;
use sqlx::{Connection, PgPool, QueryBuilder};

use crate::generate::DataSet;
use crate::http::{Client, ClientKind};
use crate::plan::{explain, PlanSummary};

const TOKEN: &str = "bench-token";

/// The endpoints measured, in the order of the table.
pub const ENDPOINTS: [&str; 3] = ["events", "tasks", "status"];

/// What to measure and how.
pub struct Options {
    /// Timed requests per shape (after a warm-up).
    pub samples: usize,
    pub client: ClientKind,
    /// Endpoints to measure (of [`ENDPOINTS`]).
    pub endpoints: Vec<String>,
}
const WARMUP: usize = 10;

enum Direct {
    Events(EventFilter),
    Tasks(TaskFilter),
    Status(i64),
}

struct Shape {
    endpoint: &'static str,
    label: String,
    query: String,
    direct: Direct,
}

fn events_shape(label: &str, pairs: &[(&str, String)]) -> Shape {
    let mut q = EventsQuery::default();
    for (key, value) in pairs {
        let v = Some(value.clone());
        match *key {
            "layer" => q.layer = v,
            "operation" => q.operation = v,
            "reasonCode" => q.reason_code = v,
            "entityId" => q.entity_id = v,
            "taskId" => q.task_id = v,
            "workerId" => q.worker_id = v,
            "from" => q.from = v,
            "to" => q.to = v,
            "limit" => q.limit = v,
            "cursor" => q.cursor = v,
            other => panic!("unknown events parameter {other}"),
        }
    }
    Shape {
        endpoint: "events",
        label: label.to_owned(),
        query: query_string(pairs),
        direct: Direct::Events(EventFilter::try_from(q).expect("a valid shape")),
    }
}

fn tasks_shape(label: &str, pairs: &[(&str, String)]) -> Shape {
    let mut q = TasksQuery::default();
    for (key, value) in pairs {
        let v = Some(value.clone());
        match *key {
            "status" => q.status = v,
            "stuck" => q.stuck = v,
            "limit" => q.limit = v,
            "cursor" => q.cursor = v,
            other => panic!("unknown tasks parameter {other}"),
        }
    }
    Shape {
        endpoint: "tasks",
        label: label.to_owned(),
        query: query_string(pairs),
        direct: Direct::Tasks(TaskFilter::try_from(q).expect("a valid shape")),
    }
}

fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn shapes(data: &DataSet) -> Vec<Shape> {
    let now = Utc::now();
    let ts = |hours: i64| {
        (now - chrono::Duration::hours(hours))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mid_cursor = |kind| {
        Cursor {
            at: now - chrono::Duration::days(3),
            id: uuid::Uuid::max(),
        }
        .encode(kind)
    };
    let some = data.some_task.to_string();
    let s = |v: &str| v.to_owned();
    let mut list = vec![
        events_shape("newest 50", &[]),
        events_shape("limit 1", &[("limit", s("1"))]),
        events_shape("limit 500", &[("limit", s("500"))]),
        events_shape(
            "deep cursor (3 days back)",
            &[("cursor", mid_cursor(CursorKind::Events))],
        ),
        events_shape("layer", &[("layer", s("tool_runtime"))]),
        events_shape("operation (rare)", &[("operation", s("BREAKER"))]),
        events_shape(
            "reasonCode (rare)",
            &[("reasonCode", s("PROVIDER_CIRCUIT_OPENED"))],
        ),
        events_shape("entityId", &[("entityId", s("tool-3"))]),
        events_shape("taskId", &[("taskId", some.clone())]),
        events_shape("workerId", &[("workerId", s("worker-3"))]),
        events_shape(
            "from..to (1 h, a day ago)",
            &[("from", ts(25)), ("to", ts(24))],
        ),
        events_shape(
            "layer+reasonCode",
            &[
                ("layer", s("provider_runtime")),
                ("reasonCode", s("PROVIDER_TIMEOUT")),
            ],
        ),
        events_shape(
            "layer+operation+workerId+from",
            &[
                ("layer", s("provider_runtime")),
                ("operation", s("RETRY")),
                ("workerId", s("worker-1")),
                ("from", ts(48)),
            ],
        ),
        events_shape(
            "rare reason + old window",
            &[
                ("reasonCode", s("TOOL_LOOP_LIMIT")),
                ("from", ts(160)),
                ("to", ts(150)),
            ],
        ),
        tasks_shape("newest 50", &[]),
        tasks_shape("status=PENDING", &[("status", s("PENDING"))]),
        tasks_shape("status=DONE", &[("status", s("DONE"))]),
        tasks_shape("stuck=true", &[("stuck", s("true"))]),
        tasks_shape("stuck=false", &[("stuck", s("false"))]),
        tasks_shape(
            "status=RUNNING&stuck=true",
            &[("status", s("RUNNING")), ("stuck", s("true"))],
        ),
        tasks_shape(
            "deep cursor (3 days back)",
            &[("cursor", mid_cursor(CursorKind::Tasks))],
        ),
        Shape {
            endpoint: "status",
            label: s("window 15 min"),
            query: s("window=15"),
            direct: Direct::Status(15),
        },
        Shape {
            endpoint: "status",
            label: s("window 24 h"),
            query: s("window=1440"),
            direct: Direct::Status(1440),
        },
    ];
    if let Some(hot) = data.hot_task {
        let hot = hot.to_string();
        list.push(events_shape("hot taskId", &[("taskId", hot.clone())]));
        list.push(events_shape(
            "hot taskId + rare reason",
            &[
                ("taskId", hot.clone()),
                ("reasonCode", s("PROVIDER_CIRCUIT_OPENED")),
            ],
        ));
        list.push(events_shape(
            "hot taskId + layer + 1 h",
            &[
                ("taskId", hot.clone()),
                ("layer", s("execution")),
                ("from", ts(30)),
                ("to", ts(29)),
            ],
        ));
        list.push(events_shape(
            "hot taskId deep cursor",
            &[("taskId", hot), ("cursor", mid_cursor(CursorKind::Events))],
        ));
    }
    list
}

pub async fn run(
    api_pool: PgPool,
    sql_pool: PgPool,
    data: &DataSet,
    options: &Options,
) -> anyhow::Result<()> {
    let (samples, client) = (options.samples, options.client);
    let thresholds = Thresholds::default();
    let config = AppConfig {
        admin_token: Some(TOKEN.into()),
        ..AppConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(admin_server::serve(
        listener,
        app(config, api_pool.clone()),
        std::future::pending(),
    ));
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
    println!(
        "\n| endpoint | shape | rows | API p50 ms | API p95 ms | SQL p50 ms | SQL p95 ms | p50 ratio | p95 ratio | plan (indexes) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let mut worst_ratio: f64 = 0.0;
    let measured = shapes(data)
        .into_iter()
        .filter(|shape| options.endpoints.iter().any(|e| e == shape.endpoint));
    for shape in measured {
        let url = format!("{API_BASE}/{}?{}", shape.endpoint, shape.query);
        let mut api = Vec::with_capacity(samples);
        let mut sql = Vec::with_capacity(samples);
        let mut rows = 0;
        for i in 0..WARMUP + samples {
            settle(&[&api_pool, &sql_pool]).await;
            let t = Instant::now();
            let response = http.get(&url, TOKEN).await?;
            let api_time = t.elapsed();
            anyhow::ensure!(response.status == 200, "{url}: {}", response.status);
            settle(&[&api_pool, &sql_pool]).await;
            let t = Instant::now();
            let n = direct(&sql_pool, &shape.direct, &thresholds).await?;
            let sql_time = t.elapsed();
            if i >= WARMUP {
                api.push(api_time);
                sql.push(sql_time);
            }
            if i == 0 {
                same_rows(shape.endpoint, &response.body, n)
                    .with_context(|| format!("{url}: the API and the SQL disagree"))?;
            }
            rows = n;
        }
        let plan = plan_of(&sql_pool, &shape.direct, &thresholds).await?;
        let (a50, a95) = (percentile(&mut api, 0.50), percentile(&mut api, 0.95));
        let (s50, s95) = (percentile(&mut sql, 0.50), percentile(&mut sql, 0.95));
        let ratio = a95 / s95;
        worst_ratio = worst_ratio.max(ratio);
        println!(
            "| {} | {} | {rows} | {a50:.2} | {a95:.2} | {s50:.2} | {s95:.2} | {:.2} | {ratio:.2} | {} |",
            shape.endpoint,
            shape.label,
            a50 / s50,
            plan.describe()
        );
    }
    println!("\nworst p95 ratio (API / direct SQL): {worst_ratio:.2}");
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

/// Checks that the response holds the rows the direct SQL returned: all of
/// them, or all but the look-ahead row of a list endpoint.
fn same_rows(endpoint: &str, body: &[u8], sql_rows: usize) -> anyhow::Result<()> {
    let json: serde_json::Value = serde_json::from_slice(body)?;
    let key = match endpoint {
        "events" => "events",
        "tasks" => "tasks",
        _ => "workers",
    };
    let items = json[key].as_array().map_or(0, Vec::len);
    let look_ahead = usize::from(key != "workers" && json["nextCursor"].is_string());
    anyhow::ensure!(
        items + look_ahead == sql_rows,
        "{items} {key} in the response (look-ahead {look_ahead}), {sql_rows} rows from SQL"
    );
    Ok(())
}

/// Waits (at most 50 ms) until every connection of `pools` is back in its
/// pool. sqlx returns a connection in a task of its own, after a ping (a
/// round trip to the server); without this, one side's ping would run
/// while the other side is being timed.
async fn settle(pools: &[&PgPool]) {
    let until = Instant::now() + std::time::Duration::from_millis(50);
    while Instant::now() < until
        && pools
            .iter()
            .any(|pool| pool.num_idle() < pool.size() as usize)
    {
        tokio::task::yield_now().await;
    }
}

/// Runs the statements the server runs for this shape; returns the row count.
async fn direct(pool: &PgPool, shape: &Direct, thresholds: &Thresholds) -> anyhow::Result<usize> {
    Ok(match shape {
        Direct::Events(filter) => events::page_query(filter)
            .build()
            .persistent(false)
            .fetch_all(pool)
            .await?
            .len(),
        Direct::Tasks(filter) => tasks::page_query(filter, thresholds)
            .build()
            .persistent(false)
            .fetch_all(pool)
            .await?
            .len(),
        Direct::Status(window) => {
            let mut conn = pool.acquire().await?;
            let mut tx = conn.begin().await?;
            sqlx::query("set transaction isolation level repeatable read, read only")
                .execute(&mut *tx)
                .await?;
            sqlx::query("select now()").execute(&mut *tx).await?;
            let workers = sqlx::query(status::WORKERS_SQL)
                .fetch_all(&mut *tx)
                .await?
                .len();
            sqlx::query(status::COUNTS_SQL)
                .bind(status::status_names())
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query(status::DELTAS_SQL)
                .bind(*window as f64 * 60.0)
                .persistent(false)
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query(status::STUCK_SQL)
                .bind(thresholds.stuck_pending_after.as_secs_f64())
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query(status::LAST_EVENT_SQL)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            workers
        }
    })
}

async fn plan_of(
    pool: &PgPool,
    shape: &Direct,
    thresholds: &Thresholds,
) -> anyhow::Result<PlanSummary> {
    let head = "explain (format json) ";
    Ok(match shape {
        Direct::Events(filter) => {
            let mut q = QueryBuilder::new(head);
            events::push_page_sql(&mut q, filter);
            explain(pool, q).await?
        }
        Direct::Tasks(filter) => {
            let mut q = QueryBuilder::new(head);
            tasks::push_page_sql(&mut q, filter, thresholds);
            explain(pool, q).await?
        }
        Direct::Status(window) => {
            let mut summary = PlanSummary::default();
            for sql in [status::WORKERS_SQL, status::LAST_EVENT_SQL] {
                summary.merge(explain(pool, QueryBuilder::new(format!("{head}{sql}"))).await?);
            }
            // EXPLAIN without binds: substitute the parameters' literal values.
            let names = status::status_names().join(",");
            let counts = status::COUNTS_SQL.replace("$1", &format!("'{{{names}}}'"));
            summary.merge(explain(pool, QueryBuilder::new(format!("{head}{counts}"))).await?);
            let deltas = status::DELTAS_SQL.replace("$1", &format!("{}", *window as f64 * 60.0));
            summary.merge(explain(pool, QueryBuilder::new(format!("{head}{deltas}"))).await?);
            let stuck = status::STUCK_SQL.replace(
                "$1",
                &format!("{}", thresholds.stuck_pending_after.as_secs_f64()),
            );
            summary.merge(explain(pool, QueryBuilder::new(format!("{head}{stuck}"))).await?);
            summary
        }
    })
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index].as_secs_f64() * 1000.0
}
