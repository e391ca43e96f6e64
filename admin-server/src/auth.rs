//! The admin guard: every `/api/...` request carries `Authorization: Bearer
//! <token>`, where the token is the static admin token or an admin HS256 JWT.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiFailure;
use crate::jwt;

/// Decides whether a bearer token belongs to an admin.
pub struct AdminGuard {
    // Hashing first makes the comparison constant-time in the length too.
    static_token_digest: Option<[u8; 32]>,
    jwt_secret: Option<Vec<u8>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing `Authorization: Bearer <token>` header")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("{0}")]
    Jwt(#[from] jwt::JwtError),
    #[error("the token is neither the admin token nor a JWT")]
    Unknown,
    #[error("the token is valid but its `app_metadata` does not mark an admin")]
    NotAdmin,
}

impl AdminGuard {
    pub fn new(admin_token: Option<&str>, jwt_secret: Option<&str>) -> Self {
        AdminGuard {
            static_token_digest: admin_token
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into()),
            jwt_secret: jwt_secret
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec()),
        }
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&[u8]>, now: i64) -> Result<(), AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::NotBearer)?;
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(AuthError::NotBearer),
        };
        if token.is_empty() {
            return Err(AuthError::NotBearer);
        }
        if let Some(expected) = &self.static_token_digest {
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            if bool::from(digest.ct_eq(expected)) {
                return Ok(());
            }
        }
        match &self.jwt_secret {
            Some(secret) if token.matches('.').count() == 2 => {
                let claims = jwt::verify_hs256(token, secret, now)?;
                if jwt::is_admin(&claims) {
                    Ok(())
                } else {
                    Err(AuthError::NotAdmin)
                }
            }
            _ => Err(AuthError::Unknown),
        }
    }
}

/// Middleware: refuses the request unless it carries an admin's token.
pub async fn require_admin(
    State(guard): State<std::sync::Arc<AdminGuard>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiFailure> {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    match guard.check(header, chrono::Utc::now().timestamp()) {
        Ok(()) => Ok(next.run(request).await),
        Err(AuthError::NotAdmin) => Err(ApiFailure::Forbidden(AuthError::NotAdmin.to_string())),
        Err(other) => Err(ApiFailure::Unauthorized(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_token_and_schemes() {
        let guard = AdminGuard::new(Some("s3cret"), None);
        assert_eq!(guard.check(Some(b"Bearer s3cret"), 0), Ok(()));
        assert_eq!(guard.check(Some(b"bearer s3cret"), 0), Ok(()));
        assert_eq!(
            guard.check(Some(b"Bearer s3cre"), 0),
            Err(AuthError::Unknown)
        );
        assert_eq!(
            guard.check(Some(b"Basic s3cret"), 0),
            Err(AuthError::NotBearer)
        );
        assert_eq!(guard.check(Some(b"Bearer "), 0), Err(AuthError::NotBearer));
        assert_eq!(guard.check(None, 0), Err(AuthError::Missing));
    }

    #[test]
    fn empty_configuration_refuses_everything() {
        let guard = AdminGuard::new(Some(""), Some(""));
        assert_eq!(guard.check(Some(b"Bearer "), 0), Err(AuthError::NotBearer));
        assert_eq!(guard.check(Some(b"Bearer x"), 0), Err(AuthError::Unknown));
    }
}
