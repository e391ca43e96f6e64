//! Maintenance passes on real Postgres, each test on a fresh database, as
//! the `ai_runtime_maintainer` role.

mod common;

use std::time::Duration;

use ai_runtime_maintain::day::partition_name;
use ai_runtime_maintain::{Options, Outcome, Report, ADVISORY_LOCK_KEY};
use ai_runtime_migrations::roles::ComponentRole;
use chrono::{Days, NaiveDate};
use common::run_pass;
use sqlx::{Connection, PgPool};

fn options(retention_days: u32, premake_days: u32) -> Options {
    Options {
        retention_days,
        premake_days,
        ..Options::default()
    }
}

async fn ran(pool: &PgPool, options: &Options) -> Report {
    match run_pass(pool, options).await.unwrap() {
        Outcome::Ran(report) => report,
        Outcome::Skipped => panic!("the pass skipped"),
    }
}

async fn today(pool: &PgPool) -> NaiveDate {
    sqlx::query_scalar("select (now() at time zone 'UTC')::date")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Inserts one event `days` days from now (negative: in the past).
async fn event_in(pool: &PgPool, days: i32, reason: &str) {
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at)
         values ('worker', 'HEARTBEAT', $2, 'e', now() + make_interval(days => $1))",
    )
    .bind(days)
    .bind(reason)
    .execute(pool)
    .await
    .unwrap();
}

/// The partition each event sits in, by reason code.
async fn placement(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "select reason_code, tableoid::regclass::text from ai_runtime_events order by reason_code",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn daily_partitions(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text from pg_inherits i join pg_class c on c.oid = i.inhrelid
         where i.inhparent = 'public.ai_runtime_events'::regclass
           and c.relname <> 'ai_runtime_events_default'
         order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn days_from(start: NaiveDate, n: std::ops::RangeInclusive<u64>) -> Vec<NaiveDate> {
    n.map(|d| start.checked_add_days(Days::new(d)).unwrap())
        .collect()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn premakes_today_and_the_coming_days_once(pool: PgPool) {
    let today = today(&pool).await;
    let first = ran(&pool, &options(30, 3)).await;
    assert_eq!(first.today, Some(today));
    let created: Vec<NaiveDate> = first.created.iter().map(|(d, _)| *d).collect();
    assert_eq!(created, days_from(today, 0..=3));
    assert!(first.created.iter().all(|(_, moved)| *moved == 0));
    assert_eq!(
        daily_partitions(&pool).await,
        days_from(today, 0..=3)
            .into_iter()
            .map(partition_name)
            .collect::<Vec<_>>()
    );

    let second = ran(&pool, &options(30, 3)).await;
    assert!(
        second.created.is_empty() && second.dropped.is_empty(),
        "{second:?}"
    );
    assert!(second.to_string().contains("created: none"), "{second}");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn events_are_routed_to_their_day(pool: PgPool) {
    ran(&pool, &options(30, 2)).await;
    let today = today(&pool).await;
    event_in(&pool, 0, "A_TODAY").await;
    event_in(&pool, 1, "B_TOMORROW").await;
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(
        placement(&pool).await,
        [
            ("A_TODAY".to_owned(), partition_name(today)),
            ("B_TOMORROW".to_owned(), partition_name(tomorrow)),
        ]
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_event_whose_day_has_no_partition_is_stored_then_moved_to_its_day(pool: PgPool) {
    ran(&pool, &options(30, 2)).await;
    // A host far ahead of the database's clock, and one a week behind.
    event_in(&pool, 20, "AHEAD").await;
    event_in(&pool, -7, "BEHIND").await;
    assert_eq!(
        placement(&pool).await,
        [
            ("AHEAD".to_owned(), "ai_runtime_events_default".to_owned()),
            ("BEHIND".to_owned(), "ai_runtime_events_default".to_owned()),
        ]
    );

    let report = ran(&pool, &options(30, 2)).await;
    let today = today(&pool).await;
    let ahead = today.checked_add_days(Days::new(20)).unwrap();
    let behind = today.checked_sub_days(Days::new(7)).unwrap();
    assert_eq!(report.created, [(behind, 1), (ahead, 1)]);
    assert!(report
        .to_string()
        .contains("(1 events moved from ai_runtime_events_default)"));
    assert_eq!(
        placement(&pool).await,
        [
            ("AHEAD".to_owned(), partition_name(ahead)),
            ("BEHIND".to_owned(), partition_name(behind)),
        ]
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn retention_drops_exactly_the_days_entirely_past_it(pool: PgPool) {
    // One event on each of the last 40 days, each day given its partition.
    for days in 1..=40 {
        event_in(&pool, -days, &format!("D{days:02}")).await;
    }
    let report = ran(&pool, &options(365, 0)).await;
    assert_eq!(report.created.len(), 41, "40 past days and today");
    assert!(report.dropped.is_empty());

    let report = ran(&pool, &options(30, 0)).await;
    let today = today(&pool).await;
    // The cutoff is 30 days ago at this time of day: the day 31 days ago
    // ended before it, the day 30 days ago did not.
    let expected: Vec<NaiveDate> = (31..=40)
        .rev()
        .map(|d| today.checked_sub_days(Days::new(d)).unwrap())
        .collect();
    assert_eq!(report.dropped, expected);
    let left: Vec<String> = placement(&pool).await.into_iter().map(|(r, _)| r).collect();
    let kept: Vec<String> = (1..=30).map(|d| format!("D{d:02}")).collect();
    assert_eq!(left, kept);
    assert_eq!(daily_partitions(&pool).await.len(), 31);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_event_of_the_default_partition_past_the_retention_is_deleted(pool: PgPool) {
    event_in(&pool, -45, "OLD").await;
    event_in(&pool, -2, "RECENT").await;
    let report = ran(&pool, &options(30, 0)).await;
    assert_eq!(report.expired_in_default, 1);
    let left: Vec<String> = placement(&pool).await.into_iter().map(|(r, _)| r).collect();
    assert_eq!(left, ["RECENT"]);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn every_partition_has_row_level_security(pool: PgPool) {
    event_in(&pool, -3, "STRAY").await;
    ran(&pool, &options(30, 5)).await;
    let tables: Vec<(String, bool)> = sqlx::query_as(
        "select c.relname::text, c.relrowsecurity from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.len() >= 4 + 2 + 7, "{tables:?}");
    let without: Vec<&String> = tables
        .iter()
        .filter(|(_, rls)| !rls)
        .map(|(n, _)| n)
        .collect();
    assert!(without.is_empty(), "without RLS: {without:?}");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_second_pass_skips_while_one_holds_the_lock(pool: PgPool) {
    let mut holder = pool.acquire().await.unwrap();
    sqlx::query("select pg_advisory_lock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .execute(&mut *holder)
        .await
        .unwrap();
    assert_eq!(
        run_pass(&pool, &options(30, 1)).await.unwrap(),
        Outcome::Skipped
    );
    assert!(daily_partitions(&pool).await.is_empty());

    sqlx::query("select pg_advisory_unlock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .execute(&mut *holder)
        .await
        .unwrap();
    assert_eq!(ran(&pool, &options(30, 1)).await.created.len(), 2);

    // Two at once: never both at work; the lock is free again afterwards.
    let three_days = options(30, 3);
    let (a, b) = tokio::join!(run_pass(&pool, &three_days), run_pass(&pool, &three_days));
    let ran_count = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|o| matches!(o, Outcome::Ran(_)))
        .count();
    assert!(ran_count >= 1);
    assert_eq!(daily_partitions(&pool).await.len(), 4);
    let free: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    assert!(free);
}

/// A pass never waits on a busy table for longer than its lock timeout: the
/// step is postponed to the next pass.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_busy_table_postpones_the_step_instead_of_waiting(pool: PgPool) {
    let mut blocker = pool.acquire().await.unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("lock table ai_runtime_events in access exclusive mode")
        .execute(&mut *tx)
        .await
        .unwrap();
    let quick = Options {
        lock_timeout: Duration::from_millis(100),
        ..options(30, 1)
    };
    let started = std::time::Instant::now();
    let report = ran(&pool, &quick).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(report.created.is_empty());
    let today = today(&pool).await;
    // The first step gave up after its timeout; the rest did not try.
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(
        report.postponed,
        [
            "read ai_runtime_events_default".to_owned(),
            format!("create {}", partition_name(today)),
            format!("create {}", partition_name(tomorrow)),
            "expire ai_runtime_events_default".to_owned(),
        ]
    );
    assert!(report.to_string().contains("postponed (lock busy)"));
    // The roll-ups read the events too: postponed, not failed.
    assert!(
        report.rollup.as_ref().is_some_and(|r| r.postponed),
        "{report}"
    );
    tx.rollback().await.unwrap();

    let report = ran(&pool, &quick).await;
    assert_eq!(report.created, [(today, 0), (tomorrow, 0)]);
}

#[sqlx::test(migrations = false)]
async fn an_unpartitioned_table_is_refused_with_what_to_do(pool: PgPool) {
    sqlx::raw_sql("create table ai_runtime_events (id uuid primary key, occurred_at timestamptz)")
        .execute(&pool)
        .await
        .unwrap();
    // As the owner: without the migrations there is no maintainer role.
    use ai_runtime_maintain::run_pass;
    let err = run_pass(&pool, &options(30, 1)).await.unwrap_err();
    assert!(err.to_string().contains("apply the migrations"), "{err}");
    assert!(run_pass(&pool, &options(0, 1))
        .await
        .unwrap_err()
        .to_string()
        .contains("at least 1 day"));
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_backfill_makes_the_past_days_within_the_retention(pool: PgPool) {
    let today = today(&pool).await;
    let backfill = Options {
        backfill_from: Some(today.checked_sub_days(Days::new(40)).unwrap()),
        ..options(30, 0)
    };
    let report = ran(&pool, &backfill).await;
    let created: Vec<NaiveDate> = report.created.iter().map(|(d, _)| *d).collect();
    // The days past the retention are not made (they would be dropped).
    assert_eq!(
        created,
        days_from(today.checked_sub_days(Days::new(30)).unwrap(), 0..=30)
    );
    event_in(&pool, -12, "OLD_IMPORT").await;
    let day = today.checked_sub_days(Days::new(12)).unwrap();
    assert_eq!(
        placement(&pool).await,
        [("OLD_IMPORT".to_owned(), partition_name(day))]
    );
}

/// A role that may not maintain (the admin server's reader) fails the pass
/// with Postgres's refusal, and the error says which role would do.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_role_that_may_not_maintain_is_told_which_would(pool: PgPool) {
    let as_reader = ComponentRole::Reader.connect_options(&pool.connect_options());
    let reader = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(as_reader)
        .await
        .unwrap();
    let err = ai_runtime_maintain::run_pass(&reader, &options(30, 1))
        .await
        .unwrap_err();
    reader.close().await;
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert!(err.role_hint().contains("ai_runtime_maintainer"), "{err}");
    assert!(daily_partitions(&pool).await.is_empty());
    // Another failure gives no such hint.
    assert_eq!(ai_runtime_maintain::PassError::NoRetention.role_hint(), "");
}
