//! The emitting side of a sink: what the layer (and worker reporters) use
//! on the host's threads to hand an event to the writer. It takes an event
//! box (recycled when one is spare), counts, and `try_send`s; it never
//! blocks, allocates in the steady state, or waits.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tracing_core::Level;

use crate::capture::{Captured, Limits};
use crate::channel::{home_shard, Inbox, Outbox};
use crate::prepared::Backpressure;
use crate::spare::SpareBoxes;
use crate::stats::Counters;

/// Boxes taken from the spare stacks at a time.
const STASH_REFILL: usize = 32;

thread_local! {
    /// Event boxes this thread took from a sink's spare stacks and has not
    /// used yet (boxes are interchangeable between sinks). Boxed because
    /// each one travels alone through the channel.
    #[allow(clippy::vec_box)]
    static STASH: RefCell<Vec<Box<Captured>>> = const { RefCell::new(Vec::new()) };
}

pub(crate) struct Emitter {
    pub limits: Limits,
    pub counters: Arc<Counters>,
    /// Set once the writer has stopped: later events are dropped at once.
    closed: AtomicBool,
    /// The channel to the writer (sending side).
    events: Outbox,
    /// A second receiving side, only to count events that raced past `closed`.
    leftovers: Inbox,
    /// Boxes of exported events, for reuse by the emitting threads.
    spare: Arc<SpareBoxes>,
}

impl Emitter {
    pub(crate) fn new(
        limits: Limits,
        events: Outbox,
        leftovers: Inbox,
        spare: Arc<SpareBoxes>,
    ) -> Self {
        Emitter {
            limits,
            counters: Arc::default(),
            closed: AtomicBool::new(false),
            events,
            leftovers,
            spare,
        }
    }

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

    /// Hands every one of `events` to the writer, or none when the channel
    /// has no room for all of them (then nothing is counted). Each goes to
    /// the shard with the most room; one that still finds its shard full
    /// (another thread took the place meanwhile) is counted as dropped.
    /// Never blocks.
    #[allow(clippy::vec_box)] // each box travels alone through the channel
    pub(crate) fn emit_all(&self, events: Vec<Box<Captured>>) -> Result<(), Backpressure> {
        let wanted = events.len();
        let mut room = self.events.room();
        let total = room.iter().fold(0usize, |sum, r| sum.saturating_add(*r));
        if self.is_closed() || total < wanted {
            let room = if self.is_closed() { 0 } else { total };
            return Err(Backpressure { wanted, room });
        }
        for mut event in events {
            let shard = (0..room.len()).max_by_key(|&i| room[i]).unwrap_or(0);
            room[shard] = room[shard].saturating_sub(1);
            event.home = shard;
            if event.reason_code.as_str().trim().is_empty() {
                self.invalid(event, crate::stats::InvalidReason::MissingReasonCode);
            } else {
                self.emit(event);
            }
        }
        Ok(())
    }

    /// Counts an event that failed validation.
    #[inline]
    pub(crate) fn invalid(&self, event: Box<Captured>, reason: crate::stats::InvalidReason) {
        self.counters.emitted();
        self.counters.invalid(reason);
        self.recycle(event);
    }

    /// Refuses further events (the writer has stopped).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Events waiting in the channel for the writer.
    pub(crate) fn queued(&self) -> usize {
        self.events.len()
    }

    /// Events that raced into the channel after the writer stopped.
    pub(crate) fn leftovers(&self) -> usize {
        if self.is_closed() {
            self.leftovers.len()
        } else {
            0
        }
    }
}
