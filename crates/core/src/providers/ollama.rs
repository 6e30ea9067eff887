//! Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`, `/api/embeddings`):
//! request inspection and usage from one JSON object or an NDJSON stream whose last line
//! (`"done": true`) carries the counts.

use serde::Deserialize;
use serde_json::Value;

use super::{collect_text, push_capped, Operation, RequestInfo, ResponseInfo};
use crate::sse::SseEvent;
use crate::usage::Usage;

// ---------------------------------------------------------------- wire types

/// The counts on a final line (chat, generate) or an `/api/embed` answer.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct OllamaUsage {
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
}

impl OllamaUsage {
    pub fn into_usage(self) -> Usage {
        Usage {
            input: self.prompt_eval_count.unwrap_or(0),
            output: self.eval_count.unwrap_or(0),
            ..Usage::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.prompt_eval_count.is_none() && self.eval_count.is_none()
    }
}

/// One NDJSON line or a whole answer of any `/api/*` call.
#[derive(Debug, Default, Deserialize)]
struct OllamaLine {
    model: Option<String>,
    /// `/api/chat`.
    message: Option<OllamaMessage>,
    /// `/api/generate`.
    response: Option<String>,
    done: Option<bool>,
    #[serde(flatten)]
    usage: OllamaUsage,
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct OllamaMessage {
    content: Option<String>,
    tool_calls: Option<Vec<OllamaToolCall>>,
}

#[derive(Debug, Default, Deserialize)]
struct OllamaToolCall {
    function: Option<OllamaFunction>,
}

/// Ollama sends tool arguments as a JSON object, not a string.
#[derive(Debug, Default, Deserialize)]
struct OllamaFunction {
    name: Option<String>,
    arguments: Option<Value>,
}

// ---------------------------------------------------------------- requests

pub fn operation_for(path: &str) -> Operation {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    match path.rsplit('/').next() {
        Some("chat") => Operation::Chat,
        Some("generate") => Operation::Completion,
        Some("embed" | "embeddings") => Operation::Embeddings,
        _ => Operation::Other,
    }
}

pub fn inspect_request(path: &str, body: &[u8]) -> RequestInfo {
    let operation = operation_for(path);
    let mut info = RequestInfo {
        operation,
        ..RequestInfo::default()
    };
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        // Chat and generate stream unless told otherwise, even with an unreadable body.
        info.stream = matches!(operation, Operation::Chat | Operation::Completion);
        return info;
    };
    info.model = req.get("model").and_then(Value::as_str).map(str::to_owned);
    let stream = req.get("stream").and_then(Value::as_bool);
    info.stream = match operation {
        // Ollama streams chat and generate answers unless `"stream": false`.
        Operation::Chat | Operation::Completion => stream != Some(false),
        _ => stream == Some(true),
    };
    let input = match operation {
        Operation::Chat => req.get("messages"),
        Operation::Completion => req.get("prompt"),
        Operation::Embeddings => req.get("input").or_else(|| req.get("prompt")),
        _ => None,
    };
    info.input = input.map(Value::to_string);
    let mut text = String::new();
    for v in [req.get("system"), input].into_iter().flatten() {
        collect_text(v, &mut text);
    }
    if !text.is_empty() {
        info.input_text = Some(text);
    }
    info
}

// ---------------------------------------------------------------- responses

/// Accumulates what an Ollama answer says, line by line.
#[derive(Debug)]
pub struct OllamaParser {
    op: Operation,
    text_cap: usize,
    model: Option<String>,
    usage: Option<Usage>,
    text: String,
    tools: Vec<String>,
    error: Option<String>,
}

impl OllamaParser {
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

    /// Ollama's native API does not speak SSE; an event is read as one NDJSON line, should a
    /// gateway in front of it have wrapped the lines.
    pub fn event(&mut self, ev: &SseEvent) {
        self.line(ev.data.as_bytes());
    }

    /// A whole body: one JSON object, or NDJSON lines (a stream).
    pub fn body(&mut self, body: &[u8]) {
        match serde_json::from_slice::<OllamaLine>(body) {
            Ok(whole) => self.absorb(whole),
            Err(_) => body.split(|&b| b == b'\n').for_each(|l| self.line(l)),
        }
    }

    fn line(&mut self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if let Ok(l) = serde_json::from_slice::<OllamaLine>(line) {
            self.absorb(l);
        }
    }

    fn absorb(&mut self, l: OllamaLine) {
        if let Some(m) = l.model {
            self.model = Some(m);
        }
        if let Some(err) = l.error.filter(|e| !e.is_null()) {
            self.error = Some(match err {
                Value::String(s) => s,
                other => other.to_string(),
            });
        }
        if let Some(msg) = l.message {
            if let Some(c) = msg.content {
                push_capped(&mut self.text, &c, self.text_cap);
            }
            for call in msg.tool_calls.unwrap_or_default() {
                let f = call.function.unwrap_or_default();
                let args = f.arguments.map(|a| a.to_string()).unwrap_or_default();
                self.tools
                    .push(format!("{}({args})", f.name.unwrap_or_default()));
            }
        }
        if let Some(r) = l.response {
            push_capped(&mut self.text, &r, self.text_cap);
        }
        // Counts come on the final line; `/api/embed` answers have no `done` at all.
        let last = l.done == Some(true) || self.op == Operation::Embeddings;
        if last && !l.usage.is_empty() {
            self.usage = Some(l.usage.into_usage());
        }
    }

    pub fn finish(self) -> ResponseInfo {
        let mut output = self.text;
        for t in &self.tools {
            if !output.is_empty() {
                output.push('\n');
            }
            push_capped(&mut output, t, self.text_cap);
        }
        ResponseInfo {
            model: self.model,
            usage: self.usage,
            output: (!output.is_empty()).then_some(output),
            error: self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/ollama/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input,
            output,
            ..Usage::default()
        }
    }

    fn parse(name: &str) -> ResponseInfo {
        let op = if name.starts_with("generate") {
            Operation::Completion
        } else if name.starts_with("embed") {
            Operation::Embeddings
        } else {
            Operation::Chat
        };
        let mut p = OllamaParser::new(op, 1 << 20);
        p.body(&fixture(name));
        p.finish()
    }

    fn check(name: &str, model: &str, expect: Usage, output: Option<&str>) {
        let got = parse(name);
        assert_eq!(got.model.as_deref(), Some(model), "{name}");
        assert_eq!(got.usage, Some(expect), "{name}");
        assert_eq!(got.output.as_deref(), output, "{name}");
        assert_eq!(got.error, None, "{name}");
    }

    #[test]
    fn chat() {
        check(
            "chat.json",
            "llama3.2",
            usage(26, 12),
            Some("The sky is blue because of Rayleigh scattering."),
        );
    }

    #[test]
    fn chat_stream_counts_on_the_done_line() {
        check(
            "chat_stream.ndjson",
            "llama3.2",
            usage(31, 7),
            Some("Hello! How can I help?"),
        );
    }

    #[test]
    fn chat_stream_tool_calls() {
        check(
            "chat_tools_stream.ndjson",
            "qwen3",
            usage(145, 22),
            Some(r#"get_weather({"city":"Tokyo"})"#),
        );
    }

    #[test]
    fn generate_stream() {
        check(
            "generate_stream.ndjson",
            "llama3.2",
            usage(26, 4),
            Some("The sky is blue."),
        );
    }

    #[test]
    fn embed() {
        check("embed.json", "all-minilm", usage(8, 0), None);
    }

    #[test]
    fn error_body() {
        let got = parse("error.json");
        assert_eq!(got.error.as_deref(), Some("model 'llama9' not found"));
        assert_eq!(got.usage, None);
    }

    #[test]
    fn stream_cut_before_the_done_line_has_text_but_no_usage() {
        let bytes = fixture("chat_stream.ndjson");
        let cut = bytes
            .iter()
            .rposition(|&b| b == b'{')
            .unwrap_or(bytes.len());
        let mut p = OllamaParser::new(Operation::Chat, 1 << 20);
        p.body(&bytes[..cut]);
        let got = p.finish();
        assert_eq!(got.usage, None);
        assert_eq!(got.output.as_deref(), Some("Hello! How can I help?"));
    }

    #[test]
    fn crlf_lines_and_sse_wrapped_lines() {
        let bytes = String::from_utf8(fixture("chat_stream.ndjson"))
            .unwrap()
            .replace('\n', "\r\n");
        let mut p = OllamaParser::new(Operation::Chat, 1 << 20);
        p.body(bytes.as_bytes());
        assert_eq!(p.finish().usage, Some(usage(31, 7)));

        let mut p = OllamaParser::new(Operation::Chat, 1 << 20);
        for line in String::from_utf8(fixture("chat_stream.ndjson"))
            .unwrap()
            .lines()
        {
            p.event(&SseEvent {
                data: line.to_owned(),
                ..SseEvent::default()
            });
        }
        assert_eq!(p.finish().usage, Some(usage(31, 7)));
    }

    #[test]
    fn inspect_chat_streams_by_default() {
        let body = br#"{"model":"llama3.2","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Hi","images":["iVBORw0KGgo="]}]}"#;
        let info = inspect_request("/api/chat", body);
        assert_eq!(info.operation, Operation::Chat);
        assert_eq!(info.model.as_deref(), Some("llama3.2"));
        assert!(info.stream);
        assert_eq!(info.input_text.as_deref(), Some("Be brief\nHi"));
        assert!(info
            .input
            .as_deref()
            .is_some_and(|i| i.starts_with(r#"[{"#)));
        let info = inspect_request(
            "/api/chat",
            br#"{"model":"llama3.2","stream":false,"messages":[]}"#,
        );
        assert!(!info.stream);
    }

    #[test]
    fn inspect_generate_and_embeddings() {
        let info = inspect_request(
            "/api/generate",
            br#"{"model":"llama3.2","system":"Be brief","prompt":"Why is the sky blue?"}"#,
        );
        assert_eq!(info.operation, Operation::Completion);
        assert!(info.stream);
        assert_eq!(info.input.as_deref(), Some(r#""Why is the sky blue?""#));
        assert_eq!(
            info.input_text.as_deref(),
            Some("Be brief\nWhy is the sky blue?")
        );

        let info = inspect_request("/api/embed", br#"{"model":"all-minilm","input":["a","b"]}"#);
        assert_eq!(info.operation, Operation::Embeddings);
        assert!(!info.stream);
        assert_eq!(info.input_text.as_deref(), Some("a\nb"));

        let info = inspect_request(
            "/api/embeddings",
            br#"{"model":"all-minilm","prompt":"hello"}"#,
        );
        assert_eq!(info.operation, Operation::Embeddings);
        assert_eq!(info.input_text.as_deref(), Some("hello"));

        let info = inspect_request("/api/tags", b"");
        assert_eq!((info.operation, info.stream), (Operation::Other, false));
    }
}
