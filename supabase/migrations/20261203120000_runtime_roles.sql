-- Least privilege: one NOLOGIN role per component, granted by the operator
-- to the logins the components connect as (docs/deployment.md):
--
--   ai_runtime_writer      the observability layer and an OTLP receiver:
--                          insert events, upsert worker status; nothing else
--   ai_runtime_reader      the admin server and ai-runtime-verify: read what
--                          the APIs read, write only the alert state
--   ai_runtime_maintainer  ai-runtime-maintain: partitions (through the two
--                          functions below), retention, roll-ups
--
-- Row-level security stays on every table. Each role reaches rows through
-- policies of its own besides its grants, not through an owner's bypass;
-- Supabase's API roles (anon, authenticated) still have no policy.
--
-- Roles belong to the cluster, not to a database: a database migrated after
-- another one (or at the same time) finds them made, which is not an error,
-- and then needs no CREATEROLE either.
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
language sql stable set search_path = '' as $$ select 20261203120000::bigint $$;
grant execute on function public.ai_runtime_schema_version()
    to ai_runtime_writer, ai_runtime_reader, ai_runtime_maintainer;
