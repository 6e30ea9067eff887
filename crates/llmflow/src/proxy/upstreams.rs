//! The routing table: every provider name and prefix, its upstream, its wire format and how
//! it authenticates. Built once from the environment at start-up.

use std::collections::HashMap;
use std::fmt;

use anyhow::{bail, Context};
use http::Uri;
use llmflow_core::providers::Provider;

/// How a provider expects its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `x-goog-api-key: <key>` (Gemini).
    GoogApiKey,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKey,
}

/// A key held in memory only; never printed.
#[derive(Clone)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// One routable provider.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Name, route prefix (`/groq/...`) and `X-LLMFlow-Provider` value.
    pub name: String,
    /// Wire format of its native API.
    pub wire: Provider,
    pub base: Uri,
    pub auth: AuthStyle,
    /// Variables the server-side key is read from, first set wins.
    pub key_vars: Vec<String>,
    /// The key, when one of `key_vars` is set (used for injection and health checks only).
    pub key: Option<Secret>,
    /// Built in (listed in the reference table) or named by the user.
    pub custom: bool,
}

/// Built-in providers: name, wire, default upstream, auth, key variables.
const BUILTIN: &[(&str, Provider, &str, AuthStyle, &[&str])] = &[
    (
        "openai",
        Provider::OpenAi,
        "https://api.openai.com",
        AuthStyle::Bearer,
        &["OPENAI_API_KEY"],
    ),
    (
        "anthropic",
        Provider::Anthropic,
        "https://api.anthropic.com",
        AuthStyle::XApiKey,
        &["ANTHROPIC_API_KEY"],
    ),
    (
        "gemini",
        Provider::Gemini,
        "https://generativelanguage.googleapis.com",
        AuthStyle::GoogApiKey,
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    ),
    (
        "ollama",
        Provider::Ollama,
        "http://localhost:11434",
        AuthStyle::Bearer,
        &["OLLAMA_API_KEY"],
    ),
    (
        "groq",
        Provider::OpenAi,
        "https://api.groq.com/openai",
        AuthStyle::Bearer,
        &["GROQ_API_KEY"],
    ),
    (
        "mistral",
        Provider::OpenAi,
        "https://api.mistral.ai",
        AuthStyle::Bearer,
        &["MISTRAL_API_KEY"],
    ),
    (
        "together",
        Provider::OpenAi,
        "https://api.together.xyz",
        AuthStyle::Bearer,
        &["TOGETHER_API_KEY"],
    ),
    (
        "perplexity",
        Provider::OpenAi,
        "https://api.perplexity.ai",
        AuthStyle::Bearer,
        &["PERPLEXITY_API_KEY"],
    ),
    (
        "openrouter",
        Provider::OpenAi,
        "https://openrouter.ai/api",
        AuthStyle::Bearer,
        &["OPENROUTER_API_KEY"],
    ),
    (
        "cohere",
        Provider::Cohere,
        "https://api.cohere.com",
        AuthStyle::Bearer,
        &["COHERE_API_KEY", "CO_API_KEY"],
    ),
    (
        "azure",
        Provider::OpenAi,
        "https://{resource}.openai.azure.com",
        AuthStyle::ApiKey,
        &["AZURE_OPENAI_API_KEY"],
    ),
];

/// Azure OpenAI settings.
#[derive(Debug, Clone, Default)]
pub struct AzureConfig {
    pub resource: Option<String>,
    pub api_version: String,
    /// `AZURE_DEPLOYMENT_<MODEL>` values, keyed by the variable's suffix.
    pub deployments: HashMap<String, String>,
    /// `LLMFLOW_AZURE_BASE_URL` given: no per-resource host.
    pub base_override: bool,
}

/// Where `/passthrough/helicone` goes.
#[derive(Debug, Clone)]
pub struct HeliconeConfig {
    pub base: Uri,
    pub api_key: Option<Secret>,
}

/// The whole table.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub list: Vec<Upstream>,
    pub azure: AzureConfig,
    pub helicone: HeliconeConfig,
}

/// Reads one variable, treating empty as unset.
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn parse_base_url(raw: &str, setting: &str) -> anyhow::Result<Uri> {
    let raw = raw.trim().trim_end_matches('/');
    let uri: Uri = raw
        .parse()
        .with_context(|| format!("{setting}: '{raw}' is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => bail!("{setting}: '{raw}' must start with http:// or https://"),
    }
    if uri.host().is_none() {
        bail!("{setting}: '{raw}' has no host");
    }
    if uri.query().is_some() {
        bail!("{setting}: '{raw}' must not have a query string");
    }
    Ok(uri)
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost" || h == "::1" || h.starts_with("127.")
}

/// Ollama's own `OLLAMA_HOST` forms: `host`, `host:port`, `:port`, `http://host:port`.
fn ollama_base(host: Option<String>, port: Option<String>) -> anyhow::Result<Option<String>> {
    if host.is_none() && port.is_none() {
        return Ok(None);
    }
    let raw = host.unwrap_or_else(|| "localhost".into());
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (s.to_owned(), r.to_owned()),
        None => ("http".to_owned(), raw.clone()),
    };
    let rest = rest.trim_end_matches('/');
    let (h, p) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()) => {
            (h.to_owned(), Some(p.to_owned()))
        }
        _ => (rest.to_owned(), None),
    };
    let h = match h.as_str() {
        "" | "0.0.0.0" => "localhost".to_owned(),
        _ => h,
    };
    let p = port.or(p).unwrap_or_else(|| "11434".into());
    if p.parse::<u16>().is_err() {
        bail!("OLLAMA_PORT: '{p}' is not a port");
    }
    Ok(Some(format!("{scheme}://{h}:{p}")))
}

impl Upstreams {
    /// Builds the table from variables (the process environment, which `.env` has filled).
    /// `openai_base` comes from the command line / `LLMFLOW_OPENAI_BASE_URL`; `custom` are
    /// `name=url` pairs from `--provider` / `LLMFLOW_PROVIDERS`.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        openai_base: &str,
        custom: &[String],
    ) -> anyhow::Result<Self> {
        let mut list = Vec::new();
        let azure_override = var(env, "LLMFLOW_AZURE_BASE_URL");
        for (name, wire, default, auth, keys) in BUILTIN {
            let setting = format!("LLMFLOW_{}_BASE_URL", name.to_ascii_uppercase());
            let raw = match *name {
                "openai" => Some(openai_base.to_owned()),
                "ollama" => var(env, &setting).or(ollama_base(
                    var(env, "OLLAMA_HOST"),
                    var(env, "OLLAMA_PORT"),
                )?),
                "azure" => azure_override.clone(),
                _ => var(env, &setting),
            };
            let base = match raw {
                Some(r) => parse_base_url(&r, &setting)?,
                // Azure's host depends on the resource; the placeholder is replaced per call.
                None if *name == "azure" => Uri::from_static("https://azure.invalid"),
                None => parse_base_url(default, &setting)?,
            };
            let key_vars: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            let key = key_vars.iter().find_map(|k| var(env, k)).map(Secret);
            list.push(Upstream {
                name: (*name).to_owned(),
                wire: *wire,
                base,
                auth: *auth,
                key_vars,
                key,
                custom: false,
            });
        }
        for entry in custom
            .iter()
            .flat_map(|c| c.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            let Some((name, url)) = entry.split_once('=') else {
                bail!("LLMFLOW_PROVIDERS: '{entry}' must be name=url");
            };
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                || [
                    "passthrough",
                    "v1",
                    "health",
                    "providers",
                    "api",
                    "helicone",
                ]
                .contains(&name.as_str())
            {
                bail!("LLMFLOW_PROVIDERS: '{name}' cannot be a provider name");
            }
            if list.iter().any(|u: &Upstream| u.name == name) {
                bail!("LLMFLOW_PROVIDERS: '{name}' is already a provider");
            }
            let var_name = name.to_ascii_uppercase().replace('-', "_");
            let base = parse_base_url(url, &format!("LLMFLOW_PROVIDERS ({name})"))?;
            let key_vars = vec![
                format!("LLMFLOW_{var_name}_API_KEY"),
                format!("{var_name}_API_KEY"),
            ];
            let key = key_vars.iter().find_map(|k| var(env, k)).map(Secret);
            list.push(Upstream {
                name,
                wire: Provider::OpenAi,
                base,
                auth: AuthStyle::Bearer,
                key_vars,
                key,
                custom: true,
            });
        }

        let mut deployments = HashMap::new();
        for (k, v) in std::env::vars() {
            if let Some(model) = k.strip_prefix("AZURE_DEPLOYMENT_") {
                if !v.trim().is_empty() {
                    deployments.insert(model.to_owned(), v.trim().to_owned());
                }
            }
        }
        let azure = AzureConfig {
            resource: var(env, "AZURE_OPENAI_RESOURCE"),
            api_version: var(env, "AZURE_OPENAI_API_VERSION")
                .unwrap_or_else(|| "2024-02-01".into()),
            deployments,
            base_override: azure_override.is_some(),
        };

        let helicone_base = match var(env, "HELICONE_BASE_URL") {
            Some(u) => parse_base_url(&u, "HELICONE_BASE_URL")?,
            None => {
                let host = var(env, "HELICONE_HOST").unwrap_or_else(|| "oai.helicone.ai".into());
                let scheme = match var(env, "HELICONE_PROTOCOL").as_deref() {
                    Some("http") => "http",
                    Some("https") => "https",
                    Some(other) => bail!("HELICONE_PROTOCOL: '{other}' must be http or https"),
                    None if is_loopback(&host) => "http",
                    None => "https",
                };
                let default_port = if scheme == "http" { "80" } else { "443" };
                let port = var(env, "HELICONE_PORT");
                let url = match port.as_deref() {
                    Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
                    _ => format!("{scheme}://{host}"),
                };
                parse_base_url(&url, "HELICONE_HOST/HELICONE_PORT")?
            }
        };
        let helicone = HeliconeConfig {
            base: helicone_base.clone(),
            api_key: var(env, "HELICONE_API_KEY").map(Secret),
        };
        // Helicone's gateway speaks OpenAI's API; its own key travels in `Helicone-Auth`.
        list.push(Upstream {
            name: "helicone".into(),
            wire: Provider::OpenAi,
            base: helicone_base,
            auth: AuthStyle::Bearer,
            key_vars: vec!["OPENAI_API_KEY".into()],
            key: var(env, "OPENAI_API_KEY").map(Secret),
            custom: false,
        });
        Ok(Self {
            list,
            azure,
            helicone,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Upstream> {
        self.list.iter().find(|u| u.name.eq_ignore_ascii_case(name))
    }

    pub fn openai(&self) -> &Upstream {
        // Built in, always first.
        &self.list[0]
    }
}

/// An `AZURE_DEPLOYMENT_<MODEL>` key for a model name: upper case, non-alphanumerics as `_`.
pub fn azure_deployment_key(model: &str) -> String {
    model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(vars: &[(&str, &str)]) -> anyhow::Result<Upstreams> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| map.get(k).cloned();
        Upstreams::from_env(&env, "https://api.openai.com", &[])
    }

    #[test]
    fn defaults_follow_the_reference_table() {
        let t = table(&[]).unwrap();
        let base = |n: &str| t.get(n).unwrap().base.to_string();
        assert_eq!(base("anthropic"), "https://api.anthropic.com/");
        assert_eq!(base("groq"), "https://api.groq.com/openai");
        assert_eq!(base("openrouter"), "https://openrouter.ai/api");
        assert_eq!(base("ollama"), "http://localhost:11434/");
        assert_eq!(t.helicone.base.to_string(), "https://oai.helicone.ai/");
        assert!(t.get("anthropic").unwrap().key.is_none());
    }

    #[test]
    fn overrides_and_ollama_forms() {
        let t = table(&[
            ("LLMFLOW_GROQ_BASE_URL", "http://127.0.0.1:9/x"),
            ("OLLAMA_HOST", "0.0.0.0:11435"),
        ])
        .unwrap();
        assert_eq!(
            t.get("groq").unwrap().base.to_string(),
            "http://127.0.0.1:9/x"
        );
        assert_eq!(
            t.get("ollama").unwrap().base.to_string(),
            "http://localhost:11435/"
        );
        let t = table(&[("OLLAMA_HOST", "http://gpu-box"), ("OLLAMA_PORT", "9999")]).unwrap();
        assert_eq!(
            t.get("ollama").unwrap().base.to_string(),
            "http://gpu-box:9999/"
        );
        assert!(table(&[("LLMFLOW_MISTRAL_BASE_URL", "mistral.ai")])
            .unwrap_err()
            .to_string()
            .contains("LLMFLOW_MISTRAL_BASE_URL"));
    }

    #[test]
    fn helicone_self_hosted_is_plain_http() {
        let t = table(&[("HELICONE_HOST", "localhost"), ("HELICONE_PORT", "8585")]).unwrap();
        assert_eq!(t.helicone.base.to_string(), "http://localhost:8585/");
        let t = table(&[
            ("HELICONE_HOST", "helicone.internal"),
            ("HELICONE_PORT", "8443"),
        ])
        .unwrap();
        assert_eq!(
            t.helicone.base.to_string(),
            "https://helicone.internal:8443/"
        );
        let t = table(&[("HELICONE_HOST", "10.0.0.5"), ("HELICONE_PROTOCOL", "http")]).unwrap();
        assert_eq!(t.helicone.base.to_string(), "http://10.0.0.5/");
        let t = table(&[("HELICONE_BASE_URL", "http://127.0.0.1:8787")]).unwrap();
        assert_eq!(t.helicone.base.to_string(), "http://127.0.0.1:8787/");
    }

    #[test]
    fn custom_providers() {
        let map: HashMap<String, String> =
            [("DEEPSEEK_API_KEY".to_string(), "sk-d".to_string())].into();
        let env = move |k: &str| map.get(k).cloned();
        let t = Upstreams::from_env(
            &env,
            "https://api.openai.com",
            &["deepseek=https://api.deepseek.com, vllm=http://localhost:8000".into()],
        )
        .unwrap();
        let d = t.get("deepseek").unwrap();
        assert_eq!(d.wire, Provider::OpenAi);
        assert!(d.custom && d.key.is_some());
        assert_eq!(
            t.get("vllm").unwrap().base.to_string(),
            "http://localhost:8000/"
        );
        assert!(
            Upstreams::from_env(&env, "https://api.openai.com", &["openai=http://x".into()])
                .is_err()
        );
        assert!(Upstreams::from_env(&env, "https://api.openai.com", &["nourl".into()]).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        assert!(!format!("{:?}", Secret("sk-live".into())).contains("sk-live"));
        assert_eq!(azure_deployment_key("gpt-4o-mini"), "GPT_4O_MINI");
    }
}
