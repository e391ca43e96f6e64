-- Indexes for the admin server's queries (admin-server/src/{events,status}.rs).

-- Events filtered by worker or by operation, newest first (keyset on occurred_at, id).
create index ai_runtime_events_worker_id_occurred_at_idx
    on public.ai_runtime_events (worker_id, occurred_at desc);
create index ai_runtime_events_operation_occurred_at_idx
    on public.ai_runtime_events (operation, occurred_at desc);

-- Trend deltas read the statuses of every transition in the window: cover
-- them so the status endpoint never touches the heap. Replaces the plain
-- occurred_at index, which this one serves as well.
create index task_transition_events_occurred_statuses_idx
    on public.task_transition_events (occurred_at desc) include (from_status, to_status);
drop index public.task_transition_events_occurred_idx;
