//! The built-in alert evaluator, for teams without Prometheus: every
//! `every` (`ALERT_EVALUATE_EVERY_SECONDS`, 30 s) it computes the status,
//! judges the conditions of `deploy/prometheus/alerts.yml`
//! ([`AlertThresholds`]), records them in `ai_runtime_alerts` (which
//! `/status`, the dashboard and `ai-runtime-verify` show), and sends each
//! alert once when it fires and once when it resolves, to
//! `ALERT_WEBHOOK_URL` or, without one, to the log.
//!
//! With several admin servers on one database, exactly one evaluates: the
//! one holding a Postgres advisory lock, on a connection of its own that it
//! keeps (never returned to the pool while locked). The others try to take
//! it over at each interval; the state lives in the table, so a new leader
//! neither repeats a notice nor forgets when a breaker opened.
//!
//! When a breaker opened is taken from the evaluations: the first one that
//! sees it open records `since`; it fires once `since` is
//! `breaker_open_for` old. So it fires between `breaker_open_for` and
//! `breaker_open_for + every` after the breaker opened.

use std::fmt;
use std::time::Duration;

use ai_runtime_api::AlertKind;
use sqlx::{Connection, PgConnection, PgPool};

pub use crate::alert_rules::AlertThresholds;
use crate::alert_state::{self, Notice};
use crate::config::Thresholds;
use crate::error::ApiFailure;
use crate::webhook::{Notifier, WebhookOptions};

/// The log target of the notices when no webhook is set (`RUST_LOG`
/// directive `ai_runtime_alerts=info` shows them).
pub const ALERTS_LOG_TARGET: &str = "ai_runtime_alerts";

/// The evaluator's advisory lock ("AI-ALERT" in ASCII).
const LOCK_KEY: i64 = i64::from_be_bytes(*b"AI-ALERT");

/// The evaluator's settings; `Default` gives the documented defaults.
#[derive(Clone)]
pub struct AlertOptions {
    pub thresholds: AlertThresholds,
    /// Between two evaluations (`ALERT_EVALUATE_EVERY_SECONDS`).
    pub every: Duration,
    /// Where notices are posted (`ALERT_WEBHOOK_URL`); `None`: to the log.
    pub webhook_url: Option<String>,
    /// Linked from each notice (`ALERT_DASHBOARD_URL`).
    pub dashboard_url: Option<String>,
    /// One webhook attempt's time limit (`ALERT_WEBHOOK_TIMEOUT_SECONDS`, 10 s).
    pub webhook_timeout: Duration,
    /// Attempts per notice (`ALERT_WEBHOOK_ATTEMPTS`, 5), with backoff
    /// from `webhook_backoff` (1 s), doubled each time up to a minute.
    pub webhook_attempts: u32,
    pub webhook_backoff: Duration,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            thresholds: AlertThresholds::default(),
            every: Duration::from_secs(30),
            webhook_url: None,
            dashboard_url: None,
            webhook_timeout: Duration::from_secs(10),
            webhook_attempts: 5,
            webhook_backoff: Duration::from_secs(1),
        }
    }
}

// The webhook URL carries the receiver's secret (Slack's): never printed.
impl fmt::Debug for AlertOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertOptions")
            .field("thresholds", &self.thresholds)
            .field("every", &self.every)
            .field("webhook_url", &self.webhook_url.as_ref().map(|_| "<set>"))
            .field("dashboard_url", &self.dashboard_url)
            .field("webhook_timeout", &self.webhook_timeout)
            .field("webhook_attempts", &self.webhook_attempts)
            .field("webhook_backoff", &self.webhook_backoff)
            .finish()
    }
}

/// Runs the evaluator until the runtime shuts down: at once, then every
/// `options.every`. `thresholds` are the status's (stale, stuck), the same
/// as the API's.
pub fn spawn_evaluator(
    pool: PgPool,
    thresholds: Thresholds,
    options: AlertOptions,
) -> tokio::task::JoinHandle<()> {
    let every = options.every.max(Duration::from_secs(1));
    let mut evaluator = Evaluator::new(pool, thresholds, options);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match evaluator.tick().await {
                Ok(Tick::Evaluated(notices)) => {
                    tracing::debug!(notices = notices.len(), "alerts evaluated")
                }
                Ok(Tick::Standby) => tracing::debug!("alerts: another server evaluates"),
                Err(e) => {
                    tracing::warn!("alert evaluation failed (tried again next interval): {e}")
                }
            }
        }
    })
}

/// Why an evaluation failed (it is tried again at the next interval).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EvaluateError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("status: {0}")]
    Status(#[from] ApiFailure),
}

/// What one tick did.
#[derive(Debug)]
pub(crate) enum Tick {
    /// This server holds the lock and evaluated; these fired or resolved.
    Evaluated(Vec<Notice>),
    /// Another server holds the lock.
    Standby,
}

pub(crate) struct Evaluator {
    pool: PgPool,
    thresholds: Thresholds,
    options: AlertOptions,
    /// The connection holding the advisory lock while this server leads.
    leader: Option<PgConnection>,
    /// The dropped-events total of the previous evaluation.
    dropped_before: Option<i64>,
    notifier: Notifier,
}

impl Evaluator {
    pub(crate) fn new(pool: PgPool, thresholds: Thresholds, options: AlertOptions) -> Self {
        let notifier = Notifier::spawn(WebhookOptions {
            url: options.webhook_url.clone().filter(|u| !u.is_empty()),
            dashboard_url: options.dashboard_url.clone().filter(|u| !u.is_empty()),
            timeout: options.webhook_timeout,
            attempts: options.webhook_attempts.max(1),
            backoff: options.webhook_backoff,
        });
        Evaluator {
            pool,
            thresholds,
            options,
            leader: None,
            dropped_before: None,
            notifier,
        }
    }

    #[cfg(test)]
    pub(crate) fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Takes the lock if free, then evaluates once and queues the notices.
    pub(crate) async fn tick(&mut self) -> Result<Tick, EvaluateError> {
        if self.leader.is_none() {
            // Detached: a connection holding the lock never goes back to the
            // pool; dropping or closing it ends the session and the lock.
            let mut conn = self.pool.acquire().await?.detach();
            let locked: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
                .bind(LOCK_KEY)
                .fetch_one(&mut conn)
                .await?;
            if !locked {
                let _ = conn.close().await;
                return Ok(Tick::Standby);
            }
            tracing::info!("alerts: this server evaluates (advisory lock taken)");
            self.dropped_before = None;
            self.leader = Some(conn);
        }
        let conn = self.leader.as_mut().expect("set above");
        match evaluate(
            conn,
            &self.thresholds,
            &self.options.thresholds,
            self.dropped_before,
        )
        .await
        {
            Ok((notices, dropped)) => {
                self.dropped_before = Some(dropped);
                for notice in &notices {
                    self.notifier.notify(notice.clone());
                }
                Ok(Tick::Evaluated(notices))
            }
            Err(e) => {
                // Give the lock up with the connection; the next tick (here
                // or on another server) starts afresh.
                if let Some(conn) = self.leader.take() {
                    let _ = conn.close().await;
                }
                Err(e)
            }
        }
    }
}

async fn evaluate(
    conn: &mut PgConnection,
    thresholds: &Thresholds,
    alert_thresholds: &AlertThresholds,
    dropped_before: Option<i64>,
) -> Result<(Vec<Notice>, i64), EvaluateError> {
    let status = crate::status::compute(
        conn,
        thresholds,
        alert_thresholds.failure_rate_window_minutes,
    )
    .await?;
    let (holds, judged): (_, Vec<AlertKind>) =
        crate::alert_rules::observe(&status, alert_thresholds, dropped_before);
    let notices = alert_state::apply(conn, status.generated_at, &holds, &judged).await?;
    Ok((notices, status.dropped_events))
}

#[cfg(test)]
mod tests;
