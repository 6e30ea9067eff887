//! Price table (LiteLLM's `model_prices_and_context_window.json` format), model-name
//! normalisation and cost.
//!
//! Lookup is exact first, then normalised (provider prefix added or removed, date or version
//! suffix removed), each candidate looked up exactly. There is no fuzzy matching: a model the
//! table does not know is unpriced (`None`), never charged a guess.

use std::collections::HashMap;

use serde::Deserialize;

use crate::usage::Usage;

/// The snapshot embedded in the binary; `scripts/update-pricing.py` regenerates it.
pub const EMBEDDED_JSON: &str = include_str!("../data/model_prices.json");
/// Where the embedded snapshot came from.
pub const EMBEDDED_SOURCE: &str = include_str!("../data/model_prices.source");

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("price table is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("price table has no priced models")]
    Empty,
}

/// Per-token prices in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub reasoning: Option<f64>,
    pub provider: Option<String>,
}

impl ModelPrice {
    /// Each token counted once, at its own rate (cache and reasoning fall back to the plain
    /// input and output rates when the table has none).
    pub fn cost(&self, u: &Usage) -> f64 {
        u.uncached_input() as f64 * self.input
            + u.cache_read as f64 * self.cache_read.unwrap_or(self.input)
            + u.cache_write as f64 * self.cache_write.unwrap_or(self.input)
            + u.visible_output() as f64 * self.output
            + u.reasoning as f64 * self.reasoning.unwrap_or(self.output)
    }
}

#[derive(Debug, Clone)]
pub struct PriceTable {
    models: HashMap<String, ModelPrice>,
    /// Where this table came from (file, URL, snapshot version), for the status page.
    pub source: String,
}

/// A LiteLLM entry as it is on the wire; only entries with a per-token price are kept
/// (image, audio-second and search prices are not per token).
#[derive(Deserialize)]
struct LiteLlmEntry {
    input_cost_per_token: Option<f64>,
    output_cost_per_token: Option<f64>,
    cache_read_input_token_cost: Option<f64>,
    cache_creation_input_token_cost: Option<f64>,
    output_cost_per_reasoning_token: Option<f64>,
    litellm_provider: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Price(LiteLlmEntry),
    Other(serde::de::IgnoredAny),
}

impl PriceTable {
    /// The snapshot shipped in the binary.
    pub fn embedded() -> Result<Self, PricingError> {
        Self::from_json(EMBEDDED_JSON.as_bytes(), EMBEDDED_SOURCE.trim())
    }

    /// Parses LiteLLM's format (a map of model name to prices; non-price entries skipped).
    pub fn from_json(bytes: &[u8], source: &str) -> Result<Self, PricingError> {
        let raw: HashMap<String, Entry> = serde_json::from_slice(bytes)?;
        let models: HashMap<String, ModelPrice> = raw
            .into_iter()
            .filter_map(|(k, v)| match v {
                Entry::Price(e) if k != "sample_spec" => {
                    if e.input_cost_per_token.is_none() && e.output_cost_per_token.is_none() {
                        return None;
                    }
                    let price = ModelPrice {
                        input: e.input_cost_per_token.unwrap_or(0.0),
                        output: e.output_cost_per_token.unwrap_or(0.0),
                        cache_read: e.cache_read_input_token_cost,
                        cache_write: e.cache_creation_input_token_cost,
                        reasoning: e.output_cost_per_reasoning_token,
                        provider: e.litellm_provider,
                    };
                    Some((k, price))
                }
                _ => None,
            })
            .collect();
        if models.is_empty() {
            return Err(PricingError::Empty);
        }
        Ok(Self {
            models,
            source: source.to_owned(),
        })
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Finds a model's prices: the key that matched and the prices.
    pub fn lookup(&self, provider: Option<&str>, model: &str) -> Option<(&str, &ModelPrice)> {
        // The common case, an exact name, allocates nothing.
        if let Some((k, v)) = self.models.get_key_value(model) {
            return Some((k.as_str(), v));
        }
        candidates(provider, model)
            .into_iter()
            .find_map(|c| self.models.get_key_value(c.as_str()))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Cost in USD, or `None` when the model is unknown.
    pub fn cost(&self, provider: Option<&str>, model: &str, usage: &Usage) -> Option<f64> {
        self.lookup(provider, model).map(|(_, p)| p.cost(usage))
    }
}

/// Names to try, most specific first.
fn candidates(provider: Option<&str>, model: &str) -> Vec<String> {
    let model = model.trim();
    let mut bases = vec![model.to_owned()];
    let lower = model.to_ascii_lowercase();
    if lower != model {
        bases.push(lower.clone());
    }
    if let Some(p) = provider {
        bases.push(format!("{p}/{lower}"));
    }
    // "openai/gpt-4o" or "models/gemini-2.0-flash": the part after the last slash.
    if let Some((_, tail)) = lower.rsplit_once('/') {
        bases.push(tail.to_owned());
        if let Some(p) = provider {
            bases.push(format!("{p}/{tail}"));
        }
    }
    let mut out = Vec::with_capacity(bases.len() * 2);
    for b in &bases {
        push_unique(&mut out, b.clone());
    }
    for b in &bases {
        if let Some(s) = strip_version(b) {
            push_unique(&mut out, s);
        }
    }
    out
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !s.is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

/// Removes one trailing date or version marker: `-2024-08-06`, `-20241022`, `@20241022`,
/// `@latest`, `-latest`, `:latest`, `-v1:0`.
fn strip_version(name: &str) -> Option<String> {
    if let Some(i) = name.rfind('@') {
        return Some(name[..i].to_owned());
    }
    for suffix in ["-latest", ":latest"] {
        if let Some(s) = name.strip_suffix(suffix) {
            return Some(s.to_owned());
        }
    }
    let b = name.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    // -YYYY-MM-DD
    if b.len() > 11 {
        let t = &b[b.len() - 11..];
        if t[0] == b'-'
            && digits(&t[1..5])
            && t[5] == b'-'
            && digits(&t[6..8])
            && t[8] == b'-'
            && digits(&t[9..])
        {
            return Some(name[..name.len() - 11].to_owned());
        }
    }
    // -YYYYMMDD
    if b.len() > 9 {
        let t = &b[b.len() - 9..];
        if t[0] == b'-' && digits(&t[1..]) && (t[1] == b'2') {
            return Some(name[..name.len() - 9].to_owned());
        }
    }
    // Bedrock: -v1:0
    if let Some((head, ver)) = name.rsplit_once("-v") {
        if let Some((maj, min)) = ver.split_once(':') {
            if digits(maj.as_bytes()) && digits(min.as_bytes()) {
                return Some(head.to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        let json = br#"{
            "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
            "gpt-4o": {"input_cost_per_token": 2.5e-6, "output_cost_per_token": 1e-5, "cache_read_input_token_cost": 1.25e-6, "litellm_provider": "openai"},
            "gpt-4o-mini": {"input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7, "litellm_provider": "openai"},
            "o3": {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6, "output_cost_per_reasoning_token": 9e-6},
            "claude-sonnet-4-5": {"input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5, "cache_read_input_token_cost": 3e-7, "cache_creation_input_token_cost": 3.75e-6},
            "anthropic/claude-3-haiku": {"input_cost_per_token": 2.5e-7, "output_cost_per_token": 1.25e-6},
            "dall-e-3": {"input_cost_per_pixel": 1e-8, "litellm_provider": "openai"},
            "weird": "not a price"
        }"#;
        PriceTable::from_json(json, "test").unwrap_or_else(|e| panic!("{e}"))
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn key(provider: Option<&str>, model: &str) -> Option<String> {
        table().lookup(provider, model).map(|(k, _)| k.to_owned())
    }

    #[test]
    fn exact_then_normalised() {
        assert_eq!(key(None, "gpt-4o-mini").as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            key(None, "gpt-4o-mini-2024-07-18").as_deref(),
            Some("gpt-4o-mini")
        );
        assert_eq!(key(None, "openai/gpt-4o").as_deref(), Some("gpt-4o"));
        assert_eq!(key(None, "GPT-4o").as_deref(), Some("gpt-4o"));
        assert_eq!(
            key(None, "claude-sonnet-4-5-20250929").as_deref(),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            key(Some("anthropic"), "claude-3-haiku").as_deref(),
            Some("anthropic/claude-3-haiku")
        );
        assert_eq!(
            key(None, "claude-sonnet-4-5@20250929").as_deref(),
            Some("claude-sonnet-4-5")
        );
    }

    #[test]
    fn never_a_fuzzy_guess() {
        // A prefix of a known name, or a known name's extension, is not that model.
        assert_eq!(key(None, "gpt-4"), None);
        assert_eq!(key(None, "gpt-4o-mini-tts"), None);
        assert_eq!(key(None, "my-finetune"), None);
        assert_eq!(key(None, "sample_spec"), None);
        assert_eq!(key(None, "dall-e-3"), None, "no per-token price is not $0");
        assert_eq!(table().cost(None, "unknown-model", &Usage::default()), None);
    }

    #[test]
    fn cost_counts_cached_tokens_once() {
        let u = Usage {
            input: 1000,
            output: 100,
            cache_read: 800,
            ..Usage::default()
        };
        let c = table().cost(None, "gpt-4o", &u).unwrap_or(f64::NAN);
        assert!(
            close(c, 200.0 * 2.5e-6 + 800.0 * 1.25e-6 + 100.0 * 1e-5),
            "{c}"
        );
    }

    #[test]
    fn cost_cache_write_and_reasoning_rates() {
        let u = Usage {
            input: 100,
            output: 50,
            cache_read: 10,
            cache_write: 20,
            reasoning: 0,
        };
        let c = table()
            .cost(None, "claude-sonnet-4-5", &u)
            .unwrap_or(f64::NAN);
        assert!(
            close(
                c,
                70.0 * 3e-6 + 10.0 * 3e-7 + 20.0 * 3.75e-6 + 50.0 * 1.5e-5
            ),
            "{c}"
        );
        let u = Usage {
            input: 10,
            output: 100,
            reasoning: 60,
            ..Usage::default()
        };
        let c = table().cost(None, "o3", &u).unwrap_or(f64::NAN);
        assert!(close(c, 10.0 * 2e-6 + 40.0 * 8e-6 + 60.0 * 9e-6), "{c}");
    }

    #[test]
    fn missing_cache_rate_falls_back_to_input_rate() {
        let u = Usage {
            input: 100,
            cache_read: 100,
            ..Usage::default()
        };
        let c = table().cost(None, "gpt-4o-mini", &u).unwrap_or(f64::NAN);
        assert!(close(c, 100.0 * 1.5e-7));
    }

    #[test]
    fn embedded_snapshot_loads_and_prices_common_models() {
        let t = PriceTable::embedded().unwrap_or_else(|e| panic!("{e}"));
        assert!(t.len() > 500);
        for m in [
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "text-embedding-3-small",
            "o3-mini",
        ] {
            assert!(t.lookup(Some("openai"), m).is_some(), "{m}");
        }
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(PriceTable::from_json(b"{", "x").is_err());
        assert!(matches!(
            PriceTable::from_json(b"{}", "x"),
            Err(PricingError::Empty)
        ));
    }
}
