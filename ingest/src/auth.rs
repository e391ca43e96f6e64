//! The ingest token: its own secret (never the admin token), sent as
//! `Authorization: Bearer <token>` or as `x-ai-runtime-token: <token>`
//! (handy in `OTEL_EXPORTER_OTLP_HEADERS`, which needs no `%20` for it).
//! Compared as SHA-256 digests in constant time, so neither the token's
//! length nor its bytes leak through timing; the token itself is kept
//! nowhere but in its digest.

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header a client may send the token in instead of `Authorization`.
pub const TOKEN_HEADER: &str = "x-ai-runtime-token";

/// A configured ingest token (its digest only).
#[derive(Clone)]
pub struct IngestToken {
    digest: [u8; 32],
}

/// Why a token cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("AI_RUNTIME_INGEST_TOKEN is empty or shorter than 16 characters")]
    TooShort,
}

impl IngestToken {
    /// Tokens shorter than 16 characters are refused: the receiver faces
    /// the network.
    pub fn new(token: &str) -> Result<Self, TokenError> {
        if token.trim().len() < 16 {
            return Err(TokenError::TooShort);
        }
        Ok(IngestToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Whether `headers` carry this token.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            });
        let own = headers
            .get_all(TOKEN_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim);
        let mut admitted = false;
        // Every candidate is compared (no early exit on a match).
        for candidate in bearer.chain(own) {
            let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
            admitted |= bool::from(digest.ct_eq(&self.digest));
        }
        admitted
    }
}

impl std::fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn bearer_or_own_header_and_nothing_else() {
        let token = IngestToken::new("ingest-token-0123456789").unwrap();
        assert!(token.admits(&headers(&[(
            "authorization",
            "Bearer ingest-token-0123456789"
        )])));
        assert!(token.admits(&headers(&[(
            "authorization",
            "bearer  ingest-token-0123456789 "
        )])));
        assert!(token.admits(&headers(&[(TOKEN_HEADER, "ingest-token-0123456789")])));
        assert!(!token.admits(&headers(&[])));
        assert!(!token.admits(&headers(&[(
            "authorization",
            "Bearer ingest-token-012345678"
        )])));
        assert!(!token.admits(&headers(&[(
            "authorization",
            "Basic ingest-token-0123456789"
        )])));
        assert!(!token.admits(&headers(&[("authorization", "ingest-token-0123456789")])));
        assert_eq!(IngestToken::new("short").unwrap_err(), TokenError::TooShort);
        assert!(!format!("{token:?}").contains("ingest-token"));
    }
}
