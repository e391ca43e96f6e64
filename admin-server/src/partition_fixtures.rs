//! Test fixtures for the partition-pruning tests (`events`, `task_detail`):
//! ten days of daily partitions as maintenance leaves them, and the names of
//! the partitions of given days.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use sqlx::PgPool;

/// One event on each of the last ten days, then a maintenance pass that
/// keeps them all and makes `premake_days` ahead: every day has its own
/// partition.
pub(crate) async fn ten_days_of_partitions(pool: &PgPool, premake_days: u32) {
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at)
         select 'worker', 'HEARTBEAT', 'HEARTBEAT_OK', 'w', now() - make_interval(days => n)
         from generate_series(0, 9) n",
    )
    .execute(pool)
    .await
    .unwrap();
    let keep_all = ai_runtime_maintain::Options {
        premake_days,
        ..Default::default()
    };
    ai_runtime_maintain::run_pass(pool, &keep_all)
        .await
        .unwrap();
}

/// The partitions of `days`, by name.
pub(crate) fn partitions_of(days: &[NaiveDate]) -> BTreeSet<String> {
    days.iter()
        .map(|d| format!("ai_runtime_events_p{}", d.format("%Y%m%d")))
        .collect()
}
