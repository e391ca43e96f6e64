-- Per-minute roll-ups of the runtime events and the task transitions, kept
-- by the maintenance pass (ai-runtime-maintain, and the admin server every
-- minute), so that the trends panel and /status over a day read about a
-- thousand rows per series instead of every event or transition of the day.
--
-- A minute is [minute, minute + 1 min) in UTC. Every minute before a roll-up's
-- `rolled_until` (ai_runtime_rollups) is in its tables; readers take the
-- roll-up rows before it and the raw rows from it on, in one snapshot. Each
-- pass rolls the recent minutes up again (idempotent: delete and insert in
-- one transaction), so an event stored up to 15 minutes after it occurred
-- is still counted.

-- Runtime events per minute and layer; `failures`: those whose reason code
-- is of the failure class (REASON_CODES.md).
create table public.ai_runtime_event_minutes (
    minute timestamptz not null,
    layer text not null,
    events bigint not null,
    failures bigint not null,
    primary key (minute, layer)
);

-- Provider calls (provider_runtime CALL events, but the routes-exhausted
-- summary) per minute and route (`entity_id`, provider/model): the calls,
-- a histogram of `metadata.latency_ms` as two parallel arrays (the bins that
-- hold calls, ascending, and the calls in each; bin 0 is under 1 ms, bin i
-- is [1.1^(i-1), 1.1^i) ms, the last one open-ended), so that percentiles
-- merge across minutes; and the token usage the calls reported.
create table public.ai_runtime_call_minutes (
    minute timestamptz not null,
    route text not null,
    calls bigint not null,
    latency_bins smallint[] not null,
    latency_counts integer[] not null,
    input_tokens bigint not null,
    output_tokens bigint not null,
    primary key (minute, route)
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

-- How far each roll-up reaches: every minute before `rolled_until` is rolled up.
create table public.ai_runtime_rollups (
    rollup text primary key,
    rolled_until timestamptz not null,
    updated_at timestamptz not null default now(),
    constraint ai_runtime_rollups_rollup_check
        check (rollup in ('events', 'transitions'))
);

alter table public.ai_runtime_event_minutes enable row level security;
alter table public.ai_runtime_call_minutes enable row level security;
alter table public.task_transition_minutes enable row level security;
alter table public.ai_runtime_rollups enable row level security;
