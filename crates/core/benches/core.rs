//! Criterion benches of the pure logic on the proxy's hot path: SSE decoding, usage
//! extraction and pricing. Figures are for `bench/out/summary.md`-style notes, never asserted.
//!
//! Run: `cargo bench -p llmflow-core --bench core` (add `-- --quick` for a fast pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llmflow_core::pricing::PriceTable;
use llmflow_core::providers::openai::OpenAiParser;
use llmflow_core::providers::Operation;
use llmflow_core::sse::{decode_all, SseDecoder, SseEvent};
use llmflow_core::Usage;

/// Text cap the proxy uses by default (`LLMFLOW_CAPTURE_BYTES`).
const TEXT_CAP: usize = 1024 * 1024;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai")
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every `*.sse` fixture, by name, sorted.
fn sse_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .map(|p| {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&p).expect("read fixture");
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Feeds `bytes` in `chunk`-sized pieces (network reads rarely align with events).
fn decode_chunked(bytes: &[u8], chunk: usize, keep_raw: bool) -> usize {
    let mut dec = if keep_raw {
        SseDecoder::keeping_raw()
    } else {
        SseDecoder::new()
    };
    let mut out: Vec<SseEvent> = Vec::new();
    let mut n = 0;
    for piece in bytes.chunks(chunk) {
        dec.feed(piece, &mut out);
        n += out.len();
        out.clear();
    }
    dec.finish(&mut out);
    n + out.len()
}

fn bench_sse(c: &mut Criterion) {
    let fixtures = sse_fixtures();
    assert!(!fixtures.is_empty(), "no .sse fixtures found");
    let mut g = c.benchmark_group("sse_decode");
    for (name, bytes) in &fixtures {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("{name}/whole"), |b| {
            b.iter(|| decode_all(black_box(bytes)).len())
        });
        g.bench_function(format!("{name}/chunks_64"), |b| {
            b.iter(|| decode_chunked(black_box(bytes), 64, false))
        });
        g.bench_function(format!("{name}/chunks_64_raw"), |b| {
            b.iter(|| decode_chunked(black_box(bytes), 64, true))
        });
    }
    // All fixtures back to back, repeated to ~1 MiB: steady-state throughput of the decoder.
    let mut big = Vec::new();
    while big.len() < 1024 * 1024 {
        for (_, b) in &fixtures {
            big.extend_from_slice(b);
        }
    }
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("all_fixtures_1MiB/chunks_16k", |b| {
        b.iter(|| decode_chunked(black_box(&big), 16 * 1024, false))
    });
    g.finish();
}

fn bench_usage(c: &mut Criterion) {
    let mut g = c.benchmark_group("usage_extract");
    // Streams: decoded once up front; this measures the parser alone.
    for (name, op) in [
        ("chat_stream", Operation::Chat),
        ("chat_stream_tools", Operation::Chat),
        ("responses_stream", Operation::Responses),
    ] {
        let bytes = fixture(&format!("{name}.sse"));
        let events = decode_all(&bytes);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("{name}/events"), |b| {
            b.iter(|| {
                let mut p = OpenAiParser::new(op, TEXT_CAP);
                for ev in &events {
                    p.event(black_box(ev));
                }
                p.finish()
            })
        });
        // What the proxy does per stream: decode + parse.
        g.bench_function(format!("{name}/decode_and_parse"), |b| {
            b.iter(|| {
                let mut p = OpenAiParser::new(op, TEXT_CAP);
                for ev in decode_all(black_box(&bytes)) {
                    p.event(&ev);
                }
                p.finish()
            })
        });
    }
    for (name, op) in [
        ("chat.json", Operation::Chat),
        ("responses.json", Operation::Responses),
        ("embeddings.json", Operation::Embeddings),
    ] {
        let body = fixture(name);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{name}/body"), |b| {
            b.iter(|| {
                let mut p = OpenAiParser::new(op, TEXT_CAP);
                p.body(black_box(&body));
                p.finish()
            })
        });
    }
    g.finish();
}

fn bench_pricing(c: &mut Criterion) {
    let mut g = c.benchmark_group("pricing");
    g.sample_size(20);
    g.bench_function("embedded_table_load", |b| {
        b.iter(|| PriceTable::embedded().expect("embedded table").len())
    });
    g.finish();

    let table = PriceTable::embedded().expect("embedded table");
    let usage = Usage {
        input: 1200,
        output: 350,
        cache_read: 400,
        cache_write: 0,
        reasoning: 100,
    };
    let mut g = c.benchmark_group("pricing_cost");
    for (label, provider, model) in [
        // Exact key: the first candidate hits.
        ("exact", Some("openai"), "gpt-4o-mini"),
        // What OpenAI actually reports: dated model, found after stripping the date.
        ("dated", Some("openai"), "gpt-4o-mini-2024-07-18"),
        // Provider prefix and mixed case: found after normalising.
        ("prefixed", Some("openai"), "openai/GPT-4o"),
        // Unknown: every candidate is tried and misses.
        ("unknown", Some("openai"), "my-finetune-2024-01-01"),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| table.cost(black_box(provider), black_box(model), black_box(&usage)))
        });
    }
    g.finish();
}

/// Short windows keep a full run near a minute on 2 cores; pass `--measurement-time` to
/// lengthen them.
fn wire_fixture(wire: &str, name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(wire)
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Usage extraction per wire format, streamed (decode + parse) and whole bodies, and the
/// cost of translating a native stream into OpenAI chunks on top of it.
fn bench_providers(c: &mut Criterion) {
    use llmflow_core::providers::Provider;
    let cases: &[(Provider, &str, &str, Operation)] = &[
        (
            Provider::OpenAi,
            "openai",
            "chat_stream.sse",
            Operation::Chat,
        ),
        (
            Provider::Anthropic,
            "anthropic",
            "messages_stream.sse",
            Operation::Messages,
        ),
        (
            Provider::Gemini,
            "gemini",
            "stream.sse",
            Operation::GenerateContent,
        ),
        (Provider::Cohere, "cohere", "stream.sse", Operation::Chat),
        (Provider::OpenAi, "openai", "chat.json", Operation::Chat),
        (
            Provider::Anthropic,
            "anthropic",
            "messages.json",
            Operation::Messages,
        ),
        (
            Provider::Gemini,
            "gemini",
            "generate.json",
            Operation::GenerateContent,
        ),
        (Provider::Cohere, "cohere", "chat.json", Operation::Chat),
        (
            Provider::Ollama,
            "ollama",
            "chat_stream.ndjson",
            Operation::Chat,
        ),
    ];
    let mut g = c.benchmark_group("provider_usage");
    for (p, wire, name, op) in cases {
        let bytes = wire_fixture(wire, name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let sse = name.ends_with(".sse");
        g.bench_function(format!("{wire}/{name}"), |b| {
            b.iter(|| {
                let mut parser = p.response_parser(*op, TEXT_CAP);
                if sse {
                    for ev in decode_all(black_box(&bytes)) {
                        parser.event(&ev);
                    }
                } else {
                    parser.body(black_box(&bytes));
                }
                black_box(parser.finish())
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("stream_translate");
    for (p, wire, name) in [
        (Provider::Anthropic, "anthropic", "messages_stream.sse"),
        (Provider::Gemini, "gemini", "stream.sse"),
        (Provider::Cohere, "cohere", "stream.sse"),
    ] {
        let bytes = wire_fixture(wire, name);
        let events = decode_all(&bytes);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        // Native: parse only (what a passthrough stream costs); translated: parse + translate.
        g.bench_function(format!("{wire}/native_parse"), |b| {
            b.iter(|| {
                let mut parser = p.response_parser(Operation::Chat, TEXT_CAP);
                events.iter().for_each(|e| parser.event(e));
                black_box(parser.finish())
            })
        });
        g.bench_function(format!("{wire}/parse_and_translate"), |b| {
            b.iter(|| {
                let mut parser = p.response_parser(Operation::Chat, TEXT_CAP);
                let mut t = p.stream_translator("m", true, 0).unwrap();
                let mut out = Vec::with_capacity(4096);
                for e in &events {
                    parser.event(e);
                    t.event(e, &mut out);
                }
                t.finish(&mut out);
                black_box((parser.finish(), out))
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_sse, bench_usage, bench_pricing, bench_providers
}
criterion_main!(benches);
