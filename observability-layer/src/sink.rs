//! What the layer, the writer, the handle and the guard share, and the
//! guard and handle themselves.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use tracing_core::Level;
use uuid::Uuid;

use crate::capture::{Captured, Limits};
use crate::channel::{home_shard, Inbox, Outbox};
use crate::config::Settings;
use crate::recorder::{RecordedEvent, Recorder};
use crate::spare::SpareBoxes;
use crate::stats::{Counters, SinkStats};
use crate::worker_status::{Board, WorkerReporter};

/// Boxes taken from the spare stacks at a time.
const STASH_REFILL: usize = 32;

thread_local! {
    /// Event boxes this thread took from a sink's spare queue and has not
    /// used yet (boxes are interchangeable between sinks). Boxed because
    /// each one travels alone through the channel.
    #[allow(clippy::vec_box)]
    static STASH: RefCell<Vec<Box<Captured>>> = const { RefCell::new(Vec::new()) };
}

pub(crate) struct Shared {
    pub sink_id: Uuid,
    pub settings: Settings,
    pub limits: Limits,
    pub counters: Counters,
    pub recorder: Recorder,
    pub board: Board,
    /// Set once the writer has stopped: later events are dropped at once.
    pub closed: AtomicBool,
    /// The channel to the writer (sending side).
    pub events: Outbox,
    /// A second receiving side, only to count events that raced past `closed`.
    pub leftovers: Inbox,
    /// Boxes of written events, for reuse by the emitting threads.
    pub spare: SpareBoxes,
    /// Wakes the writer; a full channel means a wake-up is already pending.
    pub wake: Sender<()>,
    pub flush_requested: AtomicBool,
    pub shutdown_at: Mutex<Option<Instant>>,
}

impl Shared {
    /// An empty event, in a recycled box when one is spare. Boxes come from
    /// a small per-thread stash, refilled a few at a time from the spare
    /// stack of the thread's shard (one lock per refill, never waited for).
    /// The stack is LIFO, so the boxes reused are the ones this thread
    /// filled most recently, still in its cache.
    #[inline]
    pub(crate) fn fresh_event(
        &self,
        occurred_at: SystemTime,
        level: Level,
        target: &'static str,
    ) -> Box<Captured> {
        let home = home_shard();
        let reused = STASH
            .try_with(|stash| {
                let mut stash = stash.borrow_mut();
                if stash.is_empty() {
                    self.spare.take(home, STASH_REFILL, &mut stash);
                }
                stash.pop()
            })
            .ok()
            .flatten();
        let mut event = match reused {
            Some(mut event) => {
                event.reset(occurred_at, level, target);
                event
            }
            None => Box::new(Captured::empty(occurred_at, level, target)),
        };
        event.home = home;
        event
    }

    /// Keeps an unsent box for this thread's next event.
    #[inline]
    pub(crate) fn recycle(&self, event: Box<Captured>) {
        // Dropped instead when the stash is full or already gone (thread exit).
        let _ = STASH.try_with(move |stash| {
            let mut stash = stash.borrow_mut();
            if stash.len() < 2 * STASH_REFILL {
                stash.push(event);
            }
        });
    }

    /// Returns written (or dropped) events' boxes for reuse. Called by the writer.
    pub(crate) fn recycle_all(&self, events: impl IntoIterator<Item = Box<Captured>>) {
        self.spare.put_all(events);
    }

    /// Counts a runtime event and hands it to the writer, never blocking.
    #[inline]
    pub(crate) fn emit(&self, event: Box<Captured>) {
        self.counters.emitted();
        if self.closed.load(Ordering::Relaxed) {
            self.counters.dropped_channel_full();
            self.recycle(event);
            return;
        }
        if let Err(event) = self.events.try_send(event) {
            self.counters.dropped_channel_full();
            self.recycle(event);
        }
    }

    pub(crate) fn wake_writer(&self) {
        let _ = self.wake.try_send(());
    }

    pub(crate) fn stats(&self) -> SinkStats {
        let mut stats = self.counters.snapshot();
        if self.closed.load(Ordering::Acquire) {
            stats.dropped_database += self.leftovers.len() as u64;
        }
        stats
    }
}

/// Reads the sink's statistics and recent events; hands out worker reporters.
/// Cheap to clone.
#[derive(Clone)]
pub struct SinkHandle {
    pub(crate) shared: Arc<Shared>,
}

impl SinkHandle {
    /// The counters now.
    pub fn stats(&self) -> SinkStats {
        self.shared.stats()
    }

    /// The most recent valid runtime events, oldest first, whether or not
    /// they reached the database.
    pub fn recent_events(&self) -> Vec<RecordedEvent> {
        self.shared.recorder.recent()
    }

    /// A reporter for `worker_id`'s row in `ai_worker_status`.
    pub fn worker(&self, worker_id: &str) -> WorkerReporter {
        WorkerReporter::new(worker_id, Arc::clone(&self.shared))
    }

    /// This sink instance's id (`metadata.sink.sinkId` of reported workers).
    pub fn sink_id(&self) -> Uuid {
        self.shared.sink_id
    }

    /// Events waiting in the channel for the writer.
    pub fn queued(&self) -> usize {
        self.shared.events.len()
    }

    /// Asks the writer to write everything now and waits, at most `timeout`,
    /// until every event emitted and every report published before the call
    /// is settled (written, dropped or invalid). Returns whether it was.
    /// Meant for tests and lifecycle points, never the hot path.
    pub fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let events = self.shared.counters.snapshot().emitted;
        let reports = self.shared.board.published();
        let mut next_request = Instant::now();
        loop {
            // Re-asked now and then: the writer may take a request before
            // everything asked for has reached it.
            if Instant::now() >= next_request {
                self.shared.flush_requested.store(true, Ordering::Release);
                self.shared.wake_writer();
                next_request += Duration::from_millis(10);
            }
            let done =
                self.shared.stats().settled() >= events && self.shared.board.settled() >= reports;
            if done {
                return true;
            }
            if Instant::now() >= until || self.shared.closed.load(Ordering::Acquire) {
                return done;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Stops the writer when dropped (or on [`shutdown`](Self::shutdown)): what
/// is queued is written within the shutdown deadline, the rest is counted as
/// dropped, and the call returns on time even when the database is dead.
/// It blocks the calling thread for at most the deadline (plus 50 ms); in
/// async code, call it from `spawn_blocking` or at the end of `main`.
#[must_use = "dropping the guard stops the writer"]
pub struct SinkGuard {
    pub(crate) shared: Arc<Shared>,
    pub(crate) done: Option<Receiver<()>>,
}

impl SinkGuard {
    /// Flushes and stops the writer; returns the final statistics.
    pub fn shutdown(mut self) -> SinkStats {
        self.stop();
        self.shared.stats()
    }

    fn stop(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        let deadline = self.shared.settings.shutdown_deadline;
        let at = Instant::now() + deadline;
        if let Ok(mut slot) = self.shared.shutdown_at.lock() {
            *slot = Some(at);
        }
        self.shared.wake_writer();
        // The writer bounds all its work by `at`; the margin covers one wake-up.
        let _ = done.recv_timeout(deadline + Duration::from_millis(50));
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
