//! OpenAI: chat completions, the Responses API, legacy completions and embeddings, streamed
//! and not; the `stream_options.include_usage` injection and its invisible removal.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{collect_text, push_capped, Operation, RequestInfo, ResponseInfo};
use crate::sse::SseEvent;
use crate::usage::Usage;

// ---------------------------------------------------------------- wire types

/// `usage` in every OpenAI format (chat/completions/embeddings use `prompt_`/`completion_`,
/// the Responses API `input_`/`output_`).
#[derive(Debug, Default, Deserialize)]
pub struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    prompt_tokens_details: Option<OpenAiInputDetails>,
    input_tokens_details: Option<OpenAiInputDetails>,
    completion_tokens_details: Option<OpenAiOutputDetails>,
    output_tokens_details: Option<OpenAiOutputDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiInputDetails {
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiOutputDetails {
    reasoning_tokens: Option<u64>,
}

impl OpenAiUsage {
    pub fn into_usage(self) -> Usage {
        let input = self.prompt_tokens.or(self.input_tokens).unwrap_or(0);
        let output = self
            .completion_tokens
            .or(self.output_tokens)
            // Embeddings report only prompt and total.
            .or_else(|| self.total_tokens.map(|t| t.saturating_sub(input)))
            .unwrap_or(0);
        let cache_read = self
            .prompt_tokens_details
            .or(self.input_tokens_details)
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        let reasoning = self
            .completion_tokens_details
            .or(self.output_tokens_details)
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0);
        Usage {
            input,
            output,
            cache_read,
            cache_write: 0,
            reasoning,
        }
    }
}

/// Any JSON object OpenAI sends: a whole response, a stream chunk, or a Responses API event.
#[derive(Debug, Default, Deserialize)]
struct OpenAiMessage {
    model: Option<String>,
    usage: Option<OpenAiUsage>,
    choices: Option<Vec<OpenAiChoice>>,
    /// Responses API event type (`response.output_text.delta`, `response.completed`...).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Responses API: the response object inside `response.*` events.
    response: Option<Box<OpenAiMessage>>,
    /// Responses API: text delta.
    delta: Option<Value>,
    /// Responses API: output items of a whole response.
    output: Option<Vec<OpenAiOutputItem>>,
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiChoice {
    delta: Option<OpenAiChatMessage>,
    message: Option<OpenAiChatMessage>,
    /// Legacy completions.
    text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiChatMessage {
    content: Option<Value>,
    tool_calls: Option<Vec<OpenAiToolCall>>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiToolCall {
    function: Option<OpenAiFunction>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiFunction {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiOutputItem {
    #[serde(rename = "type")]
    kind: Option<String>,
    content: Option<Vec<OpenAiOutputContent>>,
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct OpenAiOutputContent {
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OpenAiRequest<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    stream: Option<bool>,
    #[serde(borrow)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    #[serde(borrow)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow)]
    instructions: Option<&'a RawValue>,
}

// ---------------------------------------------------------------- requests

pub fn operation_for(path: &str) -> Operation {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    if path.ends_with("/chat/completions") {
        Operation::Chat
    } else if path.ends_with("/responses") {
        Operation::Responses
    } else if path.ends_with("/completions") {
        Operation::Completion
    } else if path.ends_with("/embeddings") {
        Operation::Embeddings
    } else {
        Operation::Other
    }
}

pub fn inspect_request(path: &str, body: &[u8]) -> RequestInfo {
    let operation = operation_for(path);
    let mut info = RequestInfo {
        operation,
        ..RequestInfo::default()
    };
    let Ok(req) = serde_json::from_slice::<OpenAiRequest>(body) else {
        return info;
    };
    info.model = req
        .model
        .and_then(|m| serde_json::from_str::<String>(m.get()).ok());
    info.stream = req.stream.unwrap_or(false);
    let input = req.messages.or(req.input).or(req.prompt);
    info.input = input.map(|raw| raw.get().to_owned());
    let mut text = String::new();
    if let Some(instr) = req.instructions {
        if let Ok(v) = serde_json::from_str::<Value>(instr.get()) {
            collect_text(&v, &mut text);
        }
    }
    if let Some(raw) = input {
        if let Ok(v) = serde_json::from_str::<Value>(raw.get()) {
            collect_text(&v, &mut text);
        }
    }
    if !text.is_empty() {
        info.input_text = Some(text);
    }
    info
}

/// When a streamed chat or text completion does not ask for usage, returns the body with
/// `stream_options.include_usage` set, so the record still gets tokens. The caller must then
/// remove what the flag adds to the stream (see [`strip_injected_usage`]).
pub fn inject_include_usage(path: &str, body: &[u8]) -> Option<Vec<u8>> {
    if !matches!(operation_for(path), Operation::Chat | Operation::Completion) {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let req: OpenAiRequest = serde_json::from_str(text).ok()?;
    if req.stream != Some(true) {
        return None;
    }
    match req.stream_options {
        None => {
            let brace = text.find('{')?;
            let mut out = Vec::with_capacity(body.len() + 40);
            out.extend_from_slice(&body[..=brace]);
            out.extend_from_slice(br#""stream_options":{"include_usage":true},"#);
            out.extend_from_slice(&body[brace + 1..]);
            Some(out)
        }
        Some(raw) => {
            let mut opts: serde_json::Map<String, Value> = serde_json::from_str(raw.get()).ok()?;
            if opts.get("include_usage") == Some(&Value::Bool(true)) {
                return None;
            }
            opts.insert("include_usage".into(), Value::Bool(true));
            let replacement = serde_json::to_string(&opts).ok()?;
            // `raw` borrows from `text`: its offset locates the exact bytes to replace.
            let start = (raw.get().as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
            let end = start + raw.get().len();
            let mut out = Vec::with_capacity(body.len() + 24);
            out.extend_from_slice(&body[..start]);
            out.extend_from_slice(replacement.as_bytes());
            out.extend_from_slice(&body[end..]);
            Some(out)
        }
    }
}

/// What to do with one event of a stream whose usage llmflow asked for itself.
#[derive(Debug, PartialEq, Eq)]
pub enum StripAction {
    /// Forward the event's bytes as they are.
    Keep,
    /// The usage-only chunk the client did not ask for: drop it.
    Drop,
    /// Forward these bytes instead (the chunk without its added `"usage":null`).
    Rewrite(Vec<u8>),
}

/// With `include_usage`, OpenAI adds `"usage":null` to every chunk and one final chunk with
/// empty `choices` and the usage. The client asked for neither.
pub fn strip_injected_usage(ev: &SseEvent) -> StripAction {
    let data = ev.data.as_str();
    if !data.starts_with('{') {
        return StripAction::Keep;
    }
    if data.contains(r#""choices":[]"#) && data.contains(r#""usage":{"#) {
        return StripAction::Drop;
    }
    const ADDED: &[u8] = br#","usage":null"#;
    match memchr::memmem::find(&ev.raw, ADDED) {
        Some(i) => {
            let mut out = Vec::with_capacity(ev.raw.len());
            out.extend_from_slice(&ev.raw[..i]);
            out.extend_from_slice(&ev.raw[i + ADDED.len()..]);
            StripAction::Rewrite(out)
        }
        None => StripAction::Keep,
    }
}

// ---------------------------------------------------------------- chunks (for translators)

/// OpenAI's `usage` object for a normalised [`Usage`].
pub fn usage_json(u: &Usage) -> Value {
    serde_json::json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.total(),
        "prompt_tokens_details": { "cached_tokens": u.cache_read },
        "completion_tokens_details": { "reasoning_tokens": u.reasoning },
    })
}

/// Writes OpenAI `chat.completion.chunk` SSE events, so every translated stream has the
/// exact shape an OpenAI SDK expects.
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    pub id: String,
    pub model: String,
    pub created: u64,
}

impl ChunkWriter {
    pub fn new(id: impl Into<String>, model: impl Into<String>, created: u64) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            created,
        }
    }

    fn emit(out: &mut Vec<u8>, v: &Value) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(v.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    /// One chunk with `delta` (e.g. `{"role":"assistant","content":""}`, `{"content":"Hi"}`,
    /// `{"tool_calls":[...]}`, `{}`) and an optional finish reason.
    pub fn chunk(&self, delta: Value, finish_reason: Option<&str>, out: &mut Vec<u8>) {
        let v = serde_json::json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        Self::emit(out, &v);
    }

    /// The usage-only chunk OpenAI sends last when `include_usage` is set.
    pub fn usage_chunk(&self, usage: &Usage, out: &mut Vec<u8>) {
        let v = serde_json::json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_json(usage),
        });
        Self::emit(out, &v);
    }

    pub fn done(out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

// ---------------------------------------------------------------- responses

/// Accumulates what an OpenAI response says, from events or a whole body.
#[derive(Debug)]
pub struct OpenAiParser {
    op: Operation,
    text_cap: usize,
    model: Option<String>,
    usage: Option<Usage>,
    text: String,
    tools: Vec<String>,
    error: Option<String>,
}

impl OpenAiParser {
    pub fn new(op: Operation, text_cap: usize) -> Self {
        Self {
            op,
            text_cap,
            model: None,
            usage: None,
            text: String::new(),
            tools: Vec::new(),
            error: None,
        }
    }

    pub fn event(&mut self, ev: &SseEvent) {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        if let Ok(msg) = serde_json::from_str::<OpenAiMessage>(data) {
            self.absorb(msg);
        }
    }

    pub fn body(&mut self, body: &[u8]) {
        if let Ok(msg) = serde_json::from_slice::<OpenAiMessage>(body) {
            self.absorb(msg);
        }
    }

    fn absorb(&mut self, msg: OpenAiMessage) {
        if let Some(model) = msg.model {
            self.model = Some(model);
        }
        if let Some(u) = msg.usage {
            self.usage = Some(u.into_usage());
        }
        if let Some(err) = msg.error {
            if !err.is_null() {
                self.error = Some(error_message(&err));
            }
        }
        for choice in msg.choices.unwrap_or_default() {
            if let Some(t) = choice.text {
                push_capped(&mut self.text, &t, self.text_cap);
            }
            for m in [choice.delta, choice.message].into_iter().flatten() {
                if let Some(Value::String(s)) = m.content {
                    push_capped(&mut self.text, &s, self.text_cap);
                }
                // Streams send a tool call's name once, then its arguments in pieces.
                for call in m.tool_calls.unwrap_or_default() {
                    let Some(f) = call.function else { continue };
                    if let Some(name) = f.name {
                        self.tools.push(format!("{name}("));
                    }
                    if let (Some(args), Some(last)) = (f.arguments, self.tools.last_mut()) {
                        if last.len() < self.text_cap {
                            last.push_str(&args);
                        }
                    }
                }
            }
        }
        match msg.kind.as_deref() {
            Some("response.output_text.delta") => {
                if let Some(Value::String(d)) = &msg.delta {
                    push_capped(&mut self.text, d, self.text_cap);
                }
            }
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                if let Some(resp) = msg.response {
                    let had_text = !self.text.is_empty();
                    let saved = std::mem::take(&mut self.text);
                    self.absorb(*resp);
                    if had_text {
                        self.text = saved;
                    }
                }
            }
            Some("error") if self.error.is_none() => {
                self.error = Some("stream error event".into());
            }
            _ => {}
        }
        for item in msg.output.unwrap_or_default() {
            match item.kind.as_deref() {
                Some("message") => {
                    for c in item.content.unwrap_or_default() {
                        if let Some(t) = c.text {
                            push_capped(&mut self.text, &t, self.text_cap);
                        }
                    }
                }
                Some("function_call") => self.tools.push(format!(
                    "{}({})",
                    item.name.unwrap_or_default(),
                    item.arguments.unwrap_or_default()
                )),
                _ => {}
            }
        }
    }

    pub fn finish(self) -> ResponseInfo {
        let mut output = self.text;
        for t in &self.tools {
            if !output.is_empty() {
                output.push('\n');
            }
            let closed = if t.ends_with(')') {
                t.clone()
            } else {
                format!("{t})")
            };
            push_capped(&mut output, &closed, self.text_cap);
        }
        let _ = self.op;
        ResponseInfo {
            model: self.model,
            usage: self.usage,
            output: (!output.is_empty()).then_some(output),
            error: self.error,
        }
    }
}

fn error_message(err: &Value) -> String {
    match err {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| err.to_string()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::{decode_all, SseDecoder};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/openai/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn usage(input: u64, output: u64, cache_read: u64, reasoning: u64) -> Usage {
        Usage {
            input,
            output,
            cache_read,
            cache_write: 0,
            reasoning,
        }
    }

    /// Parses a fixture as the proxy would (stream or whole body).
    fn parse(name: &str) -> ResponseInfo {
        let bytes = fixture(name);
        let op = if name.starts_with("responses") {
            Operation::Responses
        } else if name.starts_with("completions") {
            Operation::Completion
        } else if name.starts_with("embeddings") {
            Operation::Embeddings
        } else {
            Operation::Chat
        };
        let mut p = OpenAiParser::new(op, 1 << 20);
        if name.ends_with(".sse") {
            for ev in decode_all(&bytes) {
                p.event(&ev);
            }
        } else {
            p.body(&bytes);
        }
        p.finish()
    }

    fn check(name: &str, model: &str, expect: Usage, output: &str) {
        let got = parse(name);
        assert_eq!(got.model.as_deref(), Some(model), "{name}");
        assert_eq!(got.usage, Some(expect), "{name}");
        assert_eq!(got.output.as_deref(), Some(output), "{name}");
    }

    #[test]
    fn chat() {
        check(
            "chat.json",
            "gpt-4o-mini-2024-07-18",
            usage(19, 10, 0, 0),
            "Hello! How can I help you today?",
        );
    }

    #[test]
    fn chat_cached_and_reasoning() {
        check(
            "chat_reasoning.json",
            "o3-mini-2025-01-31",
            usage(1200, 900, 1024, 640),
            "42",
        );
    }

    #[test]
    fn chat_stream_with_usage() {
        check(
            "chat_stream.sse",
            "gpt-4o-mini-2024-07-18",
            usage(19, 10, 0, 0),
            "Hello! How can I help you today?",
        );
    }

    #[test]
    fn chat_stream_tool_calls() {
        check(
            "chat_stream_tools.sse",
            "gpt-4o-2024-08-06",
            usage(82, 17, 0, 0),
            r#"get_weather({"location":"Paris"})"#,
        );
    }

    #[test]
    fn chat_stream_without_usage_has_none() {
        let got = parse("chat_stream_no_usage.sse");
        assert_eq!(got.usage, None);
        assert_eq!(got.output.as_deref(), Some("Hi there"));
    }

    #[test]
    fn responses() {
        check(
            "responses.json",
            "gpt-4.1-2025-04-14",
            usage(36, 87, 0, 0),
            "In a peaceful grove beneath a silver moon.",
        );
    }

    #[test]
    fn responses_stream_usage_in_completed() {
        check(
            "responses_stream.sse",
            "gpt-4.1-2025-04-14",
            usage(37, 11, 0, 0),
            "Hi there! How can I help?",
        );
    }

    #[test]
    fn completions_legacy() {
        check(
            "completions.json",
            "gpt-3.5-turbo-instruct",
            usage(5, 7, 0, 0),
            "\n\nThis is indeed a test",
        );
    }

    #[test]
    fn completions_legacy_stream() {
        check(
            "completions_stream.sse",
            "gpt-3.5-turbo-instruct",
            usage(5, 5, 0, 0),
            "\n\nThis is a test",
        );
    }

    #[test]
    fn embeddings() {
        let got = parse("embeddings.json");
        assert_eq!(got.model.as_deref(), Some("text-embedding-3-small"));
        assert_eq!(got.usage, Some(usage(8, 0, 0, 0)));
    }

    #[test]
    fn error_body() {
        let got = parse("error.json");
        assert_eq!(got.error.as_deref(), Some("Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys."));
        assert_eq!(got.usage, None);
    }

    #[test]
    fn stream_split_at_every_offset_gives_same_result() {
        for name in [
            "chat_stream.sse",
            "chat_stream_tools.sse",
            "responses_stream.sse",
        ] {
            let bytes = fixture(name);
            let whole = parse(name);
            for split in 0..bytes.len() {
                let mut d = SseDecoder::new();
                let mut evs = Vec::new();
                d.feed(&bytes[..split], &mut evs);
                d.feed(&bytes[split..], &mut evs);
                d.finish(&mut evs);
                let mut p = OpenAiParser::new(Operation::Chat, 1 << 20);
                evs.iter().for_each(|e| p.event(e));
                assert_eq!(p.finish(), whole, "{name} split at {split}");
            }
        }
    }

    #[test]
    fn request_inspection() {
        let body = br#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":[{"type":"text","text":"Hi"}]}]}"#;
        let info = inspect_request("/v1/chat/completions", body);
        assert_eq!(info.operation, Operation::Chat);
        assert_eq!(info.model.as_deref(), Some("gpt-4o-mini"));
        assert!(info.stream);
        assert_eq!(info.input_text.as_deref(), Some("Be brief\nHi"));
        assert!(info
            .input
            .as_deref()
            .is_some_and(|i| i.starts_with("[{\"role\"")));
    }

    #[test]
    fn injection_adds_flag_and_keeps_the_rest_byte_exact() {
        let body = br#"{"model":"gpt-4o","stream":true,"seed":12345678901234567890,"messages":[]}"#;
        let out = inject_include_usage("/v1/chat/completions", body).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true,"seed":12345678901234567890,"messages":[]}"#
        );
        let body = br#"{"stream_options": {"include_usage": false}, "stream": true}"#;
        let out = inject_include_usage("/v1/chat/completions", body).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"stream_options": {"include_usage":true}, "stream": true}"#
        );
    }

    #[test]
    fn injection_skipped_when_not_needed() {
        let path = "/v1/chat/completions";
        assert!(inject_include_usage(path, br#"{"stream":false}"#).is_none());
        assert!(inject_include_usage(
            path,
            br#"{"stream":true,"stream_options":{"include_usage":true}}"#
        )
        .is_none());
        assert!(inject_include_usage("/v1/responses", br#"{"stream":true}"#).is_none());
        assert!(inject_include_usage(path, b"not json").is_none());
    }

    #[test]
    fn strip_removes_exactly_what_injection_adds() {
        let with = fixture("chat_stream.sse");
        let without = fixture("chat_stream_no_usage_of_same.sse");
        let mut d = SseDecoder::keeping_raw();
        let mut evs = Vec::new();
        d.feed(&with, &mut evs);
        d.finish(&mut evs);
        let mut out = Vec::new();
        for ev in &evs {
            match strip_injected_usage(ev) {
                StripAction::Keep => out.extend_from_slice(&ev.raw),
                StripAction::Drop => {}
                StripAction::Rewrite(b) => out.extend_from_slice(&b),
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&without)
        );
    }
}
