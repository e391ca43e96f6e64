//! Starting the server in-process and calling it.

use std::path::PathBuf;

use admin_server::{app, AppConfig, Thresholds};
use ai_runtime_migrations::roles::ComponentRole;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

pub const TOKEN: &str = "static-admin-token-for-tests";
pub const SECRET: &str = "jwt-secret-for-tests";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pool: PgPool,
    task: tokio::task::JoinHandle<()>,
}

pub fn config() -> AppConfig {
    AppConfig {
        admin_token: Some(TOKEN.to_owned()),
        jwt_secret: Some(SECRET.to_owned()),
        ui_dir: PathBuf::from("/nonexistent-ui-dir"),
        thresholds: Thresholds::default(),
        // Tests change the data between two calls and expect to see it;
        // `status::concurrent_callers_share_one_computation` sets its own.
        status_ttl: std::time::Duration::ZERO,
        ..AppConfig::default()
    }
}

pub async fn start(pool: PgPool) -> TestServer {
    start_with(config(), pool).await
}

/// Starts the server on its own pool over the test's database (so `stop`
/// can close it cleanly before `sqlx::test` drops the database), as the
/// `ai_runtime_reader` role, as it runs in production: every endpoint
/// works with that role's grants and row-level security policies alone.
pub async fn start_with(config: AppConfig, test_pool: PgPool) -> TestServer {
    let as_reader = ComponentRole::Reader.connect_options(&test_pool.connect_options());
    let pool = admin_server::pool_options()
        .max_connections(4)
        .connect_lazy_with(as_reader);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(config, pool.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    TestServer {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        pool,
        task,
    }
}

impl TestServer {
    /// Stops the server and closes its pool. Without it a connection still
    /// on its way back to the pool can delay dropping the test database.
    pub async fn stop(self) {
        drop(self.client);
        self.task.abort();
        let _ = self.task.await;
        // Let connections finish their return to the pool, then close them.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        self.pool.close().await;
    }

    /// GET `path` (relative to the API base) with the static admin token.
    pub async fn api(&self, path_and_query: &str) -> (StatusCode, Value) {
        self.api_as(path_and_query, Some(&format!("Bearer {TOKEN}")))
            .await
    }

    pub async fn api_as(
        &self,
        path_and_query: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let url = format!("{}/api/admin/ai/runtime/{path_and_query}", self.base);
        let mut request = self.client.get(url);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// The `WWW-Authenticate` header of GET `path` with `authorization`.
    pub async fn challenge(&self, path: &str, authorization: Option<&str>) -> Option<String> {
        let url = format!("{}/api/admin/ai/runtime/{path}", self.base);
        let mut request = self.client.get(url);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        let challenge = response.headers().get("www-authenticate");
        challenge.map(|v| v.to_str().unwrap().to_owned())
    }

    /// Expects a 200 and returns the body.
    pub async fn ok(&self, path_and_query: &str) -> Value {
        let (status, body) = self.api(path_and_query).await;
        assert_eq!(status, StatusCode::OK, "{path_and_query}: {body}");
        body
    }

    /// Every page of a listing (`path` and its query, without a cursor),
    /// following `nextCursor` to the end, as a client does.
    pub async fn every_page(&self, path_and_query: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut url = path_and_query.to_owned();
        for _ in 0..1000 {
            let body = self.ok(&url).await;
            let next = body["nextCursor"].as_str().map(str::to_owned);
            pages.push(body);
            match next {
                Some(cursor) => url = format!("{path_and_query}&cursor={cursor}"),
                None => return pages,
            }
        }
        panic!("{path_and_query}: paging did not end");
    }

    /// Expects a 400 naming `parameter`.
    pub async fn bad(&self, path_and_query: &str, parameter: &str) {
        let (status, body) = self.api(path_and_query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path_and_query}: {body}");
        assert_eq!(body["error"], "bad_parameter", "{path_and_query}: {body}");
        assert_eq!(body["parameter"], parameter, "{path_and_query}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

/// `claims` signed with `secret` under `header`.
pub fn sign(header: &jsonwebtoken::Header, claims: &Value, secret: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(header, claims, &key).unwrap()
}

/// `claims` signed with the server's secret (HS256).
pub fn jwt(claims: Value) -> String {
    sign(&jsonwebtoken::Header::default(), &claims, SECRET)
}

pub fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

pub fn admin_jwt() -> String {
    jwt(json!({"sub": "admin-1", "exp": in_an_hour(), "app_metadata": {"role": "admin"}}))
}
