//! Wires the tasks: store writer, pricing refresh, live-feed hub, proxy and dashboard servers;
//! and shuts them down in order (stop accepting, let streams finish, flush, checkpoint).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::dashboard;
use crate::otlp;
use crate::pricing::Pricing;
use crate::proxy::{self, ProxyState};
use crate::store::{Store, StoreConfig};

/// The sockets llmflow serves on, bound before `run` so tests can use port 0.
pub struct Listeners {
    pub proxy: TcpListener,
    pub dashboard: TcpListener,
    pub otlp_http: Option<TcpListener>,
    pub otlp_grpc: Option<TcpListener>,
}

impl Listeners {
    /// Binds every port; a busy port is an error naming the setting, except the OTLP ports
    /// at their defaults (another collector may own them): llmflow then starts without them.
    pub async fn bind(cfg: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            proxy: bind(cfg.proxy_addr(), "PROXY_PORT (--proxy-port)").await?,
            dashboard: bind(cfg.dashboard_addr(), "DASHBOARD_PORT (--dashboard-port)").await?,
            otlp_http: bind_optional(cfg, cfg.otlp_http_port, "OTLP_HTTP_PORT (--otlp-http-port)")
                .await?,
            otlp_grpc: bind_optional(cfg, cfg.otlp_grpc_port, "OTLP_GRPC_PORT (--otlp-grpc-port)")
                .await?,
        })
    }
}

async fn bind_optional(
    cfg: &Config,
    (port, explicit): (u16, bool),
    setting: &str,
) -> anyhow::Result<Option<TcpListener>> {
    if port == 0 {
        return Ok(None);
    }
    let addr = SocketAddr::new(cfg.host, port);
    match bind(addr, setting).await {
        Ok(l) => Ok(Some(l)),
        Err(e) if explicit => Err(e),
        Err(e) => {
            tracing::warn!("{e:#}; starting without it");
            Ok(None)
        }
    }
}

async fn bind(addr: SocketAddr, setting: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!("{addr} is already in use: choose another port with {setting}")
        } else {
            anyhow::anyhow!("cannot listen on {addr} ({setting}): {e}")
        }
    })
}

/// Runs llmflow until `shutdown` completes, then shuts down gracefully.
pub async fn run(
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let started = Instant::now();
    let proxy_addr = listeners.proxy.local_addr()?;
    let dashboard_addr = listeners.dashboard.local_addr()?;
    let (proxy_port, dashboard_port) = (proxy_addr.port(), dashboard_addr.port());

    let store = Store::open(StoreConfig {
        path: config.db_path.clone(),
        queue_capacity: config.queue_capacity,
        batch_size: config.batch_size,
        flush_interval: config.flush_interval,
        max_traces: config.max_traces,
        max_logs: config.max_logs,
        max_metrics: config.max_metrics,
    })?;
    let pricing = Arc::new(Pricing::load(&config.data_dir)?);
    let client = proxy::http_client(config.connect_timeout)?;
    let (stop_tx, stop_rx) = watch::channel(false);

    if let Some(url) = config.pricing_url.clone() {
        tokio::spawn(
            pricing
                .clone()
                .refresh_loop(client.clone(), url, stop_rx.clone()),
        );
    }
    let hub = api::ws::Hub::start(store.clone(), stop_rx.clone());

    let proxy_app = proxy::router(Arc::new(ProxyState {
        config: config.clone(),
        client: client.clone(),
        store: store.clone(),
        pricing: pricing.clone(),
        started,
        port: proxy_port,
    }));
    let ingest = Arc::new(otlp::Ingest {
        store: store.clone(),
        pricing: pricing.clone(),
        max_bytes: config.otlp_max_bytes,
    });
    let otlp_app = || otlp::http_router(ingest.clone()).merge(otlp::grpc_router(ingest.clone()));
    let api_app = api::router(Arc::new(ApiState {
        config: config.clone(),
        client,
        store: store.clone(),
        pricing,
        started,
        hub,
        dashboard_port,
        proxy_port,
    }))
    .merge(otlp::http_router(ingest.clone()))
    .fallback(dashboard::serve);

    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let proxy_listener = listeners.proxy.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // `serve` is IntoFuture; awaiting inside a task gives spawn a plain future.
    let proxy_fut =
        axum::serve(proxy_listener, proxy_app).with_graceful_shutdown(stopped(stop_rx.clone()));
    let proxy_server = tokio::spawn(async move { proxy_fut.await });
    let api_fut =
        axum::serve(listeners.dashboard, api_app).with_graceful_shutdown(stopped(stop_rx.clone()));
    let api_server = tokio::spawn(async move { api_fut.await });
    let mut otlp_servers = Vec::new();
    let mut otlp_addrs = Vec::new();
    for listener in [listeners.otlp_http, listeners.otlp_grpc]
        .into_iter()
        .flatten()
    {
        otlp_addrs.push(listener.local_addr()?.to_string());
        let fut =
            axum::serve(listener, otlp_app()).with_graceful_shutdown(stopped(stop_rx.clone()));
        otlp_servers.push(tokio::spawn(async move { fut.await }));
    }

    // Everything is up: the banner is the signal that llmflow is ready.
    tracing::info!(
        "llmflow {} | proxy http://{proxy_addr} | dashboard http://{dashboard_addr} | otlp {} | data {}",
        env!("CARGO_PKG_VERSION"),
        if otlp_addrs.is_empty() { "off".to_owned() } else { otlp_addrs.join(", ") },
        config.db_path.display()
    );
    shutdown.await;
    tracing::info!("shutting down: finishing calls in flight");
    let _ = stop_tx.send(true);
    let grace = config.shutdown_grace;
    let both = async {
        let _ = proxy_server.await;
        let _ = api_server.await;
        for s in otlp_servers {
            let _ = s.await;
        }
    };
    if tokio::time::timeout(grace, both).await.is_err() {
        tracing::warn!(
            ?grace,
            "calls still in flight after the grace period: closing them"
        );
    }
    let store_for_close = store.clone();
    tokio::task::spawn_blocking(move || store_for_close.close())
        .await
        .context("closing the store")?;
    tracing::info!("stopped");
    Ok(())
}
