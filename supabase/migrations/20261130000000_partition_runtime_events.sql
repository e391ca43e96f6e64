-- ai_runtime_events partitioned by range on occurred_at, one partition per
-- UTC day, so that retention drops whole days and queries over a time range
-- read only the days they need.
--
-- Postgres requires the partition key in every unique constraint: the primary
-- key becomes (id, occurred_at) instead of the seed's id alone. Ids stay
-- random UUIDs, so they remain unique on their own in practice.
--
-- An event whose day has no partition yet (clock skew, a host far behind)
-- lands in ai_runtime_events_default; the next maintenance pass
-- (ai-runtime-maintain, or the admin server's periodic pass) moves it into
-- its day's partition, premakes the coming days and drops the days past the
-- retention.
--
-- A populated table is converted without losing a row: every day that holds
-- rows gets its partition here, then the rows are copied and the old table
-- dropped. The indexes are built after the copy (faster than row by row).

alter table public.ai_runtime_events rename to ai_runtime_events_unpartitioned;
alter table public.ai_runtime_events_unpartitioned
    rename constraint ai_runtime_events_pkey to ai_runtime_events_unpartitioned_pkey;
drop index public.ai_runtime_events_occurred_at_idx;
drop index public.ai_runtime_events_layer_occurred_at_idx;
drop index public.ai_runtime_events_reason_code_occurred_at_idx;
drop index public.ai_runtime_events_entity_id_occurred_at_idx;
drop index public.ai_runtime_events_task_id_occurred_at_idx;
drop index public.ai_runtime_events_worker_id_occurred_at_idx;
drop index public.ai_runtime_events_operation_occurred_at_idx;

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

-- One partition per UTC day that holds rows, named ai_runtime_events_pYYYYMMDD
-- (the names ai-runtime-maintain creates and recognises).
do $$
declare
    day date;
    name text;
begin
    for day in
        select distinct (occurred_at at time zone 'UTC')::date
        from public.ai_runtime_events_unpartitioned
        order by 1
    loop
        name := 'ai_runtime_events_p' || to_char(day, 'YYYYMMDD');
        execute format(
            'create table public.%I partition of public.ai_runtime_events for values from (%L) to (%L)',
            name,
            day::timestamp at time zone 'UTC',
            (day + 1)::timestamp at time zone 'UTC');
        execute format('alter table public.%I enable row level security', name);
    end loop;
end
$$;

insert into public.ai_runtime_events
    (id, layer, operation, reason_code, entity_id, task_id, persona_id, worker_id,
     metadata, occurred_at, created_at)
select id, layer, operation, reason_code, entity_id, task_id, persona_id, worker_id,
       metadata, occurred_at, created_at
from public.ai_runtime_events_unpartitioned;

drop table public.ai_runtime_events_unpartitioned;

alter table public.ai_runtime_events
    add constraint ai_runtime_events_pkey primary key (id, occurred_at);
-- The seed's four indexes, the tasks panel's and the admin filters', as before.
create index ai_runtime_events_occurred_at_idx
    on public.ai_runtime_events (occurred_at desc);
create index ai_runtime_events_layer_occurred_at_idx
    on public.ai_runtime_events (layer, occurred_at desc);
create index ai_runtime_events_reason_code_occurred_at_idx
    on public.ai_runtime_events (reason_code, occurred_at desc);
create index ai_runtime_events_entity_id_occurred_at_idx
    on public.ai_runtime_events (entity_id, occurred_at desc);
create index ai_runtime_events_task_id_occurred_at_idx
    on public.ai_runtime_events (task_id, occurred_at desc);
create index ai_runtime_events_worker_id_occurred_at_idx
    on public.ai_runtime_events (worker_id, occurred_at desc);
create index ai_runtime_events_operation_occurred_at_idx
    on public.ai_runtime_events (operation, occurred_at desc);

-- Row-level security on the parent and on every partition: Supabase's API
-- would otherwise expose each partition as a table of its own.
alter table public.ai_runtime_events enable row level security;
alter table public.ai_runtime_events_default enable row level security;
