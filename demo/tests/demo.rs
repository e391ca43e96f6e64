//! `ai-runtime-demo`: starts workers and the server on a fresh database,
//! prints a URL whose fragment carries a working admin token, and on SIGINT
//! stops cleanly with every worker written STOPPED. With
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, the same events reach a collector.

#[path = "../../observability-layer/tests/common/otlp_receiver.rs"]
mod otlp_receiver;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn demo_serves_a_tokenized_url_and_stops_cleanly(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    );
    let receiver = otlp_receiver::Receiver::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ai-runtime-demo"))
        .args([
            "--database-url",
            &url,
            "--bind",
            "127.0.0.1:0",
            "--ui-dir",
            "/nonexistent",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env_remove("ADMIN_TOKEN")
        .env_remove("SUPABASE_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (dashboard, reader) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "the demo exited early"
            );
            if line.contains("#token=") {
                return (line.trim().to_owned(), reader);
            }
        }
    })
    .await
    .unwrap();
    let (base, token) = dashboard.split_once("/admin/ai/runtime#token=").unwrap();
    assert!(token.len() >= 32, "a long random token: {dashboard}");

    // The token in the fragment opens the API; the workers show up in it.
    let client = reqwest::Client::new();
    let mut seen_workers = 0;
    for _ in 0..100 {
        let status: serde_json::Value = client
            .get(format!("{base}/api/admin/ai/runtime/status"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen_workers = status["workers"].as_array().map_or(0, Vec::len);
        if seen_workers == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen_workers, 2);
    let refused = client
        .get(format!("{base}/api/admin/ai/runtime/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let exit = tokio::task::spawn_blocking(move || {
        // Keep reading: the demo prints a summary on its way out.
        let summary: Vec<String> = reader.lines().map_while(Result::ok).collect();
        (child.wait().unwrap(), summary)
    });
    let (exit, summary) = tokio::time::timeout(Duration::from_secs(30), exit)
        .await
        .expect("stopped in time")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        summary.iter().any(|l| l.starts_with("stopped after")),
        "{summary:?}"
    );

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let statuses: Vec<String> =
        sqlx::query_scalar("select status from ai_worker_status order by worker_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(statuses, ["STOPPED", "STOPPED"]);

    // The collector got every event Postgres stored.
    let sent = summary
        .iter()
        .find_map(|l| l.strip_prefix("events sent to otlp: "))
        .unwrap_or_else(|| panic!("an otlp summary line: {summary:?}"));
    assert!(sent.ends_with("dropped 0"), "{sent}");
    let stored: i64 = sqlx::query_scalar("select count(*) from ai_runtime_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let records = receiver.accepted_records();
    assert!(
        stored >= 4,
        "at least each worker's online and stopped events"
    );
    assert_eq!(records.len() as i64, stored);
    assert_eq!(sent, format!("{stored}, dropped 0"));
    assert!(records.iter().any(|r| {
        otlp_receiver::attr_str(r, "ai_runtime.reason_code").as_deref() == Some("WORKER_ONLINE")
    }));
    assert_eq!(
        receiver.requests()[0].resource["service.name"],
        "phase1_reply_runner"
    );
    // The rig worker's agent turns, captured from rig's spans: its provider
    // calls (priced) and its tool call.
    let rig_rows: Vec<(String, String, Option<f64>)> = sqlx::query_as(
        "select reason_code, entity_id, (metadata->>'cost_usd')::float8 from ai_runtime_events \
         where worker_id = 'rig-agent-1' order by occurred_at limit 3",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rig_rows.len(), 3, "{rig_rows:?}");
    assert_eq!(
        rig_rows
            .iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        [
            ("PROVIDER_CALL_OK", "openai/gpt-4o-mini"),
            ("TOOL_CALL_OK", "lookup_order"),
            ("PROVIDER_CALL_OK", "openai/gpt-4o-mini"),
        ]
    );
    assert!(rig_rows[0].2.is_some_and(|usd| usd > 0.0), "{rig_rows:?}");
    pool.close().await;
}
