//! `/metrics` (scraped by a real Prometheus, checked with promtool) and the
//! probes `/healthz` and `/readyz`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use admin_server::AppConfig;
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::fixtures::{ago, insert_event, insert_task, upsert_worker, Event, Task, Worker};
use crate::server::{self, TOKEN};

const SCRAPE_TOKEN: &str = "scrape-token-for-tests";

fn with_scrape_token() -> AppConfig {
    AppConfig {
        metrics_token: Some(SCRAPE_TOKEN.into()),
        ..server::config()
    }
}

/// worker-a running with sink statistics, worker-b with its breaker open,
/// two PENDING tasks and one RUNNING task whose lease expired, one event.
async fn crafted(pool: &PgPool) -> chrono::DateTime<Utc> {
    upsert_worker(
        pool,
        Worker {
            worker_id: "worker-a",
            metadata: json!({
                "heartbeatIntervalSeconds": 10,
                "sink": {"sinkId": "0b3a6f0e-0000-4000-8000-000000000001", "emitted": 100,
                         "written": 90, "droppedChannelFull": 3, "droppedDatabase": 5, "invalid": 2},
                "ingest": {"accepted": 95, "ignored": 7, "rejected": 4, "throttled": 512},
            }),
            ..Worker::default()
        },
    )
    .await;
    upsert_worker(
        pool,
        Worker {
            worker_id: "worker-b",
            status: "DEGRADED",
            circuit_open: true,
            circuit_reason: Some("BREAKER_OPENED"),
            ..Worker::default()
        },
    )
    .await;
    for _ in 0..2 {
        insert_task(pool, Task::default()).await;
    }
    insert_task(
        pool,
        Task {
            status: "RUNNING",
            lease_owner: Some("worker-a".into()),
            lease_expires_at: Some(ago(60)),
            ..Task::default()
        },
    )
    .await;
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap();
    insert_event(
        pool,
        Event {
            occurred_at: at,
            ..Event::default()
        },
    )
    .await;
    at
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn metrics_need_the_scrape_token_or_an_admin(pool: PgPool) {
    crafted(&pool).await;
    let server = server::start_with(with_scrape_token(), pool).await;
    let url = format!("{}/metrics", server.base);
    for token in [SCRAPE_TOKEN, TOKEN] {
        let (status, content_type, body) = get(&server.client, &url, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        assert!(
            body.contains("ai_runtime_worker_circuit_open{worker_id=\"worker-b\"} 1\n"),
            "{body}"
        );
        assert!(body.contains("ai_runtime_worker_circuit_open{worker_id=\"worker-a\"} 0\n"));
    }
    // OpenMetrics for a client that asks for it (Prometheus does).
    let response = server
        .client
        .get(&url)
        .bearer_auth(SCRAPE_TOKEN)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let body = response.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("# TYPE ai_runtime_sink_events_dropped counter\n"));
    for token in [None, Some("wrong")] {
        let (status, _, body) = get(&server.client, &url, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(!body.contains("ai_runtime"), "{body}");
    }
    // The scrape token reads /metrics only, not the admin API.
    let (status, _) = server
        .api_as("status", Some(&format!("Bearer {SCRAPE_TOKEN}")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn promtool_accepts_the_exposition(pool: PgPool) {
    crafted(&pool).await;
    let server = server::start(pool).await;
    let (_, _, body) = get(
        &server.client,
        &format!("{}/metrics", server.base),
        Some(TOKEN),
    )
    .await;
    server.stop().await;
    let mut promtool = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/lib.sh: ensure_prometheus)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Prometheus of its own on a free loopback port, killed when dropped.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    base: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tool(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run `bash -c 'source scripts/lib.sh && ensure_prometheus'`");
}

/// `deploy/prometheus/alerts.yml`.
fn rules_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/alerts.yml")
}

/// `promtool check rules` and the rules' unit tests (`alerts_test.yml`).
#[test]
fn promtool_checks_and_tests_the_alert_rules() {
    let dir = rules_file().parent().unwrap().to_owned();
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new(tool("promtool"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn start_prometheus(target: &str, token: &str) -> Prometheus {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("ai-runtime-prometheus-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\nscrape_configs:\n  \
         - job_name: ai_runtime\n    authorization:\n      credentials: {token}\n    \
         static_configs:\n      - targets: ['{target}']\n",
        rules_file().display()
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let child = Command::new(tool("prometheus"))
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    Prometheus {
        child,
        dir,
        base: format!("http://127.0.0.1:{port}"),
    }
}

impl Prometheus {
    /// The value of the instant query `query` (one series), once it has one.
    async fn value(&self, client: &reqwest::Client, query: &str) -> f64 {
        for _ in 0..300 {
            let answer = client
                .get(format!("{}/api/v1/query", self.base))
                .query(&[("query", query)])
                .send()
                .await;
            if let Ok(answer) = answer {
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                let result = &body["data"]["result"];
                if let Some(series) = result.as_array().filter(|r| !r.is_empty()) {
                    assert_eq!(series.len(), 1, "{query}: {body}");
                    return series[0]["value"][1].as_str().unwrap().parse().unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus had no value for {query} within 30 s");
    }
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_real_prometheus_scrapes_the_values(pool: PgPool) {
    let last_event = crafted(&pool).await;
    let server = server::start_with(with_scrape_token(), pool).await;
    let prometheus = start_prometheus(server.base.trim_start_matches("http://"), SCRAPE_TOKEN);
    let client = reqwest::Client::new();
    let expected: &[(&str, f64)] = &[
        (
            r#"ai_runtime_worker_circuit_open{worker_id="worker-b"}"#,
            1.0,
        ),
        (
            r#"ai_runtime_worker_circuit_open{worker_id="worker-a"}"#,
            0.0,
        ),
        (
            r#"ai_runtime_worker_state{worker_id="worker-b",state="DEGRADED"}"#,
            1.0,
        ),
        (
            r#"ai_runtime_worker_state{worker_id="worker-b",state="RUNNING"}"#,
            0.0,
        ),
        (
            r#"ai_runtime_worker_state{worker_id="worker-a",state="RUNNING"}"#,
            1.0,
        ),
        (r#"ai_runtime_worker_stale{worker_id="worker-a"}"#, 0.0),
        (r#"ai_runtime_tasks{status="PENDING"}"#, 2.0),
        (r#"ai_runtime_tasks{status="RUNNING"}"#, 1.0),
        (r#"ai_runtime_tasks_stuck{status="RUNNING"}"#, 1.0),
        (r#"ai_runtime_tasks_stuck{status="PENDING"}"#, 0.0),
        (
            r#"ai_runtime_sink_events_emitted_total{worker_id="worker-a"}"#,
            100.0,
        ),
        (
            r#"ai_runtime_sink_events_written_total{worker_id="worker-a"}"#,
            90.0,
        ),
        (
            r#"ai_runtime_sink_events_dropped_total{worker_id="worker-a",cause="channel_full"}"#,
            3.0,
        ),
        (
            r#"ai_runtime_sink_events_dropped_total{worker_id="worker-a",cause="database"}"#,
            5.0,
        ),
        (
            r#"ai_runtime_sink_events_invalid_total{worker_id="worker-a"}"#,
            2.0,
        ),
        (
            r#"ai_runtime_ingest_items_total{worker_id="worker-a",outcome="rejected"}"#,
            4.0,
        ),
        (
            r#"ai_runtime_ingest_items_total{worker_id="worker-a",outcome="throttled"}"#,
            512.0,
        ),
        (
            "ai_runtime_last_event_timestamp_seconds",
            last_event.timestamp() as f64,
        ),
        (r#"ai_runtime_build_info{version!=""}"#, 1.0),
        (r#"ai_runtime_alerts_firing{alert="BREAKER_OPEN"}"#, 0.0),
        (r#"up{job="ai_runtime"}"#, 1.0),
        // The rules of deploy/prometheus/alerts.yml over these metrics: the
        // stuck task fires at once, the breaker waits for its 2 minutes.
        (
            r#"ALERTS{alertname="AiRuntimeStuckTasks",alertstate="firing"}"#,
            1.0,
        ),
        (
            r#"ALERTS{alertname="AiRuntimeBreakerOpen",alertstate="pending",worker_id="worker-b"}"#,
            1.0,
        ),
    ];
    for (query, value) in expected {
        assert_eq!(prometheus.value(&client, query).await, *value, "{query}");
    }
    let age = prometheus
        .value(
            &client,
            r#"ai_runtime_worker_heartbeat_age_seconds{worker_id="worker-a"}"#,
        )
        .await;
    assert!((0.0..60.0).contains(&age), "heartbeat age {age}");
    drop(prometheus);
    server.stop().await;
}

async fn probe(server: &server::TestServer, path: &str) -> (StatusCode, String) {
    let (status, _, body) = get(&server.client, &format!("{}{path}", server.base), None).await;
    (status, body)
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn probes_follow_the_database_down_and_back(_: PgPoolOptions, options: PgConnectOptions) {
    let database = options.get_database().unwrap().to_owned();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap();
    let server = server::start(pool.clone()).await;
    assert_eq!(
        probe(&server, "/healthz").await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        probe(&server, "/readyz").await,
        (StatusCode::OK, "ok\n".into())
    );

    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .unwrap();
    let allow =
        |allowed: bool| format!("alter database \"{database}\" allow_connections {allowed}");
    sqlx::query(&allow(false))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()")
        .bind(&database)
        .execute(&mut admin)
        .await
        .unwrap();
    let (status, body) = probe(&server, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready\n", "no detail for unauthenticated callers");
    assert_eq!(probe(&server, "/healthz").await.0, StatusCode::OK);

    sqlx::query(&allow(true)).execute(&mut admin).await.unwrap();
    let mut ready = false;
    for _ in 0..50 {
        if probe(&server, "/readyz").await.0 == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz did not recover with the database");
    server.stop().await;
    pool.close().await;
}

/// A database the migrations never ran on answers, but is not ready; once
/// migrated by sqlx it is; a schema older than this build's is not.
#[sqlx::test(migrations = false)]
async fn readyz_on_a_database_migrated_by_sqlx(pool: PgPool) {
    let server = server::start(pool.clone()).await;
    assert_eq!(
        probe(&server, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    ai_runtime_migrations::migrate(&pool).await.unwrap();
    assert_eq!(
        probe(&server, "/readyz").await,
        (StatusCode::OK, "ok\n".into())
    );
    older_schema_is_not_ready(&server, &pool).await;
    server.stop().await;
}

/// The way the Supabase CLI applies `supabase/migrations`: each file in
/// order, by the real `psql`, with no `_sqlx_migrations` table anywhere.
#[sqlx::test(migrations = false)]
async fn readyz_on_a_database_migrated_by_psql_files_alone(pool: PgPool) {
    let options = pool.connect_options();
    let server = server::start(pool.clone()).await;
    assert_eq!(
        probe(&server, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../supabase/migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert_eq!(files.len(), ai_runtime_migrations::MIGRATOR.iter().count());
    for file in &files {
        let out = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", options.get_host()])
            .args(["-p", &options.get_port().to_string()])
            .args(["-U", options.get_username()])
            .args(["-d", options.get_database().unwrap()])
            .arg("-f")
            .arg(file)
            .output()
            .expect("psql (PostgreSQL's client) on PATH");
        assert!(out.status.success(), "{}: {out:?}", file.display());
    }
    let bookkeeping: Option<String> =
        sqlx::query_scalar("select to_regclass('public._sqlx_migrations')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(bookkeeping, None, "no sqlx bookkeeping");
    assert_eq!(
        probe(&server, "/readyz").await,
        (StatusCode::OK, "ok\n".into())
    );
    older_schema_is_not_ready(&server, &pool).await;
    server.stop().await;
}

/// A schema whose newest migration is older than this build's is not ready.
async fn older_schema_is_not_ready(server: &server::TestServer, pool: &PgPool) {
    let older = ai_runtime_migrations::latest_version() - 1;
    sqlx::raw_sql(&format!(
        "create or replace function public.ai_runtime_schema_version() returns bigint
         language sql stable set search_path = '' as $$ select {older}::bigint $$"
    ))
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(
        probe(server, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
