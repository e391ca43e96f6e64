//! What the writer hands events to: an exporter, in the spirit of
//! OpenTelemetry's `LogExporter`. Export a batch, upsert worker statuses,
//! shut down. Postgres is the first implementation (`postgres.rs`).
//!
//! Each exporter runs on its own thread behind its own bounded queue
//! (`delivery.rs`), which retries, backs off, splits rejected batches and
//! keeps the deadlines, so an exporter only says how one attempt went.
//! Calls are blocking; an exporter with async I/O runs it on its own
//! runtime (as Postgres does), bounded by the [`Deadline`].

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;

use crate::capture::Captured;
use crate::worker_status::PendingReport;

/// How one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExportError {
    /// The destination as a whole (connection, server, timeout): the same
    /// data is tried again after a backoff.
    #[error("{0}")]
    Unavailable(String),
    /// The data itself: a rejected batch is split until the bad events are
    /// isolated; a single rejected event is counted and not tried again.
    #[error("{0}")]
    Rejected(String),
}

/// The latest status of one worker, with the statistics of the exporter
/// that stores it (the dashboard shows its drops). Only Postgres stores
/// statuses; OTLP has no counterpart.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct WorkerStatus<'a> {
    pub worker_id: &'a str,
    pub report: &'a PendingReport,
}

/// Where events and worker statuses go.
pub(crate) trait Exporter: Send {
    /// A short stable name, the key of its statistics (`"postgres"`).
    fn name(&self) -> &'static str;

    /// Exports `events` as one batch, all or nothing.
    fn export(&mut self, events: &[&Captured], deadline: &Deadline) -> Result<(), ExportError>;

    /// Upserts the latest status of each worker in `statuses`, storing
    /// `stats` (this exporter's statistics, JSON) beside them; with no
    /// statuses, refreshes `stats` on the workers stored before.
    fn upsert_workers(
        &mut self,
        statuses: &[WorkerStatus<'_>],
        stats: &Value,
        deadline: &Deadline,
    ) -> Result<(), ExportError>;

    /// Releases what the exporter holds; nothing is exported after it.
    fn shutdown(&mut self) {}
}

/// When an attempt must give up: at `until`, or at the shutdown deadline
/// once the guard has announced one (it may do so while the attempt runs).
#[derive(Clone)]
pub(crate) struct Deadline {
    pub until: Instant,
    pub shutdown: watch::Receiver<Option<Instant>>,
}

impl Deadline {
    /// Runs `work` unless the deadline passes first (then `None`); a
    /// shutdown announced meanwhile moves the deadline forward.
    pub(crate) async fn bound<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        let mut shutdown = self.shutdown.clone();
        let until = self.until;
        let passed = async move {
            loop {
                let at = match *shutdown.borrow_and_update() {
                    Some(stop) => until.min(stop),
                    None => until,
                };
                match first_of(shutdown.changed(), tokio::time::sleep_until(at.into())).await {
                    None => return,           // `at` passed
                    Some(Ok(())) => continue, // a shutdown deadline was announced
                    Some(Err(_)) => {
                        // The guard is gone without announcing one.
                        tokio::time::sleep_until(until.into()).await;
                        return;
                    }
                }
            }
        };
        first_of(work, passed).await
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

/// The exporters of one sink: the first is the primary one, whose view
/// `SinkStats` reports.
pub(crate) type Exporters = Vec<Box<dyn Exporter>>;

/// An exporter shared by the tests of the modules that drive one.
#[cfg(test)]
pub(crate) mod fake {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a fake exporter saw and how it behaves, shared with the test.
    #[derive(Default)]
    pub(crate) struct Script {
        /// Attempts (exports and upserts) that fail as unavailable, in order.
        pub unavailable_attempts: Mutex<usize>,
        /// Attempts hang (until their deadline) while this is set.
        pub hang: std::sync::atomic::AtomicBool,
        /// Events whose reason code is this are rejected.
        pub reject_code: Mutex<Option<String>>,
        /// Reason codes exported, in order.
        pub exported: Mutex<Vec<String>>,
        /// Sizes of the batches attempted (including failed ones).
        pub attempts: Mutex<Vec<usize>>,
        /// Worker ids upserted, and how many stats-only refreshes.
        pub upserted: Mutex<Vec<String>>,
        pub refreshes: Mutex<usize>,
        pub shut_down: std::sync::atomic::AtomicBool,
    }

    pub(crate) struct Fake {
        pub name: &'static str,
        pub script: Arc<Script>,
    }

    impl Fake {
        pub(crate) fn boxed(name: &'static str) -> (Box<dyn Exporter>, Arc<Script>) {
            let script = Arc::new(Script::default());
            let fake = Fake {
                name,
                script: Arc::clone(&script),
            };
            (Box::new(fake), script)
        }

        fn attempt(&self, deadline: &Deadline) -> Result<(), ExportError> {
            use std::sync::atomic::Ordering;
            if self.script.hang.load(Ordering::Relaxed) {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                let hung = rt.block_on(deadline.bound(std::future::pending::<()>()));
                assert!(hung.is_none());
                return Err(ExportError::Unavailable("timed out".into()));
            }
            let mut failures = self.script.unavailable_attempts.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(ExportError::Unavailable("down".into()));
            }
            Ok(())
        }
    }

    impl Exporter for Fake {
        fn name(&self) -> &'static str {
            self.name
        }

        fn export(&mut self, events: &[&Captured], deadline: &Deadline) -> Result<(), ExportError> {
            self.script.attempts.lock().unwrap().push(events.len());
            self.attempt(deadline)?;
            let reject = self.script.reject_code.lock().unwrap().clone();
            if let Some(code) = reject {
                if events.iter().any(|e| e.reason_code.as_str() == code) {
                    return Err(ExportError::Rejected(format!("bad row {code}")));
                }
            }
            let mut exported = self.script.exported.lock().unwrap();
            exported.extend(events.iter().map(|e| e.reason_code.as_str().to_owned()));
            Ok(())
        }

        fn upsert_workers(
            &mut self,
            statuses: &[WorkerStatus<'_>],
            _stats: &Value,
            deadline: &Deadline,
        ) -> Result<(), ExportError> {
            self.attempt(deadline)?;
            if statuses.is_empty() {
                *self.script.refreshes.lock().unwrap() += 1;
            }
            let mut upserted = self.script.upserted.lock().unwrap();
            upserted.extend(statuses.iter().map(|s| s.worker_id.to_owned()));
            Ok(())
        }

        fn shutdown(&mut self) {
            self.script
                .shut_down
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
