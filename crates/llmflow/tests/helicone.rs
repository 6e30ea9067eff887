//! The Helicone passthrough against a mock gateway on a loopback port over plain HTTP, set up
//! exactly as the seed document's self-hosted example (`HELICONE_HOST` + `HELICONE_PORT`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fixture, start_mock, Harness};
use serde_json::Value;

const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}"#;

async fn harness(mock: &common::Mock, key: Option<&str>) -> Harness {
    let port = mock.addr.port().to_string();
    let mut vars = vec![
        ("HELICONE_HOST", "localhost"),
        ("HELICONE_PORT", port.as_str()),
    ];
    if let Some(k) = key {
        vars.push(("HELICONE_API_KEY", k));
    }
    Harness::start_full(
        tempfile::tempdir().unwrap(),
        "http://127.0.0.1:9",
        &vars,
        |_| {},
    )
    .await
}

#[tokio::test]
async fn option_b_headers_go_through_and_metadata_is_recorded() {
    let mock = start_mock().await;
    let h = harness(&mock, None).await;
    let headers = [
        ("helicone-auth", "Bearer sk-helicone-SECRET1"),
        ("authorization", "Bearer sk-openai-SECRET2"),
        ("helicone-property-environment", "production"),
        ("helicone-property-feature", "chatbot"),
        ("helicone-user-id", "user-123"),
        ("helicone-session-id", "session-abc"),
        ("helicone-session-name", "Customer Support"),
        ("helicone-session-path", "/support/ticket"),
        ("helicone-cache-enabled", "true"),
        ("cache-control", "max-age=3600"),
        ("helicone-retry-enabled", "true"),
        ("helicone-retry-num", "3"),
        ("helicone-ratelimit-policy", "1000;w=3600;u=request;s=user"),
        (
            "helicone-request-id",
            "6f1e3c2a-0b9d-4d4e-9a51-3e7e2f1c0d11",
        ),
        ("helicone-omit-response", "false"),
        ("helicone-some-future-header", "kept"),
    ];
    let mut req = h
        .http
        .post(format!(
            "{}/passthrough/helicone/v1/chat/completions",
            h.proxy
        ))
        .header("content-type", "application/json")
        .body(BODY);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Helicone's response headers come back.
    assert_eq!(r.headers()["helicone-id"], "hel-7f3e2a");
    assert_eq!(r.headers()["helicone-cache"], "MISS");
    assert_eq!(r.headers()["helicone-ratelimit-remaining"], "99");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        fixture("chat.json").as_slice()
    );

    // Every header arrived at the gateway as sent, over plain HTTP on the loopback port.
    let seen = mock.last();
    assert_eq!(seen.uri.path(), "/v1/chat/completions");
    for (k, v) in headers {
        assert_eq!(seen.headers[k], v, "{k}");
    }

    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["provider"], "helicone");
    assert_eq!(t["total_tokens"], 29);
    assert!(t["estimated_cost"].as_f64().unwrap() > 0.0);
    assert_eq!(t["user_id"], "user-123");
    assert_eq!(t["session_id"], "session-abc");
    let tags: Vec<&str> = t["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"environment:production"), "{tags:?}");
    assert!(tags.contains(&"feature:chatbot"), "{tags:?}");
    let d = h
        .get_json(&format!("/api/traces/{}", t["id"].as_str().unwrap()))
        .await;
    let a = &d["trace"]["attributes"];
    assert_eq!(a["helicone.id"], "hel-7f3e2a");
    assert_eq!(a["helicone.cache"], "MISS");
    assert_eq!(a["helicone.session.name"], "Customer Support");
    assert_eq!(a["helicone.session.path"], "/support/ticket");
    assert_eq!(a["helicone.property.environment"], "production");
    assert_eq!(
        d["request"]["headers"]["helicone-auth"],
        "Bearer [REDACTED]"
    );
    // Filter by a Helicone property tag.
    let by_tag = h.get_json("/api/traces?tag=environment:production").await;
    assert_eq!(by_tag["total"], 1);

    let mut h = h;
    h.shutdown().await;
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in [&b"sk-helicone-SECRET1"[..], b"sk-openai-SECRET2"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "key on disk"
            );
        }
    }
}

#[tokio::test]
async fn option_a_key_from_environment() {
    let mock = start_mock().await;
    let h = harness(&mock, Some("sk-helicone-ENVKEY")).await;
    let r = h
        .http
        .post(format!(
            "{}/passthrough/helicone/v1/chat/completions",
            h.proxy
        ))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-openai")
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = mock.last();
    assert_eq!(seen.headers["helicone-auth"], "Bearer sk-helicone-ENVKEY");
    assert_eq!(seen.headers["authorization"], "Bearer sk-openai");
    // A header from the request wins over the environment.
    h.http
        .post(format!(
            "{}/passthrough/helicone/v1/chat/completions",
            h.proxy
        ))
        .header("content-type", "application/json")
        .header("helicone-auth", "Bearer sk-helicone-HEADER")
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        mock.last().headers["helicone-auth"],
        "Bearer sk-helicone-HEADER"
    );
    let v = h.wait_for_spans(2).await;
    let mut h = h;
    h.shutdown().await;
    assert_eq!(v["total"], 2);
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(18).any(|w| w == b"sk-helicone-ENVKEY"));
    }
}

#[tokio::test]
async fn streams_through_helicone_keep_usage() {
    let mock = start_mock().await;
    let h = harness(&mock, Some("sk-helicone-x")).await;
    let r = h
        .http
        .post(format!(
            "{}/passthrough/helicone/v1/chat/completions",
            h.proxy
        ))
        .header("content-type", "application/json")
        .body(r#"{"model":"gpt-4o-mini","stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        fixture("chat_stream_no_usage_of_same.sse").as_slice()
    );
    let t: Value = h.wait_for_spans(1).await["traces"][0].clone();
    assert_eq!(t["total_tokens"], 29);
    assert_eq!(t["streamed"], true);
}
