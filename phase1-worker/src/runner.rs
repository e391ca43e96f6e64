//! Runs N workers in one process over one queue, with a heartbeat ticker
//! and, in continuous mode, a steady enqueuer. The library entry point:
//! `Runner::new(config, pool).with_status(publisher).run(shutdown).await`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_runtime_vocab::WorkerState;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tracing::instrument::WithSubscriber;

use crate::agent::{AgentConfig, ExecutionAgent};
use crate::breaker::BreakerConfig;
use crate::clock::{Clock, SystemClock};
use crate::provider::{OutageWindows, ProviderConfig, SimulatedProvider};
use crate::queue::{Queue, QueueError};
use crate::shutdown::{self, Shutdown};
use crate::status::{NoStatus, StatusCell, StatusPublisher, WorkerStatus};
use crate::worker::{Worker, WorkerSettings, WorkerSummary};
use crate::workload;

/// When the runner stops on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunMode {
    /// Until the shutdown future resolves.
    UntilStopped,
    /// When no task is PENDING or RUNNING (or on shutdown, if earlier).
    UntilDrained,
    /// Until stopped, enqueueing tasks steadily meanwhile.
    Continuous(ContinuousWorkload),
}

/// The steady workload of continuous mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuousWorkload {
    pub tasks_per_second: f64,
    /// No enqueueing while this many tasks are PENDING.
    pub max_pending: i64,
}

/// Everything a run needs besides the database.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerConfig {
    pub workers: usize,
    /// Worker ids are `{prefix}-1`, `{prefix}-2`, ...
    pub worker_id_prefix: String,
    /// Seeds the provider's draws and the generated tasks.
    pub seed: u64,
    /// Tasks to enqueue at start (idempotent: tasks `0..enqueue` of the seed).
    pub enqueue: u64,
    /// Idempotency-key namespace of generated tasks.
    pub namespace: String,
    pub provider: ProviderConfig,
    pub agent: AgentConfig,
    pub lease_duration: Duration,
    /// How often an idle worker looks for work (and for expired leases).
    pub poll_interval: Duration,
    /// How often each worker's status is re-published.
    pub heartbeat_interval: Duration,
    /// How long a signalled worker may finish its task before putting it back.
    pub shutdown_grace: Duration,
    /// How long a task whose provider calls all failed waits before it is due.
    pub requeue_delay: Duration,
    pub mode: RunMode,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            workers: 2,
            worker_id_prefix: "phase1-worker".to_owned(),
            seed: 1,
            enqueue: 0,
            namespace: "seed".to_owned(),
            provider: ProviderConfig::default(),
            agent: AgentConfig::default(),
            lease_duration: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            heartbeat_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            requeue_delay: Duration::from_secs(2),
            mode: RunMode::UntilStopped,
        }
    }
}

impl RunnerConfig {
    /// The demo workload: two workers, a task every half second, provider
    /// calls of ~300 ms with 10% failures, and a 25 s outage every 2 minutes
    /// (so the breaker opens, half-opens, reopens and closes). Runs until
    /// stopped.
    pub fn continuous_demo() -> RunnerConfig {
        RunnerConfig {
            workers: 2,
            seed: 7,
            enqueue: 20,
            namespace: "demo".to_owned(),
            provider: ProviderConfig {
                failure_rate: 0.1,
                latency: Duration::from_millis(300),
                outages: Some(OutageWindows {
                    every: Duration::from_secs(120),
                    duration: Duration::from_secs(25),
                }),
            },
            agent: AgentConfig {
                breaker: BreakerConfig {
                    failure_threshold: 3,
                    cooldown: Duration::from_secs(10),
                },
                ..AgentConfig::default()
            },
            heartbeat_interval: Duration::from_secs(5),
            mode: RunMode::Continuous(ContinuousWorkload {
                tasks_per_second: 2.0,
                max_pending: 200,
            }),
            ..RunnerConfig::default()
        }
    }

    pub fn worker_id(&self, number: usize) -> String {
        format!("{}-{number}", self.worker_id_prefix)
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("enqueueing the initial tasks failed: {0}")]
    Enqueue(#[source] QueueError),
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Tasks created at start (existing idempotency keys are not counted).
    pub enqueued: u64,
    /// Tasks created by the continuous enqueuer.
    pub enqueued_continuously: u64,
    pub totals: WorkerSummary,
    pub elapsed: Duration,
}

/// See the module docs.
pub struct Runner {
    config: RunnerConfig,
    queue: Queue,
    publisher: Arc<dyn StatusPublisher>,
    clock: Arc<dyn Clock>,
}

impl Runner {
    pub fn new(config: RunnerConfig, pool: PgPool) -> Runner {
        Runner {
            config,
            queue: Queue::new(pool),
            publisher: Arc::new(NoStatus),
            clock: Arc::new(SystemClock),
        }
    }

    /// Where worker statuses are published (e.g. [`crate::LayerStatus`]).
    pub fn with_status(mut self, publisher: Arc<dyn StatusPublisher>) -> Runner {
        self.publisher = publisher;
        self
    }

    /// The clock of the breakers and outage windows (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Runner {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Runs until the mode says stop or `shutdown` resolves; then every
    /// worker finishes or puts back its task and publishes STOPPED.
    /// Dropping this future aborts the workers (as if the process died).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<RunSummary, RunnerError> {
        let config = &self.config;
        if config.workers == 0 {
            return Err(RunnerError::Config("workers must be at least 1"));
        }
        if config.lease_duration < Duration::from_millis(30) {
            return Err(RunnerError::Config("lease duration must be at least 30 ms"));
        }
        if config.poll_interval.is_zero() || config.heartbeat_interval.is_zero() {
            return Err(RunnerError::Config(
                "poll and heartbeat intervals must be positive",
            ));
        }
        let started = Instant::now();
        let mut summary = RunSummary::default();
        if config.enqueue > 0 {
            let tasks = workload::tasks(config.seed, &config.namespace, 0, config.enqueue);
            let enqueued = self
                .queue
                .enqueue_all(&tasks)
                .await
                .map_err(RunnerError::Enqueue)?;
            summary.enqueued = enqueued.iter().filter(|e| e.created).count() as u64;
        }

        let (stop, stop_signal) = shutdown::channel();
        let provider = SimulatedProvider::new(config.seed, config.provider, self.clock.clone());
        let mut workers = JoinSet::new();
        let mut cells = Vec::with_capacity(config.workers);
        for number in 1..=config.workers {
            let worker = self.worker(config.worker_id(number), provider.clone());
            cells.push(worker.status.clone());
            workers.spawn(worker.run(stop_signal.clone()).with_current_subscriber());
        }
        let heartbeat = heartbeat(cells, config.heartbeat_interval, stop_signal.clone());
        let heartbeat = AbortOnDrop(tokio::spawn(heartbeat.with_current_subscriber()));
        let enqueuer = match config.mode {
            RunMode::Continuous(workload) => {
                let enqueuer =
                    enqueue_steadily(self.queue.clone(), config.clone(), workload, stop_signal);
                Some(AbortOnDrop(tokio::spawn(
                    enqueuer.with_current_subscriber(),
                )))
            }
            _ => None,
        };

        tokio::pin!(shutdown);
        let mut stopping = false;
        loop {
            tokio::select! {
                () = &mut shutdown, if !stopping => {
                    stopping = true;
                    stop.stop();
                }
                joined = workers.join_next() => match joined {
                    Some(Ok(worker)) => summary.totals.add(&worker),
                    Some(Err(err)) => tracing::error!(error = %err, "a worker task failed"),
                    None => break,
                },
            }
        }
        stop.stop();
        let _ = heartbeat.join().await;
        if let Some(enqueuer) = enqueuer {
            summary.enqueued_continuously = enqueuer.join().await.unwrap_or(0);
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    fn worker(&self, id: String, provider: SimulatedProvider) -> Worker {
        let config = &self.config;
        let agent = ExecutionAgent::new(&id, config.agent.clone(), provider, self.clock.clone());
        let status = WorkerStatus {
            worker_id: id.clone(),
            state: WorkerState::Idle,
            breaker: agent.breaker(),
            current_task_id: None,
            route: agent.active_route().clone(),
            heartbeat_interval: config.heartbeat_interval,
            tasks_settled: 0,
        };
        Worker {
            id,
            queue: self.queue.clone(),
            agent,
            status: StatusCell::new(status, self.publisher.clone()),
            settings: WorkerSettings {
                lease: config.lease_duration,
                poll: config.poll_interval,
                shutdown_grace: config.shutdown_grace,
                requeue_delay: config.requeue_delay,
                until_drained: config.mode == RunMode::UntilDrained,
            },
            summary: WorkerSummary::default(),
        }
    }
}

/// A spawned task that is aborted if the run is dropped (like the workers
/// in their `JoinSet`).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Re-publishes every worker's status at a fixed interval.
async fn heartbeat(cells: Vec<StatusCell>, interval: Duration, mut stop: Shutdown) {
    while !stop.is_set() {
        stop.sleep(interval).await;
        for cell in &cells {
            cell.beat();
        }
    }
}

/// Enqueues generated tasks at a steady rate while fewer than `max_pending`
/// wait; returns how many it created.
async fn enqueue_steadily(
    queue: Queue,
    config: RunnerConfig,
    workload: ContinuousWorkload,
    mut stop: Shutdown,
) -> u64 {
    let period = Duration::from_secs_f64(1.0 / workload.tasks_per_second.max(0.001));
    // A fresh namespace per run, so a restarted demo does not collide.
    let namespace = format!(
        "{}-{}",
        config.namespace,
        chrono::Utc::now().timestamp_millis()
    );
    let mut index = 0;
    let mut created = 0;
    while !stop.is_set() {
        stop.sleep(period).await;
        if stop.is_set() {
            break;
        }
        match queue.pending_count().await {
            Ok(pending) if pending < workload.max_pending => {}
            Ok(_) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "continuous enqueue: counting failed");
                continue;
            }
        }
        let task = workload::task(config.seed, &namespace, index);
        index += 1;
        match queue.enqueue(&task).await {
            Ok(enqueued) => created += u64::from(enqueued.created),
            Err(err) => tracing::warn!(error = %err, "continuous enqueue failed"),
        }
    }
    created
}
