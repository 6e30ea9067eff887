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
use crate::pricing::Pricing;
use crate::proxy::{self, ProxyState};
use crate::store::{Store, StoreConfig};

/// The sockets llmflow serves on, bound before `run` so tests can use port 0.
pub struct Listeners {
    pub proxy: TcpListener,
    pub dashboard: TcpListener,
}

impl Listeners {
    /// Binds both ports; a busy port is an error naming the setting.
    pub async fn bind(cfg: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            proxy: bind(cfg.proxy_addr(), "PROXY_PORT (--proxy-port)").await?,
            dashboard: bind(cfg.dashboard_addr(), "DASHBOARD_PORT (--dashboard-port)").await?,
        })
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

    // Everything is up: the banner is the signal that llmflow is ready.
    tracing::info!(
        "llmflow {} | proxy http://{proxy_addr} | dashboard http://{dashboard_addr} | data {}",
        env!("CARGO_PKG_VERSION"),
        config.db_path.display()
    );
    shutdown.await;
    tracing::info!("shutting down: finishing calls in flight");
    let _ = stop_tx.send(true);
    let grace = config.shutdown_grace;
    let both = async {
        let _ = proxy_server.await;
        let _ = api_server.await;
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
