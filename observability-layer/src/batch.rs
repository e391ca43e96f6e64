//! A batch of events on its way to the exporters: immutable once cut, and
//! shared (`Arc<Batch>`) by every exporter's queue, so fanning out to
//! several exporters copies nothing. When the last exporter is done with
//! it, its event boxes go back to the spare stacks for the emitting
//! threads to reuse.

use std::ops::Deref;
use std::sync::Arc;

use crate::capture::Captured;
use crate::spare::SpareBoxes;

pub(crate) struct Batch {
    #[allow(clippy::vec_box)] // each box travelled alone through the channel
    events: Vec<Box<Captured>>,
    spare: Arc<SpareBoxes>,
}

impl Batch {
    #[allow(clippy::vec_box)]
    pub(crate) fn new(events: Vec<Box<Captured>>, spare: Arc<SpareBoxes>) -> Batch {
        Batch { events, spare }
    }
}

impl Deref for Batch {
    type Target = [Box<Captured>];
    fn deref(&self) -> &Self::Target {
        &self.events
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.spare.put_all(self.events.drain(..));
    }
}
