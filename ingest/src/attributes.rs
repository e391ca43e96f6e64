//! OTLP attribute values as the JSON values an event's metadata holds.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde_json::Value;

/// Longest attribute key kept; longer keys (no convention has one) drop
/// their attribute.
pub const MAX_KEY_BYTES: usize = 256;

/// `value` as JSON: scalars as themselves, arrays and key-value lists as
/// JSON (prost bounds their nesting when decoding, serde_json when
/// parsing), bytes as lowercase hex, a missing value as `null`.
pub fn to_json(value: Option<&AnyValue>) -> Value {
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return Value::Null;
    };
    match value {
        any_value::Value::StringValue(s) => Value::String(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(n) => Value::from(*n),
        any_value::Value::DoubleValue(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.to_string())),
        any_value::Value::BytesValue(bytes) => Value::String(hex(bytes)),
        any_value::Value::ArrayValue(list) => {
            Value::Array(list.values.iter().map(|v| to_json(Some(v))).collect())
        }
        // A Profiling-only reference to a string table: nothing here.
        any_value::Value::StringValueStrindex(_) => Value::Null,
        any_value::Value::KvlistValue(list) => Value::Object(
            list.values
                .iter()
                .map(|kv| (kv.key.clone(), to_json(kv.value.as_ref())))
                .collect(),
        ),
    }
}

/// Lowercase hex of `bytes` (trace and span ids, bytes values).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The string value of attribute `key`, if it has one.
pub fn string<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// Whether attribute `key` is present.
pub fn has(attributes: &[KeyValue], key: &str) -> bool {
    attributes.iter().any(|kv| kv.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn any(v: any_value::Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn values_become_json() {
        use any_value::Value as V;
        assert_eq!(to_json(Some(&any(V::IntValue(-3)))), serde_json::json!(-3));
        assert_eq!(to_json(Some(&any(V::DoubleValue(f64::NAN)))), "NaN");
        assert_eq!(to_json(Some(&any(V::BytesValue(vec![0, 171])))), "00ab");
        let list = any(V::ArrayValue(ArrayValue {
            values: vec![any(V::BoolValue(true)), AnyValue { value: None }],
        }));
        assert_eq!(to_json(Some(&list)), serde_json::json!([true, null]));
        let kv = any(V::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "a".into(),
                value: Some(any(V::StringValue("b".into()))),
                ..KeyValue::default()
            }],
        }));
        assert_eq!(to_json(Some(&kv)), serde_json::json!({"a": "b"}));
        assert_eq!(to_json(None), Value::Null);
    }
}
