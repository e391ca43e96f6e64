//! Secrets inside string values: provider errors echo request headers,
//! prompts carry pasted keys. Field names are redacted on the emitting
//! thread (`redact.rs`); values are scrubbed here, on the writer thread,
//! before any exporter or the recorder sees an event, so the emitting
//! thread pays nothing for it.
//!
//! Each pattern finds one kind of credential by its shape and replaces only
//! the secret part (its `secret` group, else the whole match) with
//! `[REDACTED:<kind>]`, so the rest of the text stays readable. One
//! pass for the shapes' literals (`sk-`, `eyJ`, `AKIA`, `://`, ...)
//! settles the usual value that holds none; only the shapes whose literal
//! was found run their regex.

use aho_corasick::AhoCorasick;
use regex::{Captures, Regex, RegexSet};
use serde_json::Value;

/// A credential shape: what it is called and how it is found.
struct Pattern {
    kind: String,
    regex: Regex,
    /// A match is a secret only if its secret part passes this (rules the
    /// regex syntax cannot say, such as "holds a digit").
    plausible: fn(&str) -> bool,
}

/// A built-in shape: kind, regex, plausibility check, and literals one of
/// which every match contains (the prefilter looks for them first).
type BuiltIn = (
    &'static str,
    &'static str,
    fn(&str) -> bool,
    &'static [&'static str],
);

/// The built-in shapes, in the order they are applied (a bearer token that
/// is also a JWT is named `bearer`).
const BUILT_IN: &[BuiltIn] = &[
    // PEM private key blocks: the body between the armour lines (a value
    // cut by the size limit loses its END line: the rest is the body).
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?P<secret>(?s:.+?))(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\z)",
        not_blank,
        &["PRIVATE KEY-----"],
    ),
    // `Authorization: Bearer <token>`, `Basic <base64>`.
    (
        "bearer",
        r"\b(?:[Bb]earer|BEARER)\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
        bearer_like,
        &["earer", "EARER"],
    ),
    (
        "basic",
        r"\b(?:[Bb]asic|BASIC)\s+(?P<secret>[A-Za-z0-9+/]{8,}={0,2})",
        base64_like,
        &["asic", "ASIC"],
    ),
    // OpenAI (`sk-`, `sk-proj-`) and Anthropic (`sk-ant-api03-`) keys.
    (
        "api_key",
        r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        token_like,
        &["sk-"],
    ),
    // JWTs: three base64url parts, the header a JSON object (`{"` is `eyJ`).
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
        not_blank,
        &["eyJ"],
    ),
    (
        "aws_access_key_id",
        r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
        not_blank,
        &["AKIA", "ASIA"],
    ),
    (
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
        not_blank,
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    ),
    (
        "slack_token",
        r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
        not_blank,
        &["xox"],
    ),
    // `scheme://user:password@host`: the password only (a user holding `[`
    // is a redaction already made).
    (
        "url_password",
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\[\]]*:(?P<secret>[^\s/?#@]+)@",
        not_blank,
        &["://"],
    ),
];

fn not_blank(secret: &str) -> bool {
    !secret.trim().is_empty()
}

/// Random keys hold digits; words do not (`sk-learn-compatible-pipelines`).
fn token_like(secret: &str) -> bool {
    secret.bytes().any(|b| b.is_ascii_digit())
}

/// An uppercase letter after the first: random text has them, words
/// (`Authentication`) do not.
fn inner_uppercase(secret: &str) -> bool {
    secret.bytes().skip(1).any(|b| b.is_ascii_uppercase())
}

/// A bearer token: digits, or long and mixed case (`Bearer challenge` is
/// not one).
fn bearer_like(secret: &str) -> bool {
    token_like(secret) || (secret.len() >= 24 && inner_uppercase(secret))
}

/// Basic credentials are base64 (whole 4-byte groups) with digits,
/// symbols or mixed case (`Basic authentication` is not).
fn base64_like(secret: &str) -> bool {
    secret.len().is_multiple_of(4)
        && (token_like(secret)
            || secret.bytes().any(|b| matches!(b, b'+' | b'/' | b'='))
            || inner_uppercase(secret))
}

fn always(_: &str) -> bool {
    true
}

/// A user pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid secret pattern {kind:?}: {source}")]
#[non_exhaustive]
pub struct PatternError {
    pub kind: String,
    #[source]
    pub source: regex::Error,
}

/// Finds and replaces secrets in string values.
pub(crate) struct Scrubber {
    /// The built-in shapes' literals, all found in one pass (SIMD where
    /// the CPU has it): most values hold none and stop here.
    prefilter: AhoCorasick,
    /// The built-in pattern each literal belongs to.
    owners: Vec<usize>,
    /// The host's patterns at once (they have no known literals).
    user: RegexSet,
    /// Built-in patterns first, then the host's.
    patterns: Vec<Pattern>,
}

impl Scrubber {
    /// The built-in patterns plus `extra` (`(kind, regex)`, applied after
    /// them; a `secret` group marks the part to replace, else the whole
    /// match is).
    pub(crate) fn new(extra: &[(String, String)]) -> Result<Scrubber, PatternError> {
        let mut patterns = Vec::with_capacity(BUILT_IN.len() + extra.len());
        let mut literals = Vec::new();
        let mut owners = Vec::new();
        for (index, (kind, regex, plausible, needles)) in BUILT_IN.iter().enumerate() {
            literals.extend(needles.iter().copied());
            owners.extend(needles.iter().map(|_| index));
            patterns.push(Pattern {
                kind: (*kind).to_owned(),
                regex: Regex::new(regex).expect("built-in patterns compile"),
                plausible: *plausible,
            });
        }
        for (kind, regex) in extra {
            let regex = Regex::new(regex).map_err(|source| PatternError {
                kind: kind.clone(),
                source,
            })?;
            patterns.push(Pattern {
                kind: kind.clone(),
                regex,
                plausible: always,
            });
        }
        let user = RegexSet::new(patterns[BUILT_IN.len()..].iter().map(|p| p.regex.as_str()))
            .map_err(|source| PatternError {
                kind: "(the added patterns together)".into(),
                source,
            })?;
        let prefilter = AhoCorasick::new(literals).expect("built-in literals build");
        Ok(Scrubber {
            prefilter,
            owners,
            user,
            patterns,
        })
    }

    /// `text` with its secrets replaced, or `None` when it holds none.
    pub(crate) fn scrub(&self, text: &str) -> Option<String> {
        // Which built-in shapes have one of their literals in the text.
        let user = !self.user.is_empty() && self.user.is_match(text);
        if !user && !self.prefilter.is_match(text) {
            return None;
        }
        let mut candidates = 0u64;
        for found in self.prefilter.find_overlapping_iter(text) {
            candidates |= 1 << self.owners[found.pattern().as_usize()];
        }
        if candidates == 0 && !user {
            return None;
        }
        let mut out = std::borrow::Cow::Borrowed(text);
        for (index, pattern) in self.patterns.iter().enumerate() {
            let built_in = index < BUILT_IN.len();
            if (built_in && candidates & (1 << index) == 0) || (!built_in && !user) {
                continue;
            }
            let replaced = pattern
                .regex
                .replace_all(&out, |caps: &Captures<'_>| redact_match(pattern, caps));
            if let std::borrow::Cow::Owned(replaced) = replaced {
                out = std::borrow::Cow::Owned(replaced);
            }
        }
        match out {
            std::borrow::Cow::Owned(changed) if changed != text => Some(changed),
            _ => None,
        }
    }

    /// Scrubs every string in a JSON value, recursively (worker report metadata).
    pub(crate) fn scrub_json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(clean) = self.scrub(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.scrub_json(v)),
            _ => {}
        }
    }
}

/// One match with its secret part replaced by `[REDACTED:<kind>]` (or left
/// alone when the secret part is not plausible).
fn redact_match(pattern: &Pattern, caps: &Captures<'_>) -> String {
    let whole = caps.get(0).expect("a match");
    let secret = caps.name("secret").unwrap_or(whole);
    if !(pattern.plausible)(secret.as_str()) {
        return whole.as_str().to_owned();
    }
    let text = whole.as_str();
    let (start, end) = (secret.start() - whole.start(), secret.end() - whole.start());
    format!(
        "{}[REDACTED:{}]{}",
        &text[..start],
        pattern.kind,
        &text[end..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubber() -> Scrubber {
        Scrubber::new(&[]).unwrap()
    }

    #[test]
    fn only_the_secret_part_is_replaced() {
        let s = scrubber();
        assert_eq!(
            s.scrub("401 from upstream; request had Authorization: Bearer sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t")
                .as_deref(),
            Some("401 from upstream; request had Authorization: Bearer [REDACTED:bearer]")
        );
        assert_eq!(
            s.scrub("connect postgres://app:hunter2@db.internal:5432/prod failed")
                .as_deref(),
            Some("connect postgres://app:[REDACTED:url_password]@db.internal:5432/prod failed")
        );
        assert_eq!(s.scrub("nothing to see here"), None);
    }

    /// `kind <TAB> value <TAB> expected`, with `\n` for a newline.
    fn secret_corpus() -> Vec<(String, String, String)> {
        include_str!("../tests/corpus/secrets.tsv")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let parts: Vec<String> = l.split('\t').map(|p| p.replace("\\n", "\n")).collect();
                assert_eq!(parts.len(), 3, "{l}");
                (parts[0].clone(), parts[1].clone(), parts[2].clone())
            })
            .collect()
    }

    #[test]
    fn every_secret_of_the_corpus_is_scrubbed_to_the_expected_text() {
        let s = scrubber();
        let corpus = secret_corpus();
        assert!(corpus.len() >= 20);
        let kinds: std::collections::BTreeSet<&str> =
            corpus.iter().map(|(k, _, _)| k.as_str()).collect();
        for (kind, _, _, _) in BUILT_IN {
            assert!(kinds.contains(kind), "the corpus has no {kind}");
        }
        for (kind, value, expected) in &corpus {
            assert!(
                expected.contains(&format!("[REDACTED:{kind}]")),
                "{expected}"
            );
            assert_eq!(s.scrub(value).as_deref(), Some(expected.as_str()), "{kind}");
        }
    }

    #[test]
    fn ordinary_lines_are_left_alone() {
        let s = scrubber();
        let corpus: Vec<&str> = include_str!("../tests/corpus/ordinary.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(corpus.len() >= 30);
        for line in corpus {
            assert_eq!(s.scrub(line), None, "{line}");
        }
    }

    #[test]
    fn user_patterns_apply_and_bad_ones_are_refused() {
        let s =
            Scrubber::new(&[("acme_key".into(), r"acme_(?P<secret>[0-9a-f]{16})".into())]).unwrap();
        assert_eq!(
            s.scrub("key acme_0123456789abcdef used").as_deref(),
            Some("key acme_[REDACTED:acme_key] used")
        );
        let err = Scrubber::new(&[("broken".into(), "(".into())])
            .err()
            .expect("refused");
        assert_eq!(err.kind, "broken");
    }

    #[test]
    fn json_strings_are_scrubbed_recursively() {
        let mut v = serde_json::json!({
            "lastError": "upstream said: invalid key sk-ant-api03-AbCdEf0123456789GhIjKl",
            "nested": [{"note": "AKIAIOSFODNN7EXAMPLE rotated"}],
            "count": 3
        });
        scrubber().scrub_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "lastError": "upstream said: invalid key [REDACTED:api_key]",
                "nested": [{"note": "[REDACTED:aws_access_key_id] rotated"}],
                "count": 3
            })
        );
    }
}
