//! What a bad OTLP setting is, for the settings and for TLS alike.

/// A bad OTLP setting: `name` is the variable (or its builder
/// equivalent); `reason` never holds a header's value. (`BuildError::InvalidOtlp`.)
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}: {reason}")]
pub(crate) struct OtlpSettingError {
    pub name: &'static str,
    pub reason: String,
}
