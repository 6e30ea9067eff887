//! The provider contract: what llmflow needs to know of each upstream wire format, and the one
//! `match` over them. Each wire format lives in its own file with its wire types, usage
//! extraction, stream state and (where llmflow translates) the OpenAI translation.
//!
//! A [`Provider`] here is a wire format, not a vendor: Groq, Mistral, Together, Perplexity,
//! OpenRouter, Azure, vLLM and friends all speak [`Provider::OpenAi`]; the binary's routing
//! table maps each name and prefix to its wire format and upstream.
//!
//! Where each wire format reports tokens (normalised into [`Usage`]):
//!
//! | wire | input | output | cache read | cache write | reasoning |
//! |---|---|---|---|---|---|
//! | openai chat/completions/embeddings | `usage.prompt_tokens` | `usage.completion_tokens` | `prompt_tokens_details.cached_tokens` | — | `completion_tokens_details.reasoning_tokens` |
//! | openai responses | `usage.input_tokens` | `usage.output_tokens` | `input_tokens_details.cached_tokens` | — | `output_tokens_details.reasoning_tokens` |
//! | anthropic | `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` (stream: `message_start`) | `output_tokens` (stream: `message_delta`, cumulative) | `cache_read_input_tokens` | `cache_creation_input_tokens` | — (inside output) |
//! | gemini | `usageMetadata.promptTokenCount + toolUsePromptTokenCount` | `candidatesTokenCount + thoughtsTokenCount` | `cachedContentTokenCount` | — | `thoughtsTokenCount` |
//! | cohere v2 | `usage.billed_units.input_tokens` (else `usage.tokens`) | `billed_units.output_tokens` (stream: `message-end`) | `usage.cached_tokens` | — | — |
//! | ollama native | `prompt_eval_count` | `eval_count` (NDJSON: last line, `done: true`) | — | — | — |

pub mod anthropic;
pub mod cohere;
pub mod gemini;
pub mod ollama;
pub mod openai;

use crate::sse::SseEvent;
use crate::usage::Usage;

/// Every wire format llmflow understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI and every OpenAI-compatible API.
    OpenAi,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini `generateContent` API.
    Gemini,
    /// Cohere v2 chat API.
    Cohere,
    /// Ollama's native `/api/*` (NDJSON streams).
    Ollama,
}

impl Provider {
    pub const ALL: &'static [Provider] = &[
        Provider::OpenAi,
        Provider::Anthropic,
        Provider::Gemini,
        Provider::Cohere,
        Provider::Ollama,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Cohere => "cohere",
            Provider::Ollama => "ollama",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Reads what matters from a request body (`path` without the provider prefix).
    pub fn inspect_request(self, path: &str, body: &[u8]) -> RequestInfo {
        match self {
            Provider::OpenAi => openai::inspect_request(path, body),
            Provider::Anthropic => anthropic::inspect_request(path, body),
            Provider::Gemini => gemini::inspect_request(path, body),
            Provider::Cohere => cohere::inspect_request(path, body),
            Provider::Ollama => ollama::inspect_request(path, body),
        }
    }

    /// A fresh parser for the response of `op`.
    pub fn response_parser(self, op: Operation, text_cap: usize) -> ResponseParser {
        match self {
            Provider::OpenAi => ResponseParser::OpenAi(openai::OpenAiParser::new(op, text_cap)),
            Provider::Anthropic => {
                ResponseParser::Anthropic(anthropic::AnthropicParser::new(op, text_cap))
            }
            Provider::Gemini => ResponseParser::Gemini(gemini::GeminiParser::new(op, text_cap)),
            Provider::Cohere => ResponseParser::Cohere(cohere::CohereParser::new(op, text_cap)),
            Provider::Ollama => ResponseParser::Ollama(ollama::OllamaParser::new(op, text_cap)),
        }
    }

    /// Whether OpenAI chat-completions bodies sent to this wire format are translated.
    pub fn translates_openai_chat(self) -> bool {
        matches!(
            self,
            Provider::Anthropic | Provider::Gemini | Provider::Cohere
        )
    }

    /// Translates an OpenAI chat-completions request body into this wire format.
    pub fn translate_request(self, openai_body: &[u8]) -> Result<Translated, TranslateError> {
        match self {
            Provider::Anthropic => anthropic::translate_request(openai_body),
            Provider::Gemini => gemini::translate_request(openai_body),
            Provider::Cohere => cohere::translate_request(openai_body),
            Provider::OpenAi | Provider::Ollama => Err(TranslateError::Unsupported(format!(
                "{} needs no translation",
                self.name()
            ))),
        }
    }

    /// Translates a complete (non-stream) native response into an OpenAI `chat.completion`.
    /// `created` is the Unix time in seconds (core has no clock).
    pub fn translate_response(
        self,
        native: &[u8],
        model: &str,
        created: u64,
    ) -> Result<Vec<u8>, TranslateError> {
        match self {
            Provider::Anthropic => anthropic::translate_response(native, model, created),
            Provider::Gemini => gemini::translate_response(native, model, created),
            Provider::Cohere => cohere::translate_response(native, model, created),
            Provider::OpenAi | Provider::Ollama => Ok(native.to_vec()),
        }
    }

    /// A translator from this wire format's stream events to OpenAI `chat.completion.chunk`s.
    pub fn stream_translator(
        self,
        model: &str,
        include_usage: bool,
        created: u64,
    ) -> Option<StreamTranslator> {
        match self {
            Provider::Anthropic => Some(StreamTranslator::Anthropic(
                anthropic::AnthropicToOpenAi::new(model, include_usage, created),
            )),
            Provider::Gemini => Some(StreamTranslator::Gemini(gemini::GeminiToOpenAi::new(
                model,
                include_usage,
                created,
            ))),
            Provider::Cohere => Some(StreamTranslator::Cohere(cohere::CohereToOpenAi::new(
                model,
                include_usage,
                created,
            ))),
            Provider::OpenAi | Provider::Ollama => None,
        }
    }
}

/// What kind of call a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Operation {
    Chat,
    Responses,
    Completion,
    Embeddings,
    /// Anthropic `/v1/messages`.
    Messages,
    /// Gemini `generateContent` / `streamGenerateContent`.
    GenerateContent,
    #[default]
    Other,
}

impl Operation {
    /// The span type a call of this kind is recorded as.
    pub fn span_type(self) -> &'static str {
        match self {
            Operation::Embeddings => "embedding",
            Operation::Other => "http",
            _ => "llm",
        }
    }

    /// The span name (`gen_ai.operation.name` values where one exists).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Chat | Operation::Messages => "chat",
            Operation::Responses => "responses",
            Operation::Completion => "text_completion",
            Operation::Embeddings => "embeddings",
            Operation::GenerateContent => "generate_content",
            Operation::Other => "http",
        }
    }
}

/// What a request says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestInfo {
    pub operation: Operation,
    pub model: Option<String>,
    pub stream: bool,
    /// The input as chat-formatted JSON text (messages, input items or prompt).
    pub input: Option<String>,
    /// Plain text of the prompt, for full-text search.
    pub input_text: Option<String>,
}

/// What a response said, once it has ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseInfo {
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub output: Option<String>,
    /// The upstream's own error message, if the body carried one.
    pub error: Option<String>,
}

/// Per-call response state, fed SSE events (streams) or a whole body (JSON, NDJSON).
#[derive(Debug)]
pub enum ResponseParser {
    OpenAi(openai::OpenAiParser),
    Anthropic(anthropic::AnthropicParser),
    Gemini(gemini::GeminiParser),
    Cohere(cohere::CohereParser),
    Ollama(ollama::OllamaParser),
}

impl ResponseParser {
    pub fn event(&mut self, ev: &SseEvent) {
        match self {
            ResponseParser::OpenAi(p) => p.event(ev),
            ResponseParser::Anthropic(p) => p.event(ev),
            ResponseParser::Gemini(p) => p.event(ev),
            ResponseParser::Cohere(p) => p.event(ev),
            ResponseParser::Ollama(p) => p.event(ev),
        }
    }

    pub fn body(&mut self, body: &[u8]) {
        match self {
            ResponseParser::OpenAi(p) => p.body(body),
            ResponseParser::Anthropic(p) => p.body(body),
            ResponseParser::Gemini(p) => p.body(body),
            ResponseParser::Cohere(p) => p.body(body),
            ResponseParser::Ollama(p) => p.body(body),
        }
    }

    pub fn finish(self) -> ResponseInfo {
        match self {
            ResponseParser::OpenAi(p) => p.finish(),
            ResponseParser::Anthropic(p) => p.finish(),
            ResponseParser::Gemini(p) => p.finish(),
            ResponseParser::Cohere(p) => p.finish(),
            ResponseParser::Ollama(p) => p.finish(),
        }
    }
}

/// An OpenAI chat-completions request translated into another wire format.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The native request body.
    pub body: Vec<u8>,
    /// The native path and query to call (e.g. `/v1/messages`,
    /// `/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse`).
    pub path: String,
    /// The model the client asked for.
    pub model: String,
    pub stream: bool,
    /// The client asked for `stream_options.include_usage`: the translated stream ends with a
    /// usage-only chunk, as OpenAI's does.
    pub include_usage: bool,
}

/// Why an OpenAI request cannot be translated: a 400 in OpenAI's error shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// A field or value the target cannot express (named in the message).
    #[error("{0}")]
    Unsupported(String),
    /// The body is not a valid chat-completions request.
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Native stream events in, OpenAI `chat.completion.chunk` SSE bytes out.
#[derive(Debug)]
pub enum StreamTranslator {
    Anthropic(anthropic::AnthropicToOpenAi),
    Gemini(gemini::GeminiToOpenAi),
    Cohere(cohere::CohereToOpenAi),
}

impl StreamTranslator {
    /// Appends the OpenAI SSE bytes (`data: {...}\n\n`) this event produces to `out`.
    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        match self {
            StreamTranslator::Anthropic(t) => t.event(ev, out),
            StreamTranslator::Gemini(t) => t.event(ev, out),
            StreamTranslator::Cohere(t) => t.event(ev, out),
        }
    }

    /// End of the native stream: appends the final chunks (usage if asked) and `data: [DONE]`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            StreamTranslator::Anthropic(t) => t.finish(out),
            StreamTranslator::Gemini(t) => t.finish(out),
            StreamTranslator::Cohere(t) => t.finish(out),
        }
    }
}

/// Readers of OpenAI chat-request options shared by every translator.
pub(crate) mod chat_options {
    use serde_json::{Map, Value};

    use super::TranslateError;

    pub fn invalid(what: impl Into<String>) -> TranslateError {
        TranslateError::Invalid(what.into())
    }

    /// `stop`: a string or an array of strings; `None` when empty.
    pub fn stop_sequences(v: &Value) -> Result<Option<Value>, TranslateError> {
        let stops = match v {
            Value::String(s) => vec![Value::String(s.clone())],
            Value::Array(items) if items.iter().all(Value::is_string) => items.clone(),
            _ => return Err(invalid("`stop` must be a string or an array of strings")),
        };
        Ok((!stops.is_empty()).then_some(Value::Array(stops)))
    }

    /// `max_tokens` / `max_completion_tokens` (key `key`, value `v`): the limit when this key
    /// is the one that counts (`max_completion_tokens` wins when both are sent).
    pub fn max_tokens(
        req: &Map<String, Value>,
        key: &str,
        v: &Value,
    ) -> Result<Option<u64>, TranslateError> {
        let n = v
            .as_u64()
            .ok_or_else(|| invalid(format!("`{key}` must be a positive integer")))?;
        Ok(
            (key == "max_completion_tokens" || !req.contains_key("max_completion_tokens"))
                .then_some(n),
        )
    }
}

/// Gathers the human text of OpenAI-shaped messages for full-text search: strings, `content`
/// strings and `text` parts, one per line, at most 256 KiB.
pub(crate) fn collect_text(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    const CAP: usize = 256 * 1024;
    match v {
        Value::String(s) => {
            if !out.is_empty() {
                out.push('\n');
            }
            push_capped(out, s, CAP);
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Object(map) => {
            for key in ["content", "text"] {
                if let Some(inner) = map.get(key) {
                    collect_text(inner, out);
                }
            }
        }
        _ => {}
    }
}

/// Appends `s` to `buf` without letting `buf` exceed `cap` bytes (on a char boundary).
pub(crate) fn push_capped(buf: &mut String, s: &str, cap: usize) {
    let room = cap.saturating_sub(buf.len());
    if s.len() <= room {
        buf.push_str(s);
    } else {
        let mut end = room;
        while end > 0 && !s.is_char_boundary(end) {
            end -= 1;
        }
        buf.push_str(&s[..end]);
    }
}
