//! Admin JWTs, verified by `jsonwebtoken`: HS256 with the configured secret
//! here, ES256/RS256 with the keys of a JWKS in [`crate::jwks`]; the
//! header's `alg` must be the key's (`none`, `HS512`, an RS256 header on an
//! EC key ... are refused), an `exp` in the future and an `nbf`, when
//! present, in the past (both with [`LEEWAY_SECONDS`] of clock skew), and,
//! when configured, the expected `aud` and `iss`.
//!
//! An admin is a token whose claims carry `app_metadata.role == "admin"` or
//! `app_metadata.roles` containing `"admin"`. `app_metadata` is the claim
//! Supabase fills from `auth.users.raw_app_meta_data`, which only the service
//! role can write, so users cannot make themselves admins.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// Clock skew tolerated between the token's issuer and this server.
pub(crate) const LEEWAY_SECONDS: u64 = 30;

/// Why a token was refused. The messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted (HS256 with the secret; ES256 or RS256 with the JWKS, as its key says)")]
    Algorithm,
    #[error("the token's header names no key (`kid`)")]
    MissingKeyId,
    #[error("the token's key (`kid`) is not in the JWKS")]
    UnknownKey,
    #[error("the signing keys (JWKS) could not be fetched")]
    KeysUnavailable,
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("the token's audience (`aud`) is not this server's")]
    Audience,
    #[error("the token's issuer (`iss`) is not the expected one")]
    Issuer,
}

/// What the server reads from a verified token.
#[derive(Debug, Deserialize)]
struct Claims {
    // Read loosely: a claim of another shape is "not an admin", not a
    // malformed token.
    #[serde(default)]
    app_metadata: Value,
}

/// Verifies admin JWTs against one secret and the optional `aud`/`iss`.
#[derive(Clone)]
pub(crate) struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub(crate) fn new(secret: &[u8], audience: Option<&str>, issuer: Option<&str>) -> Self {
        JwtVerifier {
            key: DecodingKey::from_secret(secret),
            validation: validation(Algorithm::HS256, audience, issuer),
        }
    }

    /// Verifies `token` and says whether it belongs to an admin.
    pub(crate) fn is_admin(&self, token: &str) -> Result<bool, JwtError> {
        admin_claims(token, &self.key, &self.validation)
    }
}

/// The checks of every admin JWT, for a key of `algorithm` (the only one
/// the token's header may name).
pub(crate) fn validation(
    algorithm: Algorithm,
    audience: Option<&str>,
    issuer: Option<&str>,
) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    // A configured claim must also be present: jsonwebtoken only
    // compares the claims a token carries.
    let mut required = vec!["exp"];
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        // Supabase tokens carry `aud: authenticated`; unless an audience
        // is configured, any is accepted.
        None => validation.validate_aud = false,
    }
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Verifies `token` with `key` and says whether its claims mark an admin.
pub(crate) fn admin_claims(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<bool, JwtError> {
    let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
        .map_err(|e| JwtError::from(e.into_kind()))?
        .claims;
    Ok(is_admin(&claims.app_metadata))
}

impl From<ErrorKind> for JwtError {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => JwtError::Algorithm,
            ErrorKind::InvalidSignature => JwtError::Signature,
            ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim),
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::InvalidAudience => JwtError::Audience,
            ErrorKind::InvalidIssuer => JwtError::Issuer,
            _ => JwtError::Malformed,
        }
    }
}

/// Whether `app_metadata` marks an admin (see the module documentation).
fn is_admin(app_metadata: &Value) -> bool {
    let by_role = app_metadata.get("role").and_then(Value::as_str) == Some("admin");
    let by_roles = app_metadata
        .get("roles")
        .and_then(Value::as_array)
        .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some("admin")));
    by_role || by_roles
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"test-secret";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign(header: Header, claims: &Value, secret: &[u8]) -> String {
        encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn hs256(claims: Value) -> String {
        sign(Header::new(Algorithm::HS256), &claims, SECRET)
    }

    fn admin_claims(exp: i64) -> Value {
        json!({"sub": "u1", "exp": exp, "app_metadata": {"role": "admin"}})
    }

    #[test]
    fn accepts_a_signed_unexpired_admin_token() {
        let verifier = JwtVerifier::new(SECRET, None, None);
        assert_eq!(
            verifier.is_admin(&hs256(admin_claims(now() + 60))),
            Ok(true)
        );
        let user = json!({"exp": now() + 60, "app_metadata": {"role": "user"}});
        assert_eq!(verifier.is_admin(&hs256(user)), Ok(false));
    }

    #[test]
    fn refuses_wrong_secret_expired_and_other_algorithms() {
        let verifier = JwtVerifier::new(SECRET, None, None);
        let other_secret = sign(
            Header::new(Algorithm::HS256),
            &admin_claims(now() + 60),
            b"other",
        );
        assert_eq!(verifier.is_admin(&other_secret), Err(JwtError::Signature));
        let expired = hs256(admin_claims(now() - LEEWAY_SECONDS as i64 - 5));
        assert_eq!(verifier.is_admin(&expired), Err(JwtError::Expired));
        let hs512 = sign(
            Header::new(Algorithm::HS512),
            &admin_claims(now() + 60),
            SECRET,
        );
        assert_eq!(verifier.is_admin(&hs512), Err(JwtError::Algorithm));
        // `alg: none` with an empty signature.
        let signed = hs256(admin_claims(now() + 60));
        let claims = signed.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
        assert!(verifier.is_admin(&none).is_err());
        assert_eq!(verifier.is_admin("a.b"), Err(JwtError::Malformed));
        let no_exp = hs256(json!({"app_metadata": {"role": "admin"}}));
        assert_eq!(
            verifier.is_admin(&no_exp),
            Err(JwtError::MissingClaim("exp".into()))
        );
    }

    #[test]
    fn tolerates_a_little_clock_skew() {
        let verifier = JwtVerifier::new(SECRET, None, None);
        let just_expired = hs256(admin_claims(now() - 5));
        assert_eq!(verifier.is_admin(&just_expired), Ok(true));
        let soon_valid = hs256(json!({"exp": now() + 60, "nbf": now() + 5,
            "app_metadata": {"role": "admin"}}));
        assert_eq!(verifier.is_admin(&soon_valid), Ok(true));
        let later = hs256(json!({"exp": now() + 600, "nbf": now() + 300,
            "app_metadata": {"role": "admin"}}));
        assert_eq!(verifier.is_admin(&later), Err(JwtError::NotYetValid));
    }

    #[test]
    fn audience_and_issuer_are_checked_when_configured() {
        let token = |aud: &str, iss: &str| {
            hs256(json!({"exp": now() + 60, "aud": aud, "iss": iss,
                "app_metadata": {"role": "admin"}}))
        };
        let open = JwtVerifier::new(SECRET, None, None);
        assert_eq!(open.is_admin(&token("anyone", "anywhere")), Ok(true));
        let strict = JwtVerifier::new(SECRET, Some("authenticated"), Some("https://x/auth/v1"));
        assert_eq!(
            strict.is_admin(&token("authenticated", "https://x/auth/v1")),
            Ok(true)
        );
        assert_eq!(
            strict.is_admin(&token("other", "https://x/auth/v1")),
            Err(JwtError::Audience)
        );
        assert_eq!(
            strict.is_admin(&token("authenticated", "https://evil/auth/v1")),
            Err(JwtError::Issuer)
        );
        // A configured claim the token lacks is missing, not skipped.
        let without = hs256(admin_claims(now() + 60));
        assert!(matches!(
            strict.is_admin(&without),
            Err(JwtError::MissingClaim(_))
        ));
        let audience_only = JwtVerifier::new(SECRET, Some("authenticated"), None);
        assert_eq!(
            audience_only.is_admin(&without),
            Err(JwtError::MissingClaim("aud".into()))
        );
    }

    #[test]
    fn admin_claim_forms() {
        assert!(is_admin(&json!({"roles": ["editor", "admin"]})));
        assert!(!is_admin(&json!({"role": "editor"})));
        assert!(!is_admin(&json!({"roles": "admin"})));
        assert!(!is_admin(&Value::Null));
    }
}
