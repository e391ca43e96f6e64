//! One status computation per refresh interval, shared by every caller.
//!
//! Every open dashboard polls `/status`, and so does every verify run and
//! every metrics scrape; computing it once per caller would multiply the
//! database's work by the number of dashboards. Here the first caller of a
//! trend window computes it; callers that arrive meanwhile wait for that
//! answer instead of starting their own (single flight), and callers within
//! the time-to-live after it get the same answer. Errors are not kept: the
//! next caller tries again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ai_runtime_api::StatusResponse;

/// How long a computed status is served: well under the dashboard's 12 s
/// poll, so it never looks stale, and long enough to absorb a burst.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(2);

/// Trend windows remembered at once; past it, the entries are dropped (they
/// are at most a TTL old anyway).
const MAX_WINDOWS: usize = 64;

type Latest = Option<(Instant, Arc<StatusResponse>)>;

pub(crate) struct StatusCache {
    ttl: Duration,
    windows: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<Latest>>>>,
}

impl StatusCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        StatusCache {
            ttl,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The status of `window` minutes: fresh from the cache, or computed by
    /// `compute` (once, however many callers wait for it).
    pub(crate) async fn get<E>(
        &self,
        window: i64,
        compute: impl Future<Output = Result<StatusResponse, E>>,
    ) -> Result<Arc<StatusResponse>, E> {
        let slot = {
            let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
            if windows.len() >= MAX_WINDOWS && !windows.contains_key(&window) {
                windows.clear();
            }
            Arc::clone(windows.entry(window).or_default())
        };
        // Held across the computation: the callers behind it wait here and
        // then find its answer.
        let mut latest = slot.lock().await;
        if let Some((at, status)) = latest.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(status));
            }
        }
        let status = Arc::new(compute.await?);
        *latest = Some((Instant::now(), Arc::clone(&status)));
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A computation that counts its runs.
    fn counted(runs: &Arc<AtomicUsize>) -> impl Future<Output = Result<StatusResponse, ()>> {
        let runs = Arc::clone(runs);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(status())
        }
    }

    fn status() -> StatusResponse {
        serde_json::from_value(serde_json::json!({
            "generatedAt": "2026-11-30T00:00:00Z",
            "overall": "HEALTHY",
            "degraded": [],
            "workers": [],
            "queue": {"windowMinutes": 15, "counts": [], "stuckRunning": 0, "stuckPending": 0},
            "lastEventAt": null,
            "activeRoute": null,
            "droppedEvents": 0
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let cache = Arc::new(StatusCache::new(Duration::from_secs(60)));
        let runs = Arc::new(AtomicUsize::new(0));
        let callers = (0..20).map(|_| {
            let cache = Arc::clone(&cache);
            let runs = Arc::clone(&runs);
            tokio::spawn(async move {
                cache
                    .get(15, async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>(status())
                    })
                    .await
            })
        });
        for caller in callers.collect::<Vec<_>>() {
            assert!(caller.await.unwrap().is_ok());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn each_window_is_its_own_and_an_expired_answer_is_computed_again() {
        let cache = StatusCache::new(Duration::from_millis(30));
        let runs = Arc::new(AtomicUsize::new(0));
        cache.get(15, counted(&runs)).await.unwrap();
        cache.get(15, counted(&runs)).await.unwrap();
        cache.get(60, counted(&runs)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(40)).await;
        cache.get(15, counted(&runs)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_error_is_not_kept() {
        let cache = StatusCache::new(Duration::from_secs(60));
        assert!(cache
            .get(15, async { Err::<StatusResponse, _>(()) })
            .await
            .is_err());
        let runs = Arc::new(AtomicUsize::new(0));
        assert!(cache.get(15, counted(&runs)).await.is_ok());
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "computed again after the error"
        );
    }
}
