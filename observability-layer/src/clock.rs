//! The time an event happened, read cheaply on the emitting thread.
//!
//! `SystemTime::now()` costs about 35 ns on a virtual machine (a vDSO call
//! reading a paravirtual clock), a seventh of an event's whole budget.
//! `quanta` reads the CPU's counter instead where it is invariant (about
//! 10 ns; elsewhere it falls back to the OS monotonic clock), calibrated
//! by the crate against the monotonic clock. What it gives is monotonic
//! time; the wall-clock time at its origin is measured here against
//! `SystemTime`, and measured again every 100 ms by the writer thread, so
//! event times follow the system clock's adjustments (NTP slewing, steps)
//! within 100 ms, and the counter's scale error cannot pile up for longer:
//! it reached 0.5 ms in a second on a loaded 2-core VM (about 500 ppm), so
//! over 100 ms it stays within tens of microseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How often the wall-clock origin is measured again (a measurement is
/// two counter reads and one `SystemTime::now()`, on the writer thread,
/// which looks at least every 20 ms).
const RECALIBRATE_EVERY: Duration = Duration::from_millis(100);

pub(crate) struct EventClock {
    clock: quanta::Clock,
    /// The origin of `clock` readings.
    origin: quanta::Instant,
    /// Unix time in ns at `origin`, as last measured.
    unix_ns_at_origin: AtomicU64,
    /// When (ns after `origin`) it was last measured.
    measured_at: AtomicU64,
}

impl EventClock {
    pub(crate) fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.now();
        let event_clock = EventClock {
            clock,
            origin,
            unix_ns_at_origin: AtomicU64::new(0),
            measured_at: AtomicU64::new(0),
        };
        event_clock.recalibrate();
        event_clock
    }

    /// Wall-clock time now.
    #[inline]
    pub(crate) fn now(&self) -> SystemTime {
        self.now_and_instant().0
    }

    /// Wall-clock time now and a monotonic reading of the same instant
    /// (one read of the counter for both).
    #[inline]
    pub(crate) fn now_and_instant(&self) -> (SystemTime, quanta::Instant) {
        let instant = self.clock.now();
        let since_origin = instant.saturating_duration_since(self.origin).as_nanos() as u64;
        let unix_ns = self.unix_ns_at_origin.load(Ordering::Relaxed);
        let wall =
            SystemTime::UNIX_EPOCH + Duration::from_nanos(unix_ns.wrapping_add(since_origin));
        (wall, instant)
    }

    /// A monotonic reading, for durations.
    #[inline]
    pub(crate) fn instant(&self) -> quanta::Instant {
        self.clock.now()
    }

    #[inline]
    fn since_origin_ns(&self) -> u64 {
        self.clock
            .now()
            .saturating_duration_since(self.origin)
            .as_nanos() as u64
    }

    /// Measures the wall-clock origin again if it is 100 ms old. Called
    /// by the writer thread, never on the hot path.
    pub(crate) fn recalibrate_if_due(&self) {
        let due = self.measured_at.load(Ordering::Relaxed) + RECALIBRATE_EVERY.as_nanos() as u64;
        if self.since_origin_ns() >= due {
            self.recalibrate();
        }
    }

    /// Reads the system clock between two readings of ours and takes the
    /// midpoint; a pairing interrupted for long (over 50 µs) is retried.
    fn recalibrate(&self) {
        for _ in 0..5 {
            let before = self.since_origin_ns();
            let wall = SystemTime::now();
            let after = self.since_origin_ns();
            let Ok(unix) = wall.duration_since(SystemTime::UNIX_EPOCH) else {
                return;
            };
            if after.saturating_sub(before) > 50_000 {
                continue;
            }
            let mid = before + (after - before) / 2;
            let unix_ns = unix.as_nanos() as u64;
            self.unix_ns_at_origin
                .store(unix_ns.wrapping_sub(mid), Ordering::Relaxed);
            self.measured_at.store(mid, Ordering::Relaxed);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_follows_the_system_clock() {
        // Keep checking for a while, recalibrating as the writer does: a
        // wrong scale or origin shows as drift. Each reading is bracketed
        // by two system clock reads, so being preempted between them cannot
        // fail the test.
        let clock = EventClock::new();
        let tolerance = Duration::from_micros(500);
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(2500) {
            clock.recalibrate_if_due();
            let before = SystemTime::now();
            let ours = clock.now();
            let after = SystemTime::now();
            assert!(
                ours + tolerance >= before && ours <= after + tolerance,
                "{ours:?} is not between {before:?} and {after:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
