//! The stop signal shared by a runner's tasks.

use std::time::Duration;

use tokio::sync::watch;

/// Sends the stop signal.
#[derive(Debug)]
pub(crate) struct StopSender(watch::Sender<bool>);

/// Receives the stop signal; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

pub(crate) fn channel() -> (StopSender, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (StopSender(tx), Shutdown(rx))
}

impl StopSender {
    pub(crate) fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub(crate) fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stop was signalled (or the sender is gone).
    pub(crate) async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `duration`, or less when stop is signalled meanwhile.
    pub(crate) async fn sleep(&mut self, duration: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = self.wait() => {}
        }
    }
}
