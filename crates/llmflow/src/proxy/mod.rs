//! The proxy listener: provider routing, byte-exact forwarding and the capture tee.

mod capture;
mod forward;
mod helicone;
mod route;
pub mod upstreams;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
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
        "providers": st.config.upstreams.list.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn providers(State(st): State<Arc<ProxyState>>) -> Response {
    let ups = &st.config.upstreams;
    let list: Vec<_> = ups
        .list
        .iter()
        .map(|u| {
            json!({
                "name": u.name,
                "prefix": format!("/{}", u.name),
                "upstream": u.base.to_string().trim_end_matches('/'),
                "wire": u.wire.name(),
                "translates_openai_chat": u.wire.translates_openai_chat(),
                "base_url_env": format!("LLMFLOW_{}_BASE_URL", u.name.to_ascii_uppercase().replace('-', "_")),
                "key_env": u.key_vars,
                "key_configured": u.key.is_some(),
                "custom": u.custom,
            })
        })
        .collect();
    let passthrough: Vec<_> = ["openai", "anthropic", "gemini", "helicone"]
        .iter()
        .filter_map(|n| ups.get(n))
        .map(|u| {
            json!({
                "name": u.name,
                "route": format!("/passthrough/{}/", u.name),
                "upstream": u.base.to_string().trim_end_matches('/'),
            })
        })
        .collect();
    let port = st.port;
    Json(json!({
        "providers": list,
        "passthrough": passthrough,
        "default": "openai",
        "usage": {
            "openai_sdk": format!("base_url = http://localhost:{port}/v1"),
            "other_providers": format!("base_url = http://localhost:{port}/<provider>/v1, or header X-LLMFlow-Provider: <provider>"),
            "claude_code": format!("ANTHROPIC_BASE_URL=http://localhost:{port}/passthrough/anthropic"),
            "helicone": format!("base_url = http://localhost:{port}/passthrough/helicone/v1"),
            "tags": "X-LLMFlow-Tag / X-LLMFlow-Tags: comma-separated tags",
            "trace": "x-trace-id / x-parent-id or W3C traceparent link a call into a trace",
        },
    }))
    .into_response()
}
