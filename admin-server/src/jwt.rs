//! HS256 JSON Web Tokens, verified by hand: the header must say `HS256`
//! (anything else, `none` included, is refused), the signature must match,
//! and `exp` must be in the future.
//!
//! An admin is a token whose claims carry `app_metadata.role == "admin"` or
//! `app_metadata.roles` containing `"admin"`. `app_metadata` is the claim
//! Supabase fills from `auth.users.raw_app_meta_data`, which only the service
//! role can write, so users cannot make themselves admins.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused. The messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT (expected three base64url parts)")]
    Malformed,
    #[error("the token's algorithm `{0}` is not accepted (only HS256)")]
    Algorithm(String),
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token has no numeric `exp` claim")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf`)")]
    NotYetValid,
}

/// Verifies `token` against `secret` at `now` (seconds since the epoch) and
/// returns its claims.
pub fn verify_hs256(token: &str, secret: &[u8], now: i64) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = decode_json(header_b64)?;
    match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {}
        Some(other) => return Err(JwtError::Algorithm(truncate(other))),
        None => return Err(JwtError::Algorithm("(missing)".to_owned())),
    }
    let signature = decode(signature_b64)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(header_b64.as_bytes());
    mac.update(b".");
    mac.update(claims_b64.as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;

    let claims = decode_json(claims_b64)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(JwtError::MissingExpiry)?;
    if exp <= now as f64 {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64) {
        if nbf > now as f64 {
            return Err(JwtError::NotYetValid);
        }
    }
    Ok(claims)
}

/// Whether verified claims mark an admin (see the module documentation).
pub fn is_admin(claims: &Value) -> bool {
    let Some(meta) = claims.get("app_metadata") else {
        return false;
    };
    let by_role = meta.get("role").and_then(Value::as_str) == Some("admin");
    let by_roles = meta
        .get("roles")
        .and_then(Value::as_array)
        .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some("admin")));
    by_role || by_roles
}

/// Signs `claims` with HS256. For tests and local tooling; the server only verifies.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    sign_with_header(
        &serde_json::json!({"alg": "HS256", "typ": "JWT"}),
        claims,
        secret,
    )
}

/// Signs with an arbitrary header (tests use it to forge `alg` values).
pub fn sign_with_header(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

fn decode(part: &str) -> Result<Vec<u8>, JwtError> {
    // Some issuers pad; the JWT spec does not, so accept both.
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed)
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let value: Value = serde_json::from_slice(&decode(part)?).map_err(|_| JwtError::Malformed)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(JwtError::Malformed)
    }
}

// An attacker controls `alg`; keep what we echo short.
fn truncate(s: &str) -> String {
    s.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret";
    const NOW: i64 = 1_800_000_000;

    fn admin_claims() -> Value {
        json!({"sub": "u1", "exp": NOW + 60, "app_metadata": {"role": "admin"}})
    }

    #[test]
    fn accepts_a_signed_unexpired_token() {
        let token = sign_hs256(&admin_claims(), SECRET);
        let claims = verify_hs256(&token, SECRET, NOW).unwrap();
        assert!(is_admin(&claims));
    }

    #[test]
    fn refuses_wrong_secret_expired_and_other_algorithms() {
        let token = sign_hs256(&admin_claims(), SECRET);
        assert_eq!(
            verify_hs256(&token, b"other", NOW),
            Err(JwtError::Signature)
        );
        assert_eq!(
            verify_hs256(&token, SECRET, NOW + 60),
            Err(JwtError::Expired)
        );
        let none = sign_with_header(&json!({"alg": "none"}), &admin_claims(), SECRET);
        let unsigned = format!("{}.", none.rsplit_once('.').unwrap().0);
        assert_eq!(
            verify_hs256(&unsigned, SECRET, NOW),
            Err(JwtError::Algorithm("none".into()))
        );
        let hs512 = sign_with_header(&json!({"alg": "HS512"}), &admin_claims(), SECRET);
        assert!(matches!(
            verify_hs256(&hs512, SECRET, NOW),
            Err(JwtError::Algorithm(_))
        ));
        assert_eq!(verify_hs256("a.b", SECRET, NOW), Err(JwtError::Malformed));
        let no_exp = sign_hs256(&json!({"app_metadata": {"role": "admin"}}), SECRET);
        assert_eq!(
            verify_hs256(&no_exp, SECRET, NOW),
            Err(JwtError::MissingExpiry)
        );
    }

    #[test]
    fn admin_claim_forms() {
        assert!(is_admin(
            &json!({"app_metadata": {"roles": ["editor", "admin"]}})
        ));
        assert!(!is_admin(&json!({"app_metadata": {"role": "editor"}})));
        assert!(!is_admin(&json!({"user_metadata": {"role": "admin"}})));
        assert!(!is_admin(&json!({"role": "admin"})));
    }
}
