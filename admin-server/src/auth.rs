//! The admin guard: every `/api/...` request carries `Authorization: Bearer
//! <token>`, where the token is the static admin token or an admin JWT:
//! HS256 with the configured secret, ES256/RS256 with a key of the JWKS.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AppConfig;
use crate::error::ApiFailure;
use crate::jwks::JwksVerifier;
use crate::jwt::{JwtError, JwtVerifier};

/// Decides whether a bearer token belongs to an admin.
#[derive(Clone)]
pub(crate) struct AdminGuard {
    // Hashing first makes the comparison constant-time in the length too.
    static_token_digest: Option<[u8; 32]>,
    /// `/metrics` only: the scrape token (`METRICS_TOKEN`), accepted besides
    /// the admin's credentials.
    scrape_token_digest: Option<[u8; 32]>,
    jwt: Option<JwtVerifier>,
    /// ES256/RS256 tokens, by the keys of the JWKS (`SUPABASE_JWKS_URL`).
    jwks: Option<Arc<JwksVerifier>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("missing `Authorization: Bearer <token>` header")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("{0}")]
    Jwt(#[from] JwtError),
    #[error("the token is neither the admin token nor a JWT")]
    Unknown,
    #[error("the token is valid but its `app_metadata` does not mark an admin")]
    NotAdmin,
}

impl AuthError {
    /// Whether a token was presented and refused (RFC 6750's
    /// `invalid_token`), rather than none presented at all.
    fn token_presented(&self) -> bool {
        matches!(self, AuthError::Jwt(_) | AuthError::Unknown)
    }
}

impl AdminGuard {
    pub(crate) fn new(config: &AppConfig) -> Self {
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        AdminGuard {
            static_token_digest: non_empty(&config.admin_token)
                .map(|t| Sha256::digest(t.as_bytes()).into()),
            scrape_token_digest: None,
            jwt: non_empty(&config.jwt_secret).map(|secret| {
                JwtVerifier::new(
                    secret.as_bytes(),
                    non_empty(&config.jwt_audience).as_deref(),
                    non_empty(&config.jwt_issuer).as_deref(),
                )
            }),
            jwks: config.jwks.clone().map(|source| {
                Arc::new(JwksVerifier::new(
                    source,
                    config.jwks_min_refresh,
                    config.jwks_max_age,
                    non_empty(&config.jwt_audience).as_deref(),
                    non_empty(&config.jwt_issuer).as_deref(),
                ))
            }),
        }
    }

    /// The guard of `/metrics`: the scrape token (`METRICS_TOKEN`) when set,
    /// and the admin's credentials (sharing this guard's JWKS cache).
    pub(crate) fn for_metrics(&self, config: &AppConfig) -> Self {
        let mut guard = self.clone();
        guard.scrape_token_digest = config
            .metrics_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| Sha256::digest(t.as_bytes()).into());
        guard
    }

    /// Checks an `Authorization` header value.
    /// Whether `token` is an admin's, as a request bearing it would be judged.
    pub(crate) async fn check_token(&self, token: &str) -> Result<(), AuthError> {
        self.check(Some(format!("Bearer {token}").as_bytes())).await
    }

    async fn check(&self, authorization: Option<&[u8]>) -> Result<(), AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::NotBearer)?;
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(AuthError::NotBearer),
        };
        if token.is_empty() {
            return Err(AuthError::NotBearer);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        for expected in [&self.static_token_digest, &self.scrape_token_digest]
            .into_iter()
            .flatten()
        {
            if bool::from(digest.ct_eq(expected)) {
                return Ok(());
            }
        }
        if token.matches('.').count() != 2 || (self.jwt.is_none() && self.jwks.is_none()) {
            return Err(AuthError::Unknown);
        }
        // The header picks the verifier; each accepts only its algorithms.
        let algorithm = jsonwebtoken::decode_header(token)
            .map_err(|_| JwtError::Malformed)?
            .alg;
        let admin = match (algorithm, &self.jwt, &self.jwks) {
            (Algorithm::HS256, Some(secret), _) => secret.is_admin(token)?,
            (Algorithm::ES256 | Algorithm::RS256, _, Some(jwks)) => jwks.is_admin(token).await?,
            _ => return Err(JwtError::Algorithm.into()),
        };
        if admin {
            Ok(())
        } else {
            Err(AuthError::NotAdmin)
        }
    }
}

/// Middleware: refuses the request unless it carries an admin's token.
pub(crate) async fn require_admin(
    State(guard): State<Arc<AdminGuard>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiFailure> {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    match guard.check(header).await {
        Ok(()) => Ok(next.run(request).await),
        Err(AuthError::NotAdmin) => Err(ApiFailure::Forbidden(AuthError::NotAdmin.to_string())),
        Err(other) => Err(ApiFailure::Unauthorized {
            message: other.to_string(),
            invalid_token: other.token_presented(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(admin_token: &str, jwt_secret: &str) -> AdminGuard {
        AdminGuard::new(&AppConfig {
            admin_token: Some(admin_token.into()),
            jwt_secret: Some(jwt_secret.into()),
            ..AppConfig::default()
        })
    }

    #[tokio::test]
    async fn static_token_and_schemes() {
        let guard = guard("s3cret", "");
        assert_eq!(guard.check(Some(b"Bearer s3cret")).await, Ok(()));
        assert_eq!(guard.check(Some(b"bearer s3cret")).await, Ok(()));
        assert_eq!(
            guard.check(Some(b"Bearer s3cre")).await,
            Err(AuthError::Unknown)
        );
        assert_eq!(
            guard.check(Some(b"Basic s3cret")).await,
            Err(AuthError::NotBearer)
        );
        assert_eq!(
            guard.check(Some(b"Bearer ")).await,
            Err(AuthError::NotBearer)
        );
        assert_eq!(guard.check(None).await, Err(AuthError::Missing));
    }

    #[tokio::test]
    async fn empty_configuration_refuses_everything() {
        let guard = guard("", "");
        assert_eq!(
            guard.check(Some(b"Bearer ")).await,
            Err(AuthError::NotBearer)
        );
        assert_eq!(
            guard.check(Some(b"Bearer x")).await,
            Err(AuthError::Unknown)
        );
        assert_eq!(
            guard.check(Some(b"Bearer a.b.c")).await,
            Err(AuthError::Unknown)
        );
    }

    #[test]
    fn only_a_refused_token_is_an_invalid_token() {
        assert!(!AuthError::Missing.token_presented());
        assert!(!AuthError::NotBearer.token_presented());
        assert!(AuthError::Unknown.token_presented());
        assert!(AuthError::Jwt(JwtError::Expired).token_presented());
    }
}
