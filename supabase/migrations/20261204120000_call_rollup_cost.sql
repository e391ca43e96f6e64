-- What the rolled-up provider calls cost: the sum of their metadata.cost_usd
-- (USD; the layer prices captured GenAI calls). Rows rolled up before this
-- column existed count 0.
alter table public.ai_runtime_call_rollups
    add column cost_usd double precision not null default 0;

-- The schema's version is this migration's (see 20261203120000_runtime_roles.sql).
create or replace function public.ai_runtime_schema_version() returns bigint
language sql stable set search_path = '' as $$ select 20261204120000::bigint $$;
