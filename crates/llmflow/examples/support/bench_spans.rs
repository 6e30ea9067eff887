//! Realistic spans for the store bench and the database seeder: what the proxy records for
//! a chat completion (usage, cost, redacted headers, ~0.7 KB request and ~0.8 KB response
//! bodies, input messages and output text for full-text search).
//!
//! Deterministic: span `i` is always the same apart from its id (UUIDv7, time-ordered).
//! Shared by `examples/bench_seed.rs` and `benches/store.rs` through `#[path]`.
#![allow(dead_code)]

use llmflow_core::{BodyCapture, Span, Usage};

/// A word found in a large share of the seeded rows (full-text search, common term).
pub const COMMON_WORD: &str = "weather";
/// A word found in one row out of [`RARE_EVERY`] (full-text search, rare term).
pub const RARE_WORD: &str = "zyzzyva";
pub const RARE_EVERY: u64 = 10_000;

const MODELS: &[(&str, f64, f64)] = &[
    // (model as the upstream reports it, $/input token, $/output token)
    ("gpt-4o-mini-2024-07-18", 1.5e-7, 6e-7),
    ("gpt-4o-mini-2024-07-18", 1.5e-7, 6e-7),
    ("gpt-4o-mini-2024-07-18", 1.5e-7, 6e-7),
    ("gpt-4o-2024-08-06", 2.5e-6, 1e-5),
    ("gpt-4.1-2025-04-14", 2e-6, 8e-6),
    ("o3-mini-2025-01-31", 1.1e-6, 4.4e-6),
    ("my-finetune-v3", 0.0, 0.0),
];

const WORDS: &[&str] = &[
    "the",
    "a",
    "please",
    "summarize",
    "explain",
    "write",
    "function",
    "python",
    "rust",
    "weather",
    "forecast",
    "customer",
    "email",
    "invoice",
    "order",
    "refund",
    "policy",
    "translate",
    "french",
    "german",
    "report",
    "quarterly",
    "revenue",
    "growth",
    "table",
    "list",
    "steps",
    "install",
    "error",
    "stack",
    "trace",
    "database",
    "query",
    "index",
    "latency",
    "service",
    "deploy",
    "kubernetes",
    "cluster",
    "memory",
    "leak",
    "review",
    "code",
    "test",
    "unit",
    "integration",
    "api",
    "endpoint",
    "json",
    "schema",
    "user",
    "session",
    "token",
    "cost",
    "budget",
    "meeting",
    "notes",
    "agenda",
    "action",
    "items",
    "draft",
    "blog",
    "post",
    "marketing",
    "campaign",
    "product",
    "launch",
    "roadmap",
    "feature",
    "request",
    "bug",
    "fix",
    "release",
    "version",
    "changelog",
    "document",
];

/// xorshift64*: cheap and deterministic, good enough to vary the rows.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn sentence(rng: &mut Rng, words: usize, out: &mut String) {
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
}

/// Escapes a plain ASCII sentence for a JSON string (the generator never emits quotes).
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    out.push_str(s);
    out.push('"');
    out
}

/// Span number `i` of a run, started at `start_ns`. About one span in five joins the trace
/// of the span before it (an agent's second call); the others open their own trace.
pub fn span(i: u64, start_ns: i64, prev: Option<(&str, &str)>) -> Span {
    let mut rng = Rng::new(i + 1);
    let (model, pin, pout) = MODELS[rng.below(MODELS.len() as u64) as usize];
    let request_model = model
        .rsplit_once("-20")
        .map(|(m, _)| m)
        .unwrap_or(model)
        .to_owned();

    let mut system = String::from("You are a helpful assistant. ");
    sentence(&mut rng, 12, &mut system);
    let mut user = String::new();
    sentence(&mut rng, 40, &mut user);
    if i % RARE_EVERY == 0 {
        user.push(' ');
        user.push_str(RARE_WORD);
    }
    let mut answer = String::new();
    sentence(&mut rng, 30, &mut answer);

    let messages = format!(
        r#"[{{"role":"system","content":{}}},{{"role":"user","content":{}}}]"#,
        json_str(&system),
        json_str(&user)
    );
    let request_body = format!(
        r#"{{"model":"{request_model}","messages":{messages},"temperature":0.7,"max_tokens":512,"user":"user-{}"}}"#,
        i % 97
    );
    let input_tokens = 40 + rng.below(2000);
    let output_tokens = 10 + rng.below(600);
    let cached = if rng.below(4) == 0 {
        input_tokens / 2
    } else {
        0
    };
    let usage = Usage {
        input: input_tokens,
        output: output_tokens,
        cache_read: cached,
        cache_write: 0,
        reasoning: 0,
    };
    let response_body = format!(
        r#"{{"id":"chatcmpl-{i:016x}","object":"chat.completion","created":1741569952,"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":{},"refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{input_tokens},"completion_tokens":{output_tokens},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{cached},"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"service_tier":"default","system_fingerprint":"fp_06737a9306"}}"#,
        json_str(&answer),
        input_tokens + output_tokens
    );
    let cost = (pin > 0.0).then(|| {
        (input_tokens - cached) as f64 * pin
            + cached as f64 * pin / 2.0
            + output_tokens as f64 * pout
    });

    let id = uuid::Uuid::now_v7().to_string();
    let (trace_id, parent_id) = match prev {
        Some((ptrace, pid)) if i % 5 == 4 => (ptrace.to_owned(), Some(pid.to_owned())),
        _ => (id.clone(), None),
    };
    let duration_ms = 200.0 + rng.below(4000) as f64;
    let streamed = rng.below(3) == 0;
    let err = rng.below(50) == 0;
    let mut input_text = system.clone();
    input_text.push('\n');
    input_text.push_str(&user);
    let cap = 1024 * 1024;
    Span {
        id,
        trace_id,
        parent_id,
        start_ns,
        duration_ms,
        ttft_ms: Some(80.0 + rng.below(400) as f64),
        span_type: "llm".into(),
        name: "chat".into(),
        provider: Some("openai".into()),
        model: Some(model.into()),
        status: Some(if err { 429 } else { 200 }),
        error: err.then(|| "Rate limit reached for requests".to_owned()),
        usage: Some(usage),
        cost,
        tags: if i % 10 == 0 {
            vec!["batch".into()]
        } else {
            Vec::new()
        },
        method: Some("POST".into()),
        path: Some("/v1/chat/completions".into()),
        streamed,
        chunks: if streamed { 1 + output_tokens / 2 } else { 1 },
        service_name: Some("bench-app".into()),
        session_id: (i % 3 == 0).then(|| format!("session-{}", i / 30)),
        user_id: Some(format!("user-{}", i % 97)),
        request_headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), "Bearer sk-pr...[redacted]".into()),
            ("user-agent".into(), "OpenAI/Python 1.59.7".into()),
            ("x-stainless-lang".into(), "python".into()),
        ],
        request_body: BodyCapture::from_bytes(request_body.as_bytes(), cap),
        response_headers: vec![
            ("content-type".into(), "application/json".into()),
            (
                "openai-processing-ms".into(),
                format!("{}", duration_ms as u64),
            ),
            ("x-request-id".into(), format!("req_{i:032x}")),
        ],
        response_body: BodyCapture::from_bytes(response_body.as_bytes(), cap),
        input: Some(messages),
        input_text: Some(input_text),
        output: Some(answer),
        ..Span::default()
    }
}

/// `n` spans ending about now, `spacing_ns` apart, oldest first.
pub fn spans(n: u64, spacing_ns: i64) -> Vec<Span> {
    let now = now_ns();
    let mut out: Vec<Span> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let start = now - (n - i) as i64 * spacing_ns;
        let prev = out.last().map(|s| (s.trace_id.clone(), s.id.clone()));
        let s = span(
            i,
            start,
            prev.as_ref().map(|(t, p)| (t.as_str(), p.as_str())),
        );
        out.push(s);
    }
    out
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Stored size of a span's payload, roughly (for reporting bytes per row).
pub fn payload_bytes(s: &Span) -> usize {
    s.request_body.bytes.len()
        + s.response_body.bytes.len()
        + s.input.as_ref().map_or(0, String::len)
        + s.output.as_ref().map_or(0, String::len)
}
