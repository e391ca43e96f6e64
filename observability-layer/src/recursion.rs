//! The recursion guard: nothing the sink's own threads log, and nothing
//! logged while the layer is capturing an event (say, by a field's `Debug`
//! impl), ever becomes a runtime event.

use std::cell::Cell;

thread_local! {
    /// Set on the sink's threads for their whole life, and on any thread
    /// while the layer is capturing.
    static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as never producing runtime events.
pub(crate) fn suppress_current_thread() {
    let _ = SUPPRESSED.try_with(|s| s.set(true));
}

/// Runs `f` unless the thread is suppressed; suppresses re-entry while it
/// runs, and lifts that again however `f` ends, even by a panic (a host
/// `Debug` impl may panic; the thread must not stay muted).
#[inline]
pub(crate) fn guarded(f: impl FnOnce()) {
    // `try_with`: while a thread is exiting its thread-locals may be gone;
    // the event is then skipped rather than panicking the host.
    let entered = SUPPRESSED.try_with(|s| !s.replace(true)).unwrap_or(false);
    if entered {
        let _lift = Lift;
        f();
    }
}

/// Lifts the suppression when dropped (also while unwinding).
struct Lift;

impl Drop for Lift {
    #[inline]
    fn drop(&mut self) {
        let _ = SUPPRESSED.try_with(|s| s.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_guarded_does_not_mute_the_thread() {
        let panicked = std::panic::catch_unwind(|| guarded(|| panic!("a Debug impl panicked")));
        assert!(panicked.is_err());
        let mut ran = false;
        guarded(|| ran = true);
        assert!(ran, "the thread stayed suppressed after the panic");
        // Nested: the inner call is suppressed while the outer one runs.
        let mut inner = false;
        guarded(|| guarded(|| inner = true));
        assert!(!inner);
    }
}
