//! The Helicone passthrough: `your app -> llmflow -> Helicone gateway -> OpenAI`, logged in
//! both. Every `helicone-*` header goes upstream as sent (the forwarder copies all headers);
//! this module adds the auth from `HELICONE_API_KEY` when the request has none, and keeps the
//! Helicone metadata on the record. The Helicone key is redacted like every credential.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use llmflow_core::Span;
use serde_json::{Map, Value};

use super::upstreams::HeliconeConfig;

/// `Helicone-Auth` from `HELICONE_API_KEY` (with `Bearer ` added when missing), unless the
/// request brought its own.
pub fn add_auth(cfg: &HeliconeConfig, headers: &mut HeaderMap) {
    if headers.contains_key("helicone-auth") {
        return;
    }
    let Some(key) = cfg.api_key.as_ref() else {
        return;
    };
    let value = if key.0.to_ascii_lowercase().starts_with("bearer ") {
        key.0.clone()
    } else {
        format!("Bearer {}", key.0)
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static("helicone-auth"), v);
    }
}

fn text<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Properties become tags (`Name:value`) and attributes; user and session go to the record's
/// own fields.
pub fn request_metadata(h: &HeaderMap, span: &mut Span, attrs: &mut Map<String, Value>) {
    for (name, value) in h {
        let n = name.as_str();
        let Some(prop) = n.strip_prefix("helicone-property-") else {
            continue;
        };
        let Ok(v) = value.to_str() else { continue };
        // Keep the property's spelling as the client wrote it where HTTP/2 lower-cased it.
        let tag = format!("{prop}:{v}");
        if !span.tags.contains(&tag) {
            span.tags.push(tag);
        }
        attrs.insert(format!("helicone.property.{prop}"), v.into());
    }
    if let Some(u) = text(h, "helicone-user-id") {
        span.user_id = Some(u.to_owned());
    }
    if let Some(s) = text(h, "helicone-session-id") {
        span.session_id = Some(s.to_owned());
    }
    for (header, key) in [
        ("helicone-session-name", "helicone.session.name"),
        ("helicone-session-path", "helicone.session.path"),
        ("helicone-request-id", "helicone.request_id"),
        ("helicone-cache-enabled", "helicone.cache.enabled"),
        ("helicone-retry-enabled", "helicone.retry.enabled"),
        ("helicone-ratelimit-policy", "helicone.ratelimit.policy"),
        ("helicone-prompt-id", "helicone.prompt_id"),
    ] {
        if let Some(v) = text(h, header) {
            attrs.insert(key.into(), v.into());
        }
    }
    if !span.tags.iter().any(|t| t == "helicone") {
        span.tags.push("helicone".into());
    }
}

/// The Helicone id (to find the same call in Helicone's dashboard), cache HIT/MISS and the
/// rate-limit state the gateway returned.
pub fn response_metadata(h: &HeaderMap, attrs: &mut Map<String, Value>) {
    for (header, key) in [
        ("helicone-id", "helicone.id"),
        ("helicone-cache", "helicone.cache"),
        ("helicone-cache-bucket-idx", "helicone.cache.bucket_idx"),
        ("helicone-fallback-index", "helicone.fallback_index"),
        ("helicone-ratelimit-limit", "helicone.ratelimit.limit"),
        (
            "helicone-ratelimit-remaining",
            "helicone.ratelimit.remaining",
        ),
    ] {
        if let Some(v) = text(h, header) {
            attrs.insert(key.into(), v.into());
        }
    }
}
