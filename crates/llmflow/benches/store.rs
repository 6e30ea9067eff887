//! Store insert throughput: realistic spans (usage, ~1.5 KB of bodies, FTS text) submitted to
//! `Store` and flushed, measured end to end (submit -> committed). Figures go in a note.
//!
//! Run: `cargo bench -p llmflow --bench store` (add `-- --quick` for a fast pass).
//! `STORE_BENCH_SPANS` sets the spans per iteration (default 5000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/support/bench_spans.rs"]
mod bench_spans;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llmflow::store::{Store, StoreConfig};
use llmflow_core::Span;

fn spans_per_iter() -> u64 {
    std::env::var("STORE_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

fn open(dir: &std::path::Path, batch_size: usize, flush_ms: u64) -> Arc<Store> {
    Store::open(StoreConfig {
        path: dir.join("bench.db"),
        // Large enough that nothing is ever dropped: the bench measures writes, not drops.
        queue_capacity: 1_000_000,
        batch_size,
        flush_interval: Duration::from_millis(flush_ms),
        max_traces: 0,
        max_logs: 0,
        max_metrics: 0,
    })
    .expect("open store")
}

fn bench_insert(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let n = spans_per_iter();
    let template: Vec<Span> = bench_spans::spans(n, 1_000_000);
    let avg_payload = template
        .iter()
        .map(bench_spans::payload_bytes)
        .sum::<usize>()
        / template.len().max(1);
    eprintln!("store bench: {n} spans per iteration, ~{avg_payload} payload bytes per span");

    let mut g = c.benchmark_group("store_insert");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.warm_up_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(n));
    // The server's defaults (batches of 1000, 5 ms gather) and a larger batch.
    for (label, batch, flush_ms) in [
        ("batch1000_5ms", 1000usize, 5u64),
        ("batch5000_50ms", 5000, 50),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path(), batch, flush_ms);
        g.bench_function(format!("{label}/submit_flush"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Fresh ids each round (ids are UNIQUE); built outside the timed part.
                    let batch: Vec<Span> = bench_spans::spans(n, 1_000_000);
                    let t = Instant::now();
                    for s in batch {
                        assert!(store.submit(s), "queue full");
                    }
                    rt.block_on(store.flush());
                    total += t.elapsed();
                }
                total
            })
        });
        let c = store.counters();
        eprintln!(
            "store bench {label}: written {} dropped {} write_errors {} rows {} file {:.1} MiB",
            c.written.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
            c.write_errors.load(Ordering::Relaxed),
            c.span_rows.load(Ordering::Relaxed),
            store.size_bytes() as f64 / 1048576.0
        );
        store.close();
    }
    g.finish();

    // What the proxy pays on its own thread per record: `submit` alone (the writer drains
    // in the background; the queue is large enough never to fill during a sample).
    let mut g = c.benchmark_group("store_submit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1000, 5);
    g.bench_function("submit_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch: Vec<Span> = bench_spans::spans(n, 1_000_000);
                let t = Instant::now();
                for s in batch {
                    assert!(store.submit(s), "queue full");
                }
                total += t.elapsed();
                // Let the writer catch up outside the timed part.
                rt.block_on(store.flush());
            }
            total
        })
    });
    g.finish();
    store.close();
}

criterion_group!(benches, bench_insert);
criterion_main!(benches);
