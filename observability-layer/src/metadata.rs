//! The `metadata` object of an event, serialised with serde: the host's
//! other fields, then the layer's own keys `message`, `level`, `target`
//! and, when something was cut, `truncated`. A host field whose name is
//! one of the layer's keys keeps its value under `field.<name>` instead of
//! being lost to the layer's key. Postgres cannot store NUL characters:
//! they become U+FFFD.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::capture::{Captured, FieldValue};
use crate::redact::REDACTED;

/// Keys the layer writes itself; a host field by one of these names is
/// renamed `field.<name>`. (`message` is the event's message: a host
/// field named so *is* the message.)
const LAYER_KEYS: [&str; 3] = ["level", "target", "truncated"];

/// Serialises an event's metadata object.
pub(crate) struct Metadata<'a>(pub &'a Captured);

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in event.all_fields() {
            if LAYER_KEYS.contains(&name) {
                map.serialize_entry(&format_args!("field.{name}"), &Field(value))?;
            } else {
                map.serialize_entry(name, &Field(value))?;
            }
        }
        if let Some(message) = &event.message {
            map.serialize_entry("message", &clean(message.as_str()))?;
        }
        map.serialize_entry("level", event.level.as_str())?;
        map.serialize_entry("target", &clean(event.target()))?;
        if event.truncated {
            map.serialize_entry("truncated", &true)?;
        }
        map.end()
    }
}

/// One field's value.
struct Field<'a>(&'a FieldValue);

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            FieldValue::Bool(b) => serializer.serialize_bool(*b),
            FieldValue::I64(n) => serializer.serialize_i64(*n),
            FieldValue::U64(n) => serializer.serialize_u64(*n),
            FieldValue::F64(f) if f.is_finite() => serializer.serialize_f64(*f),
            // NaN and infinities have no JSON number: kept as text.
            FieldValue::F64(f) => serializer.collect_str(f),
            FieldValue::Str(t) => serializer.serialize_str(&clean(t.as_str())),
            FieldValue::Redacted => serializer.serialize_str(REDACTED),
        }
    }
}

/// The metadata as JSON text (as stored).
#[cfg(any(feature = "postgres", test))]
pub(crate) fn to_json(event: &Captured) -> String {
    // Serialising these types cannot fail (string keys, no maps as keys).
    serde_json::to_string(&Metadata(event)).unwrap_or_else(|_| "{}".into())
}

/// The metadata as a JSON object (as the recorder shows it).
pub(crate) fn to_map(event: &Captured) -> Map<String, Value> {
    match serde_json::to_value(Metadata(event)) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Postgres text cannot hold NUL: replaced, only when present.
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::text::Text;

    #[test]
    fn metadata_is_valid_escaped_json() {
        let mut event = Captured::empty(SystemTime::now(), tracing_core::Level::WARN, "host::x");
        let text = |s: &str| FieldValue::Str(Text::bounded(s, 100));
        event.fields.push("quote", text("say \"hi\"\n"));
        event.fields.push("nul", text("a\0b"));
        event.fields.push("nan", FieldValue::F64(f64::NAN));
        event.fields.push("ratio", FieldValue::F64(0.25));
        event.fields.push("big", FieldValue::U64(u64::MAX));
        event.fields.push("api_key", FieldValue::Redacted);
        event.message = Some(Text::bounded("done", 100));
        event.truncated = true;
        let json: Value = serde_json::from_str(&to_json(&event)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "quote": "say \"hi\"\n",
                "nul": "a\u{FFFD}b",
                "nan": "NaN",
                "ratio": 0.25,
                "big": u64::MAX,
                "api_key": REDACTED,
                "message": "done",
                "level": "WARN",
                "target": "host::x",
                "truncated": true,
            })
        );
        assert_eq!(Value::Object(to_map(&event)), json);
    }

    #[test]
    fn host_fields_named_like_the_layers_keys_are_kept() {
        let mut event = Captured::empty(SystemTime::now(), tracing_core::Level::INFO, "host");
        event
            .fields
            .push("level", FieldValue::Str(Text::bounded("debug-ish", 100)));
        event.fields.push("target", FieldValue::I64(7));
        event.fields.push("truncated", FieldValue::Bool(false));
        let json = Value::Object(to_map(&event));
        assert_eq!(
            json,
            serde_json::json!({
                "field.level": "debug-ish",
                "field.target": 7,
                "field.truncated": false,
                "level": "INFO",
                "target": "host",
            })
        );
    }
}
