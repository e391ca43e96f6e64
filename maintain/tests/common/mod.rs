//! The passes as `ai-runtime-maintain` runs them in production: as the
//! `ai_runtime_maintainer` role, on a pool of their own (closed after, so
//! the test's database can be dropped).

use ai_runtime_maintain::rollup::RollupReport;
use ai_runtime_maintain::{Options, Outcome, PassError};
use ai_runtime_migrations::roles::ComponentRole;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

async fn as_maintainer(pool: &PgPool) -> PgPool {
    let options = ComponentRole::Maintainer.connect_options(&pool.connect_options());
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

/// [`ai_runtime_maintain::run_pass`] as the maintainer.
pub async fn run_pass(pool: &PgPool, options: &Options) -> Result<Outcome, PassError> {
    let maintainer = as_maintainer(pool).await;
    let outcome = ai_runtime_maintain::run_pass(&maintainer, options).await;
    maintainer.close().await;
    outcome
}

/// [`ai_runtime_maintain::run_rollup`] as the maintainer.
#[allow(dead_code)] // pass.rs runs whole passes only
pub async fn run_rollup(
    pool: &PgPool,
    options: &Options,
) -> Result<Option<RollupReport>, PassError> {
    let maintainer = as_maintainer(pool).await;
    let report = ai_runtime_maintain::run_rollup(&maintainer, options).await;
    maintainer.close().await;
    report
}
