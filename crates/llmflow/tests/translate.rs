//! OpenAI chat-completions clients talking to Anthropic, Gemini and Cohere through llmflow:
//! the upstream gets the native request, the client gets exactly the OpenAI answer (and chunk
//! sequence) core's translator produces, and the record has the native usage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::Ordering;

use common::{start_mock, wire_fixture, Harness};
use llmflow_core::providers::Provider;
use serde_json::{json, Value};

fn openai_body(model: &str, stream: bool) -> String {
    json!({
        "model": model,
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
        "max_tokens": 300,
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What's the weather in Paris?"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}],
    })
    .to_string()
}

/// `data:` payloads of an SSE body, with `created` zeroed (it is the clock's).
fn chunks(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| {
            if d == "[DONE]" {
                return Value::String("[DONE]".into());
            }
            let mut v: Value = serde_json::from_str(d).unwrap();
            if v.get("created").is_some() {
                v["created"] = json!(0);
            }
            v
        })
        .collect()
}

fn native(wire: Provider, stream: bool) -> Vec<u8> {
    match (wire, stream) {
        (Provider::Anthropic, false) => wire_fixture("anthropic", "messages.json"),
        (Provider::Anthropic, true) => wire_fixture("anthropic", "messages_stream.sse"),
        (Provider::Gemini, false) => wire_fixture("gemini", "generate.json"),
        (Provider::Gemini, true) => wire_fixture("gemini", "stream.sse"),
        (Provider::Cohere, false) => wire_fixture("cohere", "chat.json"),
        (Provider::Cohere, true) => wire_fixture("cohere", "stream.sse"),
        _ => unreachable!(),
    }
}

async fn harness(mock: &common::Mock) -> Harness {
    let url = mock.url();
    Harness::start_full(
        tempfile::tempdir().unwrap(),
        &url,
        &[
            ("LLMFLOW_ANTHROPIC_BASE_URL", url.as_str()),
            ("LLMFLOW_GEMINI_BASE_URL", url.as_str()),
            ("LLMFLOW_COHERE_BASE_URL", url.as_str()),
        ],
        |_| {},
    )
    .await
}

async fn non_stream(wire: Provider, model: &str) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let body = openai_body(model, false);
    let r = h
        .http
        .post(format!("{}/{}/v1/chat/completions", h.proxy, wire.name()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-translate")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let mut got: Value = r.json().await.unwrap();
    got["created"] = json!(0);
    let expect = wire
        .translate_response(&native(wire, false), model, 0)
        .unwrap();
    assert_eq!(got, serde_json::from_slice::<Value>(&expect).unwrap());
    assert_eq!(got["object"], "chat.completion");

    let t = wire.translate_request(body.as_bytes()).unwrap();
    let seen = mock.last();
    assert_eq!(seen.uri.path_and_query().unwrap().as_str(), t.path);
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.body).unwrap(),
        serde_json::from_slice::<Value>(&t.body).unwrap()
    );

    let rec = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(rec["provider"], wire.name());
    assert_eq!(rec["streamed"], false);
    assert!(rec["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(rec["prompt_tokens"], got["usage"]["prompt_tokens"]);
    assert_eq!(rec["completion_tokens"], got["usage"]["completion_tokens"]);
}

async fn stream(wire: Provider, model: &str) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let r = h
        .http
        .post(format!("{}/{}/v1/chat/completions", h.proxy, wire.name()))
        .header("content-type", "application/json")
        .body(openai_body(model, true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let got = chunks(&r.bytes().await.unwrap());

    let mut t = wire.stream_translator(model, true, 0).unwrap();
    let mut expect = Vec::new();
    for ev in llmflow_core::sse::decode_all(&native(wire, true)) {
        t.event(&ev, &mut expect);
    }
    t.finish(&mut expect);
    assert_eq!(got, chunks(&expect));
    assert_eq!(got.last(), Some(&Value::String("[DONE]".into())));
    assert!(got
        .iter()
        .all(|c| c == "[DONE]" || c["object"] == "chat.completion.chunk"));
    let usage = &got[got.len() - 2];
    assert_eq!(usage["choices"], json!([]));

    let rec = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(rec["streamed"], true);
    assert_eq!(rec["prompt_tokens"], usage["usage"]["prompt_tokens"]);
    assert_eq!(
        rec["completion_tokens"],
        usage["usage"]["completion_tokens"]
    );
}

async fn untranslatable(wire: Provider, model: &str) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    let mut body: Value = serde_json::from_str(&openai_body(model, false)).unwrap();
    body["logit_bias"] = json!({"50256": -100});
    let r = h
        .http
        .post(format!("{}/{}/v1/chat/completions", h.proxy, wire.name()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("logit_bias"),
        "{v}"
    );
    assert_eq!(mock.state.hits.load(Ordering::SeqCst), 0);
    let rec = &h.wait_for_spans(1).await["traces"][0];
    assert_eq!(rec["error_kind"], "downstream");
}

async fn upstream_error(wire: Provider, model: &str) {
    let mock = start_mock().await;
    let h = harness(&mock).await;
    for stream in [false, true] {
        let r = h
            .http
            .post(format!("{}/{}/v1/chat/completions", h.proxy, wire.name()))
            .header("content-type", "application/json")
            .header("x-mock-status", "401")
            .body(openai_body(model, stream))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }
}

macro_rules! translated {
    ($($name:ident => ($wire:expr, $model:expr)),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test]
            async fn non_stream() { super::non_stream($wire, $model).await }
            #[tokio::test]
            async fn stream() { super::stream($wire, $model).await }
            #[tokio::test]
            async fn untranslatable_field_is_a_400() { super::untranslatable($wire, $model).await }
            #[tokio::test]
            async fn upstream_error_in_openai_shape() { super::upstream_error($wire, $model).await }
        }
    )*};
}

translated! {
    anthropic => (Provider::Anthropic, "claude-sonnet-4-5"),
    gemini => (Provider::Gemini, "gemini-2.5-flash"),
    cohere => (Provider::Cohere, "command-r-08-2024"),
}
