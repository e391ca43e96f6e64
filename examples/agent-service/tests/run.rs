//! The example runs: its binary, started on a free port against a fresh
//! database, answers a question through the rig agent, and the layer has
//! written the agent's provider calls and its tool call under the task,
//! which the dashboard's API shows as the task's story.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sqlx::PgPool;

/// Kills the service when the test ends, whatever happens.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The URL of the test's own database, on the server of `DATABASE_URL`.
fn database_url(name: &str) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| ai_runtime_migrations::DEFAULT_DATABASE_URL.to_owned());
    let server = base.rsplit_once('/').map_or(base.as_str(), |(s, _)| s);
    format!("{server}/{name}")
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_question_becomes_a_task_with_its_calls_and_tool_call(pool: PgPool) {
    let name = pool.connect_options().get_database().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent-service"))
        .args(["--bind", "127.0.0.1:0"])
        .env("AI_RUNTIME_EVENTS_DATABASE_URL", database_url(&name))
        .env_remove("OPENAI_BASE_URL")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example binary starts");
    let stdout = child.stdout.take().unwrap();
    let _service = Service(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();

    let client = Client::builder(TokioExecutor::new()).build_http();
    let request = hyper::Request::post(format!("{address}/ask"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"question":"Where is order A-17?"}"#,
        )))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        answer["answer"].as_str().unwrap().contains("shipped"),
        "{answer}"
    );
    let task_id: uuid::Uuid = answer["taskId"].as_str().unwrap().parse().unwrap();

    // The writer flushes within its interval; wait for the three rows.
    let deadline = Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "select layer, operation, reason_code, entity_id from ai_runtime_events
             where task_id = $1 and worker_id = 'agent-service-1' order by occurred_at",
        )
        .bind(task_id)
        .fetch_all(&pool)
        .await
        .unwrap();
        if rows.len() >= 3 || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let call = |entity: &str| {
        (
            "provider_runtime".to_owned(),
            "CALL".to_owned(),
            "PROVIDER_CALL_OK".to_owned(),
            entity.to_owned(),
        )
    };
    assert_eq!(
        rows,
        vec![
            call("openai/gpt-4o-mini"),
            (
                "tool_runtime".to_owned(),
                "TOOL_CALL".to_owned(),
                "TOOL_CALL_OK".to_owned(),
                "lookup_order".to_owned()
            ),
            call("openai/gpt-4o-mini"),
        ]
    );
    // Tokens and a price for the known model, on each call.
    let priced: i64 = sqlx::query_scalar(
        "select count(*) from ai_runtime_events where task_id = $1
         and metadata ? 'cost_usd' and (metadata->>'gen_ai.usage.input_tokens')::int = 180",
    )
    .bind(task_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(priced, 2);

    // The dashboard's task page reads this story: the example's task is
    // not in the queue (an external task), its two calls are priced.
    let admin = admin_server::AppConfig {
        admin_token: Some("example-admin-token".into()),
        ..admin_server::AppConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_address = listener.local_addr().unwrap();
    let app = admin_server::app(admin, pool.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let request = hyper::Request::get(format!(
        "http://{admin_address}/api/admin/ai/runtime/tasks/{task_id}"
    ))
    .header("authorization", "Bearer example-admin-token")
    .body(Full::new(Bytes::new()))
    .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let story: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(story["task"], serde_json::Value::Null, "{story}");
    let calls = story["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{story}");
    assert!(
        calls
            .iter()
            .all(|c| c["costUsd"].as_f64().is_some_and(|usd| usd > 0.0) && c["inputTokens"] == 180),
        "{story}"
    );
}
