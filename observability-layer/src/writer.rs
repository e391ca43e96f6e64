//! The background writer: one dedicated OS thread with its own
//! current-thread tokio runtime and its own connection, whatever runtime (or
//! none) the host uses. It batches events by size and interval, writes each
//! batch with one multi-row `INSERT .. SELECT FROM UNNEST`, upserts the
//! latest report per worker, persists the statistics, reconnects with
//! backoff, and splits a batch the database rejects so one bad row never
//! loses the others.

use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection as _;

use crate::capture::Captured;
use crate::channel::Inbox;
use crate::rows;
use crate::sink::Shared;
use crate::stats::InvalidReason;
use crate::worker_status::PendingReport;

/// How often the event channel is polled while events arrive...
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// ...and at most, when idle (or the flush interval, if shorter).
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Starts the writer thread; `done` is dropped when it has finished.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    events: Inbox,
    wake: Receiver<()>,
    options: PgConnectOptions,
    done: crossbeam_channel::Sender<()>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("runtime-events-writer".into())
        .spawn(move || {
            crate::layer::suppress_current_thread();
            let mut writer = Writer::new(Arc::clone(&shared), events, wake, options, runtime);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run()));
            if outcome.is_err() {
                // A bug, not a database failure: stop taking events (they are
                // then counted as dropped) rather than let the channel fill silently.
                shared.closed.store(true, Ordering::Release);
                shared
                    .counters
                    .error("runtime event writer panicked".into());
            }
            let _ = done.send(());
        })?;
    Ok(())
}

/// How a database operation failed.
enum Failure {
    /// The connection or the database as a whole: retry later.
    Database(String),
    /// These rows themselves: split the batch to find them.
    Rows(String),
}

struct Writer {
    shared: Arc<Shared>,
    events: Inbox,
    wake: Receiver<()>,
    options: PgConnectOptions,
    runtime: tokio::runtime::Runtime,
    conn: Option<PgConnection>,
    pending: VecDeque<Box<Captured>>,
    /// When the oldest unwritten event arrived.
    oldest_at: Option<Instant>,
    reports: HashMap<Arc<str>, PendingReport>,
    reports_seen: u64,
    /// Workers this sink has upserted (their rows carry the sink statistics).
    known_workers: Vec<String>,
    stats_persisted_at: Instant,
    /// Set while the database is failing: no attempt before `retry_at`.
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Writer {
    fn new(
        shared: Arc<Shared>,
        events: Inbox,
        wake: Receiver<()>,
        options: PgConnectOptions,
        runtime: tokio::runtime::Runtime,
    ) -> Self {
        Writer {
            shared,
            events,
            wake,
            options,
            runtime,
            conn: None,
            pending: VecDeque::new(),
            oldest_at: None,
            reports: HashMap::new(),
            reports_seen: 0,
            known_workers: Vec::new(),
            stats_persisted_at: Instant::now(),
            retry_at: None,
            backoff: Duration::ZERO,
        }
    }

    fn settings(&self) -> &crate::config::Settings {
        &self.shared.settings
    }

    fn run(&mut self) {
        loop {
            if let Some(deadline) = self.shutdown_requested() {
                self.shutdown(deadline);
                return;
            }
            self.receive();
            self.take_reports();
            let now = Instant::now();
            if self.retry_at.is_some_and(|at| now < at) {
                continue;
            }
            let flush = self.shared.flush_requested.swap(false, Ordering::AcqRel);
            if flush {
                // What was emitted before the request may still be in the channel.
                self.accept_available();
            }
            self.write_events(flush, None);
            self.write_reports(None);
            if now.duration_since(self.stats_persisted_at) >= self.settings().stats_interval {
                self.persist_stats(None);
            }
        }
    }

    fn shutdown_requested(&self) -> Option<Instant> {
        self.shared.shutdown_at.lock().ok().and_then(|at| *at)
    }

    /// Takes events until a batch is due. The event channel is polled, never
    /// waited on: a receiver blocked on it would make every `try_send` on the
    /// emitting threads pay for a wake-up (a futex syscall). Only the wake
    /// channel (flush, shutdown, worker reports) is waited on.
    fn receive(&mut self) {
        let max_idle = self.settings().flush_interval.min(MAX_POLL_INTERVAL);
        let mut poll = MIN_POLL_INTERVAL;
        // Periodic work (statistics) is due relative to when waiting began.
        let started = Instant::now();
        loop {
            let taken = self.accept_available();
            let now = Instant::now();
            let backing_off = self.retry_at.is_some_and(|at| now < at);
            let flush = self.shared.flush_requested.load(Ordering::Acquire) && !backing_off;
            if self.batch_due(now) || flush || self.shutdown_requested().is_some() {
                return;
            }
            // Busy: look again soon. Idle: back off up to `max_idle`.
            poll = if taken > 0 {
                MIN_POLL_INTERVAL
            } else {
                (poll * 2).min(max_idle)
            };
            let next = self.next_wake(started);
            if next <= now {
                return;
            }
            match self.wake.recv_timeout(poll.min(next - now)) {
                Ok(()) => return,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn max_pending(&self) -> usize {
        self.settings()
            .channel_capacity
            .max(self.settings().batch_size)
    }

    fn batch_due(&self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        self.pending.len() >= self.settings().batch_size
            || self
                .oldest_at
                .is_some_and(|at| now >= at + self.settings().flush_interval)
            || !self.reports.is_empty()
    }

    /// When waiting that began at `from` must end: periodic work, the
    /// oldest event's flush deadline, or the end of a backoff.
    fn next_wake(&self, from: Instant) -> Instant {
        let at = from + self.settings().stats_interval.min(Duration::from_secs(1));
        match (self.retry_at, self.oldest_at) {
            // Backing off: nothing can be written before the retry.
            (Some(retry), _) => at.min(retry),
            (None, Some(oldest)) => at.min(oldest + self.settings().flush_interval),
            (None, None) => at,
        }
    }

    /// Takes what the channel holds, up to the pending limit (while the
    /// database fails, up to one limit's worth: `accept` drops the oldest).
    fn accept_available(&mut self) -> usize {
        let limit = if self.retry_at.is_some() {
            self.max_pending()
        } else {
            self.max_pending().saturating_sub(self.pending.len())
        };
        let mut taken = 0;
        while taken < limit {
            match self.events.try_recv() {
                Some(event) => self.accept(event),
                None => break,
            }
            taken += 1;
        }
        self.record_newest(taken);
        taken
    }

    /// Copies the newest of the `taken` events just queued into the recorder
    /// (older ones would be pushed out of its ring at once anyway).
    fn record_newest(&self, taken: usize) {
        let n = taken
            .min(self.shared.recorder.capacity())
            .min(self.pending.len());
        for event in self.pending.range(self.pending.len() - n..) {
            self.shared.recorder.record(event);
        }
    }

    /// Queues the event. While the database is failing the queue is bounded
    /// by dropping its oldest events.
    fn accept(&mut self, event: Box<Captured>) {
        if self.pending.is_empty() {
            self.oldest_at = Some(Instant::now());
        }
        self.pending.push_back(event);
        if self.retry_at.is_some() {
            while self.pending.len() > self.max_pending() {
                if let Some(oldest) = self.pending.pop_front() {
                    self.shared.recycle_all([oldest]);
                }
                self.shared.counters.dropped_database(1);
            }
        }
    }

    fn take_reports(&mut self) {
        let (taken, seen) = self.shared.board.take();
        self.reports_seen = seen.max(self.reports_seen);
        for (worker, report) in taken {
            self.reports.insert(worker, report);
        }
        if self.reports.is_empty() {
            self.shared.board.settle(self.reports_seen);
        }
    }

    /// Writes due batches; with `flush`, everything pending.
    fn write_events(&mut self, flush: bool, deadline: Option<Instant>) {
        loop {
            let now = Instant::now();
            let due = self.pending.len() >= self.settings().batch_size
                || (!self.pending.is_empty() && (flush || self.batch_due(now)));
            if !due
                || deadline.is_some_and(|d| now >= d)
                || self.retry_at.is_some_and(|at| now < at)
            {
                return;
            }
            let n = self.pending.len().min(self.settings().batch_size);
            let rows: Vec<Box<Captured>> = self.pending.drain(..n).collect();
            let result = self.write_rows(&rows, deadline);
            let settled = match &result {
                Ok(()) => rows.len(),
                Err((settled, _)) => *settled,
            };
            let mut unsettled = rows;
            let settled_rows: Vec<_> = unsettled.drain(..settled).collect();
            self.shared.recycle_all(settled_rows);
            // Unsettled rows go back to the front, in order.
            for row in unsettled.into_iter().rev() {
                self.pending.push_front(row);
            }
            match result {
                Ok(()) => {
                    self.shared.counters.batch();
                    self.oldest_at = (!self.pending.is_empty()).then(Instant::now);
                    self.recovered();
                }
                Err((_, message)) => {
                    self.failed(message);
                    return;
                }
            }
        }
    }

    /// Inserts `rows`, splitting on row errors. On a database failure,
    /// returns how many leading rows were settled before it.
    fn write_rows(
        &mut self,
        rows: &[Box<Captured>],
        deadline: Option<Instant>,
    ) -> Result<(), (usize, String)> {
        let mut ranges = vec![(0, rows.len())];
        while let Some((lo, hi)) = ranges.pop() {
            let slice = &rows[lo..hi];
            let result = self.with_connection(deadline, async |conn| {
                rows::insert_events(conn, slice).await
            });
            match result {
                Ok(()) => self.shared.counters.written((hi - lo) as u64),
                Err(Failure::Database(message)) => return Err((lo, message)),
                Err(Failure::Rows(message)) if hi - lo == 1 => {
                    self.shared
                        .counters
                        .invalid(InvalidReason::RejectedByDatabase);
                    self.shared.counters.error(message);
                }
                Err(Failure::Rows(_)) => {
                    let mid = lo + (hi - lo) / 2;
                    ranges.push((mid, hi));
                    ranges.push((lo, mid));
                }
            }
        }
        Ok(())
    }

    fn write_reports(&mut self, deadline: Option<Instant>) {
        if self.reports.is_empty() {
            return;
        }
        let sink = self.shared.stats().to_metadata(self.shared.sink_id);
        let agent_type = self.settings().agent_type.clone();
        let mut workers: Vec<Arc<str>> = self.reports.keys().cloned().collect();
        workers.sort();
        for worker in workers {
            let Some(pending) = self.reports.get(&worker).cloned() else {
                continue;
            };
            let sink = sink.clone();
            let agent = agent_type.clone();
            let id = worker.clone();
            let result = self.with_connection(deadline, async move |conn| {
                rows::upsert_worker(conn, id, agent, pending, sink).await
            });
            match result {
                Ok(()) => {}
                Err(Failure::Database(message)) => {
                    self.failed(message);
                    return;
                }
                Err(Failure::Rows(message)) => self.shared.counters.error(message),
            }
            self.reports.remove(&worker);
            if !self.known_workers.iter().any(|w| **w == *worker) {
                self.known_workers.push(worker.to_string());
            }
        }
        self.shared.board.settle(self.reports_seen);
        self.stats_persisted_at = Instant::now();
    }

    fn persist_stats(&mut self, deadline: Option<Instant>) {
        self.stats_persisted_at = Instant::now();
        if self.known_workers.is_empty() {
            return;
        }
        let sink = self.shared.stats().to_metadata(self.shared.sink_id);
        let workers = self.known_workers.clone();
        let result = self.with_connection(deadline, async move |conn| {
            rows::persist_stats(conn, workers, sink).await
        });
        match result {
            Ok(()) => {}
            Err(Failure::Database(message)) => self.failed(message),
            Err(Failure::Rows(message)) => self.shared.counters.error(message),
        }
    }

    /// Runs `op` on the connection (connecting first if needed), bounded by
    /// the operation timeout and `deadline`. A failed connection is dropped.
    fn with_connection<F>(&mut self, deadline: Option<Instant>, op: F) -> Result<(), Failure>
    where
        F: AsyncFnOnce(&mut PgConnection) -> Result<(), sqlx::Error>,
    {
        let mut limit = self.settings().operation_timeout;
        if let Some(d) = deadline {
            limit = limit.min(d.saturating_duration_since(Instant::now()));
        }
        let options = &self.options;
        let shared = &*self.shared;
        let slot = &mut self.conn;
        let result = self.runtime.block_on(async {
            let work = async {
                let conn = match slot {
                    Some(conn) => conn,
                    None => slot.insert(
                        PgConnection::connect_with(options)
                            .await
                            .map_err(|e| Failure::Database(describe(&e)))?,
                    ),
                };
                op(conn).await.map_err(classify)
            };
            let timed = tokio::time::timeout(limit, work);
            match first_of(timed, shutdown_passed(shared)).await {
                Some(Ok(result)) => result,
                Some(Err(_)) => Err(Failure::Database(format!(
                    "database operation timed out after {limit:?}"
                ))),
                None => Err(Failure::Database(
                    "database operation abandoned at the shutdown deadline".into(),
                )),
            }
        });
        if matches!(result, Err(Failure::Database(_))) {
            self.conn = None;
        }
        result
    }

    fn failed(&mut self, message: String) {
        let first = self.retry_at.is_none();
        self.shared.counters.retried();
        self.shared.counters.error(message.clone());
        self.backoff = if first {
            Duration::from_millis(50)
        } else {
            (self.backoff * 2).min(self.settings().max_backoff)
        };
        self.retry_at = Some(Instant::now() + self.backoff);
        if first {
            tracing::warn!(error = %message, "runtime event writes failing; retrying with backoff");
        }
    }

    fn recovered(&mut self) {
        if self.retry_at.take().is_some() {
            self.backoff = Duration::ZERO;
            tracing::info!("runtime event writes resumed");
        }
    }

    /// Writes what it can before `deadline`, then counts the rest as dropped.
    fn shutdown(&mut self, deadline: Instant) {
        self.shared.closed.store(true, Ordering::Release);
        // Take what is queued while there is time to write it.
        let mut taken = 0;
        while Instant::now() < deadline {
            let Some(event) = self.events.try_recv() else {
                break;
            };
            self.pending.push_back(event);
            taken += 1;
        }
        self.record_newest(taken);
        self.take_reports();
        while !self.pending.is_empty() && Instant::now() < deadline {
            if let Some(at) = self.retry_at {
                let now = Instant::now();
                if now < at {
                    std::thread::sleep(at.min(deadline).saturating_duration_since(now));
                    continue;
                }
            }
            self.write_events(true, Some(deadline));
        }
        if Instant::now() < deadline {
            self.write_reports(Some(deadline));
        }
        if Instant::now() < deadline && self.reports.is_empty() {
            self.persist_stats(Some(deadline));
        }
        let mut lost = self.pending.len() as u64;
        self.pending.clear();
        while self.events.try_recv().is_some() {
            lost += 1;
        }
        self.shared.counters.dropped_database(lost);
        self.shared.board.settle(u64::MAX);
    }
}

/// Resolves once shutdown was requested and its deadline has passed, so an
/// operation started before the request cannot hold the guard past it.
async fn shutdown_passed(shared: &Shared) {
    loop {
        let at = shared.shutdown_at.lock().ok().and_then(|at| *at);
        match at {
            Some(at) => {
                tokio::time::sleep_until(at.into()).await;
                return;
            }
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Runs `work` unless `stop` finishes first (then `None`).
async fn first_of<T>(work: impl Future<Output = T>, stop: impl Future<Output = ()>) -> Option<T> {
    let mut work = pin!(work);
    let mut stop = pin!(stop);
    poll_fn(|cx| {
        if let Poll::Ready(value) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        stop.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Row errors (bad data) versus everything else (connection, server, schema).
fn classify(error: sqlx::Error) -> Failure {
    let message = describe(&error);
    if let sqlx::Error::Database(db) = &error {
        let code = db.code().unwrap_or_default();
        // 22: data exception, 23: integrity constraint, 54: program limit (e.g. index row too big).
        if code.starts_with("22") || code.starts_with("23") || code.starts_with("54") {
            return Failure::Rows(message);
        }
    }
    Failure::Database(message)
}

fn describe(error: &sqlx::Error) -> String {
    let mut message = error.to_string();
    message.truncate(500);
    message
}
