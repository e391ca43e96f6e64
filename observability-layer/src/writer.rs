//! The writer: one dedicated thread between the emitting threads and the
//! exporters. It polls the event channel (so emitters never pay for waking
//! it), batches by size and interval, and fans each batch out, shared and
//! immutable, to every exporter's queue; the recorder reads the same
//! stream. It hands the exporters the latest worker reports, and answers
//! flush and shutdown, which reach it as messages.
//!
//! Between cutting a batch and fanning it out is the one place for a step
//! every exporter (and the recorder) must see: [`Writer::transform`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use crate::batch::Batch;
use crate::capture::{Captured, FieldValue};
use crate::channel::Inbox;
use crate::clock::EventClock;
use crate::delivery::{Message, Outlet};
use crate::emitter::Emitter;
use crate::genai_span::map_on_writer;
use crate::recorder::Recorder;
use crate::recursion;
use crate::scrub::Scrubber;
use crate::spare::SpareBoxes;
use crate::stop::StopReceiver;
use crate::text::Text;

use crate::worker_status::{Board, PendingReport};
use ai_runtime_genai::prices::Prices;
use ai_runtime_genai::{attribute, keys, Role, TokenUsage};

/// How often the event channel is polled while events arrive...
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// ...and at most, when idle (or the flush interval, if shorter).
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long past the shutdown deadline the writer waits for the exporters'
/// threads to count what they drop. A thread ends its work at the deadline
/// and counts at once, so this is only spent when the machine is too loaded
/// to run it then; 30 ms was seen to be too short there (a dead collector's
/// drops went uncounted), so the final statistics would not add up.
pub(crate) const FINISH_MARGIN: Duration = Duration::from_millis(200);

/// Requests to the writer.
pub(crate) enum Control {
    /// Cut and hand over everything emitted so far; every exporter answers
    /// on the channel once it has settled all of it.
    Flush(Sender<()>),
}

pub(crate) struct Writer {
    pub emitter: Arc<Emitter>,
    pub events: Inbox,
    pub control: Receiver<Control>,
    /// A published worker report wakes the writer (coalesced).
    pub reports_published: Receiver<()>,
    pub board: Arc<Board>,
    /// Secrets out of string values, before anyone sees the events.
    pub scrubber: Scrubber,
    /// Prices of captured GenAI calls (`cost_usd`), here rather than on
    /// the emitting thread.
    pub prices: Prices,
    pub recorder: Arc<Recorder>,
    pub clock: Arc<EventClock>,
    pub spare: Arc<SpareBoxes>,
    pub outlets: Vec<Outlet>,
    pub stop: StopReceiver,
    pub batch_size: usize,
    pub flush_interval: Duration,
    #[allow(clippy::vec_box)] // each box travelled alone through the channel
    pub pending: Vec<Box<Captured>>,
    /// When the oldest pending event arrived.
    pub oldest_at: Option<Instant>,
    /// Flushes waiting for the events queued before them to be taken.
    pub flushes: Vec<PendingFlush>,
}

/// A flush request: `left` more events must be taken off the channel (the
/// ones queued when it came), then everything pending is handed over and
/// the request forwarded to every exporter.
pub(crate) struct PendingFlush {
    left: usize,
    reply: Sender<()>,
}

/// Starts the writer thread; the returned channel disconnects when it has
/// finished (and so have the exporters, or their time is up).
pub(crate) fn spawn(mut writer: Writer) -> std::io::Result<Receiver<()>> {
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
    std::thread::Builder::new()
        .name("runtime-events-writer".into())
        .spawn(move || {
            recursion::suppress_current_thread();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run()));
            if outcome.is_err() {
                // A bug: stop taking events (they are then counted as
                // dropped) rather than let the channel fill silently.
                writer.emitter.close();
                for outlet in &writer.outlets {
                    outlet
                        .counters
                        .error("runtime event writer panicked".into());
                }
                let lost = writer.pending.len() as u64;
                writer.pending.clear();
                writer.emitter.counters.dropped_leftover(lost);
                writer.finish(Instant::now());
            }
            // Everything the writer holds goes first (the control channel:
            // a flush sent after this sees it closed).
            drop(writer);
            drop(done_tx);
        })?;
    Ok(done_rx)
}

impl Writer {
    fn run(&mut self) {
        let mut poll = MIN_POLL_INTERVAL;
        loop {
            if let Some(deadline) = self.stop.requested() {
                self.shutdown(deadline);
                return;
            }
            self.clock.recalibrate_if_due();
            let taken = self.accept_available();
            self.hand_over_reports();
            self.cut_due(Instant::now());
            self.forward_flushes();
            // Busy: look again soon. Idle: back off up to the flush interval.
            poll = if taken > 0 {
                MIN_POLL_INTERVAL
            } else {
                (poll * 2).min(self.flush_interval.min(MAX_POLL_INTERVAL))
            };
            let wait = match self.oldest_at {
                Some(at) => {
                    poll.min((at + self.flush_interval).saturating_duration_since(Instant::now()))
                }
                None => poll,
            };
            select! {
                recv(self.control) -> control => match control {
                    Ok(Control::Flush(reply)) => self.flushes.push(PendingFlush {
                        left: self.events.len(),
                        reply,
                    }),
                    // Every handle is gone: only the guard can stop us now.
                    Err(_) => self.stop.sleep_until(Instant::now() + wait),
                },
                recv(self.reports_published) -> _ => {}
                recv(self.stop.wake()) -> _ => {}
                default(wait) => {}
            }
        }
    }

    /// Takes what the channel holds, up to a batch's worth beyond what is pending.
    fn accept_available(&mut self) -> usize {
        let room = self.batch_size.saturating_sub(self.pending.len()).max(1);
        let mut taken = 0;
        while taken < room {
            let Some(event) = self.events.try_recv() else {
                break;
            };
            if self.pending.is_empty() {
                self.oldest_at = Some(Instant::now());
            }
            self.pending.push(event);
            taken += 1;
        }
        for flush in &mut self.flushes {
            flush.left = flush.left.saturating_sub(taken);
        }
        taken
    }

    /// Cuts a batch when a full one is pending or the oldest event has
    /// waited the flush interval.
    /// A flush whose events have all been taken makes the rest due too.
    fn cut_due(&mut self, now: Instant) {
        let old = self
            .oldest_at
            .is_some_and(|at| now >= at + self.flush_interval);
        let flushing = self.flushes.iter().any(|f| f.left == 0);
        if self.pending.len() >= self.batch_size || ((old || flushing) && !self.pending.is_empty())
        {
            self.cut_all();
        }
    }

    /// Fans out everything pending, a batch size at a time.
    fn cut_all(&mut self) {
        self.cut_all_to(Outlet::offer);
    }

    /// Fans out everything pending with `give` (offer, or hand over).
    fn cut_all_to(&mut self, give: fn(&Outlet, &Arc<Batch>)) {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(self.batch_size);
            let rest = self.pending.split_off(n);
            let mut events = std::mem::replace(&mut self.pending, rest);
            self.transform(&mut events);
            self.record_newest(&events);
            let batch = Arc::new(Batch::new(events, Arc::clone(&self.spare)));
            for outlet in &self.outlets {
                give(outlet, &batch);
            }
        }
        self.oldest_at = None;
    }

    /// A change every exporter and the recorder must see, made once, before
    /// the batch is shared: secrets scrubbed out of string values (the
    /// message, `entity_id`, metadata strings), and the price of each
    /// captured GenAI call.
    fn transform(&self, events: &mut [Box<Captured>]) {
        for event in events.iter_mut() {
            let event = &mut **event;
            if let Some(unmapped) = event.genai.take() {
                map_on_writer(event, unmapped, self.emitter.limits);
            }
            if event.priced {
                self.price(event);
            }
            scrub_text(&self.scrubber, &mut event.entity_id);
            if let Some(message) = &mut event.message {
                scrub_text(&self.scrubber, message);
            }
            for value in event.all_values_mut() {
                if let FieldValue::Str(text) = value {
                    scrub_text(&self.scrubber, text);
                }
            }
        }
    }

    /// Adds `cost_usd` to a captured GenAI call, or counts it unpriced
    /// when its model is unknown: never guessed. A call that reported no
    /// tokens (a failed one, usually) has nothing to price.
    fn price(&self, event: &mut Captured) {
        let mut provider = None;
        let (mut request_model, mut response_model) = (None, None);
        let mut usage = TokenUsage::default();
        for (name, value) in event.all_fields() {
            let Some(attribute) = attribute(name) else {
                continue;
            };
            match (attribute.role, value) {
                (Role::Provider, FieldValue::Str(t)) => provider = Some(t.as_str()),
                (Role::RequestModel, FieldValue::Str(t)) => request_model = Some(t.as_str()),
                (Role::ResponseModel, FieldValue::Str(t)) => response_model = Some(t.as_str()),
                (Role::Usage(kind), FieldValue::I64(n)) => usage.note(kind, *n),
                (Role::Usage(kind), FieldValue::U64(n)) => {
                    usage.note(kind, i64::try_from(*n).unwrap_or(i64::MAX))
                }
                _ => {}
            }
        }
        if usage.is_empty() {
            return;
        }
        let cost = response_model
            .into_iter()
            .chain(request_model)
            .find_map(|model| self.prices.price(provider, model, &usage));
        match cost {
            Some(usd) => event.fields.push(keys::COST_USD, FieldValue::F64(usd)),
            None => self.emitter.counters.unpriced_call(),
        }
    }

    /// Copies the newest events of a batch into the recorder (older ones
    /// would be pushed out of its ring at once anyway).
    #[allow(clippy::vec_box)]
    fn record_newest(&self, events: &[Box<Captured>]) {
        let n = events.len().min(self.recorder.capacity());
        for event in &events[events.len() - n..] {
            self.recorder.record(event);
        }
    }

    /// Sends the reports published since the last call to every exporter.
    fn hand_over_reports(&mut self) {
        let mut taken = self.board.take();
        if taken.is_empty() {
            return;
        }
        for (_, pending) in &mut taken {
            self.scrub_report(pending);
        }
        let statuses = Arc::new(taken);
        for outlet in &self.outlets {
            outlet.send(Message::Statuses(Arc::clone(&statuses)));
        }
    }

    /// Secrets out of a worker report's strings (its metadata, recursively,
    /// and its circuit reason), before any exporter upserts it.
    fn scrub_report(&self, pending: &mut PendingReport) {
        let report = &mut pending.report;
        for value in report.metadata.values_mut() {
            self.scrubber.scrub_json(value);
        }
        if let Some(reason) = &mut report.circuit_reason {
            if let Some(clean) = self.scrubber.scrub(reason) {
                *reason = clean;
            }
        }
    }

    /// Once everything queued before a flush is handed over, forwards it
    /// (behind the batches) to every exporter, which answers once it has
    /// settled them.
    fn forward_flushes(&mut self) {
        if !self.pending.is_empty() || self.flushes.iter().all(|f| f.left > 0) {
            return;
        }
        self.hand_over_reports();
        let (done, waiting): (Vec<_>, Vec<_>) = self.flushes.drain(..).partition(|f| f.left == 0);
        self.flushes = waiting;
        for flush in done {
            for outlet in &self.outlets {
                outlet.send(Message::Flush(flush.reply.clone()));
            }
        }
    }

    /// Stops taking events, hands over what is queued while there is time,
    /// then lets every exporter finish by the deadline.
    fn shutdown(&mut self, deadline: Instant) {
        self.emitter.close();
        while Instant::now() < deadline {
            let Some(event) = self.events.try_recv() else {
                break;
            };
            self.pending.push(event);
        }
        self.hand_over_reports();
        if Instant::now() < deadline {
            self.cut_all_to(Outlet::hand_over);
        } else {
            let lost = self.pending.len() as u64;
            self.pending.clear();
            for outlet in &self.outlets {
                outlet.counters.dropped_failing(lost);
            }
        }
        self.finish(deadline);
    }

    /// Tells the exporters nothing follows, waits for them (at most just
    /// past the deadline), and counts what is left in the channel.
    fn finish(&mut self, deadline: Instant) {
        for outlet in &self.outlets {
            outlet.send(Message::Finish);
        }
        for outlet in &self.outlets {
            outlet.wait_done(deadline + FINISH_MARGIN);
        }
        let mut lost = 0;
        while self.events.try_recv().is_some() {
            lost += 1;
        }
        self.emitter.counters.dropped_leftover(lost);
    }
}

/// Replaces `text` by its scrubbed copy when it holds a secret.
fn scrub_text(scrubber: &Scrubber, text: &mut Text) {
    if let Some(clean) = scrubber.scrub(text.as_str()) {
        *text = Text::from_string(clean);
    }
}
