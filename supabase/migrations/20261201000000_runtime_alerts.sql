-- The admin server's built-in alerts (issue 17): one row per alert whose
-- condition holds now, written only by the one evaluator holding the
-- advisory lock, read by every server's /status. Keeping them here rather
-- than in one process's memory makes a firing alert visible on every server
-- and lets another server take over evaluation without sending it again.
--
-- `since`: when the condition was first seen; `firing_at`: when it had held
-- long enough to fire (null while pending) and was sent; a row is deleted
-- when its condition clears, and the resolution is sent if it had fired.
create table public.ai_runtime_alerts (
    alert text not null,
    -- The worker it concerns, '' for runtime-wide alerts.
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

alter table public.ai_runtime_alerts enable row level security;
