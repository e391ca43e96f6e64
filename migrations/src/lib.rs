#![doc = include_str!("../README.md")]
//!
//! The one place the schema is applied from.
//!
//! The SQL lives in `supabase/migrations/*.sql` (Supabase's layout; sqlx's
//! `<version>_<name>.sql` naming is the same). This crate embeds those files
//! at compile time and exposes [`MIGRATOR`], which every binary and every test
//! (`#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]`) uses.
//!
//! It also carries `supabase/schema.sql` ([`SCHEMA_SQL`]) and a catalog
//! [`fingerprint`] so a test can prove the two layouts give the same schema,
//! and reads the schema version the migrations themselves write
//! ([`schema_version`]), whichever tool applied them.
//!
//! [`roles`]: the components' database roles and what each needs.

pub mod roles;

use std::collections::BTreeSet;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, PgPool};

/// All migrations of `supabase/migrations`, in version order.
pub static MIGRATOR: Migrator = sqlx::migrate!("supabase/migrations");

/// `supabase/schema.sql`: the whole current schema in one file.
pub const SCHEMA_SQL: &str = include_str!("../supabase/schema.sql");

/// The database URL used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid database URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("cannot reach the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// The version of the newest migration of this build: what
/// `public.ai_runtime_schema_version()` answers once they are all applied.
pub fn latest_version() -> i64 {
    MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .max()
        .unwrap_or_default()
}

/// The schema version a database holds: `Some(v)` from
/// `public.ai_runtime_schema_version()`, which every migration since the
/// roles migration replaces with its own version, so it answers the same
/// whether sqlx, the Supabase CLI or psql applied the files; `None` when the
/// function is missing (no migrations, or only older ones).
pub async fn schema_version(conn: impl sqlx::PgExecutor<'_>) -> Result<Option<i64>, sqlx::Error> {
    match sqlx::query_scalar("select public.ai_runtime_schema_version()")
        .fetch_one(conn)
        .await
    {
        Ok(version) => Ok(Some(version)),
        Err(e) if is_undefined_function(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Postgres's `undefined_function` (42883).
fn is_undefined_function(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "42883")
}

/// Applies every pending migration. Applying twice is a no-op.
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Creates the database named in `url` if it does not exist yet, connecting
/// to the server's `postgres` database to do so. Returns whether it created it.
pub async fn create_database_if_missing(url: &str) -> Result<bool, Error> {
    let options = PgConnectOptions::from_str(url).map_err(Error::Url)?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut admin: PgConnection = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .map_err(Error::Connect)?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // Identifiers cannot be bound; quote it the way Postgres does.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::raw_sql(&format!("create database {quoted}"))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    Ok(!exists)
}

/// A description of every object in the `public` schema that a migration can
/// create: tables and columns, partitions, constraints, indexes, row-level security,
/// policies, triggers, functions, views, sequences and extensions. Two
/// databases with the same schema have the same fingerprint. sqlx's own
/// bookkeeping table is left out.
pub async fn fingerprint(pool: &PgPool) -> Result<BTreeSet<String>, Error> {
    const QUERIES: &[&str] = &[
        // Columns: type, nullability, default.
        "select format('column %s.%s %s null=%s default=%s', c.table_name, c.column_name,
                c.data_type, c.is_nullable, coalesce(c.column_default, '-'))
         from information_schema.columns c
         where c.table_schema = 'public' and c.table_name <> '_sqlx_migrations'",
        // Constraints: primary keys, uniques, foreign keys, checks.
        "select format('constraint %s.%s %s', t.relname, con.conname, pg_get_constraintdef(con.oid))
         from pg_constraint con
         join pg_class t on t.oid = con.conrelid
         join pg_namespace n on n.oid = t.relnamespace
         where n.nspname = 'public' and t.relname <> '_sqlx_migrations'",
        // Indexes, by their full definition.
        "select format('index %s', indexdef) from pg_indexes
         where schemaname = 'public' and tablename <> '_sqlx_migrations'",
        // Partitions: which table, which bounds.
        "select format('partition %s of %s %s', c.relname, parent.relname,
                pg_get_expr(c.relpartbound, c.oid))
         from pg_inherits i
         join pg_class c on c.oid = i.inhrelid
         join pg_class parent on parent.oid = i.inhparent
         join pg_namespace n on n.oid = parent.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p')",
        // Relations and their row-level security flags.
        "select format('relation %s kind=%s rls=%s force_rls=%s', c.relname, c.relkind,
                c.relrowsecurity, c.relforcerowsecurity)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
           and c.relname <> '_sqlx_migrations'",
        "select format('policy %s.%s %s %s using=%s check=%s', tablename, policyname, cmd,
                roles::text, coalesce(qual, '-'), coalesce(with_check, '-'))
         from pg_policies where schemaname = 'public'",
        "select format('trigger %s.%s %s', c.relname, t.tgname, pg_get_triggerdef(t.oid))
         from pg_trigger t join pg_class c on c.oid = t.tgrelid
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and not t.tgisinternal",
        "select format('function %s', pg_get_functiondef(p.oid))
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'public' and p.prokind in ('f', 'p')",
        "select format('view %s %s', viewname, definition) from pg_views where schemaname = 'public'",
        "select format('extension %s', extname) from pg_extension",
        "select format('grant %s on %s to %s', privilege_type, table_name, grantee)
         from information_schema.role_table_grants
         where table_schema = 'public' and table_name <> '_sqlx_migrations'",
        // Column grants and function grants (information_schema shows only
        // the current role's).
        "select format('column grant %s.%s %s', c.relname, a.attname, a.attacl::text)
         from pg_attribute a join pg_class c on c.oid = a.attrelid
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and a.attacl is not null",
        "select format('function grant %s %s', p.oid::regprocedure, coalesce(p.proacl::text, 'default'))
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'public' and p.prokind in ('f', 'p')",
    ];
    let mut lines = BTreeSet::new();
    for query in QUERIES {
        let rows: Vec<String> = sqlx::query_scalar(query).fetch_all(pool).await?;
        lines.extend(rows);
    }
    Ok(lines)
}

/// The lines only in `left` (prefixed `-`) and only in `right` (prefixed `+`).
pub fn fingerprint_diff(left: &BTreeSet<String>, right: &BTreeSet<String>) -> Vec<String> {
    let removed = left.difference(right).map(|l| format!("- {l}"));
    let added = right.difference(left).map(|l| format!("+ {l}"));
    removed.chain(added).collect()
}
