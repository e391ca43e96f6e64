-- Roll-ups of the runtime events (per minute, 5 minutes and hour: the
-- grain) and of the task transitions (per minute), kept by the maintenance
-- pass (ai-runtime-maintain, and the admin server every minute), so that the
-- trends panel and /status over a day read a few hundred to a thousand rows
-- per series instead of every event or transition of the day.
--
-- A row covers [start, start + grain) in UTC, aligned since 1970; the 5-minute
-- and hourly rows are sums of the minute rows. Every minute before a roll-up's
-- `rolled_until` (ai_runtime_rollups) is in its tables; readers take the
-- roll-up rows before it and the raw rows from it on, in one snapshot. Each
-- pass rolls the recent minutes up again (idempotent: delete and insert in
-- one transaction), so an event stored up to 15 minutes after it occurred
-- is still counted.

-- Runtime events per grain, start and layer; `failures`: those whose reason
-- code is of the failure class (REASON_CODES.md).
create table public.ai_runtime_event_rollups (
    grain_seconds integer not null,
    start timestamptz not null,
    layer text not null,
    events bigint not null,
    failures bigint not null,
    primary key (grain_seconds, start, layer),
    constraint ai_runtime_event_rollups_grain_check check (grain_seconds in (60, 300, 3600))
);

-- Provider calls (provider_runtime CALL events, but the routes-exhausted
-- summary) per grain, start and route (`entity_id`, provider/model): the calls,
-- a histogram of `metadata.latency_ms` as two parallel arrays (the bins that
-- hold calls, ascending, and the calls in each; bin 0 is under 1 ms, bin i
-- is [1.1^(i-1), 1.1^i) ms, the last one open-ended), so that percentiles
-- merge across rows; and the token usage the calls reported.
create table public.ai_runtime_call_rollups (
    grain_seconds integer not null,
    start timestamptz not null,
    route text not null,
    calls bigint not null,
    latency_bins smallint[] not null,
    latency_counts integer[] not null,
    input_tokens bigint not null,
    output_tokens bigint not null,
    primary key (grain_seconds, start, route),
    constraint ai_runtime_call_rollups_grain_check check (grain_seconds in (60, 300, 3600))
);

-- Task transitions per minute and (from_status, to_status); from_status ''
-- for the transition that created a task.
create table public.task_transition_minutes (
    minute timestamptz not null,
    from_status text not null,
    to_status text not null,
    transitions bigint not null,
    primary key (minute, from_status, to_status)
);

-- The layer's circuit-breaker reports (worker HEARTBEAT events
-- WORKER_CIRCUIT_OPENED / WORKER_CIRCUIT_CLOSED), copied as they are rolled
-- up: the breaker bands read this small table instead of probing every
-- day's partition for an interval opened long before the range.
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

-- How far each roll-up reaches: every minute before `rolled_until` is rolled up.
create table public.ai_runtime_rollups (
    rollup text primary key,
    rolled_until timestamptz not null,
    updated_at timestamptz not null default now(),
    constraint ai_runtime_rollups_rollup_check
        check (rollup in ('events', 'transitions'))
);

alter table public.ai_runtime_event_rollups enable row level security;
alter table public.ai_runtime_call_rollups enable row level security;
alter table public.task_transition_minutes enable row level security;
alter table public.ai_runtime_breaker_changes enable row level security;
alter table public.ai_runtime_rollups enable row level security;
