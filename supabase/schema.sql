-- The whole current schema, kept in step with supabase/migrations/*.sql
-- (the migration rule: a commit that changes a migration changes this file).
-- A test proves that applying this file and applying the migrations give the
-- same schema.


-- ---------------------------------------------------------------- queue ---

create table public.persona_tasks (
    id uuid primary key default gen_random_uuid(),
    persona_id uuid not null,
    kind text not null,
    payload jsonb not null default '{}'::jsonb,
    status text not null default 'PENDING',
    attempts integer not null default 0,
    max_attempts integer not null default 3,
    lease_owner text null,
    lease_expires_at timestamptz null,
    scheduled_at timestamptz not null default now(),
    reason_code text null,
    reason text null,
    idempotency_key text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint persona_tasks_status_check
        check (status in ('PENDING', 'RUNNING', 'IN_REVIEW', 'DONE', 'SKIPPED', 'FAILED')),
    constraint persona_tasks_attempts_check
        check (attempts >= 0 and max_attempts >= 1),
    constraint persona_tasks_idempotency_key_key unique (idempotency_key)
);

-- Leasing: next due PENDING task; expired leases of RUNNING tasks.
create index persona_tasks_status_scheduled_idx
    on public.persona_tasks (status, scheduled_at);
create index persona_tasks_status_lease_idx
    on public.persona_tasks (status, lease_expires_at);
-- Listing recent tasks (keyset on created_at, id), all or by status.
create index persona_tasks_created_idx
    on public.persona_tasks (created_at desc, id desc);
create index persona_tasks_status_created_idx
    on public.persona_tasks (status, created_at desc, id desc);

create table public.task_transition_events (
    id uuid primary key default gen_random_uuid(),
    task_id uuid not null references public.persona_tasks (id) on delete cascade,
    from_status text null,
    to_status text not null,
    reason_code text not null,
    worker_id text null,
    metadata jsonb not null default '{}'::jsonb,
    occurred_at timestamptz not null default now(),
    constraint task_transition_events_from_status_check
        check (from_status in ('PENDING', 'RUNNING', 'IN_REVIEW', 'DONE', 'SKIPPED', 'FAILED')),
    constraint task_transition_events_to_status_check
        check (to_status in ('PENDING', 'RUNNING', 'IN_REVIEW', 'DONE', 'SKIPPED', 'FAILED'))
);

-- A task's transitions, in order.
create index task_transition_events_task_idx
    on public.task_transition_events (task_id, occurred_at);
-- Trend deltas over a recent window, covering the statuses they read.
create index task_transition_events_occurred_statuses_idx
    on public.task_transition_events (occurred_at desc) include (from_status, to_status);

-- ------------------------------------------------------ runtime events ---

-- Partitioned by range on occurred_at, one partition per UTC day
-- (ai_runtime_events_pYYYYMMDD), made and dropped by ai-runtime-maintain.
-- The partition key must be part of the primary key: (id, occurred_at).
-- An event whose day has no partition lands in ai_runtime_events_default
-- until the next maintenance pass moves it to its day.
create table public.ai_runtime_events (
    id uuid not null default gen_random_uuid(),
    layer text not null,
    operation text not null,
    reason_code text not null,
    entity_id text not null,
    task_id uuid null,
    persona_id uuid null,
    worker_id text null,
    metadata jsonb not null default '{}'::jsonb,
    occurred_at timestamptz not null,
    created_at timestamptz not null default now(),
    constraint ai_runtime_events_layer_check
        check (layer in ('provider_runtime', 'tool_runtime', 'model_adapter', 'execution', 'dispatcher', 'worker')),
    constraint ai_runtime_events_operation_check
        check (operation in ('CALL', 'FALLBACK', 'RETRY', 'TOOL_CALL', 'TOOL_LOOP', 'TASK', 'HEARTBEAT', 'BREAKER'))
) partition by range (occurred_at);

create table public.ai_runtime_events_default
    partition of public.ai_runtime_events default;

alter table public.ai_runtime_events
    add constraint ai_runtime_events_pkey primary key (id, occurred_at);
-- The seed's four indexes.
create index ai_runtime_events_occurred_at_idx
    on public.ai_runtime_events (occurred_at desc);
create index ai_runtime_events_layer_occurred_at_idx
    on public.ai_runtime_events (layer, occurred_at desc);
create index ai_runtime_events_reason_code_occurred_at_idx
    on public.ai_runtime_events (reason_code, occurred_at desc);
create index ai_runtime_events_entity_id_occurred_at_idx
    on public.ai_runtime_events (entity_id, occurred_at desc);
-- The one the seed forgot: the tasks panel's latest event per task.
create index ai_runtime_events_task_id_occurred_at_idx
    on public.ai_runtime_events (task_id, occurred_at desc);
-- The admin server's worker and operation filters.
create index ai_runtime_events_worker_id_occurred_at_idx
    on public.ai_runtime_events (worker_id, occurred_at desc);
create index ai_runtime_events_operation_occurred_at_idx
    on public.ai_runtime_events (operation, occurred_at desc);

create table public.ai_worker_status (
    worker_id text primary key,
    agent_type text not null,
    status text not null,
    circuit_open boolean not null default false,
    circuit_reason text null,
    last_heartbeat timestamptz not null,
    current_task_id uuid null,
    metadata jsonb not null default '{}'::jsonb,
    updated_at timestamptz not null default now(),
    constraint ai_worker_status_status_check
        check (status in ('RUNNING', 'IDLE', 'DEGRADED', 'STOPPED'))
);

create index ai_worker_status_status_updated_at_idx
    on public.ai_worker_status (status, updated_at desc);
create index ai_worker_status_circuit_open_updated_at_idx
    on public.ai_worker_status (circuit_open, updated_at desc);

-- ---------------------------------------------------------------- alerts ---
-- The admin server's built-in alerts: one row per alert whose condition holds
-- now (written by the one evaluator holding the advisory lock, read by every
-- server's /status). `firing_at` is null while pending.
create table public.ai_runtime_alerts (
    alert text not null,
    subject text not null default '',
    since timestamptz not null,
    firing_at timestamptz null,
    value double precision not null,
    message text not null,
    evaluated_at timestamptz not null default now(),
    primary key (alert, subject),
    constraint ai_runtime_alerts_alert_check
        check (alert in ('BREAKER_OPEN', 'WORKER_STALE', 'STUCK_TASKS', 'EVENTS_DROPPED', 'FAILURE_RATE'))
);

-- --------------------------------------------------------------- roll-ups ---
-- Roll-ups kept by the maintenance pass (events per minute, 5 minutes and
-- hour; transitions per minute; UTC, aligned since 1970); readers take the
-- rows before a roll-up's `rolled_until` and raw rows after it.

-- Runtime events per grain, start and layer, and of them the failure class's.
create table public.ai_runtime_event_rollups (
    grain_seconds integer not null,
    start timestamptz not null,
    layer text not null,
    events bigint not null,
    failures bigint not null,
    primary key (grain_seconds, start, layer),
    constraint ai_runtime_event_rollups_grain_check check (grain_seconds in (60, 300, 3600))
);

-- Provider calls per grain, start and route: calls, a latency histogram (bins
-- holding calls, ascending; bin 0 under 1 ms, bin i [1.1^(i-1), 1.1^i) ms),
-- token usage.
create table public.ai_runtime_call_rollups (
    grain_seconds integer not null,
    start timestamptz not null,
    route text not null,
    calls bigint not null,
    latency_bins smallint[] not null,
    latency_counts integer[] not null,
    input_tokens bigint not null,
    output_tokens bigint not null,
    -- The sum of the calls' metadata.cost_usd (USD).
    cost_usd double precision not null default 0,
    primary key (grain_seconds, start, route),
    constraint ai_runtime_call_rollups_grain_check check (grain_seconds in (60, 300, 3600))
);

-- Task transitions per minute; from_status '' for a task's creation.
create table public.task_transition_minutes (
    minute timestamptz not null,
    from_status text not null,
    to_status text not null,
    transitions bigint not null,
    primary key (minute, from_status, to_status)
);

-- Circuit-breaker reports (WORKER_CIRCUIT_OPENED / _CLOSED events), copied
-- as they are rolled up, for the breaker bands.
create table public.ai_runtime_breaker_changes (
    worker_id text not null,
    occurred_at timestamptz not null,
    opened boolean not null,
    reason text null
);
create index ai_runtime_breaker_changes_worker_idx
    on public.ai_runtime_breaker_changes (worker_id, occurred_at);
create index ai_runtime_breaker_changes_occurred_at_idx
    on public.ai_runtime_breaker_changes (occurred_at);

-- How far each roll-up reaches.
create table public.ai_runtime_rollups (
    rollup text primary key,
    rolled_until timestamptz not null,
    updated_at timestamptz not null default now(),
    constraint ai_runtime_rollups_rollup_check
        check (rollup in ('events', 'transitions'))
);

-- ----------------------------------------------------- row-level security ---
-- No policies: Supabase's API roles (anon, authenticated) read nothing. The
-- admin server and the workers connect as a privileged role (owner or
-- BYPASSRLS), which RLS does not restrict.

alter table public.persona_tasks enable row level security;
alter table public.task_transition_events enable row level security;
alter table public.ai_runtime_events enable row level security;
-- Every partition too (ai-runtime-maintain enables it on the days it makes):
-- Supabase's API would otherwise expose each partition as a table.
alter table public.ai_runtime_events_default enable row level security;
alter table public.ai_worker_status enable row level security;
alter table public.ai_runtime_alerts enable row level security;
alter table public.ai_runtime_event_rollups enable row level security;
alter table public.ai_runtime_call_rollups enable row level security;
alter table public.task_transition_minutes enable row level security;
alter table public.ai_runtime_breaker_changes enable row level security;
alter table public.ai_runtime_rollups enable row level security;

-- sqlx keeps its bookkeeping in public._sqlx_migrations; it gets RLS too.
-- (Absent when the schema is applied by other tools: then this is a no-op.)
alter table if exists public._sqlx_migrations enable row level security;
