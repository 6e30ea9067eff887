//! One conformance suite, instantiated for every provider route: non-stream, stream, upstream
//! error, client disconnect; bytes as the upstream sent them, usage and cost recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{start_mock, wire_fixture, Harness};
use futures_util::StreamExt;
use llmflow_core::pricing::PriceTable;
use llmflow_core::providers::{Operation, Provider};
use llmflow_core::sse::decode_all;
use llmflow_core::Usage;
use serde_json::Value;

/// One provider route and the wire format behind it.
#[derive(Clone, Copy)]
struct Case {
    /// Provider name (the route prefix and the record's provider).
    name: &'static str,
    wire: Provider,
    model: &'static str,
}

impl Case {
    fn dir(&self) -> &'static str {
        match self.wire {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Cohere => "cohere",
            Provider::Ollama => "ollama",
        }
    }

    fn path(&self, stream: bool) -> String {
        let native = match self.wire {
            Provider::OpenAi => "/v1/chat/completions".to_owned(),
            Provider::Anthropic => "/v1/messages".to_owned(),
            Provider::Gemini if stream => format!(
                "/v1beta/models/{}:streamGenerateContent?alt=sse",
                self.model
            ),
            Provider::Gemini => format!("/v1beta/models/{}:generateContent", self.model),
            Provider::Cohere => "/v2/chat".to_owned(),
            Provider::Ollama => "/api/chat".to_owned(),
        };
        format!("/{}{native}", self.name)
    }

    fn body(&self, stream: bool) -> String {
        let msgs = r#"[{"role":"user","content":"Hello there"}]"#;
        match self.wire {
            Provider::OpenAi if stream => format!(
                r#"{{"model":"{}","messages":{msgs},"stream":true,"stream_options":{{"include_usage":true}}}}"#,
                self.model
            ),
            Provider::OpenAi | Provider::Cohere => {
                format!(
                    r#"{{"model":"{}","messages":{msgs},"stream":{stream}}}"#,
                    self.model
                )
            }
            Provider::Anthropic => {
                format!(
                    r#"{{"model":"{}","max_tokens":256,"messages":{msgs},"stream":{stream}}}"#,
                    self.model
                )
            }
            Provider::Gemini => {
                r#"{"contents":[{"role":"user","parts":[{"text":"Hello there"}]}]}"#.to_owned()
            }
            Provider::Ollama => format!(
                r#"{{"model":"{}","messages":{msgs},"stream":{stream}}}"#,
                self.model
            ),
        }
    }

    fn fixture(&self, stream: bool) -> Vec<u8> {
        let (dir, name) = match (self.wire, stream) {
            (Provider::OpenAi, false) => ("openai", "chat.json"),
            (Provider::OpenAi, true) => ("openai", "chat_stream.sse"),
            (Provider::Anthropic, false) => ("anthropic", "messages.json"),
            (Provider::Anthropic, true) => ("anthropic", "messages_stream.sse"),
            (Provider::Gemini, false) => ("gemini", "generate.json"),
            (Provider::Gemini, true) => ("gemini", "stream.sse"),
            (Provider::Cohere, false) => ("cohere", "chat.json"),
            (Provider::Cohere, true) => ("cohere", "stream.sse"),
            (Provider::Ollama, false) => ("ollama", "chat.json"),
            (Provider::Ollama, true) => ("ollama", "chat_stream.ndjson"),
        };
        wire_fixture(dir, name)
    }

    /// What core's parser finds in the fixture: the record must say the same.
    fn expected_usage(&self, stream: bool) -> Usage {
        let bytes = self.fixture(stream);
        let op = match self.wire {
            Provider::OpenAi => Operation::Chat,
            Provider::Anthropic => Operation::Messages,
            Provider::Gemini => Operation::GenerateContent,
            Provider::Cohere | Provider::Ollama => Operation::Chat,
        };
        let mut p = self.wire.response_parser(op, 1 << 20);
        if stream && self.wire != Provider::Ollama {
            decode_all(&bytes).iter().for_each(|e| p.event(e));
        } else {
            p.body(&bytes);
        }
        p.finish().usage.expect("fixture has usage")
    }
}

async fn harness(mock: &common::Mock) -> Harness {
    Harness::start_all(
        &mock.url(),
        &[
            ("LLMFLOW_PROVIDERS", ""),
            ("AZURE_OPENAI_RESOURCE", "unused"),
        ],
        |c| {
            c.upstreams = llmflow::proxy::upstreams::Upstreams::from_env(
                &|k: &str| {
                    let url = mock.url();
                    match k {
                        k if k.ends_with("_BASE_URL") => Some(url),
                        _ => None,
                    }
                },
                &mock.url(),
                &[format!("vllm={}", mock.url())],
            )
            .unwrap()
        },
    )
    .await
}

fn send(h: &Harness, case: Case, stream: bool) -> reqwest::RequestBuilder {
    h.http
        .post(format!("{}{}", h.proxy, case.path(stream)))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-conformance-key")
        .body(case.body(stream))
}

async fn check_record(h: &Harness, case: Case, stream: bool) -> Value {
    let t = h.wait_for_spans(1).await["traces"][0].clone();
    assert_eq!(t["provider"], case.name);
    assert_eq!(t["status"], 200);
    assert_eq!(t["streamed"], stream);
    let u = case.expected_usage(stream);
    assert!(u.total() > 0, "fixture without tokens");
    assert_eq!(t["prompt_tokens"].as_u64(), Some(u.input), "{t}");
    assert_eq!(t["completion_tokens"].as_u64(), Some(u.output), "{t}");
    assert_eq!(t["cache_read_tokens"].as_u64(), Some(u.cache_read), "{t}");
    let model = t["model"].as_str().unwrap().to_owned();
    let expected_cost = PriceTable::embedded()
        .unwrap()
        .cost(Some(case.name), &model, &u);
    match expected_cost {
        Some(c) => assert!(
            (t["estimated_cost"].as_f64().unwrap() - c).abs() < 1e-12,
            "{t}"
        ),
        None => assert_eq!(
            t["estimated_cost"],
            Value::Null,
            "unknown model stays unpriced"
        ),
    }
    t
}

async fn non_stream(case: Case) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = send(&h, case, false).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        case.fixture(false).as_slice()
    );
    let seen = mock.last();
    assert_eq!(
        seen.body.as_ref(),
        case.body(false).as_bytes(),
        "body forwarded as sent"
    );
    check_record(&h, case, false).await;
}

async fn stream(case: Case) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = send(&h, case, true).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        case.fixture(true).as_slice()
    );
    check_record(&h, case, true).await;
}

async fn upstream_error(case: Case) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = send(&h, case, false)
        .header("x-mock-status", "429")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        wire_fixture(case.dir(), "error.json").as_slice()
    );
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["status"], 429);
    assert_eq!(t["is_error"], true);
    assert_eq!(t["provider"], case.name);
    assert!(t["error"].as_str().is_some_and(|e| !e.is_empty()));
}

async fn client_disconnect(case: Case) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = send(&h, case, true)
        .header("x-mock-stall", "1")
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(body);
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["cancelled"], true);
    assert_eq!(t["error_kind"], "downstream");
    assert_eq!(t["provider"], case.name);
    for _ in 0..300 {
        if mock.state.stream_dropped.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("upstream not cancelled");
}

macro_rules! conformance {
    ($($name:ident => $case:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn non_stream() { super::non_stream($case).await }
            #[tokio::test]
            async fn stream() { super::stream($case).await }
            #[tokio::test]
            async fn upstream_error() { super::upstream_error($case).await }
            #[tokio::test]
            async fn client_disconnect() { super::client_disconnect($case).await }
        }
    )*};
}

const fn openai_like(name: &'static str) -> Case {
    Case {
        name,
        wire: Provider::OpenAi,
        model: "gpt-4o-mini",
    }
}

conformance! {
    openai => openai_like("openai"),
    groq => openai_like("groq"),
    mistral => openai_like("mistral"),
    together => openai_like("together"),
    perplexity => openai_like("perplexity"),
    openrouter => openai_like("openrouter"),
    azure => openai_like("azure"),
    custom_vllm => openai_like("vllm"),
    anthropic => Case { name: "anthropic", wire: Provider::Anthropic, model: "claude-sonnet-4-5" },
    gemini => Case { name: "gemini", wire: Provider::Gemini, model: "gemini-2.5-flash" },
    cohere => Case { name: "cohere", wire: Provider::Cohere, model: "command-r-08-2024" },
    ollama => Case { name: "ollama", wire: Provider::Ollama, model: "llama3.2" },
}

#[tokio::test]
async fn ollama_openai_compatible_route() {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let case = openai_like("ollama");
    let r = send(&h, case, false).send().await.unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        case.fixture(false).as_slice()
    );
    assert_eq!(mock.last().uri.path(), "/v1/chat/completions");
    check_record(&h, case, false).await;
}

#[tokio::test]
async fn azure_rewrites_path_and_auth() {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = send(&h, openai_like("azure"), false).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = mock.last();
    assert_eq!(
        seen.uri.path(),
        "/openai/deployments/gpt-4o-mini/chat/completions"
    );
    assert_eq!(seen.uri.query(), Some("api-version=2024-02-01"));
    assert_eq!(seen.headers["api-key"], "sk-conformance-key");
    assert!(!seen.headers.contains_key("authorization"));
}

#[tokio::test]
async fn anthropic_route_maps_bearer_and_passthrough_keeps_it() {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let case = Case {
        name: "anthropic",
        wire: Provider::Anthropic,
        model: "claude-sonnet-4-5",
    };
    send(&h, case, false)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let seen = mock.last();
    assert_eq!(seen.headers["x-api-key"], "sk-conformance-key");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    // Claude Code with a subscription login: Bearer stays Bearer, headers untouched.
    let r = h
        .http
        .post(format!(
            "{}/passthrough/anthropic/v1/messages?beta=true",
            h.proxy
        ))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-ant-oat01-oauth")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "oauth-2025-04-20,claude-code-20250219")
        .body(case.body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        case.fixture(true).as_slice()
    );
    let seen = mock.last();
    assert_eq!(seen.uri.path(), "/v1/messages");
    assert_eq!(seen.uri.query(), Some("beta=true"));
    assert_eq!(seen.headers["authorization"], "Bearer sk-ant-oat01-oauth");
    assert!(!seen.headers.contains_key("x-api-key"));
    assert_eq!(
        seen.headers["anthropic-beta"],
        "oauth-2025-04-20,claude-code-20250219"
    );
    let v = h.wait_for_spans(2).await;
    let t = &v["traces"][0];
    assert_eq!(
        t["prompt_tokens"].as_u64(),
        Some(case.expected_usage(true).input)
    );
}

#[tokio::test]
async fn gemini_passthrough_keeps_query_key_and_redacts_it() {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = h
        .http
        .post(format!(
            "{}/passthrough/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaSECRETKEY",
            h.proxy
        ))
        .header("content-type", "application/json")
        .body(r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        wire_fixture("gemini", "stream.sse").as_slice()
    );
    assert_eq!(mock.last().uri.query(), Some("alt=sse&key=AIzaSECRETKEY"));
    let t = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(t["streamed"], true);
    assert!(t["model"].as_str().unwrap().starts_with("gemini-2.5-flash"));
    assert_eq!(
        t["request_path"],
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=[REDACTED]"
    );
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"AIzaSECRETKEY"));
    }
}

#[tokio::test]
async fn injected_keys_only_without_credentials_and_never_cross_origin() {
    let mock = start_mock().await;
    let h = Harness::start_full(
        tempfile::tempdir().unwrap(),
        &mock.url(),
        &[
            ("LLMFLOW_ANTHROPIC_BASE_URL", &mock.url()),
            ("ANTHROPIC_API_KEY", "sk-ant-server"),
            ("OPENAI_API_KEY", "sk-server"),
        ],
        |c| c.inject_keys = true,
    )
    .await;
    let case = Case {
        name: "anthropic",
        wire: Provider::Anthropic,
        model: "claude-sonnet-4-5",
    };
    let r = h
        .http
        .post(format!("{}{}", h.proxy, case.path(false)))
        .header("content-type", "application/json")
        .body(case.body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mock.last().headers["x-api-key"], "sk-ant-server");
    // The client's own key wins.
    send(&h, openai_like("openai"), false).send().await.unwrap();
    assert_eq!(
        mock.last().headers["authorization"],
        "Bearer sk-conformance-key"
    );
    // A web page cannot spend the keys.
    let hits = mock.state.hits.load(Ordering::SeqCst);
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(openai_like("openai").body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let pre = h
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/chat/completions", h.proxy),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 403);
    assert!(pre.headers().get("access-control-allow-origin").is_none());
    assert_eq!(mock.state.hits.load(Ordering::SeqCst), hits);
    // Server keys never reach the disk either.
    h.wait_for_spans(2).await;
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"sk-ant-server"));
    }
}

#[tokio::test]
async fn unknown_provider_header_is_a_clear_400() {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("x-llmflow-provider", "nosuch")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("nosuch"));
    let providers: Value = h
        .http
        .get(format!("{}/providers", h.proxy))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "openai",
        "anthropic",
        "gemini",
        "ollama",
        "groq",
        "mistral",
        "together",
        "perplexity",
        "openrouter",
        "cohere",
        "azure",
        "vllm",
        "helicone",
    ] {
        assert!(names.contains(&n), "{n} missing from /providers");
    }
    assert_eq!(providers["passthrough"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn provider_health_checks_reachability() {
    let mock = start_mock().await;
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let h = Harness::start_full(
        tempfile::tempdir().unwrap(),
        &mock.url(),
        &[
            ("OPENAI_API_KEY", "sk-health"),
            ("LLMFLOW_ANTHROPIC_BASE_URL", &dead),
            ("ANTHROPIC_API_KEY", "sk-ant-health"),
            ("LLMFLOW_OLLAMA_BASE_URL", &mock.url()),
        ],
        |_| {},
    )
    .await;
    let v = h.get_json("/api/health/providers").await;
    let p = &v["providers"];
    assert_eq!(p["openai"]["status"], "ok", "{v}");
    assert!(p["openai"]["latency_ms"].as_f64().is_some());
    assert_eq!(p["anthropic"]["status"], "error", "{v}");
    assert_eq!(p["groq"]["status"], "unconfigured");
    assert_eq!(p["groq"]["key_env"][0], "GROQ_API_KEY");
    // Ollama needs no key: checked, and the mock has no /api/tags.
    assert_eq!(p["ollama"]["status"], "error");
    assert_eq!(p["ollama"]["http_status"], 404);
}
