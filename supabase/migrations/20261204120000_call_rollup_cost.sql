-- What the rolled-up provider calls cost: the sum of their metadata.cost_usd
-- (USD; the layer prices captured GenAI calls). Rows rolled up before this
-- column existed count 0.
alter table public.ai_runtime_call_rollups
    add column cost_usd double precision not null default 0;
