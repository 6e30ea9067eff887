//! The OTLP receiver: encodings, gzip, gRPC, limits, errors, dedup and commit-before-ack.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use common::{start_mock, Harness};
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
use prost::Message;
use serde_json::Value;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// A chat span in the current OTel GenAI conventions.
fn request(trace: u8, spans: usize) -> ExportTraceServiceRequest {
    let spans = (0..spans)
        .map(|i| OtlpSpan {
            trace_id: vec![trace; 16],
            span_id: vec![trace, 0, 0, 0, 0, 0, 0, i as u8 + 1],
            name: "chat gpt-4o-mini".into(),
            kind: 3,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            end_time_unix_nano: 1_700_000_000_250_000_000 + i as u64,
            attributes: vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.provider.name", s("openai")),
                kv("gen_ai.request.model", s("gpt-4o-mini")),
                kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(120)),
                kv("gen_ai.usage.output_tokens", any_value::Value::IntValue(30)),
                kv("session.id", s("sess-otlp")),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("otlp-app"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

async fn post(h: &Harness, ctype: &str, gz: bool, body: Vec<u8>) -> reqwest::Response {
    let mut r = h
        .http
        .post(format!("{}/v1/traces", h.otlp_http))
        .header("content-type", ctype);
    if gz {
        r = r.header("content-encoding", "gzip");
    }
    r.body(body).send().await.unwrap()
}

/// A unary gRPC call over HTTP/2 (prior knowledge), as OTLP/gRPC exporters make it.
async fn grpc(url: &str, path: &str, msg: Vec<u8>) -> (Option<String>, Vec<u8>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    framed.extend_from_slice(&msg);
    let req = http::Request::post(format!("{url}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(framed)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let mut status = resp
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body = resp.into_body();
    let mut data = Vec::new();
    while let Some(f) = body.frame().await {
        let f = f.unwrap();
        if let Some(d) = f.data_ref() {
            data.extend_from_slice(d);
        }
        if let Some(t) = f.trailers_ref() {
            status = t.get("grpc-status").map(|v| v.to_str().unwrap().to_owned());
        }
    }
    (
        status,
        data.get(5..).map(|d| d.to_vec()).unwrap_or_default(),
    )
}

async fn stored(h: &Harness, n: u64) -> Vec<Value> {
    let v = h.wait_for_spans(n).await;
    let mut out = Vec::new();
    for t in v["traces"].as_array().unwrap() {
        let d = h
            .get_json(&format!("/api/traces/{}", t["id"].as_str().unwrap()))
            .await;
        out.push(d);
    }
    out
}

#[tokio::test]
async fn protobuf_json_gzip_and_grpc_give_identical_records() {
    let mock = start_mock().await;
    let req = request(7, 1);
    let proto = req.encode_to_vec();
    let json = serde_json::to_vec(&req).unwrap();
    let mut results = Vec::new();
    for how in [
        "protobuf",
        "json",
        "gzip-protobuf",
        "gzip-json",
        "grpc",
        "dashboard-port",
    ] {
        let h = Harness::start(&mock.url()).await;
        match how {
            "protobuf" => assert_eq!(
                post(&h, "application/x-protobuf", false, proto.clone())
                    .await
                    .status(),
                200
            ),
            "json" => {
                let r = post(&h, "application/json", false, json.clone()).await;
                assert_eq!(r.status(), 200);
                assert!(r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"));
            }
            "gzip-protobuf" => assert_eq!(
                post(&h, "application/x-protobuf", true, gzip(&proto))
                    .await
                    .status(),
                200
            ),
            "gzip-json" => assert_eq!(
                post(&h, "application/json", true, gzip(&json))
                    .await
                    .status(),
                200
            ),
            "grpc" => {
                let (status, body) = grpc(
                    &h.otlp_grpc,
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    proto.clone(),
                )
                .await;
                assert_eq!(status.as_deref(), Some("0"));
                ExportTraceServiceResponse::decode(&body[..]).unwrap();
            }
            _ => {
                let r = h
                    .http
                    .post(format!("{}/v1/traces", h.api))
                    .header("content-type", "application/x-protobuf")
                    .body(proto.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let resp = ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
                assert!(resp.partial_success.is_none());
            }
        }
        let recs = stored(&h, 1).await;
        results.push((how, recs));
    }
    let first = results[0].1.clone();
    let t = &first[0]["trace"];
    assert_eq!(t["trace_id"], "07070707070707070707070707070707");
    assert_eq!(t["id"], "0700000000000001");
    assert_eq!(t["service_name"], "otlp-app");
    assert_eq!(t["model"], "gpt-4o-mini");
    assert_eq!(t["prompt_tokens"], 120);
    assert_eq!(t["completion_tokens"], 30);
    assert_eq!(t["duration_ms"], 250.0);
    for (how, recs) in &results {
        assert_eq!(recs, &first, "{how} differs from protobuf");
    }
}

#[tokio::test]
async fn retries_are_stored_once_and_a_200_means_committed() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let proto = request(9, 50).encode_to_vec();
    for _ in 0..3 {
        assert_eq!(
            post(&h, "application/x-protobuf", false, proto.clone())
                .await
                .status(),
            200
        );
        // Committed before the answer: visible at once, no polling.
        let v = h.get_json("/api/traces?limit=1000").await;
        assert_eq!(v["total"], 50);
    }
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let mock = start_mock().await;
    let h = Harness::start_with(&mock.url(), |c| c.otlp_max_bytes = 64 * 1024).await;
    let r = post(&h, "text/plain", false, b"hello".to_vec()).await;
    assert_eq!(r.status(), 415);
    let r = post(
        &h,
        "application/x-protobuf",
        false,
        b"\xff\xff\xff garbage".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    // The error body is a google.rpc.Status in the request's encoding.
    let body = r.bytes().await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("undecodable"));
    let r = post(&h, "application/json", false, b"{not json".to_vec()).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 3);
    // Too large as sent, and too large once decompressed (a gzip bomb).
    let r = post(&h, "application/x-protobuf", false, vec![0u8; 100 * 1024]).await;
    assert_eq!(r.status(), 413);
    let r = post(
        &h,
        "application/x-protobuf",
        true,
        gzip(&vec![0u8; 1024 * 1024]),
    )
    .await;
    assert_eq!(r.status(), 413);
    // An empty request is fine.
    let r = post(&h, "application/x-protobuf", false, Vec::new()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.get_json("/api/traces").await["total"], 0);
}

#[tokio::test]
async fn a_held_back_writer_means_retry_later_and_nothing_acknowledged_is_lost() {
    let mock = start_mock().await;
    let h = Harness::start_with(&mock.url(), |c| c.queue_capacity = 2).await;
    h.get_json("/api/health").await; // started: the database is open
                                     // Another process holds the write lock.
    let lock = rusqlite::Connection::open(h.dir.path().join("data.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let sends = (0..12u8).map(|i| {
        let body = request(20 + i, 5).encode_to_vec();
        let h = &h;
        async move { (i, post(h, "application/x-protobuf", false, body).await) }
    });
    let all = futures_util::future::join_all(sends);
    let release = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lock.execute_batch("COMMIT").unwrap();
    };
    let (results, ()) = tokio::join!(all, release);
    let mut acked = Vec::new();
    let mut refused = 0;
    for (i, r) in results {
        match r.status().as_u16() {
            200 => acked.push(i),
            503 => {
                assert_eq!(r.headers()["retry-after"], "1");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 0, "the queue bound held");
    assert!(!acked.is_empty());
    let v = h.get_json("/api/traces?limit=1000").await;
    for i in acked {
        let trace = format!("{:02x}", 20 + i).repeat(16);
        let t = h.get_json(&format!("/api/traces?trace_id={trace}")).await;
        assert_eq!(t["total"], 5, "acknowledged trace {trace} lost ({v})");
    }
}
