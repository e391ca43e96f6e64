//! The dashboard in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`) driven over WebDriver, against the in-process admin
//! server over a fresh database holding data the test wrote. The server
//! serves the shipped, optimised build in `admin-ui/dist` (`scripts/test`
//! builds it before the tests run).

use std::net::{TcpListener as StdListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use admin_server::AppConfig;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const ADMIN_TOKEN: &str = "dashboard-test-admin-token";
const JWT_SECRET: &str = "dashboard-test-jwt-secret";
/// How long a condition may take to hold in the browser.
const WAIT: Duration = Duration::from_secs(20);
/// The first page of the event stream (the dashboard's page size).
const PAGE: usize = 50;

// ------------------------------------------------------------ the data ---

/// What [`seed`] wrote, for the assertions.
struct Seeded {
    stuck_task: Uuid,
    failed_task: Uuid,
    /// Every event written.
    total_events: usize,
    /// Each event's age when seeded (s).
    ages: Vec<f64>,
    /// When the seeding ended, on the test's clock.
    seeded_at: Instant,
    /// The database's clock when the seeding ended (ms since the epoch): the
    /// ages above count back from it, however long the test runs after.
    seeded_at_ms: f64,
}

/// A task to write: status, lease owner, lease expiry from now (s), reason code, reason.
type TaskRow = (
    &'static str,
    Option<&'static str>,
    Option<f64>,
    Option<&'static str>,
    Option<&'static str>,
);
/// An event to write: layer, operation, reason code, entity, task, worker, age (s).
type EventRow = (
    &'static str,
    &'static str,
    &'static str,
    String,
    Option<Uuid>,
    &'static str,
    f64,
);

/// Three workers (one with an open breaker, one stale), five tasks (one
/// stuck, one failed) and 61 events across every layer.
async fn seed(pool: &PgPool) -> Seeded {
    let route = json!({"provider": "sim-primary", "model": "sim-large"});
    let workers = [
        // id, status, breaker open, breaker reason, heartbeat age (s), metadata
        (
            "worker-a",
            "RUNNING",
            false,
            None,
            2.0,
            json!({"route": route, "heartbeatIntervalSeconds": 10,
            "sink": {"sinkId": "sink-a", "droppedChannelFull": 3, "droppedDatabase": 2}}),
        ),
        (
            "worker-b",
            "DEGRADED",
            true,
            Some("5 consecutive provider failures"),
            3.0,
            json!({"route": route, "heartbeatIntervalSeconds": 10}),
        ),
        (
            "worker-c",
            "RUNNING",
            false,
            None,
            600.0,
            json!({"heartbeatIntervalSeconds": 10}),
        ),
    ];
    for (id, status, open, reason, age, metadata) in workers {
        sqlx::query(
            "insert into ai_worker_status (worker_id, agent_type, status, circuit_open, circuit_reason, \
             last_heartbeat, metadata) values ($1, 'phase1_reply_runner', $2, $3, $4, \
             now() - make_interval(secs => $5), $6)",
        )
        .bind(id)
        .bind(status)
        .bind(open)
        .bind(reason)
        .bind(age)
        .bind(metadata)
        .execute(pool)
        .await
        .expect("insert worker");
    }
    // The built-in alert evaluator's row for worker-b's breaker, firing.
    sqlx::query(
        "insert into ai_runtime_alerts (alert, subject, since, firing_at, value, message) \
         values ('BREAKER_OPEN', 'worker-b', now() - interval '5 minutes', \
         now() - interval '3 minutes', 300, 'circuit breaker of worker-b open for 300 s: 5 consecutive provider failures')",
    )
    .execute(pool)
    .await
    .expect("insert alert");

    // status, lease owner, lease expiry from now (s), reason code, reason
    let tasks: [TaskRow; 5] = [
        ("RUNNING", Some("worker-a"), Some(-300.0), None, None), // lease expired: stuck
        (
            "FAILED",
            None,
            None,
            Some("PROVIDER_EXHAUSTED"),
            Some("every provider route failed"),
        ),
        (
            "SKIPPED",
            None,
            None,
            Some("SAFETY_BLOCKED"),
            Some("the safety gate refused the reply"),
        ),
        ("DONE", None, None, None, None),
        ("PENDING", None, None, None, None),
    ];
    let mut ids = Vec::new();
    for (status, owner, lease_in, code, reason) in tasks {
        let id: Uuid = sqlx::query_scalar(
            "insert into persona_tasks (persona_id, kind, status, attempts, lease_owner, lease_expires_at, \
             reason_code, reason, idempotency_key) values (gen_random_uuid(), 'reply', $1, 1, $2, \
             now() + make_interval(secs => $3), $4, $5, gen_random_uuid()::text) returning id",
        )
        .bind(status)
        .bind(owner)
        .bind(lease_in)
        .bind(code)
        .bind(reason)
        .fetch_one(pool)
        .await
        .expect("insert task");
        // Its last transition, as the queue writes it: finished tasks are
        // counted by the ones that finished within the status window.
        sqlx::query(
            "insert into task_transition_events (task_id, from_status, to_status, reason_code, occurred_at) \
             values ($1, case when $2 = 'PENDING' then null else 'PENDING' end, $2, 'TEST', now() - interval '1 minute')",
        )
        .bind(id)
        .bind(status)
        .execute(pool)
        .await
        .expect("insert transition");
        ids.push(id);
    }
    let (stuck, failed) = (ids[0], ids[1]);

    let mut events: Vec<EventRow> = vec![
        (
            "provider_runtime",
            "RETRY",
            "PROVIDER_RETRY",
            "sim-primary/sim-large".into(),
            Some(failed),
            "worker-b",
            300.0,
        ),
        (
            "provider_runtime",
            "FALLBACK",
            "PROVIDER_FALLBACK",
            "sim-backup/sim-small".into(),
            Some(failed),
            "worker-b",
            290.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_FAILED",
            failed.to_string(),
            Some(failed),
            "worker-b",
            280.0,
        ),
        (
            "worker",
            "BREAKER",
            "BREAKER_OPENED",
            "worker-b".into(),
            None,
            "worker-b",
            270.0,
        ),
        (
            "dispatcher",
            "TASK",
            "TASK_LEASED",
            stuck.to_string(),
            Some(stuck),
            "worker-a",
            210.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_STARTED",
            stuck.to_string(),
            Some(stuck),
            "worker-a",
            200.0,
        ),
        (
            "provider_runtime",
            "CALL",
            "PROVIDER_CALL_OK",
            "sim-primary/sim-large".into(),
            Some(stuck),
            "worker-a",
            190.0,
        ),
        (
            "model_adapter",
            "CALL",
            "ADAPTER_PARSED",
            "sim-large".into(),
            Some(stuck),
            "worker-a",
            185.0,
        ),
        (
            "tool_runtime",
            "TOOL_CALL",
            "TOOL_CALL_OK",
            "search".into(),
            Some(stuck),
            "worker-a",
            180.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_DONE",
            "old-task".into(),
            None,
            "worker-a",
            2.0 * 3600.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_DONE",
            "older-task".into(),
            None,
            "worker-a",
            2.0 * 86_400.0,
        ),
    ];
    // Heartbeats a minute apart, 80 s to 50 min 20 s ago: 14 fall in the last 15 minutes.
    for minute in 1..=50 {
        events.push((
            "worker",
            "HEARTBEAT",
            "HEARTBEAT",
            "worker-a".into(),
            None,
            "worker-a",
            60.0 * f64::from(minute) + 20.0,
        ));
    }
    for (layer, operation, reason, entity, task, worker, age) in &events {
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, worker_id, \
             metadata, occurred_at) values ($1, $2, $3, $4, $5, $6, $7, now() - make_interval(secs => $8))",
        )
        .bind(layer)
        .bind(operation)
        .bind(reason)
        .bind(entity)
        .bind(task)
        .bind(worker)
        .bind(json!({"latency_ms": 12, "message": format!("{reason} for the dashboard test")}))
        .bind(age)
        .execute(pool)
        .await
        .expect("insert event");
    }
    let ages = events.iter().map(|e| e.6).collect();
    let seeded_at_ms: f64 = sqlx::query_scalar("select (extract(epoch from now()) * 1000)::float8")
        .fetch_one(pool)
        .await
        .expect("read the database's clock");
    Seeded {
        stuck_task: stuck,
        failed_task: failed,
        total_events: events.len(),
        ages,
        seeded_at: Instant::now(),
        seeded_at_ms,
    }
}

impl Seeded {
    /// How many events the last 15 minutes hold: an event seeded 14 minutes
    /// ago leaves that window while a slow run goes on, so any count between
    /// the window's now (with a second's slack) and at seeding is right.
    fn last_15_min(&self) -> std::ops::RangeInclusive<usize> {
        let aged = self.seeded_at.elapsed().as_secs_f64() + 1.0;
        let now = self.ages.iter().filter(|age| *age + aged < 900.0).count();
        let at_seeding = self.ages.iter().filter(|age| **age < 900.0).count();
        now..=at_seeding
    }
}

// --------------------------------------------------------- the browser ---

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The shipped build, or a clear failure telling how to make it.
fn shipped_dist() -> PathBuf {
    let dist = repo_root().join("admin-ui/dist");
    let built = dist.join("index.html").is_file()
        && std::fs::read_dir(dist.join("assets")).is_ok_and(|files| {
            files
                .flatten()
                .any(|f| f.file_name().to_string_lossy().ends_with(".wasm"))
        });
    assert!(
        built,
        "the dashboard is not built (no index.html and assets/*.wasm in {}): `./scripts/test` builds it \
         before the tests; by hand: bash -c 'source scripts/lib.sh && build_ui'",
        dist.display()
    );
    dist
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A chromedriver process in its own process group, so that dropping it
/// also ends the Chromium it started, even when a test panics.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn spawn() -> Driver {
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = free_port();
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): install Debian's chromium-driver (scripts/test does)"));
        let driver = Driver { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < WAIT,
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// One Chromium session on the dashboard of one in-process admin server.
struct Browser {
    client: Client,
    base: String,
    profile: PathBuf,
    // Dropped last: ends chromedriver and Chromium.
    _driver: Driver,
}

impl Browser {
    async fn open(pool: PgPool) -> Browser {
        let config = AppConfig {
            admin_token: Some(ADMIN_TOKEN.into()),
            jwt_secret: Some(JWT_SECRET.into()),
            ui_dir: shipped_dist(),
            ..AppConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!(
            "http://{}/admin/ai/runtime",
            listener.local_addr().expect("addr")
        );
        let app = admin_server::app(config, pool.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Browser::launch(base).await
    }

    /// Headless Chromium on the dashboard at `base` (`…/admin/ai/runtime`).
    async fn launch(base: String) -> Browser {
        let driver = Driver::spawn();
        let profile = std::env::temp_dir().join(format!("dashboard-chromium-{}", Uuid::new_v4()));
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    // Small /dev/shm in containers would crash the renderer.
                    "--disable-dev-shm-usage",
                    "--window-size=1400,1000", format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session in headless Chromium");
        Browser {
            client,
            base,
            profile,
            _driver: driver,
        }
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    /// Opens the dashboard at `query` (`""` or `"?…"`), optionally with a fragment.
    async fn goto(&self, query_and_fragment: &str) {
        self.client
            .goto(&format!("{}{query_and_fragment}", self.base))
            .await
            .expect("navigate");
    }

    /// Opens the dashboard signed in as the admin (the demo URL's `#token=`).
    async fn goto_signed_in(&self, query: &str) {
        self.goto(&format!("{query}#token={ADMIN_TOKEN}")).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("run script")
    }

    /// Polls `script` until it returns something other than null/false.
    async fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script).await;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            if started.elapsed() > WAIT {
                let url = self.url().await;
                let banner = self.js("return Array.from(document.querySelectorAll('[role=alert]')).map(e => e.textContent).join(' | ')").await;
                panic!("timed out waiting for {what} (at {url}; alerts: {banner})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    /// The query string of the address bar, decoded.
    async fn query(&self) -> String {
        self.js("return decodeURIComponent(location.search)")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The event table's rows as `{layer, operation, reason, entity, task, worker}`.
    async fn event_rows(&self) -> Vec<Value> {
        match self.js(EVENT_ROWS).await {
            Value::Array(rows) => rows,
            other => panic!("unexpected rows {other}"),
        }
    }

    /// Waits until the table is loaded and `ok` holds for its rows.
    async fn wait_rows(&self, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let loaded = self.js("return !!document.querySelector('#events-table caption') && !document.querySelector('#events-table caption').textContent.startsWith('Loading')").await;
            let rows = self.event_rows().await;
            if loaded == Value::Bool(true) && ok(&rows) {
                return rows;
            }
            if started.elapsed() > WAIT {
                panic!(
                    "timed out waiting for {what}: {} rows, first {:?}, at {}",
                    rows.len(),
                    rows.first(),
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no input {css}: {e}"));
        input.clear().await.expect("clear input");
        input.send_keys(text).await.expect("type");
    }

    async fn press_enter(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .send_keys(&Key::Enter)
            .await
            .unwrap_or_else(|e| panic!("cannot press Enter in {css}: {e}"));
    }

    async fn select(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no select {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot select {value} in {css}: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null",
            json!(css)
        );
        self.wait_for(&format!("element {css}"), &script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn value(&self, css: &str) -> String {
        let script = format!("return document.querySelector({}).value", json!(css));
        self.js(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The serious and critical violations axe-core (from npm, injected into
    /// the page) finds on the page as it is now.
    async fn axe_violations(&self) -> Vec<Value> {
        let path = std::env::var("AXE_CORE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                repo_root().join("target/browser-tools/node_modules/axe-core/axe.min.js")
            });
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is not installed ({}: {e}): `./scripts/test` installs it; \
                 by hand: bash -c 'source scripts/lib.sh && ensure_axe'",
                path.display()
            )
        });
        self.client
            .execute(
                "if (!window.axe) { const s = document.createElement('script'); s.textContent = arguments[0]; document.head.appendChild(s); } return !!window.axe;",
                vec![Value::String(source)],
            )
            .await
            .expect("inject axe-core");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.slice(0, 5).map(n => n.html) }))))
                   .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
                vec![],
            )
            .await
            .expect("run axe-core");
        match found {
            Value::Array(violations) => violations,
            other => panic!("unexpected axe answer {other}"),
        }
    }

    /// Milliseconds from the start of the navigation until `css` matches
    /// (polled in the page every 5 ms): the page's first render with data.
    async fn ms_until(&self, css: &str) -> f64 {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const started = Date.now();
             const poll = () => document.querySelector({css})
               ? done(performance.now())
               : Date.now() - started > 20000 ? done(null) : setTimeout(poll, 5);
             poll();",
            css = json!(css)
        );
        let at = self
            .client
            .execute_async(&script, vec![])
            .await
            .expect("time the first render");
        at.as_f64()
            .unwrap_or_else(|| panic!("{css} did not appear within 20 s"))
    }

    /// A screenshot of the whole page, saved under `target/artifacts/`.
    async fn save_full_page_screenshot(&self, name: &str) -> PathBuf {
        // Grow the window until the viewport holds the whole page (the
        // window's frame takes some of its height).
        for _ in 0..4 {
            let sizes = self
                .js("return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
                .await;
            let (page, frame) = (
                sizes[0].as_u64().unwrap_or(1000),
                sizes[1].as_u64().unwrap_or(0),
            );
            let height = self
                .js("return window.innerHeight")
                .await
                .as_u64()
                .unwrap_or(0);
            if height >= page {
                break;
            }
            self.client
                .set_window_size(1400, (page + frame) as u32)
                .await
                .expect("resize");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = repo_root().join("target/artifacts");
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

const EVENT_ROWS: &str =
    "return Array.from(document.querySelectorAll('#events-table tr.event')).map(r => ({
    id: r.dataset.id,
    layer: r.querySelector('.layer').textContent,
    operation: r.querySelector('.operation').textContent,
    reason: r.querySelector('.reason').textContent,
    entity: r.querySelector('.entity').textContent,
    task: r.querySelector('.task').title,
    worker: r.querySelector('.worker').textContent,
}))";

/// Types 10 and 2 minutes ago (local time) into the custom range inputs.
/// Types a custom range of 10 to 2 minutes before `arguments[0]` (ms since
/// the epoch) into the form, in local time at minute precision as a person would.
const SET_CUSTOM_RANGE: &str = "const pad = n => String(n).padStart(2, '0');
const local = d => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
for (const [id, minutes] of [['#f-from', 10], ['#f-to', 2]]) {
    const input = document.querySelector(id);
    input.value = local(new Date(arguments[0] - minutes * 60000));
    input.dispatchEvent(new Event('change', { bubbles: true }));
}
return null";

fn all(rows: &[Value], key: &str, expected: &str) -> bool {
    rows.iter().all(|r| r[key] == expected)
}

// ------------------------------------------------------------- tests ---

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn cards_show_workers_breakers_and_the_queue(pool: PgPool) {
    let seeded = seed(&pool).await;
    let b = Browser::open(pool).await;
    // A time range, which the queue's links keep (it is the page's, not a panel's).
    b.goto_signed_in("?range=24h").await;
    let first_render = b.ms_until("#events-table tr.event").await;
    println!("overview: first render with data {first_render:.0} ms after navigation start");

    let overall = b.text("#overall").await;
    assert!(overall.contains("DEGRADED"), "overall card: {overall}");
    assert!(
        overall.contains("worker-b"),
        "the open breaker is a reason: {overall}"
    );
    let breaker_b = b.text("[data-worker='worker-b'] .breaker").await;
    assert!(
        breaker_b.contains("OPEN") && breaker_b.contains("5 consecutive provider failures"),
        "{breaker_b}"
    );
    assert_eq!(
        b.text("[data-worker='worker-b'] .worker-state").await,
        "DEGRADED"
    );
    assert!(b
        .text("[data-worker='worker-a'] .breaker")
        .await
        .contains("closed"));
    assert_eq!(
        b.text("[data-worker='worker-a'] .worker-state").await,
        "RUNNING"
    );
    let heartbeat_c = b.text("[data-worker='worker-c'] .heartbeat").await;
    assert!(
        heartbeat_c.contains("10 min ago") && heartbeat_c.contains("STALE"),
        "{heartbeat_c}"
    );
    assert!(!b
        .text("[data-worker='worker-a'] .heartbeat")
        .await
        .contains("STALE"));
    assert_eq!(
        b.text("#active-route .state").await,
        "sim-primary / sim-large"
    );
    assert!(b.text("#dropped-events").await.contains("5 dropped"));
    let alerts = b.text("#alerts").await;
    assert!(
        alerts.contains(
            "BREAKER_OPEN: circuit breaker of worker-b open for 300 s: 5 consecutive provider failures (since"
        ),
        "the firing alert: {alerts}"
    );

    // Active statuses count what is in them now; finished ones what
    // finished within the window, and say so.
    for (status, count) in [
        ("PENDING", "1 now"),
        ("RUNNING", "1 now"),
        ("IN_REVIEW", "0 now"),
        ("DONE", "1 in the last 15 min"),
        ("SKIPPED", "1 in the last 15 min"),
        ("FAILED", "1 in the last 15 min"),
    ] {
        assert_eq!(
            b.text(&format!("#queue tr[data-status='{status}'] .count"))
                .await,
            count,
            "{status}"
        );
    }
    assert!(b.text("#stuck-summary").await.contains("1 stuck tasks"));

    // The stuck count links to the stuck tasks.
    b.wait_for(
        "the tasks table",
        "return document.querySelectorAll('#tasks-table tr.task').length === 5",
    )
    .await;
    b.click("#stuck-summary a").await;
    let stuck_row = format!("return (() => {{ const rows = document.querySelectorAll('#tasks-table tr.task'); return rows.length === 1 && rows[0].dataset.id === '{}'; }})()", seeded.stuck_task);
    b.wait_for("only the stuck task", &stuck_row).await;
    let query = b.query().await;
    assert!(
        query.contains("stuck=true") && query.contains("range=24h"),
        "{query}"
    );
    assert!(b
        .text("#tasks-table tr.task .stuck-flag")
        .await
        .contains("STUCK"));

    // The queue's FAILED count links to the failed tasks.
    b.click("#queue tr[data-status='FAILED'] a").await;
    let failed_row = format!("return (() => {{ const rows = document.querySelectorAll('#tasks-table tr.task'); return rows.length === 1 && rows[0].dataset.id === '{}'; }})()", seeded.failed_task);
    b.wait_for("only the failed task", &failed_row).await;
    assert!(b.query().await.contains("taskStatus=FAILED"));

    // The README's screenshot: the last 15 minutes of events.
    b.goto("?range=15m").await;
    b.wait_rows("the last 15 minutes", |rows| {
        seeded.last_15_min().contains(&rows.len())
    })
    .await;
    b.wait_for(
        "the tasks",
        "return document.querySelectorAll('#tasks-table tr.task').length === 5",
    )
    .await;
    b.assert_accessible("the overview").await;
    let shot = b.save_full_page_screenshot("dashboard.png").await;
    assert!(std::fs::metadata(&shot).expect("screenshot").len() > 10_000);
    b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn each_filter_narrows_the_stream_and_lives_in_the_url(pool: PgPool) {
    let seeded = seed(&pool).await;
    // A custom range, as a shared link carries it: events 250 to 400 s old when seeded.
    let (from, to): (String, String) = sqlx::query_as(
        "select to_char((now() - interval '400 seconds') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                to_char((now() - interval '250 seconds') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )
    .fetch_one(&pool)
    .await
    .expect("bounds");
    let failed = seeded.failed_task.to_string();
    let b = Browser::open(pool).await;
    b.goto_signed_in("").await;
    b.wait_rows("the first page", |rows| rows.len() == PAGE)
        .await;
    // The default range is the last 24 hours (a bounded range reads only
    // its days of the events table); "any time" is one choice away.
    assert_eq!(b.value("#f-range").await, "24h");
    b.select("#f-range", "any").await;
    b.click("#apply-filters").await;
    b.wait_for(
        "range=any in the URL",
        "return location.search.includes('range=any')",
    )
    .await;
    b.wait_rows("any time", |rows| rows.len() == PAGE).await;
    b.goto_signed_in("").await;
    b.wait_rows("the first page again", |rows| rows.len() == PAGE)
        .await;

    enum Input {
        Select(&'static str),
        Text(&'static str),
    }
    let cases: [(Input, &str, &str, &str, usize); 6] = [
        (
            Input::Select("#f-layer"),
            "provider_runtime",
            "layer",
            "layer",
            3,
        ),
        (
            Input::Select("#f-operation"),
            "BREAKER",
            "operation",
            "operation",
            1,
        ),
        (
            Input::Text("#f-reason"),
            "TASK_FAILED",
            "reasonCode",
            "reason",
            1,
        ),
        (
            Input::Text("#f-entity"),
            "sim-primary/sim-large",
            "entityId",
            "entity",
            2,
        ),
        (Input::Text("#f-task"), &failed, "taskId", "task", 3),
        (
            Input::Text("#f-worker"),
            "worker-b",
            "workerId",
            "worker",
            4,
        ),
    ];
    for (input, value, key, column, expected) in cases {
        let css = match input {
            Input::Select(css) => {
                b.select(css, value).await;
                css
            }
            Input::Text(css) => {
                b.type_into(css, value).await;
                css
            }
        };
        match input {
            Input::Select(_) => b.click("#apply-filters").await,
            // Enter in a text field applies the filters (keyboard use).
            Input::Text(_) => b.press_enter(css).await,
        }
        let what = format!("{key}={value} to narrow the table to {expected} rows");
        b.wait_rows(&what, |rows| {
            rows.len() == expected && all(rows, column, value)
        })
        .await;
        assert!(
            b.query().await.contains(&format!("{key}={value}")),
            "{key} is in the URL: {}",
            b.url().await
        );

        b.client.refresh().await.expect("reload");
        b.wait_rows(&format!("a reload to restore {key}={value}"), |rows| {
            rows.len() == expected && all(rows, column, value)
        })
        .await;
        assert_eq!(
            b.value(css).await,
            value,
            "the form shows the restored {key}"
        );

        b.click("#clear-filters").await;
        b.wait_rows("the cleared filters", |rows| rows.len() == PAGE)
            .await;
        assert!(
            !b.query().await.contains(key),
            "clear removes {key} from the URL"
        );
    }

    // A time preset.
    b.select("#f-range", "15m").await;
    b.click("#apply-filters").await;
    b.wait_rows("the last 15 minutes", |rows| {
        seeded.last_15_min().contains(&rows.len())
    })
    .await;
    assert!(b.query().await.contains("range=15m"));
    b.client.refresh().await.expect("reload");
    b.wait_rows("a reload to restore the preset", |rows| {
        seeded.last_15_min().contains(&rows.len())
    })
    .await;
    assert_eq!(b.value("#f-range").await, "15m");

    b.goto(&format!("?from={from}&to={to}")).await;
    // RETRY, FALLBACK, TASK_FAILED, BREAKER_OPENED and the heartbeats 260, 320 and 380 s old.
    let custom = b
        .wait_rows("the custom range", |rows| rows.len() == 7)
        .await;
    assert!(custom.iter().any(|r| r["reason"] == "BREAKER_OPENED"));
    assert!(custom.iter().all(|r| r["reason"] != "TOOL_CALL_OK"));
    assert_eq!(b.value("#f-range").await, "custom");
    assert!(
        !b.value("#f-from").await.is_empty(),
        "the custom bounds are shown"
    );

    // A custom range typed into the form (minute precision): 10 to 2 minutes
    // before the seeding, so a slow run does not move the seeded events
    // across its bounds.
    b.goto("?").await;
    let newest = b.wait_rows("no filters", |rows| rows.len() == PAGE).await[0]["id"].clone();
    b.select("#f-range", "custom").await;
    b.wait_for(
        "the custom bounds",
        "return !!document.querySelector('#f-to')",
    )
    .await;
    b.client
        .execute(SET_CUSTOM_RANGE, vec![json!(seeded.seeded_at_ms)])
        .await
        .expect("type the custom range");
    b.click("#apply-filters").await;
    let in_range = |rows: &[Value]| {
        rows.len() < 20
            && rows.iter().any(|r| r["reason"] == "TASK_FAILED")
            && rows.iter().all(|r| r["id"] != newest)
    };
    b.wait_rows("the typed custom range", in_range).await;
    let query = b.query().await;
    assert!(query.contains("from=") && query.contains("to="), "{query}");
    b.client.refresh().await.expect("reload");
    b.wait_rows("a reload to restore the typed range", in_range)
        .await;
    assert_eq!(b.value("#f-range").await, "custom");

    // Back and forward walk through the filters.
    b.goto("?").await;
    b.wait_rows("no filters", |rows| rows.len() == PAGE).await;
    b.select("#f-layer", "provider_runtime").await;
    b.click("#apply-filters").await;
    b.wait_rows("the layer filter", |rows| rows.len() == 3)
        .await;
    b.click("#clear-filters").await;
    b.wait_rows("cleared", |rows| rows.len() == PAGE).await;
    b.type_into("#f-worker", "worker-b").await;
    b.click("#apply-filters").await;
    b.wait_rows("the worker filter", |rows| {
        rows.len() == 4 && all(rows, "worker", "worker-b")
    })
    .await;

    b.client.back().await.expect("back");
    b.wait_rows("back to no filters", |rows| rows.len() == PAGE)
        .await;
    b.client.back().await.expect("back");
    b.wait_rows("back to the layer filter", |rows| {
        rows.len() == 3 && all(rows, "layer", "provider_runtime")
    })
    .await;
    assert_eq!(b.value("#f-layer").await, "provider_runtime");
    b.client.forward().await.expect("forward");
    b.wait_rows("forward to no filters", |rows| rows.len() == PAGE)
        .await;
    b.client.forward().await.expect("forward");
    b.wait_rows("forward to the worker filter", |rows| {
        rows.len() == 4 && all(rows, "worker", "worker-b")
    })
    .await;
    assert_eq!(b.value("#f-worker").await, "worker-b");
    b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn load_more_metadata_task_links_and_polling(pool: PgPool) {
    let seeded = seed(&pool).await;
    let b = Browser::open(pool.clone()).await;
    // Any time: the seed holds events older than the default 24 hours.
    b.goto_signed_in("?range=any&poll=1000").await;
    b.wait_rows("the first page", |rows| rows.len() == PAGE)
        .await;

    // Load more: the older page by cursor, without duplicates.
    b.click("#load-more").await;
    let rows = b
        .wait_rows("every event", |rows| rows.len() == seeded.total_events)
        .await;
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), seeded.total_events, "no event twice");
    b.wait_for(
        "the button to go on the last page",
        "return document.querySelector('#load-more') === null",
    )
    .await;

    // A row opens its metadata, by keyboard: Enter on the row's button.
    b.press_enter("#events-table tr.event:first-child .row-toggle")
        .await;
    let metadata = b.text("#events-table tr.metadata pre").await;
    assert!(metadata.contains("latency_ms"), "{metadata}");
    assert_eq!(b.js("return document.querySelector('#events-table tr.event .row-toggle').getAttribute('aria-expanded')").await, "true");
    // The button keeps the focus, also over a poll that brings nothing new
    // (the rows are markup: written anew only when they change).
    let focused = "return !!document.activeElement && document.activeElement.classList.contains('row-toggle') && document.activeElement.getAttribute('aria-expanded') === 'true'";
    b.wait_for("the focus on the open row's button", focused)
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        b.js(focused).await,
        json!(true),
        "the focus is kept over a poll"
    );

    // A new event appears within one polling interval (1 s here).
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, worker_id, occurred_at) \
         values ('execution', 'TASK', 'LIVE_PROBE', 'probe', 'worker-a', now())",
    )
    .execute(&pool)
    .await
    .expect("insert probe");
    let written = Instant::now();
    let rows = b
        .wait_rows("the new event", |rows| {
            rows.iter().any(|r| r["reason"] == "LIVE_PROBE")
        })
        .await;
    // One 1 s interval plus a request and a render; the slack allows for a
    // loaded CI machine and is still far below the default 12 s interval.
    let waited = written.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "the new event took {waited:?} with a 1 s poll"
    );
    assert_eq!(rows[0]["reason"], "LIVE_PROBE", "newest first");
    assert_eq!(
        rows.len(),
        seeded.total_events + 1,
        "the loaded older pages stay"
    );

    // Polling pauses while the tab is hidden and catches up when it shows.
    let set_visibility = |state: &str| {
        format!(
            "Object.defineProperty(document, 'visibilityState', {{ value: '{state}', configurable: true }});
             Object.defineProperty(document, 'hidden', {{ value: {hidden}, configurable: true }});
             document.dispatchEvent(new Event('visibilitychange'));
             return true;",
            hidden = state == "hidden"
        )
    };
    b.js(&set_visibility("hidden")).await;
    // Let a refresh already under way finish before the new row exists.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, worker_id, occurred_at) \
         values ('execution', 'TASK', 'HIDDEN_PROBE', 'probe', 'worker-a', now())",
    )
    .execute(&pool)
    .await
    .expect("insert hidden probe");
    // Three polling intervals with the tab hidden: no refresh, no new row.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(
        !b.event_rows()
            .await
            .iter()
            .any(|r| r["reason"] == "HIDDEN_PROBE"),
        "the page polled while the tab was hidden"
    );
    b.js(&set_visibility("visible")).await;
    b.wait_rows("the event written while hidden", |rows| {
        rows.first().is_some_and(|r| r["reason"] == "HIDDEN_PROBE")
    })
    .await;

    // A task's link opens its events.
    let failed = seeded.failed_task.to_string();
    b.click(&format!(
        "#tasks-table tr.task[data-id='{failed}'] a.task-events"
    ))
    .await;
    b.wait_rows("the failed task's events", |rows| {
        rows.len() == 3 && all(rows, "task", &failed)
    })
    .await;
    let query = b.query().await;
    assert!(query.contains(&format!("taskId={failed}")), "{query}");
    assert!(query.contains("poll=1000"), "other keys are kept: {query}");
    assert_eq!(b.value("#f-task").await, failed);

    // A failing request shows an error and keeps the data on screen.
    pool.close().await;
    let banner = b.text("#events [role=alert]").await;
    assert!(banner.contains("could not refresh the events"), "{banner}");
    assert_eq!(b.event_rows().await.len(), 3, "the rows stay on screen");
    assert!(
        b.text("#overall").await.contains("DEGRADED"),
        "the cards stay on screen"
    );
    b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn missing_or_bad_token_lands_on_sign_in(pool: PgPool) {
    seed(&pool).await;
    let b = Browser::open(pool).await;
    let signed_out =
        "return !!document.querySelector('#sign-in') && !document.querySelector('#dashboard')";
    let stored = "return sessionStorage.getItem('aiRuntimeAdminToken')";

    // No token at all.
    b.goto("").await;
    b.wait_for("the sign-in form", signed_out).await;

    // A wrong token: 401, back to sign-in, the token forgotten and never left in the address bar.
    b.goto("?a=1#token=not-the-admin-token").await;
    let notice = b.text("#sign-in [role=alert]").await;
    assert!(notice.contains("401"), "{notice}");
    assert!(!b.url().await.contains("token"), "the fragment is removed");
    assert_eq!(b.js(stored).await, Value::Null);

    // A valid JWT of a non-admin: 403, "not an admin".
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let editor = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "editor-1", "exp": exp, "app_metadata": {"role": "editor"}}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("an HS256 JWT");
    b.goto(&format!("?b=1#token={editor}")).await;
    let notice = b.text("#sign-in [role=alert]").await;
    assert!(notice.contains("not an admin"), "{notice}");

    // The form signs in; the token survives a reload (sessionStorage).
    b.type_into("#token-input", ADMIN_TOKEN).await;
    b.click("#sign-in button[type=submit]").await;
    b.text("[data-worker='worker-b'] .breaker").await;
    b.client.refresh().await.expect("reload");
    b.text("[data-worker='worker-b'] .breaker").await;

    // A stored token the server no longer accepts.
    b.js("sessionStorage.setItem('aiRuntimeAdminToken', 'revoked-token'); return null")
        .await;
    b.client.refresh().await.expect("reload");
    b.wait_for("sign-in after a 401", signed_out).await;
    assert!(b.text("#sign-in [role=alert]").await.contains("401"));
    b.close().await;
}

/// The texts of `css`'s matches, in document order.
const TEXTS: &str =
    "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)";

impl Browser {
    async fn texts(&self, css: &str) -> Vec<String> {
        let found = self
            .client
            .execute(TEXTS, vec![json!(css)])
            .await
            .expect("run script");
        serde_json::from_value(found).expect("texts")
    }

    async fn path(&self) -> String {
        self.js("return location.pathname")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the task page shows `task` with `events` runtime events.
    async fn wait_task_page(&self, task: Uuid, events: usize) {
        let script = format!(
            "const title = document.querySelector('#task-title');
             return !!title && title.textContent.includes('{task}') &&
               document.querySelectorAll('#timeline .timeline-item.event').length === {events}"
        );
        self.wait_for(
            &format!("the page of task {task} with {events} events"),
            &script,
        )
        .await;
        assert_eq!(self.path().await, format!("/admin/ai/runtime/tasks/{task}"));
    }

    async fn assert_accessible(&self, page: &str) {
        let violations = self.axe_violations().await;
        assert!(
            violations.is_empty(),
            "axe-core: serious or critical violations on {page}: {}",
            serde_json::to_string_pretty(&violations).unwrap_or_default()
        );
    }
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_tasks_page_from_a_deep_link_the_tasks_panel_and_an_event_row(pool: PgPool) {
    let seeded = seed(&pool).await;
    let failed = seeded.failed_task;
    // The failed task's earlier transitions: created by the queue, leased by worker-b.
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code, worker_id, occurred_at) values \
         ($1, null, 'PENDING', 'TASK_ENQUEUED', null, now() - interval '320 seconds'), \
         ($1, 'PENDING', 'RUNNING', 'TASK_LEASED', 'worker-b', now() - interval '310 seconds')",
    )
    .bind(failed)
    .execute(&pool)
    .await
    .expect("insert transitions");
    let b = Browser::open(pool).await;

    // A deep link, signed in by the fragment.
    b.goto_signed_in(&format!("/tasks/{failed}?range=15m"))
        .await;
    let first_render = b.ms_until("#timeline .timeline-item").await;
    println!("task page: first render with data {first_render:.0} ms after navigation start");
    b.wait_task_page(failed, 3).await;
    let status = b.text("#task-facts .status").await;
    assert!(status.contains("FAILED"), "{status}");
    assert_eq!(
        b.text("#task-facts .reason").await,
        "PROVIDER_EXHAUSTED: every provider route failed"
    );
    assert_eq!(b.text("#task-facts .attempts").await, "1 of 3");
    assert_eq!(
        b.texts("#transitions-table tr.transition .change").await,
        [
            "created as PENDING",
            "PENDING → RUNNING",
            "PENDING → FAILED"
        ]
    );
    assert_eq!(
        b.texts("#transitions-table tr.transition .by").await,
        ["the queue (no worker)", "worker-b", "the queue (no worker)"]
    );
    // One timeline, oldest first: transitions and events interleaved by time.
    let kinds: Vec<String> = match b
        .js("return Array.from(document.querySelectorAll('#timeline .timeline-item')).map(e => e.classList.contains('event') ? e.querySelector('.reason').textContent : 'transition')")
        .await
    {
        Value::Array(items) => items.iter().map(|i| i.as_str().unwrap_or_default().to_owned()).collect(),
        other => panic!("{other}"),
    };
    assert_eq!(
        kinds,
        [
            "transition",
            "transition",
            "PROVIDER_RETRY",
            "PROVIDER_FALLBACK",
            "TASK_FAILED",
            "transition"
        ]
    );
    // The range of the link is kept for the way back.
    assert!(b.query().await.contains("range=15m"));
    b.assert_accessible("the task page").await;

    // Back to the overview by its link, then a task's page from the tasks panel.
    b.click("#back-to-overview").await;
    b.wait_rows("the overview's events", |rows| !rows.is_empty())
        .await;
    assert_eq!(b.path().await, "/admin/ai/runtime");
    assert!(b.query().await.contains("range=15m"));
    let stuck = seeded.stuck_task;
    b.click(&format!(
        "#tasks-table tr.task[data-id='{stuck}'] a.task-page"
    ))
    .await;
    b.wait_task_page(stuck, 5).await;
    assert!(b.text("#task-facts .status").await.contains("STUCK"));
    assert_eq!(
        b.text("#task-facts .lease").await.split(',').next(),
        Some("worker-a")
    );

    // Back and forward between the overview and the task's page.
    b.client.back().await.expect("back");
    b.wait_rows("the overview after back", |rows| !rows.is_empty())
        .await;
    assert_eq!(b.path().await, "/admin/ai/runtime");
    b.client.forward().await.expect("forward");
    b.wait_task_page(stuck, 5).await;
    b.client.back().await.expect("back");

    // From an event row: the task cell links to the task's page.
    b.wait_rows("the overview again", |rows| !rows.is_empty())
        .await;
    b.click(&format!(
        "#events-table tr.event a.task-link[href*='{failed}']"
    ))
    .await;
    b.wait_task_page(failed, 3).await;

    // An unknown task: the page says so (404); a path that is no page too.
    b.goto(&format!("/tasks/{}", Uuid::new_v4())).await;
    let error = b.text("#task-page [role=alert]").await;
    assert!(error.contains("404"), "{error}");
    b.goto("/tasks/not-a-task").await;
    b.text("#not-found").await;
    b.close().await;
}

/// The one task row among the tasks table's rows, as a script for `wait_for`.
fn only_task_row(task: Uuid) -> String {
    format!("return (() => {{ const rows = document.querySelectorAll('#tasks-table tr.task'); return rows.length === 1 && rows[0].dataset.id === '{task}'; }})()")
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_task_page_says_why_it_has_no_story_and_keeps_it_while_reloading(pool: PgPool) {
    let b = Browser::open(pool.clone()).await;
    // A task that does not exist (yet): the error boundary says 404, no story.
    let task = Uuid::new_v4();
    b.goto_signed_in(&format!("/tasks/{task}?poll=250")).await;
    let error = b.text("#task-page [role=alert]").await;
    assert!(error.contains("404"), "{error}");
    assert_eq!(
        b.js("return document.querySelector('#task-facts') === null")
            .await,
        json!(true)
    );
    b.assert_accessible("a task page's error").await;

    // The task appears: a later poll's answer replaces the error with the story.
    sqlx::query(
        "insert into persona_tasks (id, persona_id, kind, idempotency_key) \
         values ($1, gen_random_uuid(), 'probe', 'probe')",
    )
    .bind(task)
    .execute(&pool)
    .await
    .expect("insert task");
    b.wait_for(
        "the story in place of the error",
        "return !!document.querySelector('#task-facts') && !document.querySelector('#task-page [role=alert]')",
    )
    .await;
    assert!(b.text("#task-facts .status").await.contains("PENDING"));

    // Reloaded every 250 ms, the story never leaves the screen (the
    // transition keeps it while the next one loads; watched every 5 ms),
    // and a new transition shows up in place.
    b.js("window.storyGaps = 0; window.storyWatch = setInterval(() => { if (!document.querySelector('#task-facts') || document.querySelector('#task-page .loading')) window.storyGaps++; }, 5); return null")
        .await;
    let before = b.texts("#transitions-table tr.transition").await.len();
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code) \
         values ($1, 'PENDING', 'RUNNING', 'TASK_LEASED')",
    )
    .bind(task)
    .execute(&pool)
    .await
    .expect("insert transition");
    b.wait_for(
        "the new transition",
        &format!(
            "return document.querySelectorAll('#transitions-table tr.transition').length === {}",
            before + 1
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        b.js("clearInterval(window.storyWatch); return window.storyGaps")
            .await,
        json!(0),
        "the story was off the screen while reloading"
    );
    b.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_tasks_filters_live_in_the_url_and_follow_back(pool: PgPool) {
    let seeded = seed(&pool).await;
    let b = Browser::open(pool).await;
    b.goto_signed_in("").await;
    let all = "return document.querySelectorAll('#tasks-table tr.task').length === 5";
    b.wait_for("every task", all).await;

    b.select("#t-status", "FAILED").await;
    b.wait_for("the failed task", &only_task_row(seeded.failed_task))
        .await;
    assert!(b.query().await.contains("taskStatus=FAILED"));
    b.select("#t-status", "").await;
    b.wait_for("every task again", all).await;
    b.click("#t-stuck").await;
    b.wait_for("the stuck task", &only_task_row(seeded.stuck_task))
        .await;
    assert!(b.query().await.contains("stuck=true"));

    // Back and forward: the table and the form follow the URL.
    b.client.back().await.expect("back");
    b.wait_for("every task after back", all).await;
    assert_eq!(
        b.js("return document.querySelector('#t-stuck').checked")
            .await,
        json!(false)
    );
    b.client.back().await.expect("back");
    b.wait_for(
        "the failed task after back",
        &only_task_row(seeded.failed_task),
    )
    .await;
    assert_eq!(b.value("#t-status").await, "FAILED");
    b.client.forward().await.expect("forward");
    b.client.forward().await.expect("forward");
    b.wait_for(
        "the stuck task after forward",
        &only_task_row(seeded.stuck_task),
    )
    .await;
    assert_eq!(
        b.js("return document.querySelector('#t-stuck').checked")
            .await,
        json!(true)
    );
    b.close().await;
}

/// What [`seed_trends`] wrote: the range (RFC 3339, whole minutes) and the
/// number of events within it.
struct TrendsSeed {
    from: String,
    to: String,
    events: usize,
}

/// An hour of history ending at the last whole minute: provider calls of one
/// route every three minutes (latency and tokens), three failed calls, a
/// task completed every ten minutes, and worker-b's circuit breaker open
/// for about five minutes (opened after the failures, closed again).
async fn seed_trends(pool: &PgPool) -> TrendsSeed {
    let (from, to): (String, String) = sqlx::query_as(
        "select to_char((date_trunc('minute', now()) - interval '60 minutes') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                to_char(date_trunc('minute', now()) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )
    .fetch_one(pool)
    .await
    .expect("range");
    // layer, operation, reason, entity, worker, seconds after `from`, metadata
    let mut events: Vec<(&str, &str, &str, &str, &str, i64, Value)> = Vec::new();
    for minute in (0..60).step_by(3) {
        events.push((
            "provider_runtime",
            "CALL",
            "PROVIDER_CALL_OK",
            "sim/fast",
            "worker-a",
            minute * 60 + 10,
            json!({"route": "sim/fast", "provider": "sim", "model": "fast", "latency_ms": 100 + minute * 5,
                   "input_tokens": 50, "output_tokens": 20, "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 20}),
        ));
    }
    for minute in [20, 21, 22] {
        events.push((
            "provider_runtime",
            "CALL",
            "PROVIDER_CALL_FAILED",
            "sim/fast",
            "worker-b",
            minute * 60 + 30,
            json!({"route": "sim/fast", "provider": "sim", "model": "fast", "latency_ms": 900, "error": "outage"}),
        ));
    }
    for minute in (5..60).step_by(10) {
        events.push((
            "execution",
            "TASK",
            "TASK_COMPLETED",
            "task",
            "worker-a",
            minute * 60,
            json!({}),
        ));
    }
    events.push((
        "execution",
        "BREAKER",
        "BREAKER_OPENED",
        "breaker/worker-b",
        "worker-b",
        22 * 60 + 40,
        json!({"from_state": "CLOSED", "to_state": "OPEN", "consecutive_failures": 3, "open_reason": "3 consecutive provider failures"}),
    ));
    events.push((
        "execution",
        "BREAKER",
        "BREAKER_HALF_OPENED",
        "breaker/worker-b",
        "worker-b",
        26 * 60 + 40,
        json!({"from_state": "OPEN", "to_state": "HALF_OPEN"}),
    ));
    events.push((
        "execution",
        "BREAKER",
        "BREAKER_CLOSED",
        "breaker/worker-b",
        "worker-b",
        27 * 60,
        json!({"from_state": "HALF_OPEN", "to_state": "CLOSED"}),
    ));
    // What the layer writes when the worker reports its circuit (the trends' bands).
    events.push((
        "worker",
        "HEARTBEAT",
        "WORKER_CIRCUIT_OPENED",
        "worker-b",
        "worker-b",
        22 * 60 + 41,
        json!({"status": "DEGRADED", "circuit_open": true, "circuit_reason": "3 consecutive provider failures"}),
    ));
    events.push((
        "worker",
        "HEARTBEAT",
        "WORKER_CIRCUIT_CLOSED",
        "worker-b",
        "worker-b",
        27 * 60 + 1,
        json!({"status": "RUNNING", "circuit_open": false}),
    ));
    for (layer, operation, reason, entity, worker, offset, metadata) in &events {
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, worker_id, metadata, occurred_at) \
             values ($1, $2, $3, $4, $5, $6, $7::timestamptz + make_interval(secs => $8))",
        )
        .bind(layer)
        .bind(operation)
        .bind(reason)
        .bind(entity)
        .bind(worker)
        .bind(metadata)
        .bind(&from)
        .bind(*offset as f64)
        .execute(pool)
        .await
        .expect("insert event");
    }
    TrendsSeed {
        from,
        to,
        events: events.len(),
    }
}

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

/// The README's screenshots, taken from a running demo (`./scripts/demo`)
/// after a breaker episode (one every 3 minutes):
/// `DEMO_URL='http://127.0.0.1:8080/admin/ai/runtime#token=…' cargo nextest run
/// -p cross-crate-tests --test dashboard --run-ignored only readme_screenshots`,
/// then copy `target/artifacts/{trends,task-page}.png` to `docs/`.
#[tokio::test]
#[ignore = "needs a running demo: DEMO_URL"]
async fn readme_screenshots_of_the_demo() {
    let url = std::env::var("DEMO_URL").expect("DEMO_URL: the demo's printed URL");
    let (base, fragment) = url.split_once('#').unwrap_or((&url, ""));
    let b = Browser::launch(base.trim_end_matches('/').to_owned()).await;
    b.goto(&format!("?range=15m#{fragment}")).await;
    b.wait_for(
        "a breaker band",
        "return !!document.querySelector('#breaker-chart .band')",
    )
    .await;
    b.wait_rows("the events", |rows| !rows.is_empty()).await;
    b.wait_for(
        "the trends panel laid out",
        "const t = document.querySelector('#trends');
         return !!t && t.getBoundingClientRect().height > 200",
    )
    .await;
    // Below the fold now (the stat cards above it); ChromeDriver shoots
    // only what of an element is inside the viewport.
    b.js("document.querySelector('#trends').scrollIntoView({block: 'start'}); return true")
        .await;
    let trends = b
        .client
        .find(Locator::Css("#trends"))
        .await
        .expect("the trends panel");
    let png = trends.screenshot().await.expect("screenshot");
    let dir = repo_root().join("target/artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    std::fs::write(dir.join("trends.png"), png).expect("write");
    // The page of a task that went through a retry or a fallback, or else the newest.
    b.wait_for(
        "the tasks",
        "return document.querySelectorAll('#tasks-table tr.task').length > 0",
    )
    .await;
    let task = b
        .js(
            "const rows = Array.from(document.querySelectorAll('#tasks-table tr.task'));
             const done = rows.filter(r => ['DONE', 'FAILED'].includes(r.dataset.status));
             return (done[3] || done[0] || rows[0]).dataset.id",
        )
        .await;
    let task = task.as_str().expect("a task id").to_owned();
    b.click(&format!(
        "#tasks-table tr.task[data-id='{task}'] a.task-page"
    ))
    .await;
    b.wait_for(
        "the task's timeline",
        "return document.querySelectorAll('#timeline .timeline-item').length > 0",
    )
    .await;
    b.save_full_page_screenshot("task-page.png").await;
    b.close().await;
}

/// Strings the hosts write (worker ids, circuit reasons, agent types, task
/// reasons, transition workers, event columns, routes) reach the panels
/// written as markup escaped: shown as text, never parsed as HTML or run.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn host_strings_are_shown_as_text_never_run(pool: PgPool) {
    const EVIL: &str = r#"<img src=x onerror="window.__xss=1">"#;
    let worker = format!("w{EVIL}");
    sqlx::query(
        "insert into ai_worker_status (worker_id, agent_type, status, circuit_open, circuit_reason, \
         last_heartbeat, metadata) values ($1, $2, 'DEGRADED', true, $2, now(), $3)",
    )
    .bind(&worker)
    .bind(EVIL)
    .bind(json!({"route": {"provider": EVIL, "model": EVIL}, "heartbeatIntervalSeconds": 10}))
    .execute(&pool)
    .await
    .expect("insert worker");
    let task: Uuid = sqlx::query_scalar(
        "insert into persona_tasks (persona_id, kind, status, reason_code, reason, idempotency_key) \
         values (gen_random_uuid(), $1, 'FAILED', $1, $1, 'evil') returning id",
    )
    .bind(EVIL)
    .fetch_one(&pool)
    .await
    .expect("insert task");
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code, worker_id) \
         values ($1, 'RUNNING', 'FAILED', $2, $3)",
    )
    .bind(task)
    .bind(EVIL)
    .bind(&worker)
    .execute(&pool)
    .await
    .expect("insert transition");
    for (layer, operation, reason) in [
        ("provider_runtime", "CALL", EVIL),
        ("worker", "HEARTBEAT", "WORKER_CIRCUIT_OPENED"),
    ] {
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, \
             worker_id, metadata, occurred_at) values ($1, $2, $3, $4, $5, $6, $7, now())",
        )
        .bind(layer)
        .bind(operation)
        .bind(reason)
        .bind(EVIL)
        .bind(task)
        .bind(&worker)
        .bind(json!({"latency_ms": 12, "note": EVIL, "circuit_reason": EVIL}))
        .execute(&pool)
        .await
        .expect("insert event");
    }
    let b = Browser::open(pool).await;
    let injected = "return window.__xss === undefined \
        && document.querySelectorAll('main img, #app img, body img').length === 0";

    b.goto_signed_in("?range=1h").await;
    b.wait_rows("the events", |rows| rows.len() == 2).await;
    b.wait_for(
        "the worker card",
        "return document.querySelectorAll('.card.worker').length === 1",
    )
    .await;
    b.wait_for(
        "the task row",
        "return document.querySelectorAll('#tasks-table tr.task').length === 1",
    )
    .await;
    b.wait_for(
        "the breaker band",
        "return !!document.querySelector('#breaker-chart .band')",
    )
    .await;
    assert_eq!(b.js(injected).await, json!(true), "markup was injected");
    let card = b.text(".card.worker").await;
    assert!(card.contains(&worker) && card.contains(EVIL), "{card}");
    assert!(b.text("#tasks-table").await.contains(EVIL));
    assert!(b.text("#breaker-chart-desc").await.contains(&worker));

    b.goto_signed_in(&format!("/tasks/{task}")).await;
    b.wait_for(
        "the task's timeline",
        "return document.querySelectorAll('#timeline .timeline-item').length > 0",
    )
    .await;
    assert_eq!(b.js(injected).await, json!(true), "markup was injected");
    assert!(b.text("#task-facts").await.contains(EVIL));
    assert!(b.text("#transitions-table").await.contains(&worker));
    b.close().await;
}
