//! The components' roles on real Postgres: each holds exactly what it needs,
//! what it needs works under row-level security, and the rest is refused.

use ai_runtime_migrations::roles::{check_role, ComponentRole};
use ai_runtime_migrations::{latest_version, schema_version, MIGRATOR, SCHEMA_SQL};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// Postgres's `insufficient_privilege`.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

async fn connect_as(role: ComponentRole, options: &PgConnectOptions) -> PgConnection {
    PgConnection::connect_with(&role.connect_options(options))
        .await
        .unwrap()
}

/// Runs `sql` and expects Postgres to refuse it for want of a privilege.
async fn refused(conn: &mut PgConnection, sql: &str) {
    let err = sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .expect_err(&format!("`{sql}` should have been refused"));
    let code = err.as_database_error().and_then(|db| db.code());
    assert_eq!(
        code.as_deref(),
        Some(INSUFFICIENT_PRIVILEGE),
        "`{sql}`: {err}"
    );
}

/// One event, one task and one day's partition, made by the owner.
async fn seed(pool: &PgPool) {
    sqlx::raw_sql(
        "select public.ai_runtime_create_partition('2026-11-20');
         insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at)
             values ('worker', 'HEARTBEAT', 'SEED', 'e', '2026-11-20 12:00:00+00');
         insert into persona_tasks (persona_id, kind, idempotency_key)
             values (gen_random_uuid(), 'reply', 'seed');",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn each_role_holds_exactly_what_it_needs(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    for role in ComponentRole::ALL {
        let check = check_role(&mut conn, role.name(), &[role])
            .await
            .unwrap()
            .expect("the migration made the role");
        assert!(check.is_least_privilege(), "{check:#?}");
        assert_eq!(check.member_of, [role.name()]);
    }
    // The check sees a grant too many, and what a role lacks.
    sqlx::raw_sql(
        "grant delete on ai_runtime_events to ai_runtime_reader;
         revoke insert on ai_runtime_events from ai_runtime_writer;",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let reader = ComponentRole::Reader;
    let check = check_role(&mut conn, reader.name(), &[reader])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(check.beyond_need, ["DELETE on ai_runtime_events"]);
    let writer = ComponentRole::Writer;
    let check = check_role(&mut conn, writer.name(), &[writer])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(check.missing, ["INSERT on ai_runtime_events"]);
    // The owner owns; a superuser is said to be one.
    let check = check_role(&mut conn, "postgres", &[reader])
        .await
        .unwrap()
        .unwrap();
    assert!(check.superuser && !check.is_least_privilege());
    assert!(check_role(&mut conn, "no_such_role", &[reader])
        .await
        .unwrap()
        .is_none());
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_writer_inserts_events_and_upserts_status_and_nothing_else(pool: PgPool) {
    seed(&pool).await;
    let options = pool.connect_options();
    let mut writer = connect_as(ComponentRole::Writer, &options).await;
    let user: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&mut writer)
        .await
        .unwrap();
    assert_eq!(user, "ai_runtime_writer");
    // What the layer (and an OTLP receiver) writes, with RLS on.
    sqlx::raw_sql(
        "insert into public.ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at)
             values ('worker', 'HEARTBEAT', 'W', 'e', '2026-11-20 13:00:00+00'),
                    ('worker', 'HEARTBEAT', 'W', 'e', now() + interval '400 days');
         insert into public.ai_worker_status as s (worker_id, agent_type, status, last_heartbeat, metadata)
             values ('w1', 'a', 'RUNNING', now(), '{\"a\": 1}')
         on conflict (worker_id) do update set status = excluded.status,
             metadata = s.metadata || excluded.metadata;
         insert into public.ai_worker_status as s (worker_id, agent_type, status, last_heartbeat, metadata)
             values ('w1', 'a', 'IDLE', now(), '{\"b\": 2}')
         on conflict (worker_id) do update set status = excluded.status,
             metadata = s.metadata || excluded.metadata;
         update public.ai_worker_status set metadata = jsonb_set(metadata, '{sink}', '{}')
             where worker_id = any(array['w1']);",
    )
    .execute(&mut writer)
    .await
    .unwrap();
    let status: (String, serde_json::Value) =
        sqlx::query_as("select status, metadata from ai_worker_status where worker_id = 'w1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        status,
        (
            "IDLE".to_owned(),
            serde_json::json!({"a": 1, "b": 2, "sink": {}})
        )
    );
    let written: i64 =
        sqlx::query_scalar("select count(*) from ai_runtime_events where reason_code = 'W'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(written, 2);

    for forbidden in [
        "select count(*) from persona_tasks",
        "select count(*) from task_transition_events",
        "select count(*) from ai_runtime_events",
        "select count(*) from ai_runtime_events_p20261120",
        "update ai_runtime_events set reason_code = 'X'",
        "update ai_runtime_events_p20261120 set reason_code = 'X'",
        "delete from ai_runtime_events",
        "delete from ai_runtime_events_default",
        "truncate ai_runtime_events",
        "insert into persona_tasks (persona_id, kind, idempotency_key) values (gen_random_uuid(), 'r', 'k')",
        "update persona_tasks set status = 'DONE'",
        "delete from ai_worker_status",
        "drop table ai_runtime_events_p20261120",
        "alter table ai_runtime_events detach partition ai_runtime_events_p20261120",
        "select public.ai_runtime_drop_partition('2026-11-20')",
        "select public.ai_runtime_create_partition('2026-11-21')",
        "drop table ai_runtime_events",
        "create table public.intruder (id int)",
        "insert into ai_runtime_alerts (alert, since, value, message) values ('STUCK_TASKS', now(), 1, 'x')",
    ] {
        refused(&mut writer, forbidden).await;
    }
    writer.close().await.unwrap();
    let seeded: i64 =
        sqlx::query_scalar("select count(*) from ai_runtime_events where reason_code = 'SEED'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(seeded, 1, "the seeded event is untouched");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_reader_reads_and_writes_only_the_alert_state(pool: PgPool) {
    seed(&pool).await;
    let mut reader = connect_as(ComponentRole::Reader, &pool.connect_options()).await;
    // Row-level security is on; the reader's policies show it the rows.
    let (events, tasks): (i64, i64) = sqlx::query_as(
        "select (select count(*) from ai_runtime_events), (select count(*) from persona_tasks)",
    )
    .fetch_one(&mut reader)
    .await
    .unwrap();
    assert_eq!((events, tasks), (1, 1));
    sqlx::raw_sql(
        "insert into ai_runtime_alerts (alert, since, value, message) values ('STUCK_TASKS', now(), 1, 'x');
         update ai_runtime_alerts set firing_at = now();
         delete from ai_runtime_alerts;",
    )
    .execute(&mut reader)
    .await
    .unwrap();
    for forbidden in [
        "delete from ai_runtime_events",
        "update ai_runtime_events set reason_code = 'X'",
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at) values ('worker', 'HEARTBEAT', 'R', 'e', now())",
        "update persona_tasks set status = 'DONE'",
        "delete from ai_worker_status",
        "delete from ai_runtime_event_rollups",
        "select public.ai_runtime_drop_partition('2026-11-20')",
        "truncate ai_runtime_alerts",
    ] {
        refused(&mut reader, forbidden).await;
    }
    reader.close().await.unwrap();
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_maintainer_keeps_partitions_and_roll_ups_only(pool: PgPool) {
    seed(&pool).await;
    let mut maintainer = connect_as(ComponentRole::Maintainer, &pool.connect_options()).await;
    let moved: i64 = sqlx::query_scalar("select public.ai_runtime_create_partition('2026-11-21')")
        .fetch_one(&mut maintainer)
        .await
        .unwrap();
    assert_eq!(moved, 0);
    sqlx::raw_sql(
        "select public.ai_runtime_drop_partition('2026-11-21');
         select count(*) from ai_runtime_events_default;
         delete from ai_runtime_events_default where occurred_at < '2000-01-01';
         insert into ai_runtime_rollups (rollup, rolled_until) values ('events', now());",
    )
    .execute(&mut maintainer)
    .await
    .unwrap();
    for forbidden in [
        "select count(*) from persona_tasks",
        "delete from ai_runtime_events",
        "update ai_runtime_events set reason_code = 'X'",
        "drop table ai_runtime_events_p20261120",
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at) values ('worker', 'HEARTBEAT', 'M', 'e', now())",
        "delete from ai_runtime_alerts",
    ] {
        refused(&mut maintainer, forbidden).await;
    }
    maintainer.close().await.unwrap();
}

/// Roles belong to the cluster: migrating a second database, or two at
/// once, finds them made and succeeds.
#[sqlx::test(migrations = false)]
async fn migrations_succeed_where_the_roles_already_exist(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let mut databases = Vec::new();
    // Test databases' names are at Postgres's 63-byte limit: a name of its own.
    let base = format!("roles_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&options).await.unwrap();
    for n in 0..3 {
        let name = format!("{base}_roles_{n}");
        for sql in [
            format!("drop database if exists \"{name}\""),
            format!("create database \"{name}\""),
        ] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        }
        databases.push(name);
    }
    // At once: each migration may find a role made by another meanwhile.
    let mut runs = tokio::task::JoinSet::new();
    for name in &databases {
        let options = options.clone().database(name);
        runs.spawn(async move {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap();
            let result = MIGRATOR.run(&pool).await.map_err(|e| e.to_string());
            let version = schema_version(&pool).await.unwrap();
            pool.close().await;
            (result, version)
        });
    }
    for (result, version) in runs.join_all().await {
        assert_eq!(result, Ok(()));
        assert_eq!(version, Some(latest_version()));
    }
    for name in &databases {
        sqlx::raw_sql(&format!("drop database \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

/// Every migration replaces `ai_runtime_schema_version()` with its own
/// version, and `schema.sql` says the same: what `/readyz` reads.
#[sqlx::test(migrations = false)]
async fn the_schema_version_is_the_newest_migrations(pool: PgPool) {
    assert_eq!(schema_version(&pool).await.unwrap(), None);
    MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(schema_version(&pool).await.unwrap(), Some(latest_version()));
    assert_eq!(latest_version(), MIGRATOR.iter().last().unwrap().version);

    sqlx::raw_sql("drop schema public cascade; create schema public;")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(SCHEMA_SQL).execute(&pool).await.unwrap();
    assert_eq!(schema_version(&pool).await.unwrap(), Some(latest_version()));
}
