//! The proxy against a mock OpenAI upstream: what the client receives (byte for byte) and what
//! is stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{fixture, start_mock, Harness};
use futures_util::StreamExt;
use serde_json::{json, Value};

const CHAT: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello to the zebra"}]}"#;

#[tokio::test]
async fn non_stream_round_trip_is_byte_identical_and_recorded() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let resp = h
        .http
        .post(format!(
            "{}/v1/chat/completions?api-version=2024&x=1",
            h.proxy
        ))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-test-123")
        .header("openai-organization", "org-abc")
        .header("openai-project", "proj_1")
        .header("openai-beta", "assistants=v2")
        .header("idempotency-key", "idem-42")
        .header("user-agent", "OpenAI/Python 1.99.0")
        .header("x-llmflow-tag", "alpha")
        .header("x-llmflow-tags", "beta, gamma")
        .body(CHAT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["x-request-id"], "req_8f3c1a2b9d");
    assert_eq!(headers["openai-processing-ms"], "412");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "9999");
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        fixture("chat.json").as_slice()
    );

    let seen = mock.last();
    assert_eq!(seen.uri.path(), "/v1/chat/completions");
    assert_eq!(seen.uri.query(), Some("api-version=2024&x=1"));
    assert_eq!(
        seen.body.as_ref(),
        CHAT.as_bytes(),
        "request body forwarded as sent"
    );
    for (k, v) in [
        ("authorization", "Bearer sk-test-123"),
        ("openai-organization", "org-abc"),
        ("openai-project", "proj_1"),
        ("openai-beta", "assistants=v2"),
        ("idempotency-key", "idem-42"),
        ("user-agent", "OpenAI/Python 1.99.0"),
    ] {
        assert_eq!(seen.headers[k], v, "{k}");
    }
    assert!(!seen.headers.contains_key("x-llmflow-tag"));

    let list = h.wait_for_spans(1).await;
    let t = &list["traces"][0];
    assert_eq!(t["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(t["provider"], "openai");
    assert_eq!(t["prompt_tokens"], 19);
    assert_eq!(t["completion_tokens"], 10);
    assert_eq!(t["total_tokens"], 29);
    assert_eq!(t["status"], 200);
    assert_eq!(t["streamed"], false);
    assert_eq!(t["tags"], json!(["alpha", "beta", "gamma"]));
    assert_eq!(
        t["request_path"],
        "/v1/chat/completions?api-version=2024&x=1"
    );
    let cost = t["estimated_cost"].as_f64().unwrap();
    assert!(
        (cost - (19.0 * 1.5e-7 + 10.0 * 6e-7)).abs() < 1e-12,
        "{cost}"
    );
    assert!(t["ttft_ms"].as_f64().is_some());

    let id = t["id"].as_str().unwrap();
    let d = h.get_json(&format!("/api/traces/{id}")).await;
    assert_eq!(
        d["request"]["body"]["messages"][0]["content"],
        "Say hello to the zebra"
    );
    assert_eq!(d["response"]["body"]["usage"]["total_tokens"], 29);
    assert_eq!(
        d["request"]["headers"]["authorization"],
        "Bearer [REDACTED]"
    );
    assert_eq!(d["trace"]["output"], "Hello! How can I help you today?");
}

async fn stream_body(h: &Harness, body: &str) -> (Vec<u8>, reqwest::header::HeaderMap) {
    let resp = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    (resp.bytes().await.unwrap().to_vec(), headers)
}

#[tokio::test]
async fn stream_with_usage_requested_is_byte_identical() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let body = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let (bytes, headers) = stream_body(&h, body).await;
    assert_eq!(bytes, fixture("chat_stream.sse"));
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(
        mock.last().body.as_ref(),
        body.as_bytes(),
        "nothing injected when usage was asked"
    );
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["streamed"], true);
    assert_eq!(
        (t["prompt_tokens"].as_u64(), t["completion_tokens"].as_u64()),
        (Some(19), Some(10))
    );
    assert!(t["chunks"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn include_usage_injection_is_invisible_to_the_client() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let body =
        r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let (bytes, _) = stream_body(&h, body).await;
    // Exactly the stream the client asked for: no usage chunk, no `"usage":null` fields.
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        String::from_utf8(fixture("chat_stream_no_usage_of_same.sse")).unwrap()
    );
    let upstream: Value = serde_json::from_slice(&mock.last().body).unwrap();
    assert_eq!(upstream["stream_options"]["include_usage"], true);
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["prompt_tokens"], 19);
    assert_eq!(t["completion_tokens"], 10);
}

#[tokio::test]
async fn include_usage_injection_can_be_switched_off() {
    let mock = start_mock().await;
    let h = Harness::start_with(&mock.url(), |c| c.stream_usage = false).await;
    let body = r#"{"model":"gpt-4o-mini","stream":true,"messages":[]}"#;
    let (bytes, _) = stream_body(&h, body).await;
    assert_eq!(bytes, fixture("chat_stream_no_usage_of_same.sse"));
    assert_eq!(mock.last().body.as_ref(), body.as_bytes());
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["total_tokens"], Value::Null, "usage unknown, not zero");
    assert_eq!(t["estimated_cost"], Value::Null);
}

#[tokio::test]
async fn responses_api_stream_usage_from_response_completed() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let resp = h
        .http
        .post(format!("{}/v1/responses", h.proxy))
        .header("content-type", "application/json")
        .body(r#"{"model":"gpt-4.1","stream":true,"input":"hi"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        fixture("responses_stream.sse").as_slice()
    );
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["model"], "gpt-4.1-2025-04-14");
    assert_eq!(
        (t["prompt_tokens"].as_u64(), t["completion_tokens"].as_u64()),
        (Some(37), Some(11))
    );
    assert_eq!(t["span_name"], "responses");
}

#[tokio::test]
async fn chunks_reach_the_client_before_the_upstream_finishes() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let started = Instant::now();
    let resp = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("content-type", "application/json")
        .header("x-mock-delay-ms", "150")
        .body(r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(first.starts_with(b"data: "));
    let mut rest = first.to_vec();
    while let Some(c) = stream.next().await {
        rest.extend_from_slice(&c.unwrap());
    }
    let total = started.elapsed();
    assert_eq!(rest, fixture("chat_stream.sse"));
    // 13 events 150 ms apart: the first must arrive long before the last is sent.
    assert!(
        first_at * 4 < total,
        "first chunk at {first_at:?}, stream took {total:?}"
    );
    let t = &h.wait_for_spans(1).await["traces"][0];
    let ttft = t["ttft_ms"].as_f64().unwrap();
    assert!(
        ttft < t["duration_ms"].as_f64().unwrap() / 2.0,
        "ttft {ttft}"
    );
}

#[tokio::test]
async fn multipart_upload_arrives_intact() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let audio: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let form = reqwest::multipart::Form::new()
        .text("model", "whisper-1")
        .part(
            "file",
            reqwest::multipart::Part::bytes(audio.clone())
                .file_name("a.mp3")
                .mime_str("audio/mpeg")
                .unwrap(),
        );
    let resp = h
        .http
        .post(format!("{}/v1/audio/transcriptions", h.proxy))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = mock.last();
    let ctype = seen.headers["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("multipart/form-data; boundary="));
    // The body the upstream got contains the file bytes unchanged.
    assert!(seen
        .body
        .windows(audio.len())
        .any(|w| w == audio.as_slice()));
    let t = &h.wait_for_spans(1).await["traces"][0];
    let d = h
        .get_json(&format!("/api/traces/{}", t["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        d["request"]["body_size"].as_u64(),
        Some(seen.body.len() as u64)
    );
}

#[tokio::test]
async fn binary_response_is_byte_identical() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let bytes = h
        .http
        .get(format!("{}/v1/binary", h.proxy))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let expect: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    assert_eq!(bytes.as_ref(), expect.as_slice());
}

#[tokio::test]
async fn upstream_error_status_is_passed_through_and_recorded() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let resp = h
        .http
        .post(format!("{}/v1/unauthorized", h.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        fixture("error.json").as_slice()
    );
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["status"], 401);
    assert_eq!(t["is_error"], true);
    assert!(t["error"].as_str().unwrap().contains("Incorrect API key"));
}

#[tokio::test]
async fn upstream_down_is_502_and_recorded() {
    // A port nothing listens on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let h = Harness::start(&url).await;
    let resp = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("content-type", "application/json")
        .body(CHAT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("llmflow"));
    assert_eq!(body["error"]["code"], "upstream_unreachable");
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["status"], 502);
    assert_eq!(t["error_kind"], "upstream");
    assert_eq!(t["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn upstream_silent_is_504_and_recorded() {
    let mock = start_mock().await;
    let h = Harness::start_with(&mock.url(), |c| {
        c.first_byte_timeout = Duration::from_millis(300)
    })
    .await;
    let resp = h
        .http
        .post(format!("{}/v1/silent", h.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("llmflow"));
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["status"], 504);
    assert_eq!(t["error_kind"], "upstream");
}

#[tokio::test]
async fn client_disconnect_cancels_upstream_and_is_recorded() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let resp = h
        .http
        .get(format!("{}/v1/stall", h.proxy))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(stream);
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["cancelled"], true);
    assert_eq!(t["error_kind"], "downstream");
    assert_eq!(t["model"], "gpt-4o-mini", "what was seen is kept");
    for _ in 0..200 {
        if mock.state.stream_dropped.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the upstream stream was not cancelled");
}

#[tokio::test]
async fn no_secret_reaches_the_disk() {
    let mock = start_mock().await;
    let mut h = Harness::start(&mock.url()).await;
    let secrets = [
        "sk-test-SECRETAUTH",
        "SECRETXAPIKEY",
        "SECRETAZUREKEY",
        "SECRETGOOGKEY",
        "sk-helicone-SECRETHEL",
        "SECRETCOOKIE",
        "SECRETQUERYKEY",
        "SECRETPROXYAUTH",
    ];
    for stream in [false, true] {
        let resp = h
            .http
            .post(format!(
                "{}/v1/chat/completions?key=SECRETQUERYKEY&alt=sse",
                h.proxy
            ))
            .header("content-type", "application/json")
            .header("authorization", "Bearer sk-test-SECRETAUTH")
            .header("x-api-key", "SECRETXAPIKEY")
            .header("api-key", "SECRETAZUREKEY")
            .header("x-goog-api-key", "SECRETGOOGKEY")
            .header("helicone-auth", "Bearer sk-helicone-SECRETHEL")
            .header("cookie", "session=SECRETCOOKIE")
            .header("proxy-authorization", "Basic SECRETPROXYAUTH")
            .body(format!(
                r#"{{"model":"gpt-4o-mini","stream":{stream},"messages":[]}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers().contains_key("set-cookie"),
            "set-cookie still reaches the client"
        );
        resp.bytes().await.unwrap();
    }
    h.wait_for_spans(2).await;
    let scan = |h: &Harness| {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(h.dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for s in secrets.iter().chain(["secretcookie"].iter()) {
                if bytes.windows(s.len()).any(|w| w == s.as_bytes()) {
                    found.push(*s);
                }
            }
        }
        found
    };
    assert_eq!(
        scan(&h),
        Vec::<&str>::new(),
        "secrets in the database or its WAL"
    );
    h.shutdown().await;
    assert_eq!(scan(&h), Vec::<&str>::new(), "secrets after checkpoint");
}

#[tokio::test]
async fn shutdown_flushes_every_record() {
    let mock = start_mock().await;
    let mut h = Harness::start_with(&mock.url(), |c| {
        c.flush_interval = Duration::from_millis(200)
    })
    .await;
    for _ in 0..25 {
        let r = h
            .http
            .post(format!("{}/v1/chat/completions", h.proxy))
            .header("content-type", "application/json")
            .body(CHAT)
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
    }
    h.shutdown().await;
    let conn = rusqlite::Connection::open(h.dir.path().join("data.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 25);
    // The WAL was checkpointed into the main file.
    let wal = h.dir.path().join("data.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[tokio::test]
async fn trace_headers_link_calls_into_one_trace() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let send = |hdr: (&'static str, &'static str)| {
        h.http
            .post(format!("{}/v1/chat/completions", h.proxy))
            .header("content-type", "application/json")
            .header(hdr.0, hdr.1)
            .body(CHAT)
            .send()
    };
    send(("x-trace-id", "trace-abc"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    send(("x-trace-id", "trace-abc"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    send((
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    h.wait_for_spans(3).await;
    let same = h.get_json("/api/traces?trace_id=trace-abc").await;
    assert_eq!(
        same["total"], 2,
        "a second call in one trace is its own span"
    );
    let w3c = h
        .get_json("/api/traces/4bf92f3577b34da6a3ce929d0e0e4736/tree")
        .await;
    assert_eq!(w3c["trace"]["span_count"], 1);
    assert_eq!(w3c["spans"][0]["parent_id"], "00f067aa0ba902b7");
    assert_eq!(
        mock.last().headers["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
}

#[tokio::test]
async fn proxy_routes_health_providers_preflight() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let health: Value = h
        .http
        .get(format!("{}/health", h.proxy))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "proxy");
    let providers: Value = h
        .http
        .get(format!("{}/providers", h.proxy))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers["providers"][0]["name"], "openai");
    assert_eq!(providers["providers"][0]["upstream"], mock.url());
    let pre = h
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/chat/completions", h.proxy),
        )
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(
        pre.headers()["access-control-allow-headers"],
        "authorization, content-type"
    );
    assert_eq!(
        mock.state.hits.load(Ordering::SeqCst),
        0,
        "preflight is answered by llmflow"
    );
    // The provider prefix is stripped.
    h.http
        .get(format!("{}/openai/v1/models", h.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(mock.last().uri.path(), "/v1/models");
}

#[tokio::test]
async fn oversize_json_body_is_413_and_recorded() {
    let mock = start_mock().await;
    let h = Harness::start_with(&mock.url(), |c| c.max_json_body = 1000).await;
    let big = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(5000)
    );
    let resp = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("LLMFLOW_MAX_JSON_BODY"));
    assert_eq!(mock.state.hits.load(Ordering::SeqCst), 0);
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["error_kind"], "downstream");
}

#[tokio::test]
async fn bodies_beyond_the_cap_are_truncated_and_marked() {
    let mock = start_mock().await;
    let h = Harness::start_with(&mock.url(), |c| c.capture_bytes = 100).await;
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("content-type", "application/json")
        .body(CHAT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        fixture("chat.json").as_slice()
    );
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(
        t["total_tokens"], 29,
        "usage still parsed past the capture cap"
    );
    let d = h
        .get_json(&format!("/api/traces/{}", t["id"].as_str().unwrap()))
        .await;
    assert_eq!(d["response"]["truncated"], true);
    assert_eq!(d["response"]["body"].as_str().unwrap().len(), 100);
    assert_eq!(
        d["response"]["body_size"].as_u64(),
        Some(fixture("chat.json").len() as u64)
    );
}

#[tokio::test]
async fn client_gone_before_the_response_started_is_recorded() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = impatient
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("content-type", "application/json")
        .header("x-mock-delay-ms", "3000")
        .body(CHAT)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["cancelled"], true);
    assert_eq!(t["error_kind"], "downstream");
    assert_eq!(t["model"], "gpt-4o-mini");
}
