//! What the server needs to know besides the database: who is an admin,
//! where the dashboard's files are, and when the runtime counts as unhealthy.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The server's configuration. Build it with struct update syntax:
/// `AppConfig { admin_token: Some(t), ..AppConfig::default() }`.
#[derive(Clone)]
pub struct AppConfig {
    /// The static admin token (`ADMIN_TOKEN`), compared in constant time.
    pub admin_token: Option<String>,
    /// The HS256 secret of admin JWTs (`SUPABASE_JWT_SECRET`).
    pub jwt_secret: Option<String>,
    /// Where the keys of ES256/RS256 admin JWTs are published
    /// (`SUPABASE_JWKS_URL`: the project's
    /// `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`, or a file).
    pub jwks: Option<crate::jwks::JwksSource>,
    /// The shortest time between two fetches of the JWKS (a token naming
    /// an unknown key fetches it again, at most this often).
    pub jwks_min_refresh: Duration,
    /// How long fetched keys are trusted without fetching the set again: a
    /// key withdrawn from the set is refused after this at the latest.
    pub jwks_max_age: Duration,
    /// When set, a JWT's `aud` must be this (`ADMIN_JWT_AUDIENCE`, e.g.
    /// `authenticated`); otherwise any audience is accepted.
    pub jwt_audience: Option<String>,
    /// When set, a JWT's `iss` must be this (`ADMIN_JWT_ISSUER`, e.g.
    /// `https://<project>.supabase.co/auth/v1`).
    pub jwt_issuer: Option<String>,
    /// A bearer token that reads `/metrics` only (`METRICS_TOKEN`), for a
    /// Prometheus that should not hold an admin token; admins read it too.
    pub metrics_token: Option<String>,
    /// The dashboard's built files (`ADMIN_UI_DIR`), served at `/admin/ai/runtime`.
    pub ui_dir: PathBuf,
    pub thresholds: Thresholds,
    /// How long one computed status serves every caller of the same trend
    /// window (dashboards, verify, scrapes): one computation per interval.
    pub status_ttl: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            admin_token: None,
            jwt_secret: None,
            jwks: None,
            jwks_min_refresh: DEFAULT_JWKS_MIN_REFRESH,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            jwt_audience: None,
            jwt_issuer: None,
            metrics_token: None,
            ui_dir: PathBuf::from(DEFAULT_UI_DIR),
            thresholds: Thresholds::default(),
            status_ttl: crate::status_cache::DEFAULT_TTL,
        }
    }
}

/// [`AppConfig::jwks_min_refresh`]'s default.
pub const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);

/// [`AppConfig::jwks_max_age`]'s default (Supabase caches its JWKS as long).
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// Where `scripts/demo` (via `build_ui`) puts the dashboard, relative to the repository root.
pub const DEFAULT_UI_DIR: &str = "admin-ui/dist";

// Never print credentials, not even in debug output.
impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("AppConfig")
            .field("admin_token", &set(&self.admin_token))
            .field("jwt_secret", &set(&self.jwt_secret))
            .field("jwks", &self.jwks)
            .field("jwks_min_refresh", &self.jwks_min_refresh)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("metrics_token", &set(&self.metrics_token))
            .field("ui_dir", &self.ui_dir)
            .field("thresholds", &self.thresholds)
            .finish()
    }
}

/// When a worker or a task counts as unhealthy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Used when a worker's metadata has no `heartbeatIntervalSeconds`.
    pub default_heartbeat_interval: Duration,
    /// A worker that has not beaten for this many intervals is stale.
    pub stale_after_intervals: u32,
    /// A PENDING task due for longer than this is stuck.
    pub stuck_pending_after: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            default_heartbeat_interval: Duration::from_secs(10),
            stale_after_intervals: 3,
            stuck_pending_after: Duration::from_secs(300),
        }
    }
}
