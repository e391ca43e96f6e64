//! One exporter's delivery: its own thread behind its own bounded queue,
//! so a dead or slow exporter only ever drops (and counts) its own events
//! and never holds up the writer or another exporter.
//!
//! The thread takes batches off the queue, exports them (several small
//! batches as one, up to the batch size), and on failure keeps them: an
//! unavailable exporter is retried after a backoff (50 ms doubling to
//! `max_backoff`) and the queue is not read meanwhile, so once it is full
//! the writer drops further batches for this exporter; a rejected batch is
//! split in halves until the bad events are isolated (each is counted and
//! skipped). Every attempt is bounded by the operation timeout and the
//! shutdown deadline. It also upserts the latest status of each worker and
//! refreshes the statistics stored with them, and answers flushes once
//! everything queued before them is settled.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use serde_json::Value;

use crate::batch::Batch;
use crate::capture::Captured;
use crate::exporter::{ExportError, Exporter, WorkerStatus};
use crate::recursion;
use crate::stats::ExporterCounters;
use crate::stop::StopReceiver;
use crate::worker_status::PendingReport;

/// First wait after a failure; it doubles up to `max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// What the writer sends an exporter, in order.
pub(crate) enum Message {
    Batch(Arc<Batch>),
    /// The latest reports of the workers published since the last ones.
    Statuses(Arc<Vec<(Arc<str>, PendingReport)>>),
    /// Answered once everything sent before it is settled.
    Flush(Sender<()>),
    /// Nothing follows: finish before the shutdown deadline.
    Finish,
}

#[derive(Debug, Clone)]
pub(crate) struct DeliverySettings {
    pub batch_size: usize,
    /// Events the queue (and the batch in hand) may hold.
    pub capacity: usize,
    pub max_backoff: Duration,
    pub operation_timeout: Duration,
    pub stats_interval: Duration,
}

/// The statistics stored beside worker statuses, computed when needed.
pub(crate) type StatsJson = Arc<dyn Fn() -> Value + Send + Sync>;

/// The writer's end of one exporter's queue.
pub(crate) struct Outlet {
    tx: Sender<Message>,
    /// Events in the queue, for the bound.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    pub counters: Arc<ExporterCounters>,
    done: Receiver<()>,
}

impl Outlet {
    /// Hands a batch over, or drops it (counted) when the queue is full.
    pub(crate) fn offer(&self, batch: &Arc<Batch>) {
        if self.queued.load(Ordering::Acquire) + batch.len() > self.capacity {
            self.counters.dropped_queue_full(batch.len() as u64);
            return;
        }
        self.hand_over(batch);
    }

    /// Hands a batch over whatever the queue holds: at shutdown, the last
    /// of the channel (memory that was already in use) gets its chance
    /// before the deadline.
    pub(crate) fn hand_over(&self, batch: &Arc<Batch>) {
        let n = batch.len();
        // Counted before it is visible, so the taker never goes below zero.
        self.queued.fetch_add(n, Ordering::AcqRel);
        if self.tx.send(Message::Batch(Arc::clone(batch))).is_err() {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.counters.dropped_failing(n as u64);
        }
    }

    /// The count of events in the queue, kept current.
    pub(crate) fn queue_gauge(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.queued)
    }

    /// Sends anything but a batch (never refused while the thread runs).
    pub(crate) fn send(&self, message: Message) {
        let _ = self.tx.send(message);
    }

    /// Waits until the delivery thread has ended, at most until `until`.
    pub(crate) fn wait_done(&self, until: Instant) -> bool {
        !matches!(
            self.done.recv_deadline(until),
            Err(crossbeam_channel::RecvTimeoutError::Timeout)
        )
    }
}

/// Starts `exporter`'s delivery thread.
pub(crate) fn spawn(
    exporter: Box<dyn Exporter>,
    counters: Arc<ExporterCounters>,
    settings: DeliverySettings,
    stop: StopReceiver,
    stats_json: StatsJson,
) -> std::io::Result<Outlet> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let queued = Arc::new(AtomicUsize::new(0));
    let capacity = settings.capacity;
    let mut delivery = Delivery {
        exporter,
        settings,
        rx,
        queued: Arc::clone(&queued),
        stop,
        stats_json,
        counters: Arc::clone(&counters),
        in_hand: InHand::default(),
        statuses: HashMap::new(),
        flush_waiters: Vec::new(),
        finished: false,
        retry_at: None,
        backoff: Duration::ZERO,
        stats_refreshed_at: Instant::now(),
    };
    let name = format!("runtime-events-{}", delivery.exporter.name());
    std::thread::Builder::new().name(name).spawn(move || {
        recursion::suppress_current_thread();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| delivery.run()));
        if outcome.is_err() {
            // A bug, not a failing exporter: what it held is lost, counted.
            delivery.counters.error("exporter delivery panicked".into());
        }
        delivery.drop_everything();
        let exporter = &mut delivery.exporter;
        let shut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exporter.shutdown()));
        if shut.is_err() {
            delivery.counters.error("exporter shutdown panicked".into());
        }
        let _ = done_tx.send(());
    })?;
    Ok(Outlet {
        tx,
        queued,
        capacity,
        counters,
        done: done_rx,
    })
}

/// The delivery thread's state.
struct Delivery {
    exporter: Box<dyn Exporter>,
    settings: DeliverySettings,
    rx: Receiver<Message>,
    queued: Arc<AtomicUsize>,
    stop: StopReceiver,
    stats_json: StatsJson,
    counters: Arc<ExporterCounters>,
    /// Batches taken off the queue and not yet settled.
    in_hand: InHand,
    /// The latest unsaved report per worker.
    statuses: HashMap<Arc<str>, PendingReport>,
    /// Flushes to answer once `in_hand` and `statuses` are empty; while
    /// there are any, nothing more is taken off the queue.
    flush_waiters: Vec<Sender<()>>,
    /// `Finish` was received (or the writer is gone).
    finished: bool,
    /// Set while the exporter is failing: no attempt before it.
    retry_at: Option<Instant>,
    backoff: Duration,
    stats_refreshed_at: Instant,
}

impl Delivery {
    fn run(&mut self) {
        loop {
            let now = Instant::now();
            let stop_at = self.stop.requested();
            if stop_at.is_some_and(|at| now >= at) {
                return;
            }
            if !self.backing_off() {
                self.take_messages();
                self.write_statuses();
                self.export_in_hand();
                let stats_due = now >= self.stats_refreshed_at + self.settings.stats_interval;
                if stats_due && !self.backing_off() {
                    self.refresh_stats();
                }
                self.answer_flushes();
            }
            let idle = self.in_hand.is_empty() && self.statuses.is_empty();
            if self.finished && idle {
                if stop_at.is_some() && !self.backing_off() {
                    // The statistics as they end, while there is time.
                    self.refresh_stats();
                }
                return;
            }
            self.wait();
        }
    }

    /// Waits for the end of a backoff, or (with nothing in hand) for a
    /// message or shutdown; at most until the statistics are due again.
    fn wait(&mut self) {
        let mut until = self.stats_refreshed_at + self.settings.stats_interval;
        if let Some(at) = self.stop.requested() {
            until = until.min(at);
        }
        if let Some(retry) = self.retry_at.filter(|_| self.backing_off()) {
            // Nothing is attempted before the retry, not even the
            // statistics; the queue is left to fill meanwhile (and
            // overflow, counted).
            self.stop.sleep_until(retry);
            return;
        }
        if !self.in_hand.is_empty() || !self.statuses.is_empty() {
            return;
        }
        let timeout = until.saturating_duration_since(Instant::now());
        let stopping = self.stop.requested().is_some();
        let never = crossbeam_channel::never();
        let wake = if stopping { &never } else { self.stop.wake() };
        select! {
            recv(self.rx) -> message => match message {
                Ok(message) => self.accept(message),
                Err(_) => self.finished = true,
            },
            recv(wake) -> _ => {}
            default(timeout) => {}
        }
    }

    fn backing_off(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// Takes messages while the batch in hand has room, up to a flush.
    fn take_messages(&mut self) {
        while self.in_hand.len() < self.settings.batch_size
            && self.flush_waiters.is_empty()
            && !self.finished
        {
            match self.rx.try_recv() {
                Ok(message) => self.accept(message),
                Err(crossbeam_channel::TryRecvError::Empty) => return,
                Err(crossbeam_channel::TryRecvError::Disconnected) => self.finished = true,
            }
        }
    }

    fn accept(&mut self, message: Message) {
        match message {
            Message::Batch(batch) => {
                self.queued.fetch_sub(batch.len(), Ordering::AcqRel);
                self.in_hand.push(batch);
            }
            Message::Statuses(statuses) => {
                for (worker, report) in statuses.iter() {
                    self.statuses.insert(Arc::clone(worker), report.clone());
                }
            }
            Message::Flush(reply) => self.flush_waiters.push(reply),
            Message::Finish => self.finished = true,
        }
    }

    fn answer_flushes(&mut self) {
        if self.in_hand.is_empty() && self.statuses.is_empty() {
            for waiter in self.flush_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// Exports what is in hand, a batch size at a time, until it is all
    /// settled or an attempt fails.
    fn export_in_hand(&mut self) {
        while !self.in_hand.is_empty() && !self.backing_off() {
            let events = self.in_hand.first(self.settings.batch_size);
            let deadline = self
                .stop
                .deadline(Instant::now() + self.settings.operation_timeout);
            let result = export_bisecting(&mut *self.exporter, &self.counters, &events, &deadline);
            let settled = match &result {
                Ok(()) => events.len(),
                Err((settled, _)) => *settled,
            };
            drop(events);
            self.in_hand.settle(settled);
            match result {
                Ok(()) => {
                    self.counters.batch();
                    self.recovered();
                }
                Err((_, message)) => self.failed(message),
            }
            // A new batch may be due from the queue before the next attempt.
            self.take_messages();
        }
    }

    fn write_statuses(&mut self) {
        if self.statuses.is_empty() || self.backing_off() {
            return;
        }
        let mut workers: Vec<&Arc<str>> = self.statuses.keys().collect();
        workers.sort();
        let statuses: Vec<WorkerStatus<'_>> = workers
            .iter()
            .map(|w| WorkerStatus {
                worker_id: w,
                report: &self.statuses[*w],
            })
            .collect();
        let stats = (self.stats_json)();
        let deadline = self
            .stop
            .deadline(Instant::now() + self.settings.operation_timeout);
        let result = self.exporter.upsert_workers(&statuses, &stats, &deadline);
        drop(statuses);
        match result {
            Ok(()) => {
                self.statuses.clear();
                self.stats_refreshed_at = Instant::now();
                self.recovered();
            }
            Err(ExportError::Unavailable(message)) => self.failed(message),
            Err(ExportError::Rejected(message)) => {
                // Not retried: the next report replaces them.
                self.counters.error(message);
                self.statuses.clear();
            }
        }
    }

    fn refresh_stats(&mut self) {
        self.stats_refreshed_at = Instant::now();
        let stats = (self.stats_json)();
        let deadline = self
            .stop
            .deadline(Instant::now() + self.settings.operation_timeout);
        match self.exporter.upsert_workers(&[], &stats, &deadline) {
            Ok(()) => self.recovered(),
            Err(ExportError::Unavailable(message)) => self.failed(message),
            Err(ExportError::Rejected(message)) => self.counters.error(message),
        }
    }

    fn failed(&mut self, message: String) {
        let first = self.backoff.is_zero();
        self.counters.retried();
        self.counters.error(message.clone());
        self.backoff = if first {
            FIRST_BACKOFF.min(self.settings.max_backoff)
        } else {
            (self.backoff * 2).min(self.settings.max_backoff)
        };
        self.retry_at = Some(Instant::now() + self.backoff);
        if first {
            tracing::warn!(exporter = self.exporter.name(), error = %message,
                "runtime event export failing; retrying with backoff");
        }
    }

    fn recovered(&mut self) {
        self.retry_at = None;
        if !self.backoff.is_zero() {
            self.backoff = Duration::ZERO;
            tracing::info!(
                exporter = self.exporter.name(),
                "runtime event export resumed"
            );
        }
    }

    /// At the end: counts what is in hand and everything still queued as
    /// dropped (waiting for the writer's `Finish`, so nothing it sends is
    /// missed).
    fn drop_everything(&mut self) {
        let mut lost = self.in_hand.len() as u64;
        self.in_hand = InHand::default();
        while !self.finished {
            match self.rx.recv() {
                Ok(Message::Batch(batch)) => {
                    self.queued.fetch_sub(batch.len(), Ordering::AcqRel);
                    lost += batch.len() as u64;
                }
                Ok(Message::Finish) | Err(_) => self.finished = true,
                Ok(_) => {}
            }
        }
        // `Finish` is the writer's last message; anything behind it is a bug.
        while let Ok(message) = self.rx.try_recv() {
            if let Message::Batch(batch) = message {
                lost += batch.len() as u64;
            }
        }
        self.counters.dropped_failing(lost);
        self.flush_waiters.clear();
    }
}

/// Exports `events`, splitting on rejections. On an unavailable exporter,
/// returns how many leading events were settled (exported or rejected)
/// before it, and why.
fn export_bisecting(
    exporter: &mut dyn Exporter,
    counters: &ExporterCounters,
    events: &[&Captured],
    deadline: &crate::exporter::Deadline,
) -> Result<(), (usize, String)> {
    // Ranges still to export, the leftmost on top.
    let mut ranges = vec![(0, events.len())];
    while let Some((lo, hi)) = ranges.pop() {
        match exporter.export(&events[lo..hi], deadline) {
            Ok(()) => counters.exported((hi - lo) as u64),
            Err(ExportError::Unavailable(message)) => return Err((lo, message)),
            Err(ExportError::Rejected(message)) if hi - lo == 1 => {
                counters.rejected();
                counters.error(message);
            }
            Err(ExportError::Rejected(_)) => {
                let mid = lo + (hi - lo) / 2;
                ranges.push((mid, hi));
                ranges.push((lo, mid));
            }
        }
    }
    Ok(())
}

/// Batches taken off the queue, in order; the first may be partly settled.
#[derive(Default)]
struct InHand {
    batches: VecDeque<Arc<Batch>>,
    /// Events of the first batch already settled.
    skip: usize,
    /// Unsettled events in all.
    len: usize,
}

impl InHand {
    fn push(&mut self, batch: Arc<Batch>) {
        self.len += batch.len();
        self.batches.push_back(batch);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first (up to) `n` unsettled events.
    fn first(&self, n: usize) -> Vec<&Captured> {
        let mut events = Vec::with_capacity(n.min(self.len));
        let mut skip = self.skip;
        for batch in &self.batches {
            for event in batch.iter().skip(skip) {
                if events.len() == n {
                    return events;
                }
                events.push(&**event);
            }
            skip = 0;
        }
        events
    }

    /// Marks the first `n` unsettled events settled; a batch wholly
    /// settled is let go (its boxes are recycled once no exporter holds it).
    fn settle(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.batches.front() else {
                break;
            };
            let left = front.len() - self.skip;
            if n < left {
                self.skip += n;
                return;
            }
            n -= left;
            self.skip = 0;
            self.batches.pop_front();
        }
        // Empty batches at the front are settled too.
        while self.batches.front().is_some_and(|b| b.len() == self.skip) {
            self.batches.pop_front();
            self.skip = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::exporter::fake::{Fake, Script};
    use crate::spare::SpareBoxes;
    use crate::stop::{stop_channel, StopSender};
    use crate::text::Text;

    fn batch(codes: &[&str]) -> Arc<Batch> {
        let events = codes
            .iter()
            .map(|code| {
                let mut event = Box::new(Captured::empty(
                    SystemTime::now(),
                    tracing_core::Level::INFO,
                    "t",
                ));
                event.reason_code = Text::bounded(code, 64);
                event
            })
            .collect();
        Arc::new(Batch::new(events, Arc::new(SpareBoxes::new(0))))
    }

    fn settings(batch_size: usize, capacity: usize) -> DeliverySettings {
        DeliverySettings {
            batch_size,
            capacity,
            max_backoff: Duration::from_millis(120),
            operation_timeout: Duration::from_secs(10),
            stats_interval: Duration::from_secs(60),
        }
    }

    fn start(name: &'static str, settings: DeliverySettings) -> (Outlet, Arc<Script>, StopSender) {
        let (fake, script) = Fake::boxed(name);
        let (stop, stop_rx) = stop_channel();
        let counters = Arc::new(ExporterCounters::new(name));
        let stats: StatsJson = Arc::new(|| serde_json::json!({"n": 1}));
        let outlet = spawn(fake, counters, settings, stop_rx, stats).unwrap();
        (outlet, script, stop)
    }

    /// Sends a flush and waits for its answer.
    fn flush(outlet: &Outlet) -> bool {
        let (reply, answer) = crossbeam_channel::bounded(1);
        outlet.send(Message::Flush(reply));
        answer.recv_timeout(Duration::from_secs(5)).is_ok()
    }

    fn wait_for(mut f: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < until, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The exporter's statistics (nothing emitted: only its own counters).
    fn stats(outlet: &Outlet) -> crate::stats::ExporterStats {
        let statistics = crate::stats::Statistics {
            common: Arc::default(),
            exporters: vec![Arc::clone(&outlet.counters)],
        };
        statistics.snapshot(0).exporters.remove(0)
    }

    fn codes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("E{i}")).collect()
    }

    fn strs(codes: &[String]) -> Vec<&str> {
        codes.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_rejected_event_is_isolated_by_splitting_the_batch() {
        let (outlet, script, _stop) = start("fake", settings(100, 1000));
        *script.reject_code.lock().unwrap() = Some("E5".into());
        let all = codes(8);
        outlet.offer(&batch(&strs(&all)));
        assert!(flush(&outlet));
        // 8 refused; halves 0..4 ok, 4..8 refused; 4..6 refused, 4 ok, 5
        // refused alone (counted); 6..8 ok.
        assert_eq!(*script.attempts.lock().unwrap(), [8, 4, 4, 2, 1, 1, 2]);
        let mut expected = all.clone();
        expected.remove(5);
        assert_eq!(*script.exported.lock().unwrap(), expected);
        let s = stats(&outlet);
        assert_eq!((s.exported, s.rejected, s.retries), (7, 1, 0));
    }

    #[test]
    fn an_unavailable_exporter_is_retried_after_a_doubling_backoff() {
        let (outlet, script, _stop) = start("fake", settings(100, 1000));
        *script.unavailable_attempts.lock().unwrap() = 3;
        let started = Instant::now();
        outlet.offer(&batch(&["A", "B"]));
        assert!(flush(&outlet));
        // Waited 50, 100, then 120 ms (the most): the same batch each time.
        assert!(
            started.elapsed() >= Duration::from_millis(270),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(*script.attempts.lock().unwrap(), [2, 2, 2, 2]);
        assert_eq!(*script.exported.lock().unwrap(), ["A", "B"]);
        let s = stats(&outlet);
        assert_eq!((s.retries, s.batches), (3, 1));
    }

    #[test]
    fn small_batches_queued_meanwhile_are_exported_together() {
        let (outlet, script, _stop) = start("fake", settings(5, 1000));
        *script.unavailable_attempts.lock().unwrap() = 1;
        outlet.offer(&batch(&["A1", "A2"]));
        wait_for(|| script.attempts.lock().unwrap().len() == 1);
        // Queued during the backoff; taken up to the batch size after it.
        outlet.offer(&batch(&["B1", "B2"]));
        outlet.offer(&batch(&["C1", "C2"]));
        assert!(flush(&outlet));
        assert_eq!(*script.attempts.lock().unwrap(), [2, 5, 1]);
        assert_eq!(
            *script.exported.lock().unwrap(),
            ["A1", "A2", "B1", "B2", "C1", "C2"]
        );
    }

    #[test]
    fn a_hanging_exporter_drops_its_own_events_and_keeps_the_deadline() {
        let (dead, dead_script, mut dead_stop) = start("dead", settings(5, 10));
        let (alive, alive_script, _alive_stop) = start("alive", settings(5, 10));
        dead_script.hang.store(true, Ordering::Relaxed);
        let batches: Vec<_> = (0..10)
            .map(|b| {
                batch(&strs(
                    &(0..5).map(|i| format!("E{b}.{i}")).collect::<Vec<_>>(),
                ))
            })
            .collect();
        dead.offer(&batches[0]);
        wait_for(|| dead_script.attempts.lock().unwrap().len() == 1);
        for b in &batches {
            if !Arc::ptr_eq(b, &batches[0]) {
                dead.offer(b);
            }
            alive.offer(b);
            // The live exporter keeps up, whatever the dead one does.
            assert!(flush(&alive));
        }
        assert_eq!(stats(&alive).exported, 50);
        assert_eq!(alive_script.exported.lock().unwrap().len(), 50);
        // One batch in hand, two queued (10 events), seven dropped.
        assert_eq!(stats(&dead).dropped_queue_full, 35);

        let started = Instant::now();
        let deadline = Duration::from_millis(100);
        dead_stop.stop(started + deadline);
        dead.send(Message::Finish);
        assert!(dead.wait_done(started + Duration::from_secs(5)));
        let took = started.elapsed();
        assert!(
            took < deadline + Duration::from_millis(150),
            "took {took:?}"
        );
        // What it held and what was queued is counted: 0 + 35 + 15 = 50.
        let s = stats(&dead);
        assert_eq!((s.dropped_failing, s.exported), (15, 0));
        assert!(dead_script.shut_down.load(Ordering::Relaxed));
    }

    #[test]
    fn events_in_hand_are_settled_across_batches() {
        let mut in_hand = InHand::default();
        in_hand.push(batch(&["A", "B", "C"]));
        in_hand.push(batch(&[]));
        in_hand.push(batch(&["D", "E"]));
        let first = |h: &InHand, n| -> Vec<String> {
            h.first(n)
                .iter()
                .map(|e| e.reason_code.as_str().to_owned())
                .collect()
        };
        assert_eq!(first(&in_hand, 4), ["A", "B", "C", "D"]);
        in_hand.settle(2);
        assert_eq!(first(&in_hand, 10), ["C", "D", "E"]);
        // Settling past the first batch lets it (and the empty one) go.
        in_hand.settle(2);
        assert_eq!((in_hand.len(), in_hand.batches.len()), (1, 1));
        assert_eq!(first(&in_hand, 10), ["E"]);
        in_hand.settle(1);
        assert!(in_hand.is_empty() && in_hand.batches.is_empty());
    }

    #[test]
    fn statuses_are_upserted_and_statistics_refreshed() {
        let mut s = settings(5, 10);
        s.stats_interval = Duration::from_millis(20);
        let (outlet, script, _stop) = start("fake", s);
        let report = PendingReport {
            report: crate::worker_status::WorkerReport::new(ai_runtime_vocab::WorkerState::Running),
            at: chrono::Utc::now(),
        };
        outlet.send(Message::Statuses(Arc::new(vec![("w-1".into(), report)])));
        assert!(flush(&outlet));
        assert_eq!(*script.upserted.lock().unwrap(), ["w-1"]);
        wait_for(|| *script.refreshes.lock().unwrap() >= 2);
    }
}
