//! Fills a llmflow database with realistic spans through the real write path (`Store::open`
//! + `submit`, llmflow's own writer, schema and indexes), for the big-database benchmarks.
//!
//! Usage: `bench_seed --db PATH [--rows 1000000] [--batch 5000] [--days 30]`
//! Spans are spread evenly over the last `--days` days, oldest first. Prints one JSON line:
//! rows, seconds, rows_per_s, file_bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/bench_spans.rs"]
mod bench_spans;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use llmflow::store::{Store, StoreConfig};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let db = arg(&args, "--db").expect("--db PATH is required");
    let rows: u64 = arg(&args, "--rows")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let batch: usize = arg(&args, "--batch")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let days: i64 = arg(&args, "--days")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let queue = 50_000usize;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Store::open(StoreConfig {
        path: db.clone().into(),
        queue_capacity: queue,
        batch_size: batch,
        flush_interval: Duration::from_millis(50),
        max_traces: 0,
        max_logs: 0,
        max_metrics: 0,
    })
    .expect("open store");
    let counters = store.counters();
    let span_ns = days * 86_400_000_000_000 / rows.max(1) as i64;
    let t0_ns = bench_spans::now_ns() - days * 86_400_000_000_000;
    let started = Instant::now();
    let mut prev: Option<(String, String)> = None;
    let mut last_report = Instant::now();
    for i in 0..rows {
        // Keep the queue below capacity: `submit` drops rather than waits.
        while counters.queued.load(Ordering::Relaxed) as usize >= queue - 1 {
            std::thread::sleep(Duration::from_micros(500));
        }
        let start_ns = t0_ns + i as i64 * span_ns;
        loop {
            let s = bench_spans::span(
                i,
                start_ns,
                prev.as_ref().map(|(t, p)| (t.as_str(), p.as_str())),
            );
            let ids = (s.trace_id.clone(), s.id.clone());
            if store.submit(s) {
                prev = Some(ids);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            let w = counters.written.load(Ordering::Relaxed);
            eprintln!(
                "bench_seed: {w} rows written, {:.0} rows/s",
                w as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    rt.block_on(store.flush());
    let secs = started.elapsed().as_secs_f64();
    let written = counters.written.load(Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    store.close();
    let file_bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|sfx| std::fs::metadata(format!("{db}{sfx}")).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{}",
        serde_json::json!({
            "rows": written,
            "dropped": dropped,
            "seconds": (secs * 10.0).round() / 10.0,
            "rows_per_s": (written as f64 / secs).round(),
            "file_bytes": file_bytes,
        })
    );
}
