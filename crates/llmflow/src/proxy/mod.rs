//! The proxy listener: provider routing, byte-exact forwarding and the capture tee.

mod capture;
mod forward;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llmflow_core::providers::Provider;
use serde_json::json;

use crate::config::Config;
use crate::pricing::Pricing;
use crate::store::Store;

/// The pooled upstream client: rustls, HTTP/1.1 and HTTP/2 (ALPN).
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, axum::body::Body>;

pub fn http_client(connect_timeout: Duration) -> anyhow::Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(512)
        .build(https))
}

/// Everything a proxied call needs.
pub struct ProxyState {
    pub config: Arc<Config>,
    pub client: HttpClient,
    pub store: Arc<Store>,
    pub pricing: Arc<Pricing>,
    pub started: Instant,
    pub port: u16,
}

impl ProxyState {
    /// Upstream base URL of a provider.
    pub fn base_url(&self, provider: Provider) -> &http::Uri {
        match provider {
            Provider::OpenAi => &self.config.openai_base_url,
        }
    }
}

pub fn router(state: Arc<ProxyState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/providers", get(providers))
        .fallback(forward::forward)
        .with_state(state)
}

async fn health(State(st): State<Arc<ProxyState>>) -> Response {
    let traces = st
        .store
        .counters()
        .span_rows
        .load(std::sync::atomic::Ordering::Relaxed);
    Json(json!({
        "status": "ok",
        "service": "proxy",
        "version": env!("CARGO_PKG_VERSION"),
        "port": st.port,
        "traces": traces,
        "uptime": st.started.elapsed().as_secs(),
        "providers": Provider::ALL.iter().map(|p| p.name()).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn providers(State(st): State<Arc<ProxyState>>) -> Response {
    let list: Vec<_> = Provider::ALL
        .iter()
        .map(|p| {
            json!({
                "name": p.name(),
                "prefix": if *p == Provider::OpenAi { "/v1".to_owned() } else { format!("/{}/v1", p.name()) },
                "upstream": st.base_url(*p).to_string().trim_end_matches('/'),
                "base_url_env": p.base_url_env(),
            })
        })
        .collect();
    Json(json!({
        "providers": list,
        "passthrough": [],
        "usage": {
            "default": format!("OpenAI SDK: base_url = http://localhost:{}/v1", st.port),
            "header": "X-LLMFlow-Provider: <name> picks a provider without changing the path",
            "tags": "X-LLMFlow-Tag / X-LLMFlow-Tags: comma-separated tags",
            "trace": "x-trace-id / x-parent-id or W3C traceparent link a call into a trace",
        },
    }))
    .into_response()
}
