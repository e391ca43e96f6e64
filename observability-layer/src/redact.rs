//! Which field names hold credentials. Decided once per callsite (field names
//! are static), so redaction costs nothing per event; the value of a redacted
//! field is never even copied off the emitting thread.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Words that make a field name credential-like on their own.
const SECRET_WORDS: &[&str] = &[
    "apikey",
    "auth",
    "authorization",
    "bearer",
    "cookie",
    "cookies",
    "credential",
    "credentials",
    "jwt",
    "passphrase",
    "passwd",
    "password",
    "pwd",
    "secret",
    "session",
    "token",
];

/// Adjacent word pairs that make a field name credential-like.
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("private", "key"),
    ("access", "key"),
    ("secret", "key"),
    ("signing", "key"),
    ("set", "cookie"),
];

/// True when a field named `name` likely holds a credential.
///
/// The name is split into words at `_`, `-`, `.`, spaces and camelCase
/// humps, so `api_key`, `apiKey`, `X-Api-Key`, `db_password` and
/// `access_token` match while `prompt_tokens` and `author` do not.
pub fn is_secret_name(name: &str) -> bool {
    let mut words: [&str; 16] = [""; 16];
    let mut count = 0;
    for word in split_words(name) {
        if count == words.len() {
            break;
        }
        words[count] = word;
        count += 1;
    }
    let words = &words[..count];
    let lower = |w: &str, target: &str| w.eq_ignore_ascii_case(target);
    words
        .iter()
        .any(|w| SECRET_WORDS.iter().any(|s| lower(w, s)))
        || words.windows(2).any(|pair| {
            SECRET_PAIRS
                .iter()
                .any(|(a, b)| lower(pair[0], a) && lower(pair[1], b))
        })
}

/// Splits at separators and at lower-to-upper case changes.
fn split_words(name: &str) -> impl Iterator<Item = &str> {
    let bytes = name.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i <= bytes.len() {
            let at = i;
            i += 1;
            let boundary = at == bytes.len()
                || !bytes[at].is_ascii_alphanumeric()
                || (at > start
                    && bytes[at].is_ascii_uppercase()
                    && bytes[at - 1].is_ascii_lowercase());
            if !boundary {
                continue;
            }
            let word = &name[start..at];
            start = if at < bytes.len() && bytes[at].is_ascii_alphanumeric() {
                at
            } else {
                at + 1
            };
            if !word.is_empty() {
                return Some(word);
            }
        }
        None
    })
}

/// Redacts credential-like keys of a JSON object, recursively (host metadata).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_name(key) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_like_names_are_secret() {
        for name in [
            "api_key",
            "apiKey",
            "APIKEY",
            "x-api-key",
            "authorization",
            "Authorization",
            "access_token",
            "refreshToken",
            "token",
            "password",
            "db_password",
            "passwd",
            "client_secret",
            "cookie",
            "set-cookie",
            "credentials",
            "private_key",
            "privateKey",
            "aws_secret_access_key",
            "session_id",
        ] {
            assert!(is_secret_name(name), "{name} should be secret");
        }
    }

    #[test]
    fn ordinary_names_are_not_secret() {
        for name in [
            "prompt_tokens",
            "max_tokens",
            "author",
            "latency_ms",
            "model",
            "provider",
            "key_count",
            "message",
            "route",
        ] {
            assert!(!is_secret_name(name), "{name} should not be secret");
        }
    }

    #[test]
    fn json_metadata_is_redacted_recursively() {
        let mut v = serde_json::json!({
            "route": {"provider": "sim", "apiKey": "sk-1"},
            "headers": [{"authorization": "Bearer x"}],
            "token": 5
        });
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "route": {"provider": "sim", "apiKey": REDACTED},
                "headers": [{"authorization": REDACTED}],
                "token": REDACTED
            })
        );
    }
}
