//! The time an event happened, read cheaply on the emitting thread.
//!
//! `SystemTime::now()` costs about 35 ns on a virtual machine (a vDSO call
//! reading a paravirtual clock), a seventh of an event's whole budget; the
//! CPU's time-stamp counter costs about 10 ns. Where the kernel itself
//! keeps the system clock with the TSC (so it is invariant and in step on
//! every core), events are stamped from the TSC, mapped to wall-clock time
//! by a calibration against `SystemTime` that is refreshed every second.
//! Anywhere else, and until the first calibration is done, `SystemTime`.
//!
//! The calibration sits behind a sequence lock, so reading it never waits:
//! the emitting thread that finds it a second old recalibrates it (one
//! `SystemTime` read) if no other thread is doing so, and otherwise just
//! uses `SystemTime` for that one event.

use std::time::{Duration, SystemTime};

/// When the event happens: wall-clock time, as exact as `SystemTime` to
/// within a few microseconds.
#[inline]
pub(crate) fn now() -> SystemTime {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if let Some(unix_ns) = tsc::now_unix_ns() {
        return SystemTime::UNIX_EPOCH + Duration::from_nanos(unix_ns);
    }
    slow_now()
}

/// `SystemTime::now()`, recalibrating the TSC mapping on the way when due.
#[cold]
#[inline(never)]
fn slow_now() -> SystemTime {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if tsc::enabled() {
        let before = tsc::read();
        let now = SystemTime::now();
        let after = tsc::read();
        tsc::recalibrate(before, after, now);
        return now;
    }
    SystemTime::now()
}

/// Lets events be stamped from the TSC when the kernel trusts it for the
/// system clock. Reads a sysfs file, so it is called when a sink is built,
/// never on the hot path. Idempotent.
pub(crate) fn use_tsc_if_trusted() {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    tsc::enable_if_trusted();
}

/// Which clock events are stamped from (for tests and diagnostics).
#[cfg(test)]
pub(crate) fn uses_tsc() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    return tsc::now_unix_ns().is_some();
    #[allow(unreachable_code)]
    false
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
    use std::sync::Mutex;
    use std::time::SystemTime;

    /// How long one calibration is used before the next is made.
    const REFRESH_NS: u64 = 1_000_000_000;
    /// The shortest baseline a first scale is measured over.
    const FIRST_BASELINE_NS: u64 = 50_000_000;
    /// A pairing of TSC and `SystemTime` reads that took longer than this
    /// many ticks (the thread was interrupted) is not used.
    const MAX_PAIRING_TICKS: u64 = 10_000;
    /// A new scale is believed if within this fraction of the last (NTP
    /// slews the system clock by at most 0.05%); a bigger change means the
    /// system clock was stepped, and only the new offset is taken.
    const MAX_SCALE_CHANGE: u64 = 1000;

    /// ns per tick, as a 32.32 fixed-point number.
    type Scale = u64;

    struct Calibration {
        enabled: AtomicBool,
        /// Odd while a recalibration is writing the fields below.
        seq: AtomicU64,
        anchor_tsc: AtomicU64,
        anchor_unix_ns: AtomicU64,
        scale: AtomicU64,
        /// The TSC value after which the calibration is due again; 0 until
        /// the first one.
        valid_until: AtomicU64,
        /// The last pairing (tsc, unix ns), for the next scale; held only
        /// while recalibrating.
        last: Mutex<Option<(u64, u64)>>,
    }

    static CALIBRATION: Calibration = Calibration {
        enabled: AtomicBool::new(false),
        seq: AtomicU64::new(0),
        anchor_tsc: AtomicU64::new(0),
        anchor_unix_ns: AtomicU64::new(0),
        scale: AtomicU64::new(0),
        valid_until: AtomicU64::new(0),
        last: Mutex::new(None),
    };

    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: every x86_64 CPU has RDTSC; it only reads a counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    pub(super) fn enabled() -> bool {
        CALIBRATION.enabled.load(Ordering::Relaxed)
    }

    pub(super) fn enable_if_trusted() {
        if enabled() {
            return;
        }
        // The kernel picks the TSC for the system clock only when it found
        // it invariant and synchronised across CPUs.
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        );
        if source.is_ok_and(|s| s.trim() == "tsc") {
            CALIBRATION.enabled.store(true, Ordering::Relaxed);
        }
    }

    /// Unix time in ns from the TSC, or `None` when the calibration is
    /// missing, due, or being written.
    #[inline]
    pub(super) fn now_unix_ns() -> Option<u64> {
        let c = &CALIBRATION;
        let tsc = read();
        let seq = c.seq.load(Ordering::Acquire);
        let anchor_tsc = c.anchor_tsc.load(Ordering::Relaxed);
        let anchor_unix_ns = c.anchor_unix_ns.load(Ordering::Relaxed);
        let scale = c.scale.load(Ordering::Relaxed);
        let valid_until = c.valid_until.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if seq & 1 == 1 || c.seq.load(Ordering::Relaxed) != seq || tsc >= valid_until {
            return None;
        }
        // Signed: another core's counter may read a little below the anchor.
        let ticks = tsc.wrapping_sub(anchor_tsc) as i64 as i128;
        let ns = anchor_unix_ns as i128 + ((ticks * scale as i128) >> 32);
        u64::try_from(ns).ok()
    }

    /// Takes a new anchor (and scale) from a `SystemTime` read between two
    /// TSC reads, unless another thread is at it or the reads were too far
    /// apart to pair.
    pub(super) fn recalibrate(before: u64, after: u64, now: SystemTime) {
        let c = &CALIBRATION;
        let Ok(unix) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            return;
        };
        let unix_ns = unix.as_nanos() as u64;
        if after < before || after - before > MAX_PAIRING_TICKS {
            return;
        }
        let tsc = before + (after - before) / 2;
        let Ok(mut last) = c.last.try_lock() else {
            return;
        };
        let old_scale = c.scale.load(Ordering::Relaxed);
        let Some((last_tsc, last_ns)) = *last else {
            *last = Some((tsc, unix_ns));
            return;
        };
        if old_scale == 0 && unix_ns.saturating_sub(last_ns) < FIRST_BASELINE_NS {
            return; // keep the first pairing until the baseline is long enough
        }
        let scale = match measured_scale(last_tsc, last_ns, tsc, unix_ns) {
            Some(new)
                if old_scale == 0 || new.abs_diff(old_scale) <= old_scale / MAX_SCALE_CHANGE =>
            {
                new
            }
            _ if old_scale != 0 => old_scale,
            _ => {
                // No believable first scale: start again from this pairing.
                *last = Some((tsc, unix_ns));
                return;
            }
        };
        *last = Some((tsc, unix_ns));
        let refresh_ticks = ((u128::from(REFRESH_NS) << 32) / u128::from(scale)) as u64;

        let seq = c.seq.load(Ordering::Relaxed);
        c.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        c.anchor_tsc.store(tsc, Ordering::Relaxed);
        c.anchor_unix_ns.store(unix_ns, Ordering::Relaxed);
        c.scale.store(scale, Ordering::Relaxed);
        c.valid_until
            .store(tsc.saturating_add(refresh_ticks), Ordering::Relaxed);
        c.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// ns per tick between two pairings, if plausible (a 100 MHz to 10 GHz counter).
    fn measured_scale(tsc_a: u64, ns_a: u64, tsc_b: u64, ns_b: u64) -> Option<Scale> {
        let ticks = tsc_b.checked_sub(tsc_a).filter(|&t| t > 0)?;
        let ns = ns_b.checked_sub(ns_a)?;
        let scale = ((u128::from(ns) << 32) / u128::from(ticks)) as u64;
        let plausible = (1u64 << 32) / 10..=10u64 << 32;
        plausible.contains(&scale).then_some(scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_follows_the_system_clock() {
        use_tsc_if_trusted();
        // Calibrate over more than the first baseline (50 ms), then keep
        // checking for a while: a wrong scale or offset shows as drift.
        // Each reading is bracketed by two system clock reads, so being
        // preempted between them cannot fail the test.
        let tolerance = Duration::from_micros(500);
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            let before = SystemTime::now();
            let ours = now();
            let after = SystemTime::now();
            assert!(
                ours + tolerance >= before && ours <= after + tolerance,
                "{ours:?} is not between {before:?} and {after:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let trusted = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc");
        if cfg!(all(target_arch = "x86_64", target_os = "linux")) && trusted {
            assert!(uses_tsc(), "the TSC is trusted here but not used");
        }
    }
}
