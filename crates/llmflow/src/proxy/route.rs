//! Which upstream a request goes to, on which path, in which wire format, and how its
//! credentials are presented there.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;
use llmflow_core::providers::Provider;

use super::upstreams::{azure_deployment_key, AuthStyle, Upstream, Upstreams};

/// A resolved request.
#[derive(Debug)]
pub struct Route<'a> {
    pub upstream: &'a Upstream,
    /// Path and query to call on the upstream (prefix stripped).
    pub path: String,
    /// `/passthrough/...`: native format, credentials exactly as sent, no translation.
    pub passthrough: bool,
    /// The wire format of this particular path.
    pub wire: Provider,
    /// An OpenAI chat-completions body to translate into `wire`.
    pub translate: bool,
}

impl Route<'_> {
    pub fn is_helicone(&self) -> bool {
        self.upstream.name == "helicone"
    }
}

fn split_first(pq: &str) -> (&str, &str) {
    let rest = pq.strip_prefix('/').unwrap_or(pq);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    (&rest[..end], &rest[end..])
}

fn normalise(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_owned()
    }
}

/// `/passthrough/<name>/...` first; then `X-LLMFlow-Provider` (path unchanged); then a first
/// path segment naming a provider (stripped); else OpenAI with the path as is.
pub fn resolve<'a>(
    ups: &'a Upstreams,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Route<'a>, String> {
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let known = || {
        ups.list
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (first, rest) = split_first(pq);
    let (upstream, path, passthrough) = if first == "passthrough" {
        let (name, rest) = split_first(rest);
        match ups.get(name) {
            Some(u) => (u, normalise(rest), true),
            None => {
                return Err(format!(
                    "llmflow: unknown passthrough provider '{name}'; known: {}",
                    known()
                ))
            }
        }
    } else if let Some(name) = headers
        .get("x-llmflow-provider")
        .and_then(|v| v.to_str().ok())
    {
        match ups.get(name.trim()) {
            Some(u) => (u, pq.to_owned(), false),
            None => {
                return Err(format!(
                    "llmflow: unknown provider '{name}' in X-LLMFlow-Provider; known: {}",
                    known()
                ))
            }
        }
    } else if let Some(u) = ups.get(first).filter(|_| !first.is_empty()) {
        (u, normalise(rest), false)
    } else {
        (ups.openai(), pq.to_owned(), false)
    };
    let path_only = path.split('?').next().unwrap_or("");
    let wire = wire_for(upstream.wire, path_only);
    let translate = !passthrough
        && wire.translates_openai_chat()
        && path_only
            .trim_end_matches('/')
            .ends_with("/chat/completions");
    Ok(Route {
        upstream,
        path,
        passthrough,
        wire,
        translate,
    })
}

/// Some providers serve more than one wire format: Ollama's `/v1` is OpenAI's, Gemini's
/// `/v1beta/openai/` too.
fn wire_for(native: Provider, path: &str) -> Provider {
    match native {
        Provider::Ollama if !path.starts_with("/api/") => Provider::OpenAi,
        Provider::Gemini if path.contains("/openai/") => Provider::OpenAi,
        other => other,
    }
}

fn has(headers: &HeaderMap, name: &str) -> bool {
    headers.get(name).is_some_and(|v| !v.as_bytes().is_empty())
}

fn query_has_key(path: &str) -> bool {
    path.split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("key=")))
}

/// The request carries credentials of any kind.
pub fn has_credentials(headers: &HeaderMap, path: &str) -> bool {
    ["authorization", "x-api-key", "api-key", "x-goog-api-key"]
        .iter()
        .any(|h| has(headers, h))
        || query_has_key(path)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Presents an OpenAI SDK's `Authorization: Bearer` the way the provider's own API wants it
/// (provider routes only; passthrough keeps credentials exactly as sent), and adds the
/// headers the API requires.
pub fn map_auth(route: &Route, headers: &mut HeaderMap) {
    if route.passthrough {
        return;
    }
    let target = match route.upstream.auth {
        AuthStyle::XApiKey => Some("x-api-key"),
        AuthStyle::GoogApiKey if !query_has_key(&route.path) => Some("x-goog-api-key"),
        AuthStyle::ApiKey => Some("api-key"),
        _ => None,
    };
    if let Some(target) = target {
        if !has(headers, target) {
            if let Some(token) = bearer(headers) {
                headers.remove(http::header::AUTHORIZATION);
                set(headers, target, &token);
            }
        }
    }
    if route.upstream.wire == Provider::Anthropic && !has(headers, "anthropic-version") {
        set(headers, "anthropic-version", "2023-06-01");
    }
}

/// Adds the server-side key (`LLMFLOW_INJECT_KEYS`) when the request carries none.
pub fn inject_key(route: &Route, headers: &mut HeaderMap) -> bool {
    let Some(key) = route.upstream.key.as_ref() else {
        return false;
    };
    if has_credentials(headers, &route.path) {
        return false;
    }
    match route.upstream.auth {
        AuthStyle::Bearer => set(headers, "authorization", &format!("Bearer {}", key.0)),
        AuthStyle::XApiKey => set(headers, "x-api-key", &key.0),
        AuthStyle::GoogApiKey => set(headers, "x-goog-api-key", &key.0),
        AuthStyle::ApiKey => set(headers, "api-key", &key.0),
    }
    if route.upstream.wire == Provider::Anthropic && !has(headers, "anthropic-version") {
        set(headers, "anthropic-version", "2023-06-01");
    }
    true
}

/// Azure OpenAI: the resource picks the host, the model picks the deployment, and the path
/// becomes `/openai/deployments/{deployment}{path without /v1}?api-version=...`.
pub fn azure_target(
    ups: &Upstreams,
    headers: &HeaderMap,
    path: &str,
    model: Option<&str>,
) -> Result<(Uri, String), String> {
    let az = &ups.azure;
    let resource = ["x-azure-resource", "x-llmflow-azure-resource"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(|s| s.trim().to_owned())
        .or_else(|| az.resource.clone());
    let base = match (&resource, az.base_override) {
        (_, true) => ups
            .get("azure")
            .map(|u| u.base.clone())
            .ok_or("llmflow: azure is not configured")?,
        (Some(r), false) => {
            if !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("llmflow: '{r}' is not an Azure resource name"));
            }
            format!("https://{r}.openai.azure.com")
                .parse()
                .map_err(|e| format!("llmflow: bad Azure resource: {e}"))?
        }
        (None, false) => return Err(
            "llmflow: Azure needs a resource: set AZURE_OPENAI_RESOURCE or send x-azure-resource"
                .into(),
        ),
    };
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    if p.starts_with("/openai/") {
        // Already an Azure path (Azure SDKs): keep it.
        return Ok((base, path.to_owned()));
    }
    let Some(model) = model else {
        return Err("llmflow: Azure needs a model in the body to pick the deployment".into());
    };
    let deployment = az
        .deployments
        .get(&azure_deployment_key(model))
        .cloned()
        .unwrap_or_else(|| model.replace('.', ""));
    let rest = p.strip_prefix("/v1").unwrap_or(p);
    let mut query: Vec<&str> = q.split('&').filter(|kv| !kv.is_empty()).collect();
    let version = format!("api-version={}", az.api_version);
    if !query.iter().any(|kv| kv.starts_with("api-version=")) {
        query.push(&version);
    }
    Ok((
        base,
        format!("/openai/deployments/{deployment}{rest}?{}", query.join("&")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ups() -> Upstreams {
        let env = |k: &str| match k {
            "AZURE_OPENAI_RESOURCE" => Some("myres".to_owned()),
            _ => None,
        };
        Upstreams::from_env(
            &env,
            "https://api.openai.com",
            &["vllm=http://127.0.0.1:8000".into()],
        )
        .unwrap()
    }

    fn route(path: &str, hdr: Option<&str>) -> (String, String, bool, Provider, bool) {
        let u = ups();
        let mut h = HeaderMap::new();
        if let Some(p) = hdr {
            h.insert("x-llmflow-provider", HeaderValue::from_str(p).unwrap());
        }
        let r = resolve(&u, &h, &path.parse().unwrap()).unwrap();
        (
            r.upstream.name.clone(),
            r.path,
            r.passthrough,
            r.wire,
            r.translate,
        )
    }

    #[test]
    fn routing() {
        assert_eq!(
            route("/v1/chat/completions?a=1", None),
            (
                "openai".into(),
                "/v1/chat/completions?a=1".into(),
                false,
                Provider::OpenAi,
                false
            )
        );
        assert_eq!(route("/groq/v1/chat/completions", None).0, "groq");
        assert_eq!(
            route("/groq/v1/chat/completions", None).1,
            "/v1/chat/completions"
        );
        assert_eq!(
            route("/anthropic/v1/chat/completions", None),
            (
                "anthropic".into(),
                "/v1/chat/completions".into(),
                false,
                Provider::Anthropic,
                true
            )
        );
        assert!(!route("/anthropic/v1/messages", None).4);
        assert_eq!(
            route("/passthrough/anthropic/v1/messages?beta=true", None),
            (
                "anthropic".into(),
                "/v1/messages?beta=true".into(),
                true,
                Provider::Anthropic,
                false
            )
        );
        assert_eq!(
            route("/passthrough/helicone/v1/chat/completions", None).0,
            "helicone"
        );
        assert_eq!(
            route("/gemini/v1beta/openai/chat/completions", None).3,
            Provider::OpenAi
        );
        assert_eq!(route("/ollama/api/chat", None).3, Provider::Ollama);
        assert_eq!(
            route("/ollama/v1/chat/completions", None).3,
            Provider::OpenAi
        );
        assert_eq!(route("/vllm/v1/models", None).0, "vllm");
        assert_eq!(
            route("/v1/messages", Some("anthropic")),
            (
                "anthropic".into(),
                "/v1/messages".into(),
                false,
                Provider::Anthropic,
                false
            )
        );
        assert_eq!(route("/groqx/v1", None).0, "openai");
        let u = ups();
        assert!(resolve(
            &u,
            &HeaderMap::new(),
            &"/passthrough/nope/x".parse().unwrap()
        )
        .is_err());
    }

    #[test]
    fn bearer_becomes_the_native_key_except_in_passthrough() {
        let u = ups();
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer sk-ant-1"));
        let r = resolve(&u, &h, &"/anthropic/v1/messages".parse().unwrap()).unwrap();
        let mut out = h.clone();
        map_auth(&r, &mut out);
        assert_eq!(out["x-api-key"], "sk-ant-1");
        assert!(!out.contains_key("authorization"));
        assert_eq!(out["anthropic-version"], "2023-06-01");
        let r = resolve(
            &u,
            &h,
            &"/passthrough/anthropic/v1/messages".parse().unwrap(),
        )
        .unwrap();
        let mut out = h.clone();
        map_auth(&r, &mut out);
        assert_eq!(
            out["authorization"], "Bearer sk-ant-1",
            "OAuth bearer tokens stay bearer"
        );
    }

    #[test]
    fn azure_paths() {
        let u = ups();
        let (base, path) = azure_target(
            &u,
            &HeaderMap::new(),
            "/v1/chat/completions",
            Some("gpt-4.1"),
        )
        .unwrap();
        assert_eq!(base.to_string(), "https://myres.openai.azure.com/");
        assert_eq!(
            path,
            "/openai/deployments/gpt-41/chat/completions?api-version=2024-02-01"
        );
        let mut h = HeaderMap::new();
        h.insert("x-azure-resource", HeaderValue::from_static("other"));
        let (base, _) = azure_target(&u, &h, "/v1/embeddings", Some("e")).unwrap();
        assert_eq!(base.host(), Some("other.openai.azure.com"));
        assert!(azure_target(&u, &h, "/v1/chat/completions", None).is_err());
    }
}
