//! Headless Chromium on the in-process admin server, and what the tests ask of the page.

use std::net::{TcpListener as StdListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use admin_server::AppConfig;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "dashboard-test-admin-token";
pub const JWT_SECRET: &str = "dashboard-test-jwt-secret";
/// How long a condition may take to hold in the browser.
pub const WAIT: Duration = Duration::from_secs(20);
/// The first page of the event stream (the dashboard's page size).
pub const PAGE: usize = 50;

// --------------------------------------------------------- the browser ---

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The shipped build, or a clear failure telling how to make it.
pub fn shipped_dist() -> PathBuf {
    let dist = repo_root().join("admin-ui/dist");
    let built = dist.join("assets.json").is_file()
        && std::fs::read_dir(dist.join("assets")).is_ok_and(|files| {
            files
                .flatten()
                .any(|f| f.file_name().to_string_lossy().ends_with(".wasm"))
        });
    assert!(
        built,
        "the dashboard is not built (no assets.json and assets/*.wasm in {}): `./scripts/test` builds it \
         before the tests; by hand: bash -c 'source scripts/lib.sh && build_ui'",
        dist.display()
    );
    dist
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A chromedriver process in its own process group, so that dropping it
/// also ends the Chromium it started, even when a test panics.
pub struct Driver {
    pub child: Child,
    pub port: u16,
}

impl Driver {
    pub fn spawn() -> Driver {
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
pub struct Browser {
    pub client: Client,
    pub base: String,
    pub profile: PathBuf,
    // Dropped last: ends chromedriver and Chromium.
    pub _driver: Driver,
}

impl Browser {
    pub async fn open(pool: PgPool) -> Browser {
        Browser::open_on(pool, shipped_dist()).await
    }

    /// As [`Browser::open`], the server serving the build in `ui_dir`.
    pub async fn open_on(pool: PgPool, ui_dir: PathBuf) -> Browser {
        let config = AppConfig {
            admin_token: Some(ADMIN_TOKEN.into()),
            jwt_secret: Some(JWT_SECRET.into()),
            ui_dir,
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
    pub async fn launch(base: String) -> Browser {
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

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    /// Opens the dashboard at `query` (`""` or `"?…"`), optionally with a
    /// fragment, and waits until the browser has hydrated the page the
    /// server rendered (before that, a click would do nothing).
    pub async fn goto(&self, query_and_fragment: &str) {
        self.client
            .goto(&format!("{}{query_and_fragment}", self.base))
            .await
            .expect("navigate");
        self.wait_hydrated().await;
    }

    /// Reloads the page and waits until it is hydrated again.
    pub async fn reload(&self) {
        self.client.refresh().await.expect("reload");
        self.wait_hydrated().await;
    }

    /// Waits for the mark the dashboard sets once it is hydrated.
    pub async fn wait_hydrated(&self) {
        self.wait_for(
            "the page to be hydrated",
            "return document.documentElement.hasAttribute('data-hydrated')",
        )
        .await;
    }

    /// Opens the dashboard signed in as the admin (the demo URL's `#token=`).
    pub async fn goto_signed_in(&self, query: &str) {
        self.goto(&format!("{query}#token={ADMIN_TOKEN}")).await;
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("run script")
    }

    /// Polls `script` until it returns something other than null/false.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
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

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    /// The query string of the address bar, decoded.
    pub async fn query(&self) -> String {
        self.js("return decodeURIComponent(location.search)")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The event table's rows as `{layer, operation, reason, entity, task, worker}`.
    pub async fn event_rows(&self) -> Vec<Value> {
        match self.js(EVENT_ROWS).await {
            Value::Array(rows) => rows,
            other => panic!("unexpected rows {other}"),
        }
    }

    /// Waits until the table is loaded and `ok` holds for its rows.
    pub async fn wait_rows(&self, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
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

    pub async fn click(&self, css: &str) {
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

    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no input {css}: {e}"));
        input.clear().await.expect("clear input");
        input.send_keys(text).await.expect("type");
    }

    pub async fn press_enter(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .send_keys(&Key::Enter)
            .await
            .unwrap_or_else(|e| panic!("cannot press Enter in {css}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no select {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot select {value} in {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
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

    pub async fn value(&self, css: &str) -> String {
        let script = format!("return document.querySelector({}).value", json!(css));
        self.js(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The serious and critical violations axe-core (from npm, injected into
    /// the page) finds on the page as it is now.
    pub async fn axe_violations(&self) -> Vec<Value> {
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
    pub async fn ms_until(&self, css: &str) -> f64 {
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
    pub async fn save_full_page_screenshot(&self, name: &str) -> PathBuf {
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

pub const EVENT_ROWS: &str =
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
pub const SET_CUSTOM_RANGE: &str = "const pad = n => String(n).padStart(2, '0');
const local = d => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
for (const [id, minutes] of [['#f-from', 10], ['#f-to', 2]]) {
    const input = document.querySelector(id);
    input.value = local(new Date(arguments[0] - minutes * 60000));
    input.dispatchEvent(new Event('change', { bubbles: true }));
}
return null";

pub fn all(rows: &[Value], key: &str, expected: &str) -> bool {
    rows.iter().all(|r| r[key] == expected)
}

/// The texts of `css`'s matches, in document order.
pub const TEXTS: &str =
    "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)";

impl Browser {
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let found = self
            .client
            .execute(TEXTS, vec![json!(css)])
            .await
            .expect("run script");
        serde_json::from_value(found).expect("texts")
    }

    pub async fn path(&self) -> String {
        self.js("return location.pathname")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the task page shows `task` with `events` runtime events.
    pub async fn wait_task_page(&self, task: Uuid, events: usize) {
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

    pub async fn assert_accessible(&self, page: &str) {
        let violations = self.axe_violations().await;
        assert!(
            violations.is_empty(),
            "axe-core: serious or critical violations on {page}: {}",
            serde_json::to_string_pretty(&violations).unwrap_or_default()
        );
    }
}

/// The one task row among the tasks table's rows, as a script for `wait_for`.
pub fn only_task_row(task: Uuid) -> String {
    format!("return (() => {{ const rows = document.querySelectorAll('#tasks-table tr.task'); return rows.length === 1 && rows[0].dataset.id === '{task}'; }})()")
}
