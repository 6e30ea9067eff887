//! OTLP ingest load: posts ExportTraceServiceRequests of `--batch` GenAI spans to an OTLP/HTTP
//! endpoint over `-c` connections for `-d` seconds and prints committed spans per second
//! (every 200 means committed: llmflow acknowledges after the write).
//!
//! Usage: `otlp_load --url http://127.0.0.1:4318/v1/traces [--json] [--batch 100] [-c 4] [-d 5]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn request(seq: u64, batch: usize) -> ExportTraceServiceRequest {
    let spans = (0..batch)
        .map(|i| {
            let n = seq * batch as u64 + i as u64;
            let mut trace = [0u8; 16];
            trace[..8].copy_from_slice(&(n / 4 + 1).to_be_bytes());
            Span {
                trace_id: trace.to_vec(),
                span_id: (n + 1).to_be_bytes().to_vec(),
                name: "chat gpt-4o-mini".into(),
                kind: 3,
                start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1000,
                end_time_unix_nano: 1_700_000_000_400_000_000 + n * 1000,
                attributes: vec![
                    kv(
                        "gen_ai.operation.name",
                        any_value::Value::StringValue("chat".into()),
                    ),
                    kv(
                        "gen_ai.provider.name",
                        any_value::Value::StringValue("openai".into()),
                    ),
                    kv(
                        "gen_ai.request.model",
                        any_value::Value::StringValue("gpt-4o-mini".into()),
                    ),
                    kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(812)),
                    kv(
                        "gen_ai.usage.output_tokens",
                        any_value::Value::IntValue(143),
                    ),
                    kv(
                        "session.id",
                        any_value::Value::StringValue(format!("s{}", n / 50)),
                    ),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue("load".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url").expect("--url");
    let json = args.iter().any(|a| a == "--json");
    let batch: usize = arg(&args, "--batch").map_or(100, |v| v.parse().unwrap());
    let conns: usize = arg(&args, "-c").map_or(4, |v| v.parse().unwrap());
    let secs: u64 = arg(&args, "-d").map_or(5, |v| v.parse().unwrap());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let ok = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, ok, refused, seq, url) = (
            client.clone(),
            ok.clone(),
            refused.clone(),
            seq.clone(),
            url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let req = request(seq.fetch_add(1, Ordering::Relaxed), batch);
                let (ctype, body) = if json {
                    ("application/json", serde_json::to_vec(&req).unwrap())
                } else {
                    ("application/x-protobuf", req.encode_to_vec())
                };
                let r = http::Request::post(url.as_str())
                    .header("content-type", ctype)
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let resp = client.request(r).await.unwrap();
                let status = resp.status();
                let _ = resp.into_body().collect().await;
                if status.is_success() {
                    ok.fetch_add(batch as u64, Ordering::Relaxed);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let spans = ok.load(Ordering::Relaxed);
    println!(
        "{{\"encoding\":\"{}\",\"batch\":{batch},\"connections\":{conns},\"spans\":{spans},\"seconds\":{elapsed:.2},\"spans_per_s\":{:.0},\"refused\":{}}}",
        if json { "json" } else { "protobuf" },
        spans as f64 / elapsed,
        refused.load(Ordering::Relaxed)
    );
}
