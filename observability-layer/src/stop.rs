//! Shutdown, announced to every thread of a sink at once, as a message:
//! the deadline is a `watch` value (an export in flight races it, so one
//! started before shutdown cannot hold the guard past the deadline), and a
//! channel whose sending side is dropped wakes every blocking wait at once.

use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::watch;

use crate::exporter::Deadline;

/// Held by the guard.
pub(crate) struct StopSender {
    deadline: watch::Sender<Option<Instant>>,
    wake: Option<Sender<()>>,
}

/// Held by the writer and each exporter's delivery thread.
#[derive(Clone)]
pub(crate) struct StopReceiver {
    deadline: watch::Receiver<Option<Instant>>,
    wake: Receiver<()>,
}

pub(crate) fn stop_channel() -> (StopSender, StopReceiver) {
    let (deadline_tx, deadline_rx) = watch::channel(None);
    let (wake_tx, wake_rx) = crossbeam_channel::bounded(0);
    (
        StopSender {
            deadline: deadline_tx,
            wake: Some(wake_tx),
        },
        StopReceiver {
            deadline: deadline_rx,
            wake: wake_rx,
        },
    )
}

impl StopSender {
    /// Asks every thread to finish by `at`.
    pub(crate) fn stop(&mut self, at: Instant) {
        self.deadline.send_replace(Some(at));
        self.wake = None;
    }
}

impl Drop for StopSender {
    /// Dropped without a deadline (the sink failed to start): stop now.
    fn drop(&mut self) {
        if self.wake.is_some() {
            self.stop(Instant::now());
        }
    }
}

impl StopReceiver {
    /// The shutdown deadline, once announced.
    pub(crate) fn requested(&self) -> Option<Instant> {
        *self.deadline.borrow()
    }

    /// Disconnected once shutdown is announced: add it to a `select!` (or
    /// `recv_timeout` on it) to wait for anything else or shutdown.
    pub(crate) fn wake(&self) -> &Receiver<()> {
        &self.wake
    }

    /// Waits until `until`; cut short when shutdown is announced
    /// meanwhile (once announced, only by its deadline).
    pub(crate) fn sleep_until(&self, until: Instant) {
        match self.requested() {
            Some(at) => {
                std::thread::sleep(until.min(at).saturating_duration_since(Instant::now()));
            }
            None => {
                let _ = self.wake.recv_deadline(until);
            }
        }
    }

    /// A deadline for one attempt: `until`, or the shutdown deadline if it
    /// comes first (even when announced during the attempt).
    pub(crate) fn deadline(&self, until: Instant) -> Deadline {
        Deadline {
            until,
            shutdown: self.deadline.clone(),
        }
    }
}
