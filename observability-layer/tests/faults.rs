//! Faults: the database unreachable from the start, hanging, lost mid-run
//! and back. The host is never blocked, writes resume without a restart,
//! shutdown keeps its deadline, and `emitted = written + dropped + invalid`.

mod common;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_balanced, install, wait_until, DEAD_URL};
use observability_layer::{RuntimeLayer, WRITER_APPLICATION_NAME};
use sqlx::PgPool;

fn emit(n: usize) {
    for i in 0..n {
        tracing::info!(
            layer = "execution",
            operation = "TASK",
            reason_code = "TASK_DONE",
            n = i
        );
    }
}

async fn rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from ai_runtime_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[test]
fn unreachable_from_the_start_drops_and_counts_everything() {
    let deadline = Duration::from_millis(300);
    let (default, guard, handle) = install(
        RuntimeLayer::builder()
            .database_url(DEAD_URL)
            .channel_capacity(1000)
            .shutdown_deadline(deadline),
    );
    emit(20_000);
    tracing::info!(layer = "bogus", operation = "TASK", reason_code = "X");
    // The recorder does not need the database.
    assert!(wait_until(Duration::from_secs(5), || !handle
        .recent_events()
        .is_empty()));
    drop(default);

    let started = Instant::now();
    let stats = guard.shutdown();
    let took = started.elapsed();
    assert!(
        took < deadline + Duration::from_millis(250),
        "shutdown took {took:?}"
    );
    assert_eq!(stats.emitted, 20_001);
    assert_eq!(stats.written, 0);
    assert_eq!(stats.invalid, 1);
    assert_eq!(stats.dropped(), 20_000);
    assert!(stats.retries >= 1);
    assert!(stats.last_error.is_some() && stats.last_error_at.is_some());
    assert_balanced(&stats);
    // Events after shutdown are counted too.
    let (default, _) = (
        tracing::subscriber::set_default(tracing_subscriber::registry()),
        (),
    );
    drop(default);
    assert_balanced(&handle.stats());
}

#[test]
fn a_hanging_database_cannot_hold_shutdown_past_its_deadline() {
    // Accepts TCP connections (the kernel completes the handshake) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://postgres@{}/x", silent.local_addr().unwrap());
    let deadline = Duration::from_millis(400);
    let (_default, guard, handle) = install(
        RuntimeLayer::builder()
            .database_url(&url)
            .flush_interval(Duration::from_millis(10))
            .shutdown_deadline(deadline),
    );
    emit(500);
    assert!(!handle.flush(Duration::from_millis(100)));
    let started = Instant::now();
    let stats = guard.shutdown();
    let took = started.elapsed();
    assert!(
        took < deadline + Duration::from_millis(250),
        "shutdown took {took:?}"
    );
    assert_eq!(stats.emitted, 500);
    assert_eq!(stats.dropped_database, 500);
    assert_balanced(&stats);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn writes_resume_after_the_connection_is_killed(pool: PgPool) {
    let (_default, guard, handle) = install(
        RuntimeLayer::builder()
            .pool(pool.clone())
            .flush_interval(Duration::from_millis(10)),
    );
    emit(50);
    assert!(handle.flush(Duration::from_secs(5)));
    let killed: i64 = sqlx::query_scalar(
        "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
         where application_name = $1 and datname = current_database()) t",
    )
    .bind(WRITER_APPLICATION_NAME)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    emit(50);
    assert!(handle.flush(Duration::from_secs(5)));
    assert_eq!(rows(&pool).await, 100);
    let stats = guard.shutdown();
    assert_eq!(stats.written, 100);
    assert_eq!(stats.dropped(), 0);
    assert!(stats.retries >= 1, "{stats:?}");
    assert_balanced(&stats);
}

/// A loopback TCP proxy to Postgres that the test can cut and restore.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (Arc::clone(&up), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut open = open2.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { addr, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

async fn proxied_url(pool: &PgPool, proxy: &Proxy) -> String {
    let db: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    format!("postgres://postgres@{}/{db}", proxy.addr)
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_outage_is_ridden_out_and_writes_resume(pool: PgPool) {
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap());
    let (_default, guard, handle) = install(
        RuntimeLayer::builder()
            .database_url(&proxied_url(&pool, &proxy).await)
            .flush_interval(Duration::from_millis(10))
            .max_backoff(Duration::from_millis(50)),
    );
    emit(100);
    assert!(handle.flush(Duration::from_secs(5)));

    proxy.cut();
    emit(100);
    assert!(wait_until(Duration::from_secs(5), || handle
        .stats()
        .retries
        >= 3));
    assert_eq!(rows(&pool).await, 100);
    assert!(handle.stats().last_error.is_some());

    proxy.restore();
    assert!(handle.flush(Duration::from_secs(5)));
    assert_eq!(rows(&pool).await, 200);
    let stats = guard.shutdown();
    assert_eq!((stats.written, stats.dropped()), (200, 0), "{stats:?}");
    assert_balanced(&stats);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_outage_longer_than_the_buffer_drops_and_counts(pool: PgPool) {
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap());
    let (_default, guard, handle) = install(
        RuntimeLayer::builder()
            .database_url(&proxied_url(&pool, &proxy).await)
            .channel_capacity(100)
            .batch_size(50)
            .flush_interval(Duration::from_millis(10))
            .max_backoff(Duration::from_millis(50)),
    );
    emit(10);
    assert!(handle.flush(Duration::from_secs(5)));
    proxy.cut();
    for _ in 0..20 {
        emit(100);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(wait_until(Duration::from_secs(5), || handle
        .stats()
        .dropped()
        > 0));
    proxy.restore();
    emit(10);
    assert!(handle.flush(Duration::from_secs(5)));
    let stats = guard.shutdown();
    assert!(stats.dropped() > 0, "{stats:?}");
    assert_eq!(stats.emitted, 2020);
    assert_eq!(rows(&pool).await as u64, stats.written);
    assert!(
        stats.written >= 20,
        "the events after the outage are written: {stats:?}"
    );
    assert_balanced(&stats);
}
