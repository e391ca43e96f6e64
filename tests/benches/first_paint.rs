//! The dashboard's first paint, two builds side by side in one run: the
//! time from the start of a navigation until the worker cards are in the
//! page, in a fresh headless Chromium each time (nothing cached), over the
//! same data, alternating builds; and the WASM's bytes on the wire.
//!
//! `scripts/bench-first-paint [REF]` builds the dashboard of `REF` (the
//! baseline) and this checkout's, then runs this with
//! `FIRST_PAINT_BASELINE=<its dist>`. Each build is loaded over loopback and
//! over a 10 Mbit/s link with 40 ms of latency (chromedriver's network
//! conditions), where what crosses the wire shows.
//!
//! The cards are watched from a same-origin parent page that loads the
//! dashboard in a frame and looks for them every 2 ms, so the time counts
//! from the frame's own navigation start.
//!
//! Each build is served and signed in as in its time: a build with an
//! `assets.json` is rendered by the admin server (signed in by the
//! dashboard's cookie, so its page comes with the data); an older one
//! (`index.html`, rendered in the browser) is served as static files beside
//! the same admin API and signed in by the `#token=` fragment.

#[path = "../tests/dashboard/browser.rs"]
#[allow(dead_code)]
mod browser;
#[path = "../tests/dashboard/seed.rs"]
#[allow(dead_code)]
mod seed;

use std::path::{Path, PathBuf};

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};
use tower_http::services::{ServeDir, ServeFile};

use browser::{Browser, ADMIN_TOKEN};

/// Loads of each build per network profile.
const ROUNDS: usize = 8;

/// A network profile: name, and chromedriver's conditions (`None`: loopback as it is).
const PROFILES: [(&str, Option<(u32, u32)>); 2] = [
    ("loopback", None),
    // 10 Mbit/s down and up (bytes per second), 40 ms latency.
    ("10 Mbit/s, 40 ms", Some((40, 1_250_000))),
];

/// What one load measured.
struct Load {
    cards_ms: f64,
    wasm_transfer: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let baseline = PathBuf::from(std::env::var("FIRST_PAINT_BASELINE").unwrap_or_else(|_| {
        panic!("FIRST_PAINT_BASELINE is the baseline build's dist directory: run scripts/bench-first-paint")
    }));
    let current = browser::shipped_dist();
    let base_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = format!("ai_runtime_first_paint_{}", std::process::id());
    let mut admin = PgConnection::connect(&base_url)
        .await
        .expect("connect to DATABASE_URL");
    sqlx::query(&format!("create database {db}"))
        .execute(&mut admin)
        .await
        .expect("create the scratch database");
    let url = format!(
        "{}/{db}",
        base_url
            .rsplit_once('/')
            .map_or(base_url.as_str(), |(b, _)| b)
    );
    let pool = PgPoolOptions::new()
        .connect(&url)
        .await
        .expect("connect to the scratch database");
    ai_runtime_migrations::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate");
    seed::seed(&pool).await;

    println!("# Dashboard first paint: worker cards in the page, ms from navigation start");
    println!(
        "# baseline {}, current {}",
        baseline.display(),
        current.display()
    );
    println!("# load average: {}", load_average());
    for (name, build) in [("baseline", &baseline), ("current", &current)] {
        let (raw, gzip, brotli) = wasm_sizes(build);
        println!("{name}: WASM {raw} B raw; precompressed: {gzip} gzip, {brotli} brotli");
    }
    for (profile, conditions) in PROFILES {
        let mut loads: [Vec<Load>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (i, build) in [&baseline, &current].into_iter().enumerate() {
                loads[i].push(load_once(&pool, build, conditions).await);
            }
        }
        let [old, new] = loads.map(|l| summary(&l));
        println!(
            "{profile}: baseline median {:.0} ms (p90 {:.0}), WASM {:.0} B on the wire; current median {:.0} ms (p90 {:.0}), WASM {:.0} B on the wire; current / baseline {:.2}",
            old.0, old.1, old.2, new.0, new.1, new.2, new.0 / old.0
        );
    }
    pool.close().await;
    sqlx::query(&format!("drop database {db} with (force)"))
        .execute(&mut admin)
        .await
        .expect("drop the scratch database");
}

/// Whether `build` is rendered by the server (it lists its assets for it).
fn server_rendered(build: &Path) -> bool {
    build.join("assets.json").is_file()
}

/// A browser on `build`'s dashboard, served as in its time.
async fn open(pool: &sqlx::PgPool, build: &Path) -> Browser {
    if server_rendered(build) {
        return Browser::open_on(pool.clone(), build.to_path_buf()).await;
    }
    // The static page for every path under the base, the API beside it.
    let config = admin_server::AppConfig {
        admin_token: Some(ADMIN_TOKEN.into()),
        ui_dir: PathBuf::from("/nonexistent-ui-dir"),
        ..admin_server::AppConfig::default()
    };
    let pages = ServeDir::new(build)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(ServeFile::new(build.join("index.html")));
    let app = axum::Router::new()
        .nest_service("/admin/ai/runtime", pages)
        .fallback_service(admin_server::app(config, pool.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "http://{}/admin/ai/runtime",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Browser::launch(base).await
}

/// One fresh Chromium loading `build`'s dashboard.
async fn load_once(pool: &sqlx::PgPool, build: &Path, conditions: Option<(u32, u32)>) -> Load {
    let b = open(pool, build).await;
    if let Some((latency, throughput)) = conditions {
        b.client
            .issue_cmd(NetworkConditions {
                latency,
                throughput,
            })
            .await
            .expect("set the network conditions");
    }
    // A same-origin page that is not the dashboard (a 404 of the API).
    let origin = b.base.trim_end_matches("/admin/ai/runtime").to_owned();
    b.client
        .goto(&format!("{origin}/api/admin/ai/runtime/no-such-endpoint"))
        .await
        .expect("open the parent page");
    let page = if server_rendered(build) {
        b.js(&format!(
            "document.cookie = 'ai_runtime_admin_token={ADMIN_TOKEN}; Path=/admin/ai/runtime; SameSite=Strict'; return null"
        ))
        .await;
        b.base.clone()
    } else {
        format!("{}#token={ADMIN_TOKEN}", b.base)
    };
    let measured = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const frame = document.createElement('iframe');
             frame.style.width = '1400px'; frame.style.height = '1000px';
             document.body.appendChild(frame);
             frame.src = arguments[0];
             const started = Date.now();
             let cards = null;
             const look = () => {
               const doc = frame.contentDocument;
               const w = frame.contentWindow;
               if (cards === null && doc && doc.querySelector('#health .card.worker')) {
                 cards = w.performance.now();
               }
               // The WASM's bytes once it has come (after the cards, when
               // the server rendered them).
               const wasm = cards === null ? null
                 : w.performance.getEntriesByType('resource').find(e => e.name.endsWith('.wasm') && e.responseEnd > 0);
               if (wasm) {
                 done({ cards, wasm: wasm.transferSize });
               } else if (Date.now() - started > 60000) {
                 done(null);
               } else {
                 setTimeout(look, 2);
               }
             };
             look();",
            vec![json!(page)],
        )
        .await
        .expect("time the worker cards");
    b.close().await;
    match measured {
        Value::Object(m) => Load {
            cards_ms: m["cards"].as_f64().unwrap_or(f64::NAN),
            wasm_transfer: m["wasm"].as_f64().unwrap_or(f64::NAN),
        },
        _ => panic!("the worker cards did not appear within 60 s"),
    }
}

/// Median and p90 of the times, median of the WASM's transfer size.
fn summary(loads: &[Load]) -> (f64, f64, f64) {
    let mut times: Vec<f64> = loads.iter().map(|l| l.cards_ms).collect();
    times.sort_by(f64::total_cmp);
    let mut bytes: Vec<f64> = loads.iter().map(|l| l.wasm_transfer).collect();
    bytes.sort_by(f64::total_cmp);
    let at = |v: &[f64], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(&times, 0.5), at(&times, 0.9), at(&bytes, 0.5))
}

/// The WASM of a build (any `.wasm` under it), and its precompressed
/// copies when the build has them (else compressed here for the figure).
fn wasm_sizes(dist: &Path) -> (u64, String, String) {
    let wasm = find_wasm(dist).unwrap_or_else(|| panic!("no .wasm under {}", dist.display()));
    let size = |ext: &str| {
        let mut path = wasm.clone().into_os_string();
        path.push(ext);
        std::fs::metadata(path).map_or("no".to_owned(), |m| format!("{} B", m.len()))
    };
    (
        std::fs::metadata(&wasm).map_or(0, |m| m.len()),
        size(".gz"),
        size(".br"),
    )
}

fn find_wasm(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_wasm(&path) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|e| e == "wasm") {
            return Some(path);
        }
    }
    None
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// chromedriver's `POST /session/{id}/chromium/network_conditions`.
#[derive(Debug)]
struct NetworkConditions {
    /// Added round-trip latency, ms.
    latency: u32,
    /// Bytes per second, down and up.
    throughput: u32,
}

impl WebDriverCompatibleCommand for NetworkConditions {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/chromium/network_conditions",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "network_conditions": {
                "offline": false,
                "latency": self.latency,
                "download_throughput": self.throughput,
                "upload_throughput": self.throughput,
            }
        });
        (http::Method::POST, Some(body.to_string()))
    }
}
