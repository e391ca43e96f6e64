//! Admin JWTs signed with asymmetric keys (ES256, RS256), verified against a
//! JSON Web Key Set: the one a Supabase project publishes at
//! `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`, or a file.
//!
//! A token names its key by `kid`. Keys are cached for a while (the max
//! age); a `kid` the cache lacks, or a cache past its age, fetches the set
//! again, at most once per interval (so a flood of made-up `kid`s costs one
//! fetch per interval). A key that left the set (rotated out, revoked) is
//! refused after that fetch, and at the latest once the cache is past its
//! age. Each key verifies only its own algorithm: an EC P-256 key ES256, an
//! RSA key RS256, whatever the token's header claims. A set that cannot be
//! fetched or read refuses the token: it never turns into accepting one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::jwt::{self, JwtError};

/// How long one fetch of the set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the key set is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched over HTTP(S).
    Url(String),
    /// Read from a file (`file:///path` or a plain path).
    File(PathBuf),
}

impl FromStr for JwksSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err("expected a JWKS URL (https://...) or file path, got nothing".into());
        }
        if text.starts_with("https://") || text.starts_with("http://") {
            return Ok(JwksSource::Url(text.to_owned()));
        }
        Ok(JwksSource::File(PathBuf::from(
            text.strip_prefix("file://").unwrap_or(text),
        )))
    }
}

/// Why the set could not be had (logged; the caller only learns the token
/// was refused).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("fetching the JWKS: {0}")]
    Http(#[from] reqwest::Error),
    #[error("reading the JWKS file: {0}")]
    File(#[from] std::io::Error),
    #[error("the JWKS is not a JSON Web Key Set: {0}")]
    Json(#[from] serde_json::Error),
}

/// One usable key of the set.
#[derive(Clone)]
struct Key {
    algorithm: Algorithm,
    decoding: DecodingKey,
}

/// Verifies ES256/RS256 admin JWTs against the keys of one set.
pub(crate) struct JwksVerifier {
    source: JwksSource,
    client: reqwest::Client,
    min_refresh: Duration,
    max_age: Duration,
    audience: Option<String>,
    issuer: Option<String>,
    keys: RwLock<Cache>,
    /// When the set was last fetched or tried, and whether that worked;
    /// held while fetching, so concurrent requests wait for one fetch.
    last_fetch: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

/// The keys of the last good fetch, and when it was.
#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
}

impl JwksVerifier {
    /// A verifier that fetches `source` on first use, and again at most
    /// once per `min_refresh` for a `kid` it does not know or once its keys
    /// are older than `max_age`.
    pub(crate) fn new(
        source: JwksSource,
        min_refresh: Duration,
        max_age: Duration,
        audience: Option<&str>,
        issuer: Option<&str>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        JwksVerifier {
            source,
            client,
            min_refresh,
            max_age,
            audience: audience.map(str::to_owned),
            issuer: issuer.map(str::to_owned),
            keys: RwLock::new(Cache::default()),
            last_fetch: tokio::sync::Mutex::new(None),
        }
    }

    /// Verifies `token` (its header names `kid`) and says whether it
    /// belongs to an admin.
    pub(crate) async fn is_admin(&self, token: &str) -> Result<bool, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let kid = header.kid.ok_or(JwtError::MissingKeyId)?;
        let key = self.key(&kid).await?;
        // The key's algorithm, not the header's: a header that claims
        // another one is refused.
        let validation = jwt::validation(
            key.algorithm,
            self.audience.as_deref(),
            self.issuer.as_deref(),
        );
        jwt::admin_claims(token, &key.decoding, &validation)
    }

    async fn key(&self, kid: &str) -> Result<Key, JwtError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched the set while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        match *last_fetch {
            Some((at, worked)) if at.elapsed() < self.min_refresh => {
                return Err(if worked {
                    JwtError::UnknownKey
                } else {
                    JwtError::KeysUnavailable
                });
            }
            _ => {}
        }
        let fetched = self.fetch().await;
        *last_fetch = Some((Instant::now(), fetched.is_ok()));
        match fetched {
            Ok(set) => {
                let keys = usable_keys(&set);
                tracing::info!(keys = keys.len(), "admin JWKS fetched");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Cache {
                    keys,
                    fetched_at: Some(Instant::now()),
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin JWKS unavailable; tokens it would verify are refused");
                return Err(JwtError::KeysUnavailable);
            }
        }
        self.cached(kid).ok_or(JwtError::UnknownKey)
    }

    /// `kid`'s key, unless the cache lacks it or is past its age.
    fn cached(&self, kid: &str) -> Option<Key> {
        let cache = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let fresh = cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        cache.keys.get(kid).filter(|_| fresh).cloned()
    }

    async fn fetch(&self) -> Result<JwkSet, FetchError> {
        let text = match &self.source {
            JwksSource::Url(url) => {
                self.client
                    .get(url)
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await?
            }
            JwksSource::File(path) => tokio::fs::read_to_string(path).await?,
        };
        Ok(serde_json::from_str(&text)?)
    }
}

/// The keys of `set` this verifier can use, by `kid`: signing keys with a
/// `kid`, EC P-256 (ES256) or RSA (RS256), whose `alg`, when given, says the
/// same. Any other key (symmetric, another curve or algorithm) is left out.
fn usable_keys(set: &JwkSet) -> HashMap<String, Key> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let (algorithm, named) = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                (Algorithm::ES256, KeyAlgorithm::ES256)
            }
            AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
            _ => continue,
        };
        if jwk.common.key_algorithm.is_some_and(|a| a != named) {
            continue;
        }
        if let Ok(decoding) = DecodingKey::from_jwk(jwk) {
            keys.insert(
                kid.clone(),
                Key {
                    algorithm,
                    decoding,
                },
            );
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_urls_or_files() {
        assert_eq!(
            "https://p.supabase.co/auth/v1/.well-known/jwks.json".parse(),
            Ok(JwksSource::Url(
                "https://p.supabase.co/auth/v1/.well-known/jwks.json".into()
            ))
        );
        assert_eq!(
            "file:///etc/jwks.json".parse(),
            Ok(JwksSource::File("/etc/jwks.json".into()))
        );
        assert_eq!(
            "keys/jwks.json".parse(),
            Ok(JwksSource::File("keys/jwks.json".into()))
        );
        assert!(" ".parse::<JwksSource>().is_err());
    }

    #[test]
    fn only_signing_keys_of_known_algorithms_are_used() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            // A P-256 key (the RFC 7517 example), as ES256.
            {"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig",
             "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
             "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
            // The same key saying RS256: left out.
            {"kty": "EC", "crv": "P-256", "kid": "ec-rs", "alg": "RS256",
             "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
             "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
            // For encryption: left out.
            {"kty": "EC", "crv": "P-256", "kid": "ec-enc", "use": "enc",
             "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
             "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
            // Without a kid: left out.
            {"kty": "EC", "crv": "P-256",
             "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
             "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
            // A symmetric key in a public set: left out.
            {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
        ]}))
        .unwrap();
        let keys = usable_keys(&set);
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["ec"]);
        assert_eq!(keys["ec"].algorithm, Algorithm::ES256);
    }
}
