//! One worker: leases tasks, runs the execution agent on each, applies its
//! decision to the queue, and keeps its published status current.

use std::time::{Duration, Instant};

use ai_runtime_vocab::{EventLayer, Operation, TaskStatus, WorkerState};
use tracing::Instrument;

use crate::agent::{Decision, ExecutionAgent};
use crate::queue::{Queue, QueueError, Release, Task};
use crate::reason;
use crate::shutdown::Shutdown;
use crate::status::{StatusCell, WorkerStatus};
use crate::workload::TaskInput;

/// The timing knobs of a worker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerSettings {
    pub lease: Duration,
    pub poll: Duration,
    pub shutdown_grace: Duration,
    pub requeue_delay: Duration,
    pub until_drained: bool,
}

/// What one worker did, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub leased: u64,
    pub done: u64,
    pub skipped: u64,
    pub in_review: u64,
    pub failed: u64,
    /// Back to PENDING with an attempt counted (provider unavailable).
    pub retried: u64,
    /// Back to PENDING untouched (breaker open, shutdown).
    pub put_back: u64,
    /// Expired leases of other (dead) workers this worker requeued.
    pub expired_requeued: u64,
    /// Tasks this worker could not settle because its lease was lost.
    pub lease_lost: u64,
}

impl WorkerSummary {
    pub fn add(&mut self, other: &WorkerSummary) {
        self.leased += other.leased;
        self.done += other.done;
        self.skipped += other.skipped;
        self.in_review += other.in_review;
        self.failed += other.failed;
        self.retried += other.retried;
        self.put_back += other.put_back;
        self.expired_requeued += other.expired_requeued;
        self.lease_lost += other.lease_lost;
    }
}

/// A worker reports IDLE only after finding no work for this long, so a
/// steady trickle of tasks does not flip its status on every task.
const IDLE_AFTER: Duration = Duration::from_secs(1);

pub(crate) struct Worker {
    pub id: String,
    pub queue: Queue,
    pub agent: ExecutionAgent,
    pub status: StatusCell,
    pub settings: WorkerSettings,
    pub summary: WorkerSummary,
}

impl Worker {
    pub(crate) async fn run(self, shutdown: Shutdown) -> WorkerSummary {
        let span = tracing::info_span!("worker", worker_id = %self.id);
        self.run_loop(shutdown).instrument(span).await
    }

    async fn run_loop(mut self, mut shutdown: Shutdown) -> WorkerSummary {
        self.refresh_status(false);
        let mut next_expiry_check = Instant::now();
        let mut idle_since: Option<Instant> = None;
        while !shutdown.is_set() {
            if Instant::now() >= next_expiry_check {
                self.requeue_expired().await;
                next_expiry_check = Instant::now() + self.settings.poll;
            }
            if let Some(wait) = self.agent.breaker_wait() {
                // Open breaker: lease nothing, so no task is burnt.
                self.refresh_status(false);
                shutdown.sleep(wait.min(self.settings.poll)).await;
                continue;
            }
            match self.queue.lease(&self.id, self.settings.lease).await {
                Ok(Some(task)) => {
                    idle_since = None;
                    self.work_on(task, &mut shutdown).await;
                }
                Ok(None) => {
                    if self.settings.until_drained && self.drained().await {
                        break;
                    }
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= IDLE_AFTER {
                        self.refresh_status(false);
                    }
                    shutdown.sleep(self.settings.poll).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "leasing failed; retrying");
                    shutdown.sleep(self.settings.poll).await;
                }
            }
        }
        self.status.update(|s| {
            s.state = WorkerState::Stopped;
            s.current_task_id = None;
        });
        tracing::info!(summary = ?self.summary, "worker stopped");
        self.summary
    }

    async fn drained(&self) -> bool {
        matches!(self.queue.unsettled_count().await, Ok(0))
    }

    /// Publishes the status if the state it derives from changed.
    fn refresh_status(&self, busy: bool) {
        let breaker = self.agent.breaker();
        let state = WorkerStatus::state_for(&breaker, busy);
        let route = self.agent.active_route().clone();
        let current = self.status.get();
        // Compare the breaker's state, not its ticking cooldown.
        if current.state != state
            || current.breaker.state != breaker.state
            || current.route != route
        {
            self.status.update(|s| {
                s.state = state;
                s.breaker = breaker;
                s.route = route;
            });
        }
    }

    async fn requeue_expired(&mut self) {
        match self.queue.requeue_expired(&self.id, 100).await {
            Ok(moved) => {
                for task in moved {
                    self.summary.expired_requeued += 1;
                    tracing::warn!(
                        layer = EventLayer::Dispatcher.as_str(),
                        operation = Operation::Task.as_str(),
                        reason_code = %task.reason_code,
                        entity_id = %task.task_id,
                        task_id = %task.task_id,
                        previous_owner = task.previous_owner.as_deref().unwrap_or(""),
                        attempts = task.attempts,
                        to_status = task.status.as_str(),
                        "expired lease requeued"
                    );
                }
            }
            Err(err) => tracing::warn!(error = %err, "requeueing expired leases failed"),
        }
    }

    async fn work_on(&mut self, task: Task, shutdown: &mut Shutdown) {
        let span = tracing::info_span!("task", task_id = %task.id, persona_id = %task.persona_id);
        async {
            self.summary.leased += 1;
            tracing::info!(
                layer = EventLayer::Dispatcher.as_str(),
                operation = Operation::Task.as_str(),
                reason_code = reason::TASK_LEASED,
                entity_id = %task.id,
                attempts = task.attempts,
                lease_ms = self.settings.lease.as_millis() as u64,
                "task leased"
            );
            let breaker = self.agent.breaker();
            self.status.update(|s| {
                s.state = WorkerStatus::state_for(&breaker, true);
                s.current_task_id = Some(task.id);
            });
            let decision = self.execute_under_lease(&task, shutdown).await;
            let decision = decision.unwrap_or(Decision::PutBack {
                reason_code: reason::WORKER_SHUTDOWN_PUT_BACK,
            });
            self.apply(&task, decision).await;
            let breaker = self.agent.breaker();
            let route = self.agent.active_route().clone();
            // Still RUNNING: the worker goes IDLE only when it finds no work,
            // so back-to-back tasks are not a status change each.
            self.status.update(|s| {
                s.state = WorkerStatus::state_for(&breaker, true);
                s.breaker = breaker;
                s.route = route;
                s.current_task_id = None;
                s.tasks_settled += 1;
            });
        }
        .instrument(span)
        .await
    }

    /// Runs the agent while extending the lease; on shutdown, waits up to
    /// the grace period for it to finish, else gives up (`None`).
    async fn execute_under_lease(
        &mut self,
        task: &Task,
        shutdown: &mut Shutdown,
    ) -> Option<Decision> {
        let input = TaskInput::from_payload(&task.payload, &task.idempotency_key);
        let lease = self.settings.lease;
        let grace = self.settings.shutdown_grace;
        let (queue, worker_id) = (&self.queue, &self.id);
        let attempts = u32::try_from(task.attempts).unwrap_or(0);
        let execution = self.agent.execute(&input, attempts);
        tokio::pin!(execution);
        let mut renew = tokio::time::interval(lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await; // the first tick is immediate
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        let mut stopping = shutdown.is_set();
        if stopping {
            deadline.as_mut().reset(tokio::time::Instant::now() + grace);
        }
        loop {
            tokio::select! {
                decision = &mut execution => return Some(decision),
                _ = renew.tick() => {
                    match queue.extend_lease(task.id, worker_id, lease).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!("lease lost while working"),
                        Err(err) => tracing::warn!(error = %err, "extending the lease failed"),
                    }
                }
                _ = shutdown.wait(), if !stopping => {
                    stopping = true;
                    deadline.as_mut().reset(tokio::time::Instant::now() + grace);
                }
                _ = &mut deadline, if stopping => return None,
            }
        }
    }

    /// Writes the decision to the queue and reports the outcome.
    async fn apply(&mut self, task: &Task, decision: Decision) {
        let put_back = matches!(decision, Decision::PutBack { .. });
        let result = match decision {
            Decision::Finish {
                status,
                reason_code,
                reason,
            } => self
                .queue
                .transition(
                    task.id,
                    Some(&self.id),
                    TaskStatus::Running,
                    status,
                    reason_code,
                    reason.as_deref(),
                )
                .await
                .map(|()| (status, reason_code.to_owned())),
            Decision::Retry { reason } => {
                let release = Release::Retry {
                    reason_code: reason::PROVIDER_UNAVAILABLE,
                    exhausted_reason_code: reason::PROVIDER_ATTEMPTS_EXHAUSTED,
                    reason,
                    delay: self.settings.requeue_delay,
                };
                self.queue
                    .release(task.id, &self.id, release)
                    .await
                    .map(|r| (r.status, r.reason_code))
            }
            Decision::PutBack { reason_code } => self
                .queue
                .release(task.id, &self.id, Release::PutBack { reason_code })
                .await
                .map(|r| (r.status, r.reason_code)),
        };
        match result {
            Ok((status, code)) => {
                self.count(status, put_back);
                let layer = if put_back {
                    EventLayer::Dispatcher
                } else {
                    EventLayer::Execution
                };
                tracing::info!(
                    layer = layer.as_str(),
                    operation = Operation::Task.as_str(),
                    reason_code = %code,
                    entity_id = %task.id,
                    status = status.as_str(),
                    attempts = task.attempts,
                    "task {}",
                    status.as_str()
                );
            }
            Err(QueueError::LeaseLost { .. }) => {
                self.summary.lease_lost += 1;
                tracing::warn!(
                    layer = EventLayer::Dispatcher.as_str(),
                    operation = Operation::Task.as_str(),
                    reason_code = reason::LEASE_LOST,
                    entity_id = %task.id,
                    "lease lost before the task was settled"
                );
            }
            // The lease will expire and another attempt will follow.
            Err(err) => tracing::error!(error = %err, "settling the task failed"),
        }
    }

    fn count(&mut self, status: TaskStatus, put_back: bool) {
        let s = &mut self.summary;
        match status {
            TaskStatus::Done => s.done += 1,
            TaskStatus::Skipped => s.skipped += 1,
            TaskStatus::InReview => s.in_review += 1,
            TaskStatus::Failed => s.failed += 1,
            TaskStatus::Pending if put_back => s.put_back += 1,
            TaskStatus::Pending => s.retried += 1,
            TaskStatus::Running => {}
        }
    }
}
