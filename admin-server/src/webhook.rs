//! Sends alert notices to `ALERT_WEBHOOK_URL` (a Slack incoming webhook, or
//! anything that takes JSON), or to the log when none is set.
//!
//! The evaluator hands notices over with `try_send` and moves on: one task
//! posts them in order, each with a timeout and retries with backoff, so a
//! slow, failing or hanging receiver delays only the notices behind it,
//! never an evaluation or a request. Notices that find the queue full are
//! dropped and counted. The URL holds Slack's secret: it is never logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::alert_state::{Notice, Transition};

/// Notices waiting to be sent at most; past it they are dropped and counted.
const QUEUE: usize = 256;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where and how notices are sent.
#[derive(Clone)]
pub(crate) struct WebhookOptions {
    pub(crate) url: Option<String>,
    /// The dashboard's address, linked from each message.
    pub(crate) dashboard_url: Option<String>,
    /// One attempt's time limit.
    pub(crate) timeout: Duration,
    /// Attempts per notice before it is given up (and counted).
    pub(crate) attempts: u32,
    /// The wait after the first failed attempt; doubled after each next one.
    pub(crate) backoff: Duration,
}

/// The body posted: Slack reads `text`; the other fields are for machines.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Payload<'a> {
    pub(crate) text: String,
    /// `firing` or `resolved`.
    pub(crate) status: &'static str,
    pub(crate) alert: &'static str,
    pub(crate) worker: Option<&'a str>,
    pub(crate) since: String,
    pub(crate) at: String,
    pub(crate) value: f64,
    pub(crate) message: &'a str,
    pub(crate) dashboard_url: Option<&'a str>,
}

pub(crate) fn payload<'a>(notice: &'a Notice, dashboard_url: Option<&'a str>) -> Payload<'a> {
    let status = match notice.transition {
        Transition::Fired => "firing",
        Transition::Resolved => "resolved",
    };
    let worker = Some(notice.subject.as_str()).filter(|s| !s.is_empty());
    let since = notice
        .since
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let at = notice.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let when = match notice.transition {
        Transition::Fired => format!("since {since}"),
        // The message is the last one seen while it fired.
        Transition::Resolved => format!("since {since}, resolved at {at}"),
    };
    let mut text = format!(
        "[{}] {}{}: {} ({when})",
        status.to_uppercase(),
        notice.kind.as_str(),
        worker.map(|w| format!(" {w}")).unwrap_or_default(),
        notice.message
    );
    if let Some(url) = dashboard_url {
        text.push_str(&format!(" <{url}|dashboard>"));
    }
    Payload {
        text,
        status,
        alert: notice.kind.as_str(),
        worker,
        since,
        at,
        value: notice.value,
        message: &notice.message,
        dashboard_url,
    }
}

/// The evaluator's side of the sender.
pub(crate) struct Notifier {
    queue: mpsc::Sender<Notice>,
    counts: Arc<Counts>,
}

/// What became of the notices, for the log and the tests.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) sent: AtomicU64,
    /// Every attempt failed.
    pub(crate) failed: AtomicU64,
    /// The queue was full.
    pub(crate) dropped: AtomicU64,
}

impl Notifier {
    /// Starts the sending task.
    pub(crate) fn spawn(options: WebhookOptions) -> Notifier {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(send_all(receiver, options, Arc::clone(&counts)));
        Notifier { queue, counts }
    }

    /// Queues `notice` without waiting.
    pub(crate) fn notify(&self, notice: Notice) {
        if self.queue.try_send(notice).is_err() {
            let dropped = self.counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped, "alert notice dropped: the webhook queue is full");
        }
    }

    #[cfg(test)]
    pub(crate) fn counts(&self) -> &Counts {
        &self.counts
    }
}

async fn send_all(mut queue: mpsc::Receiver<Notice>, options: WebhookOptions, counts: Arc<Counts>) {
    let client = match reqwest::Client::builder().timeout(options.timeout).build() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("alert webhook disabled: cannot build its HTTP client: {e}");
            return;
        }
    };
    while let Some(notice) = queue.recv().await {
        let body = payload(&notice, options.dashboard_url.as_deref());
        let Some(url) = &options.url else {
            // No webhook: the log is the channel (the demo's console); the
            // target is `alerts::ALERTS_LOG_TARGET`.
            match notice.transition {
                Transition::Fired => tracing::warn!(target: "ai_runtime_alerts", "{}", body.text),
                Transition::Resolved => {
                    tracing::info!(target: "ai_runtime_alerts", "{}", body.text)
                }
            }
            counts.sent.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut backoff = options.backoff;
        let mut attempt = 1;
        loop {
            let outcome = client.post(url).json(&body).send().await;
            let error = match outcome {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(format!("answered {}", response.status())),
                // Without the URL: reqwest's message would include it.
                Err(e) => Some(describe(&e)),
            };
            let Some(error) = error else {
                counts.sent.fetch_add(1, Ordering::Relaxed);
                break;
            };
            if attempt >= options.attempts {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    alert = body.alert,
                    "alert webhook gave up after {attempt} attempt(s): {error}"
                );
                break;
            }
            tracing::debug!(
                alert = body.alert,
                attempt,
                "alert webhook failed: {error}; retrying"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        "request failed".into()
    }
}
