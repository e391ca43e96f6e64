//! The builder, its defaults and configuration from the environment.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `AI_RUNTIME_EVENTS_DATABASE_URL` | where events are written | `DATABASE_URL` |
//! | `DATABASE_URL` | fallback for the above | none: `build` fails without a database (or an OTLP endpoint) |
//! | `AI_RUNTIME_AGENT_TYPE` | `ai_worker_status.agent_type` of reported workers | `rust_service` |
//! | `AI_RUNTIME_EVENTS_CHANNEL_CAPACITY` | events queued between the layer and the writer, per channel shard (emitting threads are spread over 4 shards); also each exporter's queue | 32768 |
//! | `AI_RUNTIME_EVENTS_BATCH_SIZE` | rows per insert | 5000 |
//! | `AI_RUNTIME_EVENTS_FLUSH_INTERVAL_MS` | longest wait before a partial batch is written | 200 |
//! | `AI_RUNTIME_EVENTS_SHUTDOWN_DEADLINE_MS` | how long the guard may flush at shutdown | 3000 |
//! | `AI_RUNTIME_EVENTS_RECORDER_CAPACITY` | recent events kept in memory | 256 |
//! | `AI_RUNTIME_EVENTS_MAX_VALUE_BYTES` | longest string value kept (then truncated with a marker) | 2048 |
//! | `AI_RUNTIME_EVENTS_MAX_METADATA_BYTES` | string bytes kept per event's metadata | 16384 |
//! | `AI_RUNTIME_EVENTS_STATS_INTERVAL_MS` | how often statistics are persisted into `ai_worker_status` | 5000 |
//!
//! With the `otlp` feature, the standard `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` turn on and
//! configure the OTLP exporter (see the crate README).

use std::str::FromStr;
use std::time::Duration;

#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgPool};
#[cfg(feature = "postgres")]
use sqlx::ConnectOptions as _;

#[cfg(feature = "postgres")]
use crate::postgres::WRITER_APPLICATION_NAME;

/// Where the Postgres exporter connects (`()` without the `postgres` feature,
/// where there is never one).
#[cfg(feature = "postgres")]
pub(crate) type DatabaseOptions = PgConnectOptions;
#[cfg(not(feature = "postgres"))]
pub(crate) type DatabaseOptions = std::convert::Infallible;

/// Why the layer could not be built. Building never connects: an unreachable
/// database is not an error (events are dropped and counted instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("no destination: call .database_url() or .pool(), or set AI_RUNTIME_EVENTS_DATABASE_URL or DATABASE_URL (feature `postgres`), or OTEL_EXPORTER_OTLP_ENDPOINT (feature `otlp`)")]
    MissingDatabase,
    #[cfg(feature = "postgres")]
    #[error("invalid database URL: {0}")]
    InvalidDatabaseUrl(#[source] sqlx::Error),
    #[error("invalid setting {name}={value:?}: {reason}")]
    InvalidSetting {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("could not start the writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// An OTLP setting (`name` is the variable); a header's value is never shown.
    #[error("invalid {name}: {reason}")]
    InvalidOtlp { name: &'static str, reason: String },
    #[error(transparent)]
    InvalidSecretPattern(#[from] crate::scrub::PatternError),
}

#[cfg(feature = "otlp")]
impl From<crate::otlp::OtlpSettingError> for BuildError {
    fn from(e: crate::otlp::OtlpSettingError) -> Self {
        BuildError::InvalidOtlp {
            name: e.name,
            reason: e.reason,
        }
    }
}

/// Everything but the connection.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub agent_type: String,
    pub channel_capacity: usize,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub shutdown_deadline: Duration,
    pub recorder_capacity: usize,
    pub max_value_bytes: usize,
    pub max_metadata_bytes: usize,
    pub stats_interval: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// Longest a single database operation may take.
    pub operation_timeout: Duration,
    /// The host's own secret shapes, `(kind, regex)`, scrubbed after the
    /// built-in ones.
    pub secret_patterns: Vec<(String, String)>,
    /// GenAI content (prompts, replies, instructions, tool arguments and
    /// results) is kept, scrubbed and capped.
    pub capture_content: bool,
    /// Prices for models the price table lacks (or prices it differently).
    pub prices: ai_runtime_genai::prices::Prices,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            agent_type: "rust_service".into(),
            channel_capacity: 32_768,
            batch_size: 5000,
            flush_interval: Duration::from_millis(200),
            shutdown_deadline: Duration::from_secs(3),
            recorder_capacity: 256,
            max_value_bytes: 2048,
            max_metadata_bytes: 16 * 1024,
            stats_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(5),
            secret_patterns: Vec::new(),
            capture_content: false,
            prices: ai_runtime_genai::prices::Prices::default(),
        }
    }
}

#[cfg(feature = "postgres")]
pub(crate) enum Connection {
    Url(String),
    Pool(PgPool),
}

/// Builds a `RuntimeLayer` with its guard and handle.
#[must_use]
#[derive(Default)]
pub struct RuntimeLayerBuilder {
    #[cfg(feature = "postgres")]
    pub(crate) connection: Option<Connection>,
    pub(crate) settings: Settings,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: crate::otlp::OtlpSettings,
}

impl RuntimeLayerBuilder {
    /// Write to this database. Nothing connects until the writer starts.
    #[cfg(feature = "postgres")]
    pub fn database_url(mut self, url: &str) -> Self {
        self.connection = Some(Connection::Url(url.to_owned()));
        self
    }

    /// Write to the database of an existing pool. The writer opens its own
    /// connection with the pool's options (on its own thread and runtime), so
    /// the host's pool is never borrowed or starved.
    #[cfg(feature = "postgres")]
    pub fn pool(mut self, pool: PgPool) -> Self {
        self.connection = Some(Connection::Pool(pool));
        self
    }

    /// `ai_worker_status.agent_type` for the workers this sink reports.
    pub fn agent_type(mut self, agent_type: &str) -> Self {
        self.settings.agent_type = agent_type.to_owned();
        self
    }

    /// Events queued between the layer and the writer, per channel shard
    /// (emitting threads are spread over 4 shards), and in each exporter's
    /// queue; beyond it, dropped and counted.
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.settings.channel_capacity = capacity;
        self
    }

    /// Rows per insert.
    pub fn batch_size(mut self, size: usize) -> Self {
        self.settings.batch_size = size;
        self
    }

    /// Longest wait before a partial batch is written.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.settings.flush_interval = interval;
        self
    }

    /// How long the guard may spend flushing at shutdown.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.settings.shutdown_deadline = deadline;
        self
    }

    /// Recent events kept in memory (0 turns the recorder off).
    pub fn recorder_capacity(mut self, capacity: usize) -> Self {
        self.settings.recorder_capacity = capacity;
        self
    }

    /// Longest string value kept; longer ones are truncated with a marker.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_value_bytes = bytes;
        self
    }

    /// String bytes kept per event; values beyond it are replaced by a marker.
    pub fn max_metadata_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_metadata_bytes = bytes;
        self
    }

    /// How often statistics are persisted into `ai_worker_status.metadata.sink`.
    pub fn stats_interval(mut self, interval: Duration) -> Self {
        self.settings.stats_interval = interval;
        self
    }

    /// Scrubs values matching `regex` too (after the built-in credential
    /// shapes), replacing the match, or its group named `secret` when it
    /// has one, with `[REDACTED:<kind>]`. A regex that does not compile is
    /// a [`BuildError::InvalidSecretPattern`] at `build`.
    ///
    /// ```
    /// # let builder = observability_layer::RuntimeLayer::builder();
    /// let builder = builder.secret_pattern("acme_key", r"acme_(?P<secret>[0-9a-f]{32})");
    /// ```
    pub fn secret_pattern(mut self, kind: &str, regex: &str) -> Self {
        self.settings
            .secret_patterns
            .push((kind.to_owned(), regex.to_owned()));
        self
    }

    /// Keeps the content of captured GenAI spans: `gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`, tool
    /// arguments and results, legacy `gen_ai.prompt` / `gen_ai.completion`.
    /// Off by default: then none of it is ever copied. When on, the values
    /// are scrubbed of secrets and capped like every value. (rig's TRACE
    /// body events on `rig::completions` / `rig::streaming` are never
    /// stored either way.)
    pub fn capture_content(mut self, on: bool) -> Self {
        self.settings.capture_content = on;
        self
    }

    /// The price of a model the price table lacks (self-hosted,
    /// fine-tuned) or prices differently, for calls whose provider is
    /// `provider` (`"*"`: any provider) and whose model is `model`; it wins
    /// over the table.
    ///
    /// ```
    /// use observability_layer::ModelPrice;
    /// # let builder = observability_layer::RuntimeLayer::builder();
    /// let builder = builder.model_price("vllm", "acme-ft-7b", ModelPrice::per_million_tokens(0.2, 0.6));
    /// ```
    pub fn model_price(
        mut self,
        provider: &str,
        model: &str,
        price: ai_runtime_genai::prices::ModelPrice,
    ) -> Self {
        self.settings.prices.insert(provider, model, price);
        self
    }

    /// Longest wait between reconnection attempts.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.settings.max_backoff = backoff;
        self
    }

    /// Sends events to an OpenTelemetry collector too (OTLP logs over
    /// HTTP/protobuf): `url` is its base URL, `/v1/logs` is appended (as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`). With an OTLP endpoint and no
    /// database, events go to the collector only.
    #[cfg(feature = "otlp")]
    pub fn otlp_endpoint(mut self, url: &str) -> Self {
        self.otlp.endpoint = Some(url.to_owned());
        self
    }

    /// The full URL OTLP logs are posted to, used as is (as
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`; wins over `otlp_endpoint`).
    #[cfg(feature = "otlp")]
    pub fn otlp_logs_endpoint(mut self, url: &str) -> Self {
        self.otlp.logs_endpoint = Some(url.to_owned());
        self
    }

    /// A header sent with every OTLP request (as one item of
    /// `OTEL_EXPORTER_OTLP_HEADERS`). Its value is never logged or stored.
    #[cfg(feature = "otlp")]
    pub fn otlp_header(mut self, name: &str, value: &str) -> Self {
        self.otlp.headers.retain(|(k, _)| k != name);
        self.otlp.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Root certificates (PEM, one or more) trusted for an `https://` OTLP
    /// endpoint besides the Mozilla roots: a private CA, or a collector's
    /// self-signed certificate (as the file `OTEL_EXPORTER_OTLP_CERTIFICATE`
    /// names; both are trusted when both are given).
    #[cfg(feature = "otlp")]
    pub fn otlp_root_certificates(mut self, pem: &[u8]) -> Self {
        self.otlp.certificates.push(pem.to_vec());
        self
    }

    /// The OTLP resource's `service.name` (as `OTEL_SERVICE_NAME`; the
    /// default is the agent type).
    #[cfg(feature = "otlp")]
    pub fn service_name(mut self, name: &str) -> Self {
        self.otlp.service_name = Some(name.to_owned());
        self
    }

    /// One more OTLP resource attribute (as an item of `OTEL_RESOURCE_ATTRIBUTES`).
    #[cfg(feature = "otlp")]
    pub fn resource_attribute(mut self, key: &str, value: &str) -> Self {
        self.otlp.resource.retain(|(k, _)| k != key);
        self.otlp.resource.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Applies only the `OTEL_*` variables (for a host that sets the
    /// database itself); without the `otlp` feature, nothing.
    pub fn otlp_from_env(self) -> Result<Self, BuildError> {
        self.apply_otlp_env(&|name: &str| std::env::var(name).ok())
    }

    #[allow(unused_mut)]
    fn apply_otlp_env(mut self, var: &impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        #[cfg(feature = "otlp")]
        self.otlp.apply_env(var)?;
        #[cfg(not(feature = "otlp"))]
        let _ = var;
        Ok(self)
    }

    /// Whether an OTLP endpoint is configured (always false without the
    /// `otlp` feature).
    pub fn otlp_enabled(&self) -> bool {
        #[cfg(feature = "otlp")]
        return self.otlp.enabled();
        #[cfg(not(feature = "otlp"))]
        false
    }

    /// Applies the variables of the table in this module's docs that are set
    /// (they override earlier builder calls; later calls override them).
    pub fn from_env(self) -> Result<Self, BuildError> {
        self.apply_env(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any lookup (testable without touching the process environment).
    pub fn apply_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        #[cfg(feature = "postgres")]
        if let Some(url) = var("AI_RUNTIME_EVENTS_DATABASE_URL").or_else(|| var("DATABASE_URL")) {
            self.connection = Some(Connection::Url(url));
        }
        if let Some(agent) = var("AI_RUNTIME_AGENT_TYPE") {
            self.settings.agent_type = agent;
        }
        self = self.apply_otlp_env(&var)?;
        let s = &mut self.settings;
        read(
            &var,
            "AI_RUNTIME_EVENTS_CHANNEL_CAPACITY",
            &mut s.channel_capacity,
        )?;
        read(&var, "AI_RUNTIME_EVENTS_BATCH_SIZE", &mut s.batch_size)?;
        read(
            &var,
            "AI_RUNTIME_EVENTS_RECORDER_CAPACITY",
            &mut s.recorder_capacity,
        )?;
        read(
            &var,
            "AI_RUNTIME_EVENTS_MAX_VALUE_BYTES",
            &mut s.max_value_bytes,
        )?;
        read(
            &var,
            "AI_RUNTIME_EVENTS_MAX_METADATA_BYTES",
            &mut s.max_metadata_bytes,
        )?;
        read_ms(
            &var,
            "AI_RUNTIME_EVENTS_FLUSH_INTERVAL_MS",
            &mut s.flush_interval,
        )?;
        read_ms(
            &var,
            "AI_RUNTIME_EVENTS_SHUTDOWN_DEADLINE_MS",
            &mut s.shutdown_deadline,
        )?;
        read_ms(
            &var,
            "AI_RUNTIME_EVENTS_STATS_INTERVAL_MS",
            &mut s.stats_interval,
        )?;
        Ok(self)
    }

    /// Checks the settings and resolves the connection options (`None`:
    /// no database, events go to the OTLP collector only).
    pub(crate) fn resolve(&self) -> Result<Option<DatabaseOptions>, BuildError> {
        let s = &self.settings;
        let positive = |name: &'static str, value: usize| {
            if value == 0 {
                Err(BuildError::InvalidSetting {
                    name,
                    value: value.to_string(),
                    reason: "must be at least 1",
                })
            } else {
                Ok(())
            }
        };
        positive("channel_capacity", s.channel_capacity)?;
        positive("batch_size", s.batch_size)?;
        positive("max_value_bytes", s.max_value_bytes)?;
        if s.flush_interval.is_zero() {
            return Err(BuildError::InvalidSetting {
                name: "flush_interval",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        self.database_options()
    }

    /// No database configured: OTLP alone, or nowhere to write.
    fn no_database(&self) -> Result<Option<DatabaseOptions>, BuildError> {
        if self.otlp_enabled() {
            Ok(None)
        } else {
            Err(BuildError::MissingDatabase)
        }
    }

    #[cfg(not(feature = "postgres"))]
    fn database_options(&self) -> Result<Option<DatabaseOptions>, BuildError> {
        self.no_database()
    }

    #[cfg(feature = "postgres")]
    fn database_options(&self) -> Result<Option<DatabaseOptions>, BuildError> {
        let options = match &self.connection {
            None => return self.no_database(),
            Some(Connection::Url(url)) => {
                PgConnectOptions::from_str(url).map_err(BuildError::InvalidDatabaseUrl)?
            }
            Some(Connection::Pool(pool)) => PgConnectOptions::clone(&pool.connect_options()),
        };
        // The name lets operators (and the tests) find the writer's
        // connections; its statements are not logged, so the writer's own
        // queries never flood the host's logs.
        Ok(Some(
            options
                .application_name(WRITER_APPLICATION_NAME)
                .disable_statement_logging(),
        ))
    }
}

fn read<T: FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    slot: &mut T,
) -> Result<(), BuildError> {
    if let Some(value) = var(name) {
        *slot = value
            .trim()
            .parse()
            .map_err(|_| BuildError::InvalidSetting {
                name,
                value,
                reason: "not a non-negative integer",
            })?;
    }
    Ok(())
}

fn read_ms(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    slot: &mut Duration,
) -> Result<(), BuildError> {
    let mut ms = slot.as_millis() as u64;
    read(var, name, &mut ms)?;
    *slot = Duration::from_millis(ms);
    Ok(())
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_overrides_defaults_and_prefers_the_specific_url() {
        let b = RuntimeLayerBuilder::default()
            .apply_env(env(&[
                ("DATABASE_URL", "postgres://a@127.0.0.1/general"),
                (
                    "AI_RUNTIME_EVENTS_DATABASE_URL",
                    "postgres://a@127.0.0.1/events",
                ),
                ("AI_RUNTIME_AGENT_TYPE", "phase1_reply_runner"),
                ("AI_RUNTIME_EVENTS_BATCH_SIZE", "50"),
                ("AI_RUNTIME_EVENTS_FLUSH_INTERVAL_MS", "25"),
            ]))
            .unwrap();
        assert!(matches!(&b.connection, Some(Connection::Url(u)) if u.ends_with("/events")));
        assert_eq!(b.settings.agent_type, "phase1_reply_runner");
        assert_eq!(b.settings.batch_size, 50);
        assert_eq!(b.settings.flush_interval, Duration::from_millis(25));
        assert_eq!(b.resolve().unwrap().unwrap().get_database(), Some("events"));

        let fallback = RuntimeLayerBuilder::default()
            .apply_env(env(&[("DATABASE_URL", "postgres://a@127.0.0.1/general")]))
            .unwrap();
        assert!(
            matches!(&fallback.connection, Some(Connection::Url(u)) if u.ends_with("/general"))
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let err = RuntimeLayerBuilder::default()
            .apply_env(env(&[("AI_RUNTIME_EVENTS_CHANNEL_CAPACITY", "lots")]))
            .err()
            .unwrap();
        assert!(err
            .to_string()
            .contains("AI_RUNTIME_EVENTS_CHANNEL_CAPACITY"));
        let zero = RuntimeLayerBuilder::default()
            .database_url("postgres://a@127.0.0.1/x")
            .batch_size(0)
            .resolve()
            .unwrap_err();
        assert!(zero.to_string().contains("batch_size"));
        assert!(matches!(
            RuntimeLayerBuilder::default().resolve(),
            Err(BuildError::MissingDatabase)
        ));
        assert!(matches!(
            RuntimeLayerBuilder::default()
                .database_url("postgres://a@127.0.0.1:notaport/x")
                .resolve(),
            Err(BuildError::InvalidDatabaseUrl(_))
        ));
    }
}
