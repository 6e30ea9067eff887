//! Command line and environment: raw options (flags > environment > `.env` > defaults, via
//! clap) validated into a [`Config`] with errors that name the setting.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::proxy::upstreams::Upstreams;
use anyhow::{bail, Context};
use clap::Parser;

/// Local-first observability for LLM applications: a proxy that records every call, an
/// OTLP collector, and a live dashboard, all in one binary over one SQLite file.
#[derive(Debug, Clone, Parser)]
#[command(name = "llmflow", version, about, long_about = None, after_help = PROVIDER_HELP)]
pub struct Cli {
    /// Address both listeners bind to. Anything other than loopback exposes your prompts to
    /// the network.
    #[arg(long, env = "LLMFLOW_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port of the LLM proxy (point your SDK's base URL here).
    #[arg(long, env = "PROXY_PORT", default_value_t = 8080)]
    pub proxy_port: u16,

    /// Port of the dashboard, JSON API, WebSocket feed and OTLP/HTTP receiver.
    #[arg(long, env = "DASHBOARD_PORT", default_value_t = 3000)]
    pub dashboard_port: u16,

    /// OTLP/HTTP port (protobuf and JSON; the dashboard port takes OTLP/HTTP too). 0 turns it
    /// off. When the default 4318 is busy (another collector), llmflow starts without it.
    #[arg(long, env = "OTLP_HTTP_PORT")]
    pub otlp_http_port: Option<u16>,

    /// OTLP/gRPC port. 0 turns it off. When the default 4317 is busy, llmflow starts without it.
    #[arg(long, env = "OTLP_GRPC_PORT")]
    pub otlp_grpc_port: Option<u16>,

    /// Largest OTLP request accepted, in bytes, after decompression too (413 beyond).
    #[arg(long, env = "LLMFLOW_OTLP_MAX_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub otlp_max_bytes: usize,

    /// Directory for the database and the pricing cache (`~` is expanded).
    #[arg(long, env = "DATA_DIR", default_value = "~/.llmflow")]
    pub data_dir: String,

    /// SQLite database file [default: $DATA_DIR/data.db].
    #[arg(long, env = "DB_PATH")]
    pub db_path: Option<String>,

    /// Traces kept; the oldest whole traces are deleted beyond this (0 keeps everything).
    #[arg(long, env = "MAX_TRACES", default_value_t = 10_000)]
    pub max_traces: u64,

    /// Log records kept (0 keeps everything).
    #[arg(long, env = "MAX_LOGS", default_value_t = 100_000)]
    pub max_logs: u64,

    /// Metric data points kept (0 keeps everything).
    #[arg(long, env = "MAX_METRICS", default_value_t = 1_000_000)]
    pub max_metrics: u64,

    /// Log more (debug level for llmflow). The variable takes 1/0, true/false, yes/no, on/off.
    #[arg(
        short,
        long,
        env = "VERBOSE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub verbose: bool,

    /// Where the daily price-table refresh downloads LiteLLM's price JSON from. Empty disables
    /// the refresh; the embedded snapshot is used.
    #[arg(
        long,
        env = "PRICING_URL",
        default_value = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
    )]
    pub pricing_url: String,

    /// Upstream for the OpenAI provider (scheme, host, optional port and path prefix).
    #[arg(
        long,
        env = "LLMFLOW_OPENAI_BASE_URL",
        default_value = "https://api.openai.com"
    )]
    pub openai_base_url: String,

    /// Extra OpenAI-compatible upstreams, each `name=url` (routed at `/<name>/...`, keyed by
    /// `LLMFLOW_<NAME>_API_KEY`), e.g. `deepseek=https://api.deepseek.com`. Repeatable;
    /// the variable takes a comma-separated list.
    #[arg(long = "provider", env = "LLMFLOW_PROVIDERS", value_delimiter = ',')]
    pub providers: Vec<String>,

    /// With no credentials on a request, add the provider's key from its standard variable
    /// (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY...). Cross-origin browser requests
    /// are then refused, so no web page can spend your keys.
    #[arg(
        long,
        env = "LLMFLOW_INJECT_KEYS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub inject_keys: bool,

    /// Seconds allowed to connect to an upstream (502 after).
    #[arg(long, env = "LLMFLOW_CONNECT_TIMEOUT", default_value_t = 10.0)]
    pub connect_timeout: f64,

    /// Seconds allowed from sending a request to the upstream's response headers (504 after).
    /// A response that is flowing is never cut.
    #[arg(long, env = "LLMFLOW_FIRST_BYTE_TIMEOUT", default_value_t = 600.0)]
    pub first_byte_timeout: f64,

    /// Bytes of each request and response body stored; the rest is forwarded but not kept,
    /// and the stored body is marked truncated.
    #[arg(long, env = "LLMFLOW_CAPTURE_BYTES", default_value_t = 1024 * 1024)]
    pub capture_bytes: usize,

    /// Largest JSON request body the proxy reads to learn the model (413 beyond). Other
    /// bodies (uploads) stream through whatever their size.
    #[arg(long, env = "LLMFLOW_MAX_JSON_BODY", default_value_t = 64 * 1024 * 1024)]
    pub max_json_body: usize,

    /// For streamed chat completions that do not ask for usage, ask the upstream for it and
    /// remove it from what the client receives, so the record has tokens.
    #[arg(
        long,
        env = "LLMFLOW_STREAM_USAGE",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub stream_usage: bool,

    /// Records waiting to be written; beyond it records are dropped (and counted), never the
    /// user's call delayed.
    #[arg(long, env = "LLMFLOW_QUEUE_CAPACITY", default_value_t = 50_000)]
    pub queue_capacity: usize,

    /// Most records written in one transaction.
    #[arg(long, env = "LLMFLOW_BATCH_SIZE", default_value_t = 1000)]
    pub batch_size: usize,

    /// Milliseconds the writer gathers records before committing.
    #[arg(long, env = "LLMFLOW_FLUSH_INTERVAL_MS", default_value_t = 5)]
    pub flush_interval_ms: u64,

    /// Seconds that streams in flight may take to finish on shutdown.
    #[arg(long, env = "LLMFLOW_SHUTDOWN_GRACE", default_value_t = 10.0)]
    pub shutdown_grace: f64,
}

const PROVIDER_HELP: &str = "\
Providers (prefix /<name>/... or header X-LLMFlow-Provider: <name>):
  openai (default), anthropic, gemini, ollama, groq, mistral, together, perplexity,
  openrouter, cohere, azure, and any added with --provider.
  Each upstream is overridden by LLMFLOW_<NAME>_BASE_URL (e.g. LLMFLOW_ANTHROPIC_BASE_URL).
  Ollama also reads OLLAMA_HOST / OLLAMA_PORT. Azure reads AZURE_OPENAI_RESOURCE,
  AZURE_OPENAI_API_VERSION (2024-02-01), AZURE_DEPLOYMENT_<MODEL>; header x-azure-resource.
Passthrough (native formats, credentials untouched): /passthrough/{openai,anthropic,gemini,helicone}/...
Helicone: HELICONE_BASE_URL, or HELICONE_HOST / HELICONE_PORT / HELICONE_PROTOCOL
  (default https://oai.helicone.ai; http for localhost), HELICONE_API_KEY.
Keys for LLMFLOW_INJECT_KEYS: OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or
  GOOGLE_API_KEY, GROQ_API_KEY, MISTRAL_API_KEY, TOGETHER_API_KEY, PERPLEXITY_API_KEY,
  OPENROUTER_API_KEY, COHERE_API_KEY, AZURE_OPENAI_API_KEY, OLLAMA_API_KEY.";

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub proxy_port: u16,
    pub dashboard_port: u16,
    /// (port, chosen explicitly). Port 0: off.
    pub otlp_http_port: (u16, bool),
    pub otlp_grpc_port: (u16, bool),
    pub otlp_max_bytes: usize,
    pub data_dir: PathBuf,
    pub db_path: PathBuf,
    pub max_traces: u64,
    pub max_logs: u64,
    pub max_metrics: u64,
    pub verbose: bool,
    pub pricing_url: Option<String>,
    /// Every provider's upstream, auth style and (optional) key.
    pub upstreams: Upstreams,
    pub inject_keys: bool,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub capture_bytes: usize,
    pub max_json_body: usize,
    pub stream_usage: bool,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub shutdown_grace: Duration,
}

impl Config {
    /// Reads `.env` (never overriding the real environment), then flags and environment.
    pub fn load() -> anyhow::Result<Self> {
        // A missing .env is normal; a malformed one is worth saying.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => bail!("reading .env: {e}"),
        }
        Self::from_cli(Cli::parse())
    }

    pub fn from_cli(cli: Cli) -> anyhow::Result<Self> {
        let env = |k: &str| std::env::var(k).ok();
        Self::from_cli_env(cli, &env)
    }

    /// As [`Config::from_cli`], with the provider variables read through `env`.
    pub fn from_cli_env(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let data_dir = expand_home(&cli.data_dir).context("DATA_DIR")?;
        let db_path = match &cli.db_path {
            Some(p) if !p.is_empty() => expand_home(p).context("DB_PATH")?,
            _ => data_dir.join("data.db"),
        };
        if cli.proxy_port != 0 && cli.proxy_port == cli.dashboard_port {
            bail!(
                "PROXY_PORT and DASHBOARD_PORT are both {}: give them different ports",
                cli.proxy_port
            );
        }
        Ok(Config {
            host: cli.host,
            proxy_port: cli.proxy_port,
            dashboard_port: cli.dashboard_port,
            otlp_http_port: (
                cli.otlp_http_port.unwrap_or(4318),
                cli.otlp_http_port.is_some(),
            ),
            otlp_grpc_port: (
                cli.otlp_grpc_port.unwrap_or(4317),
                cli.otlp_grpc_port.is_some(),
            ),
            otlp_max_bytes: positive(cli.otlp_max_bytes, "LLMFLOW_OTLP_MAX_BYTES")?,
            data_dir,
            db_path,
            max_traces: cli.max_traces,
            max_logs: cli.max_logs,
            max_metrics: cli.max_metrics,
            verbose: cli.verbose,
            pricing_url: Some(cli.pricing_url.trim().to_owned()).filter(|u| !u.is_empty()),
            upstreams: Upstreams::from_env(env, &cli.openai_base_url, &cli.providers)?,
            inject_keys: cli.inject_keys,
            connect_timeout: seconds(cli.connect_timeout, "LLMFLOW_CONNECT_TIMEOUT")?,
            first_byte_timeout: seconds(cli.first_byte_timeout, "LLMFLOW_FIRST_BYTE_TIMEOUT")?,
            capture_bytes: cli.capture_bytes,
            max_json_body: cli.max_json_body,
            stream_usage: cli.stream_usage,
            queue_capacity: positive(cli.queue_capacity, "LLMFLOW_QUEUE_CAPACITY")?,
            batch_size: positive(cli.batch_size, "LLMFLOW_BATCH_SIZE")?,
            flush_interval: Duration::from_millis(cli.flush_interval_ms),
            shutdown_grace: seconds(cli.shutdown_grace, "LLMFLOW_SHUTDOWN_GRACE")?,
        })
    }

    pub fn proxy_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.proxy_port)
    }

    pub fn dashboard_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.dashboard_port)
    }

    /// A configuration for tests: temp data dir, ephemeral ports, no pricing download, and
    /// provider variables from `vars` only (never the developer's real keys).
    pub fn for_tests(data_dir: &std::path::Path, openai_base_url: &str) -> anyhow::Result<Self> {
        Self::for_tests_with(data_dir, openai_base_url, &[])
    }

    pub fn for_tests_with(
        data_dir: &std::path::Path,
        openai_base_url: &str,
        vars: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut cli = Cli::parse_from(["llmflow"]);
        cli.data_dir = data_dir.display().to_string();
        cli.openai_base_url = openai_base_url.to_owned();
        cli.pricing_url = String::new();
        cli.proxy_port = 0;
        cli.dashboard_port = 0;
        cli.providers = Vec::new();
        cli.inject_keys = false;
        cli.otlp_http_port = Some(0);
        cli.otlp_grpc_port = Some(0);
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Self::from_cli_env(cli, &env)
    }
}

fn expand_home(p: &str) -> anyhow::Result<PathBuf> {
    if p == "~" || p.starts_with("~/") {
        let home = std::env::var_os("HOME").context("~ used but HOME is not set")?;
        let mut out = PathBuf::from(home);
        if p.len() > 2 {
            out.push(&p[2..]);
        }
        return Ok(out);
    }
    Ok(PathBuf::from(p))
}

fn seconds(v: f64, name: &str) -> anyhow::Result<Duration> {
    if !v.is_finite() || v <= 0.0 {
        bail!("{name}: must be a positive number of seconds, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

fn positive(v: usize, name: &str) -> anyhow::Result<usize> {
    if v == 0 {
        bail!("{name}: must be at least 1");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        let mut all = vec!["llmflow"];
        all.extend_from_slice(args);
        Config::from_cli(Cli::try_parse_from(all)?)
    }

    #[test]
    fn defaults() {
        let c = parse(&["--data-dir", "/tmp/x"]).unwrap();
        assert_eq!(c.proxy_addr().to_string(), "127.0.0.1:8080");
        assert_eq!(c.dashboard_addr().to_string(), "127.0.0.1:3000");
        assert_eq!(c.db_path, PathBuf::from("/tmp/x/data.db"));
        assert_eq!(
            c.upstreams.openai().base.to_string(),
            "https://api.openai.com/"
        );
        assert!(c.stream_usage);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = |args: &[&str]| format!("{:#}", parse(args).unwrap_err());
        assert!(err(&["--proxy-port", "99999"]).contains("--proxy-port"));
        assert!(err(&["--openai-base-url", "ftp://x"]).contains("LLMFLOW_OPENAI_BASE_URL"));
        assert!(err(&["--connect-timeout", "0"]).contains("LLMFLOW_CONNECT_TIMEOUT"));
        assert!(err(&["--proxy-port", "3000"]).contains("PROXY_PORT"));
        assert!(err(&["--host", "nope"]).contains("--host"));
    }

    #[test]
    fn verbose_accepts_the_usual_spellings() {
        assert!(parse(&["--verbose"]).unwrap().verbose);
        assert!(!parse(&[]).unwrap().verbose);
        assert!(parse(&["--stream-usage", "maybe"]).is_err());
    }

    #[test]
    fn stream_usage_switches_off() {
        assert!(!parse(&["--stream-usage", "false"]).unwrap().stream_usage);
        assert!(!parse(&["--stream-usage", "0"]).unwrap().stream_usage);
    }

    #[test]
    fn home_is_expanded() {
        let c = parse(&["--data-dir", "~/.llmflow"]).unwrap();
        assert!(!c.data_dir.to_string_lossy().contains('~'));
    }
}
