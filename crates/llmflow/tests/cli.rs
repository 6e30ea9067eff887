//! The binary as a user runs it: help, version, bad settings, busy ports, `.env`, signals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_llmflow");

fn llmflow(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PRICING_URL", "")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "PROXY_PORT",
        "DASHBOARD_PORT",
        "DATA_DIR",
        "DB_PATH",
        "MAX_TRACES",
        "MAX_LOGS",
        "MAX_METRICS",
        "VERBOSE",
        "PRICING_URL",
        "LLMFLOW_HOST",
        "LLMFLOW_OPENAI_BASE_URL",
        "LLMFLOW_CONNECT_TIMEOUT",
        "LLMFLOW_FIRST_BYTE_TIMEOUT",
        "LLMFLOW_CAPTURE_BYTES",
        "LLMFLOW_STREAM_USAGE",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
    let v = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8(v.stdout).unwrap().trim(),
        format!("llmflow {}", env!("CARGO_PKG_VERSION"))
    );
}

fn fails_with(cmd: &mut Command, needle: &str) {
    let started = Instant::now();
    let out = cmd.stdout(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
}

#[test]
fn invalid_values_stop_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(
        llmflow(dir.path()).args(["--proxy-port", "70000"]),
        "--proxy-port",
    );
    fails_with(
        llmflow(dir.path()).env("MAX_TRACES", "lots"),
        "--max-traces",
    );
    fails_with(
        llmflow(dir.path()).env("LLMFLOW_OPENAI_BASE_URL", "api.openai.com"),
        "LLMFLOW_OPENAI_BASE_URL",
    );
}

#[test]
fn busy_port_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    fails_with(
        llmflow(dir.path()).args(["--proxy-port", &port, "--dashboard-port", "0"]),
        "PROXY_PORT",
    );
    // Read from .env in the working directory.
    std::fs::write(dir.path().join(".env"), format!("DASHBOARD_PORT={port}\n")).unwrap();
    fails_with(
        llmflow(dir.path()).args(["--proxy-port", "0"]),
        "DASHBOARD_PORT",
    );
}

/// Starts the binary and returns it with its proxy and dashboard URLs from the banner.
fn start(cmd: &mut Command) -> (std::process::Child, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.contains("| proxy http://"))
        .expect("no banner");
    std::thread::spawn(move || for _ in lines {});
    let url = |key: &str| {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.split_whitespace().next().unwrap().to_owned()
    };
    (child, url("proxy "), url("dashboard "))
}

#[test]
fn environment_beats_dotenv_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    std::fs::write(
        dir.path().join(".env"),
        format!("DASHBOARD_PORT={port}\nPROXY_PORT={port}\n"),
    )
    .unwrap();
    let (mut child, proxy, dashboard) = start(
        llmflow(dir.path())
            .env("DASHBOARD_PORT", "0")
            .args(["--proxy-port", "0"]),
    );
    assert!(!proxy.ends_with(&format!(":{port}")));
    assert!(!dashboard.ends_with(&format!(":{port}")));
    // Data went to $HOME/.llmflow by default.
    assert!(dir.path().join(".llmflow/data.db").exists());
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
