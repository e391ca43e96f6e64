//! Boxes of written events, kept for reuse by the emitting threads. There is
//! one LIFO stack per channel shard, and each box goes back to the stack of
//! the shard it came through (`Captured::home`), so a thread reuses boxes it
//! filled itself, still in its core's cache. (With one shared stack, two
//! emitting threads kept reusing each other's boxes, and the cache-line
//! transfers nearly doubled their cost per event.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crossbeam_utils::CachePadded;

use crate::capture::Captured;
use crate::channel::SHARDS;

/// Cache-line padded: the writer changes these for every box it returns,
/// and must not slow down the emitting threads reading their neighbours.
pub(crate) struct SpareBoxes {
    #[allow(clippy::vec_box)] // each box travels alone through the channel
    stacks: [CachePadded<Mutex<Vec<Box<Captured>>>>; SHARDS],
    /// Boxes in all stacks. Emitting threads only take; boxes come back
    /// from whichever thread lets go of a batch last (a delivery thread),
    /// so two returning at once may exceed the limit by a box or two.
    count: CachePadded<AtomicUsize>,
    limit: usize,
}

impl SpareBoxes {
    /// Keeps at most `limit` boxes in all.
    pub(crate) fn new(limit: usize) -> Self {
        SpareBoxes {
            stacks: Default::default(),
            count: CachePadded::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Moves the (up to) `n` boxes last returned to shard `home` onto the
    /// end of `into`, in order (so `into.pop()` gives the most recent).
    /// Never waits: takes nothing while the writer holds the stack.
    #[allow(clippy::vec_box)]
    pub(crate) fn take(&self, home: usize, n: usize, into: &mut Vec<Box<Captured>>) {
        let Ok(mut stack) = self.stacks[home % SHARDS].try_lock() else {
            return;
        };
        let keep = stack.len().saturating_sub(n);
        let taken = stack.len() - keep;
        into.extend(stack.drain(keep..));
        self.count.fetch_sub(taken, Ordering::Relaxed);
    }

    /// Returns boxes to their home stacks, up to the limit; the rest are
    /// freed.
    pub(crate) fn put_all(&self, events: impl IntoIterator<Item = Box<Captured>>) {
        // Each stack is locked once, when its first box comes back.
        let mut stacks: [Option<MutexGuard<_>>; SHARDS] = Default::default();
        for event in events {
            if self.count.load(Ordering::Relaxed) >= self.limit {
                continue; // dropped: freed
            }
            let home = event.home % SHARDS;
            // A poisoned stack still holds valid boxes.
            let stack = stacks[home].get_or_insert_with(|| {
                self.stacks[home]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            });
            stack.push(event);
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn boxed(home: usize) -> Box<Captured> {
        let mut event = Box::new(Captured::empty(
            SystemTime::now(),
            tracing_core::Level::INFO,
            "t",
        ));
        event.home = home;
        event
    }

    #[test]
    fn boxes_go_back_to_their_home_shard_within_the_limit() {
        let spare = SpareBoxes::new(3);
        spare.put_all([boxed(1), boxed(2), boxed(1), boxed(1)]);
        let mut got = Vec::new();
        spare.take(1, 10, &mut got);
        // The limit (3) kept the last box out; shard 2's box stays there.
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|e| e.home == 1));
        spare.take(2, 10, &mut got);
        assert_eq!(got.len(), 3);
        // Taking made room again.
        spare.put_all([boxed(0)]);
        spare.take(0, 10, &mut got);
        assert_eq!(got.len(), 4);
    }
}
