//! The channel between the emitting threads and the writer, sharded so
//! that threads emitting at the same time do not contend on one queue's
//! tail: each thread sends to its own shard (threads are spread over the
//! shards in the order they first emit, see `home_shard`), the writer takes
//! from all.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::capture::Captured;
use crate::stats::thread_shard;

/// Shards of the channel; each holds up to `channel_capacity` events.
pub(crate) const SHARDS: usize = 4;

pub(crate) type Event = Box<Captured>;

/// The shard the current thread sends to (and takes spare boxes from).
#[inline]
pub(crate) fn home_shard() -> usize {
    thread_shard() % SHARDS
}

/// The sending side (emitting threads).
pub(crate) struct Outbox {
    shards: Vec<Sender<Event>>,
}

/// The receiving side (the writer; a clone only counts leftovers).
#[derive(Clone)]
pub(crate) struct Inbox {
    shards: Vec<Receiver<Event>>,
    /// The shard to look at first next time, for fairness.
    next: usize,
}

pub(crate) fn sharded(capacity_per_shard: usize) -> (Outbox, Inbox) {
    let (senders, receivers) = (0..SHARDS)
        .map(|_| crossbeam_channel::bounded(capacity_per_shard))
        .unzip();
    (
        Outbox { shards: senders },
        Inbox {
            shards: receivers,
            next: 0,
        },
    )
}

impl Outbox {
    /// Never blocks; gives the event back when its home shard is full.
    #[inline]
    pub(crate) fn try_send(&self, event: Event) -> Result<(), Event> {
        match self.shards[event.home % SHARDS].try_send(event) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(event) | TrySendError::Disconnected(event)) => Err(event),
        }
    }

    /// Events queued in all shards.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(Sender::len).sum()
    }

    /// Free places in each shard now (other senders may take them).
    pub(crate) fn room(&self) -> [usize; SHARDS] {
        std::array::from_fn(|i| {
            let shard = &self.shards[i];
            shard
                .capacity()
                .unwrap_or(usize::MAX)
                .saturating_sub(shard.len())
        })
    }
}

impl Inbox {
    /// An event from any shard, if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Event> {
        for i in 0..SHARDS {
            let shard = (self.next + i) % SHARDS;
            if let Ok(event) = self.shards[shard].try_recv() {
                self.next = (shard + 1) % SHARDS;
                return Some(event);
            }
        }
        None
    }

    /// Events queued in all shards.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(Receiver::len).sum()
    }
}
