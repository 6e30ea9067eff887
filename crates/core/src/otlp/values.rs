//! OTLP values as llmflow reads them: `AnyValue` as JSON, attribute lookup that tolerates
//! numbers sent as strings, ids as hex, and a content hash for ids that survive retries.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use serde_json::{Map, Value};

/// Longest plain text kept for full-text search (`Span::input_text`), as the proxy does.
pub const TEXT_CAP: usize = 256 * 1024;

// ---------------------------------------------------------------- AnyValue -> JSON

/// An `AnyValue` as JSON: strings, bools, ints (numbers), doubles (non-finite ones as the
/// strings OTLP/JSON uses), bytes (base64, as OTLP/JSON), arrays, kvlists (objects).
pub fn any_to_json(v: &AnyValue) -> Value {
    value_to_json(v.value.as_ref())
}

fn value_to_json(v: Option<&Av>) -> Value {
    match v {
        None | Some(Av::StringValueStrindex(_)) => Value::Null,
        Some(Av::StringValue(s)) => Value::String(s.clone()),
        Some(Av::BoolValue(b)) => Value::Bool(*b),
        Some(Av::IntValue(i)) => Value::from(*i),
        Some(Av::DoubleValue(d)) => f64_to_json(*d),
        Some(Av::BytesValue(b)) => Value::String(base64(b)),
        Some(Av::ArrayValue(a)) => Value::Array(a.values.iter().map(any_to_json).collect()),
        Some(Av::KvlistValue(kv)) => Value::Object(kv_to_map(&kv.values)),
    }
}

/// A double as JSON; JSON has no NaN or infinities, so those become OTLP/JSON's strings.
pub fn f64_to_json(d: f64) -> Value {
    if d.is_nan() {
        Value::String("NaN".into())
    } else if d.is_infinite() {
        Value::String(if d > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        Value::from(d)
    }
}

/// Key-value pairs as a JSON object (a repeated key: the last one wins).
pub fn kv_to_map(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .map(|kv| {
            let v = kv.value.as_ref().map_or(Value::Null, any_to_json);
            (kv.key.clone(), v)
        })
        .collect()
}

/// JSON object text of key-value pairs, `None` when there are none.
pub fn kv_to_text(kvs: &[KeyValue]) -> Option<String> {
    (!kvs.is_empty()).then(|| Value::Object(kv_to_map(kvs)).to_string())
}

// ---------------------------------------------------------------- attribute lookup

/// Attributes by key, read leniently: numbers may arrive as ints, doubles or strings.
#[derive(Debug, Default)]
pub struct Attrs<'a> {
    map: HashMap<&'a str, &'a AnyValue>,
}

impl<'a> Attrs<'a> {
    pub fn new(kvs: &'a [KeyValue]) -> Self {
        let map = kvs
            .iter()
            .filter_map(|kv| {
                let v = kv.value.as_ref()?;
                v.value.as_ref()?;
                Some((kv.key.as_str(), v))
            })
            .collect();
        Self { map }
    }

    pub fn get(&self, key: &str) -> Option<&'a AnyValue> {
        self.map.get(key).copied()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Every (key, value) pair whose key starts with `prefix`.
    pub fn with_prefix<'s>(
        &'s self,
        prefix: &'s str,
    ) -> impl Iterator<Item = (&'a str, &'a AnyValue)> + 's {
        self.map
            .iter()
            .filter(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (*k, *v))
    }

    /// A non-blank string value.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        match self.get(key)?.value.as_ref()? {
            Av::StringValue(s) if !s.trim().is_empty() => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn first_str(&self, keys: &[&str]) -> Option<&'a str> {
        keys.iter().find_map(|k| self.str(k))
    }

    /// Any scalar as text (strings as is, numbers and bools formatted), structured values as
    /// JSON text. Blank strings count as absent.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(any_to_text)
    }

    pub fn first_text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.text(k))
    }

    /// A count: a non-negative int, a double (rounded) or a string holding either.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(any_to_u64)
    }

    /// The first key that holds a count, and the count.
    pub fn first_u64(&self, keys: &[&'static str]) -> Option<(&'static str, u64)> {
        keys.iter().find_map(|k| self.u64(k).map(|v| (*k, v)))
    }

    /// A finite number: int, double or a string holding either.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(any_to_f64)
    }

    pub fn first_f64(&self, keys: &[&str]) -> Option<f64> {
        keys.iter().find_map(|k| self.f64(k))
    }

    /// A bool, or `"true"`/`"false"`, or 1/0.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)?.value.as_ref()? {
            Av::BoolValue(b) => Some(*b),
            Av::IntValue(i) => Some(*i != 0),
            Av::StringValue(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A value as JSON; a string holding JSON (how most conventions send structures) is
    /// parsed, any other string stays a JSON string.
    pub fn json(&self, key: &str) -> Option<Value> {
        self.get(key).map(any_to_json_lenient)
    }
}

/// Like [`any_to_json`], but a string that holds a JSON object or array is parsed.
pub fn any_to_json_lenient(v: &AnyValue) -> Value {
    match &v.value {
        Some(Av::StringValue(s)) => parse_json_text(s).unwrap_or_else(|| Value::String(s.clone())),
        _ => any_to_json(v),
    }
}

/// The JSON in a string, when it is an object or an array (so `"42"` stays text).
pub fn parse_json_text(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str(s).ok()
}

pub fn any_to_text(v: &AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        Av::StringValue(s) => (!s.trim().is_empty()).then(|| s.clone()),
        Av::BoolValue(b) => Some(b.to_string()),
        Av::IntValue(i) => Some(i.to_string()),
        Av::DoubleValue(d) => Some(d.to_string()),
        Av::StringValueStrindex(_) => None,
        _ => Some(any_to_json(v).to_string()),
    }
}

pub fn any_to_u64(v: &AnyValue) -> Option<u64> {
    match v.value.as_ref()? {
        Av::IntValue(i) => u64::try_from(*i).ok(),
        Av::DoubleValue(d) => f64_to_u64(*d),
        Av::StringValue(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(f64_to_u64))
        }
        _ => None,
    }
}

fn f64_to_u64(d: f64) -> Option<u64> {
    // `as` saturates; the range check keeps absurd values out.
    (0.0..1.8e19).contains(&d).then(|| d.round() as u64)
}

pub fn any_to_f64(v: &AnyValue) -> Option<f64> {
    let d = match v.value.as_ref()? {
        Av::IntValue(i) => *i as f64,
        Av::DoubleValue(d) => *d,
        Av::StringValue(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    d.is_finite().then_some(d)
}

/// A JSON value as display text: strings as is, anything else as JSON text.
pub fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------- ids and times

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// A trace id as lowercase hex: 16 bytes, not all zero (the OTLP rule for a valid id).
pub fn trace_id(bytes: &[u8]) -> Option<String> {
    valid_id(bytes, 16)
}

/// A span id as lowercase hex: 8 bytes, not all zero.
pub fn span_id(bytes: &[u8]) -> Option<String> {
    valid_id(bytes, 8)
}

fn valid_id(bytes: &[u8], len: usize) -> Option<String> {
    (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| hex(bytes))
}

/// Nanoseconds since the epoch as stored (`i64`), saturating.
pub fn ns(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------- hashing

/// FNV-1a, 128 bits: a small deterministic hash (unlike std's `DefaultHasher`, whose output
/// may change between Rust releases) for ids derived from content, so that an exporter's
/// retry of the same record gets the same id and is stored once.
#[derive(Debug, Clone)]
pub struct ContentHash(u128);

impl Default for ContentHash {
    fn default() -> Self {
        Self::new()
    }
}

impl ContentHash {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    pub fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u128::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// One field, length-prefixed so that adjacent fields cannot run into each other.
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
        self
    }

    pub fn num(&mut self, n: i64) -> &mut Self {
        self.field(&n.to_le_bytes())
    }

    pub fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => {
                self.write(&[1]);
                self.field(s.as_bytes())
            }
            None => {
                self.write(&[0]);
                self
            }
        }
    }

    /// 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex(&self.0.to_be_bytes())
    }
}

// ---------------------------------------------------------------- small helpers

/// Standard base64 with padding (OTLP/JSON's encoding of bytes).
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Appends `s` to `out` (newline-separated), stopping at `cap` bytes on a char boundary.
pub fn push_line_capped(out: &mut String, s: &str, cap: usize) {
    if s.is_empty() || out.len() >= cap {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let room = cap.saturating_sub(out.len());
    if s.len() <= room {
        out.push_str(s);
    } else {
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&s[..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn av(v: Av) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    fn kv(k: &str, v: Av) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(av(v)),
            key_strindex: 0,
        }
    }

    #[test]
    fn numbers_are_read_leniently() {
        let kvs = vec![
            kv("int", Av::IntValue(12)),
            kv("neg", Av::IntValue(-1)),
            kv("dbl", Av::DoubleValue(12.0)),
            kv("str", Av::StringValue(" 12 ".into())),
            kv("strdbl", Av::StringValue("12.0".into())),
            kv("junk", Av::StringValue("twelve".into())),
            kv("cost", Av::StringValue("0.25".into())),
        ];
        let a = Attrs::new(&kvs);
        for k in ["int", "dbl", "str", "strdbl"] {
            assert_eq!(a.u64(k), Some(12), "{k}");
        }
        assert_eq!(a.u64("neg"), None);
        assert_eq!(a.u64("junk"), None);
        assert_eq!(a.f64("cost"), Some(0.25));
        assert_eq!(a.first_u64(&["missing", "str"]), Some(("str", 12)));
    }

    #[test]
    fn any_value_to_json_keeps_structure() {
        let v = av(Av::KvlistValue(KeyValueList {
            values: vec![
                kv("a", Av::IntValue(1)),
                kv(
                    "b",
                    Av::ArrayValue(ArrayValue {
                        values: vec![av(Av::BoolValue(true)), av(Av::DoubleValue(f64::NAN))],
                    }),
                ),
                kv("c", Av::BytesValue(b"hi!".to_vec())),
            ],
        }));
        assert_eq!(
            any_to_json(&v),
            serde_json::json!({"a": 1, "b": [true, "NaN"], "c": "aGkh"})
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn ids_must_have_the_right_length_and_not_be_zero() {
        assert_eq!(span_id(&[0xab; 8]).as_deref(), Some("abababababababab"));
        assert_eq!(span_id(&[0; 8]), None);
        assert_eq!(span_id(&[1; 7]), None);
        assert_eq!(trace_id(&[]), None);
        assert_eq!(trace_id(&[1; 16]).map(|s| s.len()), Some(32));
    }

    #[test]
    fn content_hash_is_stable_and_field_separated() {
        let h = |a: &str, b: &str| {
            ContentHash::new()
                .field(a.as_bytes())
                .field(b.as_bytes())
                .hex()
        };
        assert_eq!(h("ab", "c"), h("ab", "c"));
        assert_ne!(h("ab", "c"), h("a", "bc"));
        // FNV-1a 128 of nothing is its offset basis.
        assert_eq!(ContentHash::new().hex(), "6c62272e07bb014262b821756295c58d");
    }

    #[test]
    fn capped_text_stops_on_a_char_boundary() {
        let mut s = String::new();
        push_line_capped(&mut s, "héllo", 2);
        assert_eq!(s, "h");
    }
}
