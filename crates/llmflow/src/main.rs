//! The `llmflow` binary: command line -> config -> app::run.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
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
    // Log lines are written by a background thread: a slow terminal or pipe never slows a
    // proxied call (lines are dropped, not waited for, if it falls far behind).
    let (writer, _log_guard) = llmflow::logging::BatchedStdout::start();
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(
            EnvFilter::try_from_env("LLMFLOW_LOG")
                .unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
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
        let signal = shutdown_signal()?;
        let listeners = Listeners::bind(&config).await?;
        app::run(listeners, config, signal).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llmflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM. The handlers are installed before this returns, so a signal that
/// arrives right after start-up is not lost.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
