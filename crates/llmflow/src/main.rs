//! The `llmflow` binary: command line -> config -> app::run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use llmflow::app::{self, Listeners};
use llmflow::config::Config;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("llmflow: {e:#}");
            return ExitCode::from(2);
        }
    };
    let default_level = if config.verbose {
        "llmflow=debug,info"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LLMFLOW_LOG")
                .unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("llmflow: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listeners = Listeners::bind(&config).await?;
        tracing::info!(
            "llmflow {} | proxy http://{} | dashboard http://{} | data {}",
            env!("CARGO_PKG_VERSION"),
            listeners.proxy.local_addr()?,
            listeners.dashboard.local_addr()?,
            config.db_path.display()
        );
        app::run(listeners, config, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llmflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
