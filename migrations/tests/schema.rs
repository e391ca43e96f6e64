//! The schema and the migration rule, each test on its own fresh database.

use ai_runtime_migrations::{fingerprint, fingerprint_diff, MIGRATOR, SCHEMA_SQL};
use sqlx::PgPool;

/// Replaces everything in `public` by what `SCHEMA_SQL` creates.
async fn reset_public(pool: &PgPool) {
    sqlx::raw_sql("drop schema public cascade; create schema public;")
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_to_an_empty_database_and_rerun_is_a_no_op(pool: PgPool) {
    MIGRATOR.run(&pool).await.unwrap();
    let first = fingerprint(&pool).await.unwrap();
    assert!(first
        .iter()
        .any(|l| l.starts_with("relation ai_runtime_events")));

    MIGRATOR.run(&pool).await.unwrap();
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, MIGRATOR.iter().count());
    assert_eq!(first, fingerprint(&pool).await.unwrap());
}

#[sqlx::test(migrations = false)]
async fn schema_sql_and_migrations_give_the_same_schema(pool: PgPool) {
    sqlx::raw_sql(SCHEMA_SQL).execute(&pool).await.unwrap();
    let from_schema_sql = fingerprint(&pool).await.unwrap();

    reset_public(&pool).await;
    MIGRATOR.run(&pool).await.unwrap();
    let from_migrations = fingerprint(&pool).await.unwrap();

    let diff = fingerprint_diff(&from_migrations, &from_schema_sql);
    assert!(
        diff.is_empty(),
        "supabase/schema.sql differs from supabase/migrations:\n{}",
        diff.join("\n")
    );
    // Not a comparison of two empty sets.
    assert!(from_migrations.len() > 50, "{}", from_migrations.len());
}

#[sqlx::test(migrations = false)]
async fn the_comparison_catches_a_missing_index(pool: PgPool) {
    MIGRATOR.run(&pool).await.unwrap();
    let from_migrations = fingerprint(&pool).await.unwrap();

    reset_public(&pool).await;
    sqlx::raw_sql(SCHEMA_SQL).execute(&pool).await.unwrap();
    sqlx::raw_sql("drop index public.ai_runtime_events_task_id_occurred_at_idx")
        .execute(&pool)
        .await
        .unwrap();
    let drifted = fingerprint(&pool).await.unwrap();

    // The partitioned index and its index on the default partition.
    let diff = fingerprint_diff(&from_migrations, &drifted);
    assert_eq!(diff.len(), 2, "{diff:#?}");
    assert!(diff[0]
        .starts_with("- index CREATE INDEX ai_runtime_events_default_task_id_occurred_at_idx"));
    assert!(diff[1].starts_with("- index CREATE INDEX ai_runtime_events_task_id_occurred_at_idx"));
}

#[sqlx::test(migrations = false)]
async fn the_comparison_catches_a_changed_check_and_default(pool: PgPool) {
    MIGRATOR.run(&pool).await.unwrap();
    let from_migrations = fingerprint(&pool).await.unwrap();
    sqlx::raw_sql(
        "alter table ai_worker_status alter column circuit_open set default true;
         alter table ai_worker_status drop constraint ai_worker_status_status_check;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let drifted = fingerprint(&pool).await.unwrap();
    let diff = fingerprint_diff(&from_migrations, &drifted).join("\n");
    assert!(diff.contains("ai_worker_status_status_check"), "{diff}");
    assert!(
        diff.contains("circuit_open boolean null=NO default=true"),
        "{diff}"
    );
}

async fn insert_event(pool: &PgPool, layer: &str, operation: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at)
         values ($1, $2, 'TEST', 'entity', now())",
    )
    .bind(layer)
    .bind(operation)
    .execute(pool)
    .await
    .map(drop)
}

fn check_violation(result: Result<(), sqlx::Error>, constraint: &str) {
    let err = result.expect_err("the row should have been refused");
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("23514"), "{db}");
    assert_eq!(db.constraint(), Some(constraint));
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn check_constraints_refuse_unknown_values(pool: PgPool) {
    insert_event(&pool, "provider_runtime", "CALL")
        .await
        .unwrap();
    check_violation(
        insert_event(&pool, "providers", "CALL").await,
        "ai_runtime_events_layer_check",
    );
    check_violation(
        insert_event(&pool, "worker", "call").await,
        "ai_runtime_events_operation_check",
    );

    let status = |s: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "insert into ai_worker_status (worker_id, agent_type, status, last_heartbeat)
                 values ($1, 'phase1_reply_runner', $1, now())",
            )
            .bind(s)
            .execute(&pool)
            .await
            .map(drop)
        }
    };
    status("RUNNING").await.unwrap();
    check_violation(status("BUSY").await, "ai_worker_status_status_check");

    let task = sqlx::query(
        "insert into persona_tasks (persona_id, kind, status, idempotency_key)
         values (gen_random_uuid(), 'reply', 'WAITING', 'k1')",
    )
    .execute(&pool)
    .await
    .map(drop);
    check_violation(task, "persona_tasks_status_check");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn every_public_table_has_row_level_security(pool: PgPool) {
    let tables: Vec<(String, bool)> = sqlx::query_as(
        "select c.relname::text, c.relrowsecurity from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "_sqlx_migrations",
            "ai_runtime_alerts",
            "ai_runtime_breaker_changes",
            "ai_runtime_call_rollups",
            "ai_runtime_event_rollups",
            "ai_runtime_events",
            "ai_runtime_events_default",
            "ai_runtime_rollups",
            "ai_worker_status",
            "persona_tasks",
            "task_transition_events",
            "task_transition_minutes"
        ]
    );
    let without: Vec<&str> = tables
        .iter()
        .filter(|(_, rls)| !rls)
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(without.is_empty(), "tables without RLS: {without:?}");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn supabase_api_roles_read_nothing(pool: PgPool) {
    insert_event(&pool, "worker", "HEARTBEAT").await.unwrap();
    // Supabase's API role, as the platform sets it up: table grants, no bypass.
    // Roles are cluster-wide, so a concurrent test may create it first.
    sqlx::raw_sql(
        "do $$ begin create role anon nologin;
         exception when duplicate_object or unique_violation then null; end $$;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::raw_sql(
        "grant usage on schema public to anon;
         grant select on all tables in schema public to anon;
         set local role anon;",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    for table in [
        "ai_runtime_events",
        "ai_worker_status",
        "persona_tasks",
        "task_transition_events",
        "_sqlx_migrations",
    ] {
        let visible: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(visible, 0, "anon sees rows of {table}");
    }
    tx.rollback().await.unwrap();
    // The privileged role still sees the row.
    let owner_sees: i64 = sqlx::query_scalar("select count(*) from ai_runtime_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(owner_sees, 1);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_seed_indexes_and_the_tasks_panel_index_exist(pool: PgPool) {
    let defs: Vec<String> =
        sqlx::query_scalar("select indexdef from pg_indexes where schemaname = 'public'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [
        "ai_runtime_events USING btree (occurred_at DESC)",
        "ai_runtime_events USING btree (layer, occurred_at DESC)",
        "ai_runtime_events USING btree (reason_code, occurred_at DESC)",
        "ai_runtime_events USING btree (entity_id, occurred_at DESC)",
        "ai_runtime_events USING btree (task_id, occurred_at DESC)",
        "ai_worker_status USING btree (status, updated_at DESC)",
        "ai_worker_status USING btree (circuit_open, updated_at DESC)",
        "persona_tasks USING btree (status, scheduled_at)",
        "task_transition_events USING btree (task_id, occurred_at)",
    ];
    for suffix in expected {
        assert!(
            defs.iter().any(|d| d.ends_with(suffix)),
            "no index `{suffix}` in {defs:#?}"
        );
    }
}

/// The partitioning migration on a database whose unpartitioned
/// `ai_runtime_events` already holds rows over several days: every row is
/// kept, each in its UTC day's partition, and every partition has RLS.
#[sqlx::test(migrations = false)]
async fn partitioning_a_populated_events_table_keeps_every_row(pool: PgPool) {
    const PARTITIONING: i64 = 20261130000000;
    for migration in MIGRATOR.iter().filter(|m| m.version < PARTITIONING) {
        sqlx::raw_sql(&migration.sql).execute(&pool).await.unwrap();
    }
    // 40 rows over four UTC days, two of them on the edges of a day.
    sqlx::raw_sql(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id,
                                        worker_id, metadata, occurred_at)
         select 'worker', 'HEARTBEAT', 'R' || n, 'entity-' || n, gen_random_uuid(), 'w-' || (n % 3),
                jsonb_build_object('n', n),
                timestamptz '2026-11-20 00:00:00+00' + (n % 4) * interval '1 day' + n * interval '1 minute'
         from generate_series(1, 38) n;
         insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at) values
             ('worker', 'HEARTBEAT', 'EDGE_END', 'e', '2026-11-21 23:59:59.999999+00'),
             ('worker', 'HEARTBEAT', 'EDGE_START', 'e', '2026-11-22 00:00:00+00');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let rows =
        "select id, reason_code, entity_id, task_id, worker_id, metadata, occurred_at, created_at
                from ai_runtime_events order by id";
    type Row = (
        uuid::Uuid,
        String,
        String,
        Option<uuid::Uuid>,
        Option<String>,
        serde_json::Value,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
    );
    let before: Vec<Row> = sqlx::query_as(rows).fetch_all(&pool).await.unwrap();
    assert_eq!(before.len(), 40);

    let partitioning = MIGRATOR
        .iter()
        .find(|m| m.version == PARTITIONING)
        .expect("the partitioning migration");
    sqlx::raw_sql(&partitioning.sql)
        .execute(&pool)
        .await
        .unwrap();

    let after: Vec<Row> = sqlx::query_as(rows).fetch_all(&pool).await.unwrap();
    assert_eq!(before, after);
    let placed: Vec<(String, i64)> = sqlx::query_as(
        "select tableoid::regclass::text, count(*) from ai_runtime_events group by 1 order by 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        placed,
        [
            ("ai_runtime_events_p20261120".to_owned(), 9),
            ("ai_runtime_events_p20261121".to_owned(), 11),
            ("ai_runtime_events_p20261122".to_owned(), 11),
            ("ai_runtime_events_p20261123".to_owned(), 9),
        ]
    );
    let edges: Vec<(String, String)> = sqlx::query_as(
        "select reason_code, tableoid::regclass::text from ai_runtime_events
         where reason_code like 'EDGE%' order by 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        edges,
        [
            (
                "EDGE_END".to_owned(),
                "ai_runtime_events_p20261121".to_owned()
            ),
            (
                "EDGE_START".to_owned(),
                "ai_runtime_events_p20261122".to_owned()
            ),
        ]
    );
    // A day without a partition is still stored, in the default partition.
    insert_event(&pool, "worker", "HEARTBEAT").await.unwrap();
    let stray: String = sqlx::query_scalar(
        "select tableoid::regclass::text from ai_runtime_events where reason_code = 'TEST'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stray, "ai_runtime_events_default");
    let without_rls: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(without_rls.is_empty(), "{without_rls:?}");
    let kind: String = sqlx::query_scalar(
        "select relkind::text from pg_class where oid = 'public.ai_runtime_events'::regclass",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(kind, "p");
}
