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
-- Supabase's API roles (anon, authenticated) have no policy and read nothing;
-- each component's role has its own (below, with the roles).

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

-- ------------------------------------------------------------------ roles ---
-- One NOLOGIN role per component, granted by the operator to its login
-- (docs/deployment.md): ai_runtime_writer (the layer, an OTLP receiver),
-- ai_runtime_reader (the admin server, ai-runtime-verify),
-- ai_runtime_maintainer (ai-runtime-maintain). Roles belong to the cluster:
-- one that exists already is not an error.

do $$
declare
    role_name text;
begin
    foreach role_name in array array['ai_runtime_writer', 'ai_runtime_reader', 'ai_runtime_maintainer'] loop
        if not exists (select from pg_catalog.pg_roles where rolname = role_name) then
            begin
                execute format('create role %I nologin', role_name);
            exception when duplicate_object or unique_violation then
                -- Made meanwhile by a concurrent migration of another database.
                null;
            end;
        end if;
    end loop;
end
$$;

grant usage on schema public to ai_runtime_writer, ai_runtime_reader, ai_runtime_maintainer;

-- ------------------------------------------------------------- writer ---
-- Events go in through the parent (Postgres routes them to their day) and
-- are never read back. The status upsert (`on conflict do update`) reads
-- the stored row and `excluded`'s columns, which Postgres checks as SELECT
-- on the status table; that table is all the writer may read.
grant insert on public.ai_runtime_events to ai_runtime_writer;
create policy ai_runtime_writer_insert on public.ai_runtime_events
    for insert to ai_runtime_writer with check (true);

grant select, insert, update on public.ai_worker_status to ai_runtime_writer;
create policy ai_runtime_writer_select on public.ai_worker_status
    for select to ai_runtime_writer using (true);
create policy ai_runtime_writer_insert on public.ai_worker_status
    for insert to ai_runtime_writer with check (true);
create policy ai_runtime_writer_update on public.ai_worker_status
    for update to ai_runtime_writer using (true) with check (true);

-- ------------------------------------------------------------- reader ---
grant select on
    public.ai_runtime_events,
    public.ai_worker_status,
    public.persona_tasks,
    public.task_transition_events,
    public.ai_runtime_alerts,
    public.ai_runtime_event_rollups,
    public.ai_runtime_call_rollups,
    public.task_transition_minutes,
    public.ai_runtime_breaker_changes,
    public.ai_runtime_rollups
    to ai_runtime_reader;
create policy ai_runtime_reader_select on public.ai_runtime_events
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.ai_worker_status
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.persona_tasks
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.task_transition_events
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.ai_runtime_event_rollups
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.ai_runtime_call_rollups
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.task_transition_minutes
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.ai_runtime_breaker_changes
    for select to ai_runtime_reader using (true);
create policy ai_runtime_reader_select on public.ai_runtime_rollups
    for select to ai_runtime_reader using (true);
-- The alert state is the one thing the admin server writes.
grant insert, update, delete on public.ai_runtime_alerts to ai_runtime_reader;
create policy ai_runtime_reader_all on public.ai_runtime_alerts
    for all to ai_runtime_reader using (true) with check (true);

-- --------------------------------------------------------- maintainer ---
-- Making, attaching, detaching and dropping a partition needs the events
-- table's owner. These two functions run as their owner (the role applying
-- the migrations) and do only that, for the partition of one UTC day;
-- only the maintainer may call them.

-- Makes `day`'s partition, moves the day's events from the default partition
-- into it, then attaches it (which builds its indexes and checks the default
-- partition holds none of its rows), in the caller's transaction: a
-- concurrent insert of that day lands either in the default partition
-- before, and moves, or in the new partition after. Returns the events moved.
create function public.ai_runtime_create_partition(day date) returns bigint
language plpgsql security definer set search_path = '' as $$
declare
    name text := 'ai_runtime_events_p' || to_char(day, 'YYYYMMDD');
    day_start timestamptz := day::timestamp at time zone 'UTC';
    day_end timestamptz := (day + 1)::timestamp at time zone 'UTC';
    moved bigint;
begin
    execute format(
        'create table public.%I (like public.ai_runtime_events including defaults including constraints)',
        name);
    execute format(
        'with moved as (delete from public.ai_runtime_events_default
                        where occurred_at >= $1 and occurred_at < $2 returning *)
         insert into public.%I select * from moved', name)
        using day_start, day_end;
    get diagnostics moved = row_count;
    execute format(
        'alter table public.ai_runtime_events attach partition public.%I for values from (%L) to (%L)',
        name, day_start, day_end);
    -- Supabase's API would otherwise expose the partition as a table.
    execute format('alter table public.%I enable row level security', name);
    return moved;
end
$$;

-- Detaches and drops `day`'s partition. (`detach ... concurrently` would take
-- a weaker lock, but Postgres refuses it while a default partition exists;
-- the caller's lock_timeout bounds the wait instead.)
create function public.ai_runtime_drop_partition(day date) returns void
language plpgsql security definer set search_path = '' as $$
declare
    name text := 'ai_runtime_events_p' || to_char(day, 'YYYYMMDD');
begin
    execute format('alter table public.ai_runtime_events detach partition public.%I', name);
    execute format('drop table public.%I', name);
end
$$;

-- Functions are executable by everyone unless revoked; Supabase also grants
-- new functions to its API roles, which would expose these as RPCs.
revoke all on function public.ai_runtime_create_partition(date) from public;
revoke all on function public.ai_runtime_drop_partition(date) from public;
do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select from pg_catalog.pg_roles where rolname = api_role) then
            execute format('revoke all on function public.ai_runtime_create_partition(date) from %I', api_role);
            execute format('revoke all on function public.ai_runtime_drop_partition(date) from %I', api_role);
        end if;
    end loop;
end
$$;
grant execute on function public.ai_runtime_create_partition(date) to ai_runtime_maintainer;
grant execute on function public.ai_runtime_drop_partition(date) to ai_runtime_maintainer;

-- Stray events (their day had no partition) are read and expired in the
-- default partition directly; every other read goes through the parent.
grant select on public.ai_runtime_events, public.task_transition_events to ai_runtime_maintainer;
create policy ai_runtime_maintainer_select on public.ai_runtime_events
    for select to ai_runtime_maintainer using (true);
create policy ai_runtime_maintainer_select on public.task_transition_events
    for select to ai_runtime_maintainer using (true);
grant select, delete on public.ai_runtime_events_default to ai_runtime_maintainer;
create policy ai_runtime_maintainer_select on public.ai_runtime_events_default
    for select to ai_runtime_maintainer using (true);
create policy ai_runtime_maintainer_delete on public.ai_runtime_events_default
    for delete to ai_runtime_maintainer using (true);

grant select, insert, update, delete on
    public.ai_runtime_event_rollups,
    public.ai_runtime_call_rollups,
    public.task_transition_minutes,
    public.ai_runtime_breaker_changes,
    public.ai_runtime_rollups
    to ai_runtime_maintainer;
create policy ai_runtime_maintainer_all on public.ai_runtime_event_rollups
    for all to ai_runtime_maintainer using (true) with check (true);
create policy ai_runtime_maintainer_all on public.ai_runtime_call_rollups
    for all to ai_runtime_maintainer using (true) with check (true);
create policy ai_runtime_maintainer_all on public.task_transition_minutes
    for all to ai_runtime_maintainer using (true) with check (true);
create policy ai_runtime_maintainer_all on public.ai_runtime_breaker_changes
    for all to ai_runtime_maintainer using (true) with check (true);
create policy ai_runtime_maintainer_all on public.ai_runtime_rollups
    for all to ai_runtime_maintainer using (true) with check (true);

-- ----------------------------------------------------- schema version ---
-- The version of the newest migration applied, whichever tool applied it
-- (sqlx, the Supabase CLI, psql): the admin server's /readyz compares it
-- with its own build's. Every later migration replaces this function with
-- its own version (a test checks that it does).
create function public.ai_runtime_schema_version() returns bigint
language sql stable set search_path = '' as $$ select 20261204120000::bigint $$;
grant execute on function public.ai_runtime_schema_version()
    to ai_runtime_writer, ai_runtime_reader, ai_runtime_maintainer;
