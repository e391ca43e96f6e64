//! The components' database roles, made by the roles migration
//! (`supabase/migrations/20261203120000_runtime_roles.sql`), and what each
//! needs: the table privileges and functions its grants give it, and nothing
//! more. [`RoleCheck`] compares what a role holds with that, for
//! `ai-runtime-verify`; a test checks the migration grants exactly this.
//!
//! The roles are NOLOGIN: an operator grants one to each component's login
//! (`create role admin_server login password '...' in role ai_runtime_reader`).
//! A login that is a member may also take the role at connection start
//! ([`ComponentRole::connect_options`]), which is how the tests and the demo
//! run each component as its role.

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// One component's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentRole {
    /// The observability layer and an OTLP receiver: insert events, upsert
    /// worker status.
    Writer,
    /// The admin server and `ai-runtime-verify`: read what the APIs read,
    /// write the alert state.
    Reader,
    /// `ai-runtime-maintain`: partitions, retention, roll-ups.
    Maintainer,
}

/// A privilege on a table, as `has_table_privilege` names it.
pub type Privilege = &'static str;

/// Every table privilege Postgres knows (what [`RoleCheck`] looks for).
pub const TABLE_PRIVILEGES: [Privilege; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

/// The functions that run as the events table's owner (partition DDL).
pub const PARTITION_FUNCTIONS: [&str; 2] = [
    "public.ai_runtime_create_partition(date)",
    "public.ai_runtime_drop_partition(date)",
];

const ROLLUP_TABLES: [&str; 5] = [
    "ai_runtime_event_rollups",
    "ai_runtime_call_rollups",
    "task_transition_minutes",
    "ai_runtime_breaker_changes",
    "ai_runtime_rollups",
];
const READ_WRITE: &[Privilege] = &["SELECT", "INSERT", "UPDATE", "DELETE"];

impl ComponentRole {
    pub const ALL: [ComponentRole; 3] = [
        ComponentRole::Writer,
        ComponentRole::Reader,
        ComponentRole::Maintainer,
    ];

    /// The component role named `name`.
    pub fn from_name(name: &str) -> Option<ComponentRole> {
        ComponentRole::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The role's name in the database.
    pub fn name(self) -> &'static str {
        match self {
            ComponentRole::Writer => "ai_runtime_writer",
            ComponentRole::Reader => "ai_runtime_reader",
            ComponentRole::Maintainer => "ai_runtime_maintainer",
        }
    }

    /// The components that connect as it, for messages.
    pub fn components(self) -> &'static str {
        match self {
            ComponentRole::Writer => "the observability layer and an OTLP receiver",
            ComponentRole::Reader => "the admin server and ai-runtime-verify",
            ComponentRole::Maintainer => "ai-runtime-maintain",
        }
    }

    /// The table privileges it needs, per table of `public`; none on any
    /// other table.
    pub fn table_needs(self) -> Vec<(&'static str, &'static [Privilege])> {
        match self {
            ComponentRole::Writer => vec![
                ("ai_runtime_events", &["INSERT"]),
                // `on conflict do update` reads the stored row.
                ("ai_worker_status", &["SELECT", "INSERT", "UPDATE"]),
            ],
            ComponentRole::Reader => {
                let mut needs: Vec<(&str, &[Privilege])> = [
                    "ai_runtime_events",
                    "ai_worker_status",
                    "persona_tasks",
                    "task_transition_events",
                ]
                .into_iter()
                .chain(ROLLUP_TABLES)
                .map(|t| (t, &["SELECT"][..]))
                .collect();
                needs.push(("ai_runtime_alerts", READ_WRITE));
                needs
            }
            ComponentRole::Maintainer => {
                let mut needs: Vec<(&str, &[Privilege])> = vec![
                    ("ai_runtime_events", &["SELECT"]),
                    ("ai_runtime_events_default", &["SELECT", "DELETE"]),
                    ("task_transition_events", &["SELECT"]),
                ];
                needs.extend(ROLLUP_TABLES.map(|t| (t, READ_WRITE)));
                needs
            }
        }
    }

    /// The owner-run functions it may call.
    pub fn function_needs(self) -> &'static [&'static str] {
        match self {
            ComponentRole::Maintainer => &PARTITION_FUNCTIONS,
            ComponentRole::Writer | ComponentRole::Reader => &[],
        }
    }

    /// `options` with the role taken at connection start (the login must be
    /// a member of it): every statement then runs with this role's
    /// privileges only, as `set role` would make it.
    pub fn connect_options(self, options: &PgConnectOptions) -> PgConnectOptions {
        options.clone().options([("role", self.name())])
    }
}

/// What a role holds beyond, or short of, what a component's role needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleCheck {
    /// The role checked.
    pub role: String,
    /// The component roles it is a member of (or is).
    pub member_of: Vec<String>,
    pub superuser: bool,
    pub bypass_rls: bool,
    /// Runtime tables it owns (or whose owner it is a member of): an owner
    /// may alter or drop them, and row-level security does not restrict it.
    pub owns: Vec<String>,
    /// Privileges held that the compared roles do not need: `DELETE on ai_runtime_events`.
    pub beyond_need: Vec<String>,
    /// Privileges the compared roles need and it lacks (the component would fail).
    pub missing: Vec<String>,
}

impl RoleCheck {
    /// Whether it holds exactly what it needs.
    pub fn is_least_privilege(&self) -> bool {
        !self.superuser
            && !self.bypass_rls
            && self.owns.is_empty()
            && self.beyond_need.is_empty()
            && self.missing.is_empty()
    }
}

/// The runtime tables: `public`'s tables but the daily partitions (reached
/// through their parent) and sqlx's bookkeeping.
const RUNTIME_TABLES: &str = "\
select c.relname::text from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'public' and c.relkind in ('r', 'p')
  and c.relname !~ '^ai_runtime_events_p[0-9]{8}$' and c.relname <> '_sqlx_migrations'
order by 1";

/// Checks `role` against what `compared` need together (a login of the
/// admin server against `[Reader]`; the reader role itself the same way).
/// `None` when there is no such role.
pub async fn check_role(
    conn: &mut PgConnection,
    role: &str,
    compared: &[ComponentRole],
) -> Result<Option<RoleCheck>, sqlx::Error> {
    let flags: Option<(bool, bool)> =
        sqlx::query_as("select rolsuper, rolbypassrls from pg_catalog.pg_roles where rolname = $1")
            .bind(role)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((superuser, bypass_rls)) = flags else {
        return Ok(None);
    };
    let mut member_of = Vec::new();
    for component in ComponentRole::ALL {
        let member: Option<bool> = sqlx::query_scalar(
            "select pg_has_role($1, oid, 'USAGE') from pg_catalog.pg_roles where rolname = $2",
        )
        .bind(role)
        .bind(component.name())
        .fetch_optional(&mut *conn)
        .await?;
        if member == Some(true) {
            member_of.push(component.name().to_owned());
        }
    }
    let tables: Vec<String> = sqlx::query_scalar(RUNTIME_TABLES)
        .fetch_all(&mut *conn)
        .await?;
    // A superuser's "ownership" of everything is said by `superuser`.
    let owns: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_catalog.pg_class c
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relname = any($2)
           and pg_has_role($1, c.relowner, 'USAGE') and not $3
         order by 1",
    )
    .bind(role)
    .bind(&tables)
    .bind(superuser)
    .fetch_all(&mut *conn)
    .await?;

    let needed = |table: &str, privilege: &str| {
        compared.iter().any(|c| {
            c.table_needs()
                .iter()
                .any(|(t, ps)| *t == table && ps.contains(&privilege))
        })
    };
    let mut beyond_need = Vec::new();
    let mut missing = Vec::new();
    // A superuser holds everything and an owner everything on its tables:
    // that is said once, not as every privilege it implies.
    let listed = tables.iter().filter(|t| !superuser && !owns.contains(t));
    for table in listed {
        let held: Vec<bool> = sqlx::query_scalar(
            "select has_table_privilege($1, ('public.' || quote_ident($2))::regclass, p)
             from unnest($3::text[]) with ordinality as u(p, n) order by n",
        )
        .bind(role)
        .bind(table)
        .bind(&TABLE_PRIVILEGES[..])
        .fetch_all(&mut *conn)
        .await?;
        for (privilege, held) in TABLE_PRIVILEGES.iter().zip(held) {
            match (held, needed(table, privilege)) {
                (true, false) => beyond_need.push(format!("{privilege} on {table}")),
                (false, true) => missing.push(format!("{privilege} on {table}")),
                _ => {}
            }
        }
    }
    for function in PARTITION_FUNCTIONS.iter().filter(|_| !superuser) {
        let held: Option<bool> = sqlx::query_scalar(
            "select has_function_privilege($1, p.oid, 'EXECUTE') from pg_catalog.pg_proc p
             where p.oid = to_regprocedure($2)",
        )
        .bind(role)
        .bind(function)
        .fetch_optional(&mut *conn)
        .await?;
        let needed = compared
            .iter()
            .any(|c| c.function_needs().contains(function));
        match (held, needed) {
            (Some(true), false) => beyond_need.push(format!("EXECUTE on {function}")),
            (Some(false) | None, true) => missing.push(format!("EXECUTE on {function}")),
            _ => {}
        }
    }
    Ok(Some(RoleCheck {
        role: role.to_owned(),
        member_of,
        superuser,
        bypass_rls,
        owns,
        beyond_need,
        missing,
    }))
}
