//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ai_runtime_migrations::roles::ComponentRole;
use observability_layer::{RuntimeLayerBuilder, RuntimeSink, SinkGuard, SinkHandle, SinkStats};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::prelude::*;

/// A pool over `pool`'s database as the `ai_runtime_writer` role (taken at
/// connection start), for `RuntimeLayerBuilder::pool`: the layer writes with
/// the writer's grants and row-level security policies alone, as in
/// production. It connects only when used.
pub fn as_writer(pool: &PgPool) -> PgPool {
    let options = ComponentRole::Writer.connect_options(&pool.connect_options());
    PgPoolOptions::new().connect_lazy_with(options)
}

/// Nothing listens on port 1: connections are refused at once.
pub const DEAD_URL: &str = "postgres://postgres@127.0.0.1:1/x";

/// Builds the sink and installs the layer as this thread's default subscriber.
pub fn install(builder: RuntimeLayerBuilder) -> (DefaultGuard, SinkGuard, SinkHandle) {
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = builder.build().expect("build");
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (default, guard, handle)
}

/// Polls `f` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The accounting identity every test ends with.
pub fn assert_balanced(stats: &SinkStats) {
    assert_eq!(
        stats.emitted,
        stats.written + stats.dropped_channel_full + stats.dropped_database + stats.invalid,
        "emitted = written + dropped + invalid: {stats:?}"
    );
}
