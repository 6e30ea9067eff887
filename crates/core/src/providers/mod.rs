//! The provider contract: what llmflow needs to know of each upstream API, and the one
//! `match` over providers. Each provider lives in its own file with its wire types.
//!
//! Where each provider reports tokens (normalised into [`Usage`](crate::Usage)):
//!
//! | provider | input | output | cache read | cache write | reasoning |
//! |---|---|---|---|---|---|
//! | openai chat/completions/embeddings | `usage.prompt_tokens` | `usage.completion_tokens` | `prompt_tokens_details.cached_tokens` | — | `completion_tokens_details.reasoning_tokens` |
//! | openai responses | `usage.input_tokens` | `usage.output_tokens` | `input_tokens_details.cached_tokens` | — | `output_tokens_details.reasoning_tokens` |
//! | openai streams | last chunk's `usage` (with `stream_options.include_usage`) / `response.completed` | | | | |

pub mod openai;

use crate::sse::SseEvent;
use crate::usage::Usage;

/// Every upstream llmflow knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    OpenAi,
}

impl Provider {
    pub const ALL: &'static [Provider] = &[Provider::OpenAi];

    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com",
        }
    }

    /// The environment variable that overrides the upstream.
    pub fn base_url_env(self) -> &'static str {
        match self {
            Provider::OpenAi => "LLMFLOW_OPENAI_BASE_URL",
        }
    }

    /// Reads what matters from a request body.
    pub fn inspect_request(self, path: &str, body: &[u8]) -> RequestInfo {
        match self {
            Provider::OpenAi => openai::inspect_request(path, body),
        }
    }

    /// A fresh parser for the response of `op`.
    pub fn response_parser(self, op: Operation, text_cap: usize) -> ResponseParser {
        match self {
            Provider::OpenAi => ResponseParser::OpenAi(openai::OpenAiParser::new(op, text_cap)),
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
            Operation::Chat => "chat",
            Operation::Responses => "responses",
            Operation::Completion => "text_completion",
            Operation::Embeddings => "embeddings",
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

/// Per-call response state, fed events (streams) or a whole body.
#[derive(Debug)]
pub enum ResponseParser {
    OpenAi(openai::OpenAiParser),
}

impl ResponseParser {
    pub fn event(&mut self, ev: &SseEvent) {
        match self {
            ResponseParser::OpenAi(p) => p.event(ev),
        }
    }

    pub fn body(&mut self, body: &[u8]) {
        match self {
            ResponseParser::OpenAi(p) => p.body(body),
        }
    }

    pub fn finish(self) -> ResponseInfo {
        match self {
            ResponseParser::OpenAi(p) => p.finish(),
        }
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
