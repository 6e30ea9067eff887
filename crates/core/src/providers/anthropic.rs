//! Anthropic Messages API: request inspection, usage and text from bodies and event streams,
//! and the translation of OpenAI chat completions into Messages and back (bodies and streams).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::chat_options::{self, invalid};
use super::openai::{usage_json, ChunkWriter};
use super::{push_capped, Operation, RequestInfo, ResponseInfo, TranslateError, Translated};
use crate::sse::SseEvent;
use crate::usage::Usage;

// ---------------------------------------------------------------- wire types

/// `usage` of a message (whole body, `message_start.message`) and of `message_delta`.
///
/// Anthropic's `input_tokens` excludes cached tokens; streams put the input in `message_start`
/// and the cumulative output in `message_delta`, which newer API versions may also fill with
/// the input and cache fields again. Every field is optional so a partial report merges.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct AnthropicUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Field-wise maximum of the raw fields (before normalising, so an input reported in one
    /// event and a cache count in another still add up). A later event never means fewer
    /// tokens, and an absent or zero field never erases an earlier report.
    pub fn merge_max(&mut self, other: &AnthropicUsage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .max(other.cache_creation_input_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .max(other.cache_read_input_tokens);
    }

    pub fn into_usage(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let cache_write = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input: self
                .input_tokens
                .unwrap_or(0)
                .saturating_add(cache_read)
                .saturating_add(cache_write),
            output: self.output_tokens.unwrap_or(0),
            cache_read,
            cache_write,
            // Thinking tokens are inside `output_tokens`; Anthropic does not report them apart.
            reasoning: 0,
        }
    }
}

/// A whole response body (`"type":"message"` or `"type":"error"`), and the message inside
/// `message_start`.
#[derive(Debug, Default, Deserialize)]
pub struct AnthropicMessage {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    model: Option<String>,
    content: Option<Vec<AnthropicContentBlock>>,
    stop_reason: Option<String>,
    usage: Option<AnthropicUsage>,
    error: Option<AnthropicError>,
}

/// `{"type": "overloaded_error", "message": "Overloaded"}`.
#[derive(Debug, Default, Deserialize)]
pub struct AnthropicError {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

impl AnthropicError {
    fn text(&self) -> String {
        self.message
            .clone()
            .or_else(|| self.kind.clone())
            .unwrap_or_else(|| "unknown error".into())
    }

    /// The error object an OpenAI SDK expects.
    fn to_openai(&self) -> Value {
        json!({
            "error": {
                "message": self.text(),
                "type": self.kind.as_deref().unwrap_or("api_error"),
                "param": null,
                "code": null,
            }
        })
    }
}

/// A content block of a message, or the block of a `content_block_start` event.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicContentBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// A tool Anthropic runs itself (web search, code execution): shown in the record's
    /// output, never handed to an OpenAI client as a call to make.
    ServerToolUse {
        #[serde(default)]
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// `thinking`, `redacted_thinking`, tool results and any block added later.
    #[serde(other)]
    Other,
}

/// The `delta` of a `content_block_delta` event.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicDelta {
    TextDelta {
        #[serde(default)]
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    /// `thinking_delta`, `signature_delta`, `citations_delta` and any delta added later.
    #[serde(other)]
    Other,
}

/// The `delta` of a `message_delta` event.
#[derive(Debug, Default, Deserialize)]
pub struct AnthropicMessageDelta {
    stop_reason: Option<String>,
}

/// One streamed event, tagged by the `type` inside its data (which repeats the SSE `event:`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicStreamEvent {
    MessageStart {
        message: AnthropicMessage,
    },
    ContentBlockStart {
        #[serde(default)]
        index: u64,
        content_block: AnthropicContentBlock,
    },
    ContentBlockDelta {
        #[serde(default)]
        index: u64,
        delta: AnthropicDelta,
    },
    ContentBlockStop,
    MessageDelta {
        #[serde(default)]
        delta: AnthropicMessageDelta,
        usage: Option<AnthropicUsage>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default)]
        error: AnthropicError,
    },
    #[serde(other)]
    Unknown,
}

impl AnthropicStreamEvent {
    /// The event in `ev`, or `None` for an empty or unparsable data field.
    fn parse(ev: &SseEvent) -> Option<Self> {
        let data = ev.data.trim();
        if data.is_empty() {
            return None;
        }
        serde_json::from_str(data).ok()
    }
}

/// The request fields inspection needs; the rest is never parsed.
#[derive(Debug, Deserialize)]
struct AnthropicRequest<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    stream: Option<bool>,
    #[serde(borrow)]
    system: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
}

// ---------------------------------------------------------------- requests

pub fn operation_for(path: &str) -> Operation {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    // `/v1/messages/count_tokens` and `/v1/messages/batches` generate nothing: `Other`.
    if path.ends_with("/messages") {
        Operation::Messages
    } else {
        Operation::Other
    }
}

pub fn inspect_request(path: &str, body: &[u8]) -> RequestInfo {
    let mut info = RequestInfo {
        operation: operation_for(path),
        ..RequestInfo::default()
    };
    let Ok(req) = serde_json::from_slice::<AnthropicRequest>(body) else {
        return info;
    };
    info.model = req
        .model
        .and_then(|m| serde_json::from_str::<String>(m.get()).ok());
    info.stream = req.stream.unwrap_or(false);
    info.input = req.messages.map(|raw| raw.get().to_owned());
    let mut text = String::new();
    for raw in [req.system, req.messages].into_iter().flatten() {
        if let Ok(v) = serde_json::from_str::<Value>(raw.get()) {
            collect_text(&v, &mut text);
        }
    }
    if !text.is_empty() {
        info.input_text = Some(text);
    }
    info
}

/// Gathers the human text of `system` and `messages`: strings, `text` blocks and the text
/// inside `tool_result` blocks; images, documents, tool calls and thinking are skipped.
fn collect_text(v: &Value, out: &mut String) {
    const CAP: usize = 256 * 1024;
    fn push(s: &str, out: &mut String) {
        if !out.is_empty() {
            push_capped(out, "\n", CAP);
        }
        push_capped(out, s, CAP);
    }
    match v {
        Value::String(s) => push(s, out),
        Value::Array(items) => {
            for item in items {
                match item.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(Value::String(t)) = item.get("text") {
                            push(t, out);
                        }
                    }
                    Some("tool_result") => {
                        if let Some(c) = item.get("content") {
                            collect_text(c, out);
                        }
                    }
                    Some(_) => {}
                    // A message: `{"role": .., "content": ..}`.
                    None => {
                        if let Some(c) = item.get("content") {
                            collect_text(c, out);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------- responses

/// A tool call seen in a response, rendered `name(arguments)` in the output.
#[derive(Debug)]
struct SeenToolCall {
    /// The content-block index (streams), to route `input_json_delta`s.
    block: Option<u64>,
    name: String,
    /// Arguments streamed so far, or the whole input of a non-stream block.
    args: String,
    /// The input of `content_block_start` (`{}` in practice), used when no delta came.
    start_input: String,
}

/// Accumulates what an Anthropic response says, from events or a whole body.
#[derive(Debug)]
pub struct AnthropicParser {
    text_cap: usize,
    model: Option<String>,
    usage: Option<AnthropicUsage>,
    text: String,
    tools: Vec<SeenToolCall>,
    error: Option<String>,
}

impl AnthropicParser {
    pub fn new(op: Operation, text_cap: usize) -> Self {
        // Messages and count_tokens differ only in what the body carries; the body tells.
        let _ = op;
        Self {
            text_cap,
            model: None,
            usage: None,
            text: String::new(),
            tools: Vec::new(),
            error: None,
        }
    }

    pub fn event(&mut self, ev: &SseEvent) {
        match AnthropicStreamEvent::parse(ev) {
            Some(event) => self.absorb_event(event),
            None if ev.event.as_deref() == Some("error") && self.error.is_none() => {
                let data = ev.data.trim();
                let mut msg = String::new();
                push_capped(
                    &mut msg,
                    if data.is_empty() {
                        "stream error event"
                    } else {
                        data
                    },
                    self.text_cap.max(64),
                );
                self.error = Some(msg);
            }
            None => {}
        }
    }

    pub fn body(&mut self, body: &[u8]) {
        if let Ok(msg) = serde_json::from_slice::<AnthropicMessage>(body) {
            self.absorb_message(msg);
        }
    }

    fn merge_usage(&mut self, u: &AnthropicUsage) {
        self.usage
            .get_or_insert_with(AnthropicUsage::default)
            .merge_max(u);
    }

    fn absorb_message(&mut self, msg: AnthropicMessage) {
        if let Some(model) = msg.model {
            self.model = Some(model);
        }
        if let Some(u) = msg.usage {
            self.merge_usage(&u);
        }
        if let Some(err) = msg.error {
            self.error = Some(err.text());
        }
        for block in msg.content.unwrap_or_default() {
            match block {
                AnthropicContentBlock::Text { text } => {
                    push_capped(&mut self.text, &text, self.text_cap);
                }
                AnthropicContentBlock::ToolUse { name, input, .. }
                | AnthropicContentBlock::ServerToolUse { name, input } => {
                    self.tools.push(SeenToolCall {
                        block: None,
                        name,
                        args: input_json(&input),
                        start_input: String::new(),
                    });
                }
                AnthropicContentBlock::Other => {}
            }
        }
    }

    fn absorb_event(&mut self, event: AnthropicStreamEvent) {
        match event {
            AnthropicStreamEvent::MessageStart { message } => self.absorb_message(message),
            AnthropicStreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                AnthropicContentBlock::Text { text } => {
                    push_capped(&mut self.text, &text, self.text_cap);
                }
                AnthropicContentBlock::ToolUse { name, input, .. }
                | AnthropicContentBlock::ServerToolUse { name, input } => {
                    self.tools.push(SeenToolCall {
                        block: Some(index),
                        name,
                        args: String::new(),
                        start_input: input_json(&input),
                    });
                }
                AnthropicContentBlock::Other => {}
            },
            AnthropicStreamEvent::ContentBlockDelta { index, delta } => match delta {
                AnthropicDelta::TextDelta { text } => {
                    push_capped(&mut self.text, &text, self.text_cap);
                }
                AnthropicDelta::InputJsonDelta { partial_json } => {
                    let cap = self.text_cap;
                    if let Some(tool) = self.tools.iter_mut().rev().find(|t| t.block == Some(index))
                    {
                        push_capped(&mut tool.args, &partial_json, cap);
                    }
                }
                AnthropicDelta::Other => {}
            },
            AnthropicStreamEvent::MessageDelta { usage, .. } => {
                if let Some(u) = usage {
                    self.merge_usage(&u);
                }
            }
            AnthropicStreamEvent::Error { error } => self.error = Some(error.text()),
            AnthropicStreamEvent::ContentBlockStop
            | AnthropicStreamEvent::MessageStop
            | AnthropicStreamEvent::Ping
            | AnthropicStreamEvent::Unknown => {}
        }
    }

    pub fn finish(self) -> ResponseInfo {
        let mut output = self.text;
        for t in &self.tools {
            if !output.is_empty() {
                push_capped(&mut output, "\n", self.text_cap);
            }
            let args = if t.args.is_empty() {
                &t.start_input
            } else {
                &t.args
            };
            push_capped(&mut output, &format!("{}({args})", t.name), self.text_cap);
        }
        ResponseInfo {
            model: self.model,
            usage: self.usage.map(AnthropicUsage::into_usage),
            output: (!output.is_empty()).then_some(output),
            error: self.error,
        }
    }
}

/// A tool input as the JSON text OpenAI carries in `arguments` (`{}` when absent).
fn input_json(input: &Value) -> String {
    if input.is_null() {
        "{}".into()
    } else {
        input.to_string()
    }
}

// ---------------------------------------------------------------- translation: requests
// The field-by-field choices are in the doc comment of `translate_request`.

/// Anthropic requires `max_tokens`; OpenAI's default is "as many as fit".
const DEFAULT_MAX_TOKENS: u64 = 4096;

fn unsupported(what: impl std::fmt::Display) -> TranslateError {
    TranslateError::Unsupported(format!(
        "{what} is not supported by the Anthropic translation"
    ))
}

/// Translates an OpenAI chat-completions body into a Messages request.
///
/// How each OpenAI chat-completions field is sent to Anthropic (`null` counts as absent):
///
/// | OpenAI | Anthropic |
/// |---|---|
/// | `model`, `messages` | required (else `Invalid`); `model` as is |
/// | `system` / `developer` messages | top-level `system`: one text piece a string, several an array of text blocks (order kept, wherever they stood) |
/// | `user` content: string, `text`, `image_url` (data URL base64 / http(s)), `file` (PDF data URL) | text, `image` (`base64` / `url` source), `document` blocks; other URLs, `input_audio`, `file_id` → `Unsupported` |
/// | `assistant` content (`text`, `refusal` parts) and `tool_calls` | text and `tool_use` blocks (`input` = parsed `arguments`; `""` → `{}`; bad JSON → `Invalid`) |
/// | `tool` messages | `tool_result` blocks in a user turn (`tool_use_id` = `tool_call_id`) |
/// | consecutive turns of one role (tool results included) | merged into one message; empty text dropped; a turn of one text block becomes a string |
/// | message `name` | ignored (no equivalent) |
/// | `function` role, `functions`, `function_call`, assistant `audio` | `Unsupported` |
/// | `max_completion_tokens`, else `max_tokens` | `max_tokens` (default 4096: Anthropic requires it) |
/// | `stop` (string or array) | `stop_sequences` |
/// | `temperature`, `top_p`; extras `top_k`, `thinking` | copied as is |
/// | `stream` | `stream` |
/// | `stream_options.include_usage` | [`Translated::include_usage`] for streams (not sent) |
/// | `tools` (`function`) | `{name, description, input_schema: parameters}` (`{"type":"object"}` if none; `strict` dropped); other tool types → `Unsupported` |
/// | `tool_choice` `auto` / `none` / `required` / `{function:{name}}` | `{"type":"auto"}` / `{"type":"none"}` / `{"type":"any"}` / `{"type":"tool","name":..}`; `allowed_tools` → `Unsupported` |
/// | `parallel_tool_calls: false` | `tool_choice.disable_parallel_tool_use: true` (`auto` if no choice; not with `none`) |
/// | `tool_choice` / `parallel_tool_calls` without `tools` | dropped (no tool can be called anyway) |
/// | `metadata.user_id`, else `user`, else `safety_identifier` | `metadata.user_id` (other `metadata` keys belong to stored completions: dropped) |
/// | `n` = 1, `logprobs` false, `top_logprobs` 0, `response_format` `text`, `modalities` `["text"]`, `logit_bias` `{}`, penalties 0, `store` false, `service_tier` `auto`/`default`, `parallel_tool_calls` true | accepted, nothing sent (the defaults) |
/// | `seed`, `prompt_cache_key` | ignored: best-effort hints with no Anthropic equivalent that change no result |
/// | any other value of the fields above (`n` > 1, `logprobs`, `json_object`/`json_schema`, audio, `logit_bias`, penalties, `store: true`...) | `Unsupported`, naming the field |
/// | any other field (`audio`, `reasoning_effort`, `prediction`, `web_search_options`, `verbosity`...) | `Unsupported`, naming the field: silently dropping it could change the answer |
pub fn translate_request(openai_body: &[u8]) -> Result<Translated, TranslateError> {
    let req: Map<String, Value> = serde_json::from_slice(openai_body)
        .map_err(|e| invalid(format!("body is not a JSON object: {e}")))?;
    let model = match req.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(invalid("`model` is required and must be a string")),
    };
    let Some(Value::Array(messages)) = req.get("messages") else {
        return Err(invalid("`messages` is required and must be an array"));
    };

    let mut max_tokens = None;
    let mut max_completion_tokens = None;
    let mut stream = false;
    let mut include_usage = false;
    let mut tools = Vec::new();
    let mut tool_choice: Option<Map<String, Value>> = None;
    let mut parallel_tool_calls = true;
    let (mut metadata_user, mut user, mut safety_identifier) = (None, None, None);
    // Copied as is, in the order they are met.
    let mut passed: Vec<(&str, Value)> = Vec::new();

    for (key, value) in &req {
        if value.is_null() {
            continue;
        }
        let field = format!("`{key}`");
        match key.as_str() {
            "model" | "messages" => {}
            "max_tokens" => max_tokens = Some(positive_int(value, &field)?),
            "max_completion_tokens" => max_completion_tokens = Some(positive_int(value, &field)?),
            "temperature" | "top_p" | "top_k" | "thinking" => passed.push((key, value.clone())),
            "stop" => {
                if let Some(stops) = chat_options::stop_sequences(value)? {
                    passed.push(("stop_sequences", stops));
                }
            }
            "stream" => {
                stream = value
                    .as_bool()
                    .ok_or_else(|| invalid("`stream` must be a boolean"))?;
            }
            "stream_options" => {
                include_usage = value.get("include_usage") == Some(&Value::Bool(true));
            }
            "tools" => tools = translate_tools(value)?,
            "tool_choice" => tool_choice = Some(translate_tool_choice(value)?),
            "parallel_tool_calls" => {
                parallel_tool_calls = value
                    .as_bool()
                    .ok_or_else(|| invalid("`parallel_tool_calls` must be a boolean"))?;
            }
            "metadata" => {
                metadata_user = value
                    .get("user_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            "user" => user = value.as_str().map(str::to_owned),
            "safety_identifier" => safety_identifier = value.as_str().map(str::to_owned),
            "n" if value.as_u64() == Some(1) => {}
            "n" => return Err(unsupported("`n` other than 1")),
            "logprobs" if value == &Value::Bool(false) => {}
            "top_logprobs" if value.as_u64() == Some(0) => {}
            "logprobs" | "top_logprobs" => return Err(unsupported(field)),
            "response_format" => match value.get("type").and_then(Value::as_str) {
                Some("text") => {}
                Some(kind) => return Err(unsupported(format!("`response_format` {kind:?}"))),
                None => return Err(invalid("`response_format.type` is required")),
            },
            "modalities" => {
                let text_only = value
                    .as_array()
                    .is_some_and(|m| m.iter().all(|x| x.as_str() == Some("text")));
                if !text_only {
                    return Err(unsupported("`modalities` other than text"));
                }
            }
            "logit_bias" if value.as_object().is_some_and(Map::is_empty) => {}
            "presence_penalty" | "frequency_penalty" if value.as_f64() == Some(0.0) => {}
            "store" if value == &Value::Bool(false) => {}
            "service_tier" if matches!(value.as_str(), Some("auto" | "default")) => {}
            "seed" | "prompt_cache_key" => {}
            "logit_bias" | "presence_penalty" | "frequency_penalty" | "store" | "service_tier" => {
                return Err(unsupported(field));
            }
            _ => return Err(unsupported(field)),
        }
    }

    let conversation = translate_messages(messages)?;

    let mut out = Map::new();
    out.insert("model".into(), Value::String(model.clone()));
    if let Some(system) = conversation.system_value() {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), conversation.messages_value());
    out.insert(
        "max_tokens".into(),
        Value::from(
            max_completion_tokens
                .or(max_tokens)
                .unwrap_or(DEFAULT_MAX_TOKENS),
        ),
    );
    for (key, value) in passed {
        out.insert(key.into(), value);
    }
    if stream {
        out.insert("stream".into(), Value::Bool(true));
    }
    if !tools.is_empty() {
        if !parallel_tool_calls {
            let choice = tool_choice.get_or_insert_with(|| tool_choice_of("auto"));
            if choice.get("type").and_then(Value::as_str) != Some("none") {
                choice.insert("disable_parallel_tool_use".into(), Value::Bool(true));
            }
        }
        out.insert("tools".into(), Value::Array(tools));
        // Without tools a choice means nothing: it is not sent.
        if let Some(choice) = tool_choice {
            out.insert("tool_choice".into(), Value::Object(choice));
        }
    }
    if let Some(user_id) = metadata_user.or(user).or(safety_identifier) {
        out.insert("metadata".into(), json!({ "user_id": user_id }));
    }

    let body = serde_json::to_vec(&Value::Object(out)).map_err(|e| invalid(e.to_string()))?;
    Ok(Translated {
        body,
        path: "/v1/messages".into(),
        model,
        stream,
        include_usage: stream && include_usage,
    })
}

fn positive_int(value: &Value, field: &str) -> Result<u64, TranslateError> {
    value
        .as_u64()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(format!("{field} must be a positive integer")))
}

fn tool_choice_of(kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(kind.into()));
    m
}

fn translate_tools(value: &Value) -> Result<Vec<Value>, TranslateError> {
    let Value::Array(items) = value else {
        return Err(invalid("`tools` must be an array"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, tool) in items.iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => return Err(unsupported(format!("`tools[{i}].type` {other:?}"))),
            None => return Err(invalid(format!("`tools[{i}].type` is required"))),
        }
        let Some(f) = tool.get("function") else {
            return Err(invalid(format!("`tools[{i}].function` is required")));
        };
        let Some(name) = f.get("name").and_then(Value::as_str) else {
            return Err(invalid(format!("`tools[{i}].function.name` is required")));
        };
        let mut t = Map::new();
        t.insert("name".into(), Value::String(name.into()));
        if let Some(Value::String(d)) = f.get("description") {
            t.insert("description".into(), Value::String(d.clone()));
        }
        let schema = match f.get("parameters") {
            Some(p @ Value::Object(_)) => p.clone(),
            // OpenAI allows omitting parameters (no arguments); Anthropic requires a schema.
            _ => json!({ "type": "object", "properties": {} }),
        };
        t.insert("input_schema".into(), schema);
        out.push(Value::Object(t));
    }
    Ok(out)
}

fn translate_tool_choice(value: &Value) -> Result<Map<String, Value>, TranslateError> {
    match value {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(tool_choice_of("auto")),
            "none" => Ok(tool_choice_of("none")),
            "required" => Ok(tool_choice_of("any")),
            other => Err(invalid(format!(
                "`tool_choice` {other:?} is not a valid choice"
            ))),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`tool_choice.function.name` is required"))?;
                let mut m = tool_choice_of("tool");
                m.insert("name".into(), Value::String(name.into()));
                Ok(m)
            }
            Some(other) => Err(unsupported(format!("`tool_choice` of type {other:?}"))),
            None => Err(invalid("`tool_choice.type` is required")),
        },
        _ => Err(invalid("`tool_choice` must be a string or an object")),
    }
}

/// The messages being built: `system` apart, turns of alternating roles.
#[derive(Debug, Default)]
struct Conversation {
    system: Vec<String>,
    turns: Vec<(&'static str, Vec<Value>)>,
}

impl Conversation {
    /// Appends blocks, merging into the last turn when it has the same role.
    fn push(&mut self, role: &'static str, blocks: Vec<Value>) {
        if blocks.is_empty() {
            return;
        }
        match self.turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => self.turns.push((role, blocks)),
        }
    }

    fn system_value(&self) -> Option<Value> {
        match self.system.as_slice() {
            [] => None,
            [one] => Some(Value::String(one.clone())),
            many => Some(Value::Array(many.iter().map(|s| text_block(s)).collect())),
        }
    }

    fn messages_value(self) -> Value {
        let turns = self.turns.into_iter().map(|(role, blocks)| {
            let content = match blocks.as_slice() {
                [Value::Object(b)]
                    if b.len() == 2 && b.get("type") == Some(&Value::from("text")) =>
                {
                    b.get("text").cloned().unwrap_or_default()
                }
                _ => Value::Array(blocks),
            };
            json!({ "role": role, "content": content })
        });
        Value::Array(turns.collect())
    }
}

fn text_block(text: &str) -> Value {
    json!({ "type": "text", "text": text })
}

fn translate_messages(messages: &[Value]) -> Result<Conversation, TranslateError> {
    let mut conv = Conversation::default();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Some(msg) = m.as_object() else {
            return Err(invalid(format!("`{at}` must be an object")));
        };
        let Some(role) = msg.get("role").and_then(Value::as_str) else {
            return Err(invalid(format!("`{at}.role` is required")));
        };
        let content = msg.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => {
                for (j, part) in content_parts(content, &at)?.into_iter().enumerate() {
                    let part_at = format!("{at}.content[{j}]");
                    match part_type(part, &part_at)? {
                        PartRef::Text("") => {}
                        PartRef::Text(t) => conv.system.push(t.to_owned()),
                        PartRef::Other(kind) => {
                            return Err(unsupported(format!("`{part_at}` of type {kind:?}")))
                        }
                    }
                }
            }
            "user" => conv.push("user", user_blocks(content, &at)?),
            "assistant" => conv.push("assistant", assistant_blocks(msg, &at)?),
            "tool" => conv.push("user", vec![tool_result(msg, &at)?]),
            "function" => return Err(unsupported(format!("`{at}.role` \"function\""))),
            other => return Err(invalid(format!("`{at}.role` {other:?} is not a chat role"))),
        }
    }
    Ok(conv)
}

/// A content part: its text, or its type for a closer look.
enum PartRef<'a> {
    Text(&'a str),
    Other(&'a str),
}

/// The parts of a `content`: a string is one text part, `null` none.
fn content_parts<'a>(content: &'a Value, at: &str) -> Result<Vec<&'a Value>, TranslateError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(_) => Ok(vec![content]),
        Value::Array(parts) => Ok(parts.iter().collect()),
        _ => Err(invalid(format!(
            "`{at}.content` must be a string or an array"
        ))),
    }
}

/// Classifies one part of [`content_parts`]; `at` is the part's path, for errors.
fn part_type<'a>(part: &'a Value, at: &str) -> Result<PartRef<'a>, TranslateError> {
    if let Value::String(s) = part {
        return Ok(PartRef::Text(s));
    }
    match part.get("type").and_then(Value::as_str) {
        Some("text") => match part.get("text") {
            Some(Value::String(t)) => Ok(PartRef::Text(t)),
            _ => Err(invalid(format!("`{at}.text` is required"))),
        },
        Some(kind) => Ok(PartRef::Other(kind)),
        None => Err(invalid(format!("`{at}.type` is required"))),
    }
}

fn user_blocks(content: &Value, at: &str) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::new();
    for (j, part) in content_parts(content, at)?.into_iter().enumerate() {
        let part_at = format!("{at}.content[{j}]");
        match part_type(part, &part_at)? {
            PartRef::Text("") => {}
            PartRef::Text(t) => blocks.push(text_block(t)),
            PartRef::Other("image_url") => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("`{part_at}.image_url.url` is required")))?;
                blocks.push(image_block(url, &format!("{part_at}.image_url.url"))?);
            }
            PartRef::Other("file") => blocks.push(file_block(part, &part_at)?),
            PartRef::Other(kind) => {
                return Err(unsupported(format!("`{part_at}` of type {kind:?}")))
            }
        }
    }
    Ok(blocks)
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

fn image_block(url: &str, at: &str) -> Result<Value, TranslateError> {
    if url.starts_with("data:") {
        let (media_type, data) = parse_data_url(url)
            .ok_or_else(|| unsupported(format!("`{at}`: a data URL that is not base64")))?;
        return Ok(json!({
            "type": "image",
            "source": { "type": "base64", "media_type": media_type, "data": data },
        }));
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https")) {
        return Ok(json!({ "type": "image", "source": { "type": "url", "url": url } }));
    }
    Err(unsupported(format!(
        "`{at}`: an image URL that is neither data: nor http(s)"
    )))
}

/// `{"type":"file","file":{"file_data":"data:application/pdf;base64,..."}}` → a PDF document.
fn file_block(part: &Value, at: &str) -> Result<Value, TranslateError> {
    let file = part.get("file");
    if file
        .and_then(|f| f.get("file_id"))
        .is_some_and(|id| !id.is_null())
    {
        return Err(unsupported(format!("`{at}.file.file_id`")));
    }
    let data_url = file
        .and_then(|f| f.get("file_data"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("`{at}.file.file_data` is required")))?;
    match parse_data_url(data_url) {
        Some((media_type @ "application/pdf", data)) => Ok(json!({
            "type": "document",
            "source": { "type": "base64", "media_type": media_type, "data": data },
        })),
        _ => Err(unsupported(format!(
            "`{at}.file.file_data` other than a base64 PDF data URL"
        ))),
    }
}

fn assistant_blocks(msg: &Map<String, Value>, at: &str) -> Result<Vec<Value>, TranslateError> {
    for field in ["audio", "function_call"] {
        if msg.get(field).is_some_and(|v| !v.is_null()) {
            return Err(unsupported(format!("`{at}.{field}`")));
        }
    }
    let mut blocks = Vec::new();
    let content = msg.get("content").unwrap_or(&Value::Null);
    for (j, part) in content_parts(content, at)?.into_iter().enumerate() {
        let part_at = format!("{at}.content[{j}]");
        match part_type(part, &part_at)? {
            PartRef::Text("") => {}
            PartRef::Text(t) => blocks.push(text_block(t)),
            PartRef::Other("refusal") => {
                if let Some(Value::String(t)) = part.get("refusal") {
                    if !t.is_empty() {
                        blocks.push(text_block(t));
                    }
                }
            }
            PartRef::Other(kind) => {
                return Err(unsupported(format!("`{part_at}` of type {kind:?}")))
            }
        }
    }
    let calls = match msg.get("tool_calls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(calls)) => calls.as_slice(),
        Some(_) => return Err(invalid(format!("`{at}.tool_calls` must be an array"))),
    };
    for (j, call) in calls.iter().enumerate() {
        let call_at = format!("{at}.tool_calls[{j}]");
        match call.get("type").and_then(Value::as_str) {
            None | Some("function") => {}
            Some(other) => return Err(unsupported(format!("`{call_at}.type` {other:?}"))),
        }
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("`{call_at}.id` is required")))?;
        let f = call.get("function");
        let name = f
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("`{call_at}.function.name` is required")))?;
        let args = f
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let input: Value = if args.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(args).map_err(|e| {
                invalid(format!(
                    "`{call_at}.function.arguments` is not valid JSON: {e}"
                ))
            })?
        };
        blocks.push(json!({ "type": "tool_use", "id": id, "name": name, "input": input }));
    }
    Ok(blocks)
}

fn tool_result(msg: &Map<String, Value>, at: &str) -> Result<Value, TranslateError> {
    let id = msg
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("`{at}.tool_call_id` is required")))?;
    let mut block = Map::new();
    block.insert("type".into(), Value::from("tool_result"));
    block.insert("tool_use_id".into(), Value::from(id));
    match msg.get("content").unwrap_or(&Value::Null) {
        Value::Null => {}
        Value::String(s) => {
            block.insert("content".into(), Value::String(s.clone()));
        }
        content => {
            let mut texts = Vec::new();
            for (j, part) in content_parts(content, at)?.into_iter().enumerate() {
                let part_at = format!("{at}.content[{j}]");
                match part_type(part, &part_at)? {
                    PartRef::Text("") => {}
                    PartRef::Text(t) => texts.push(text_block(t)),
                    PartRef::Other(kind) => {
                        return Err(unsupported(format!("`{part_at}` of type {kind:?}")))
                    }
                }
            }
            block.insert("content".into(), Value::Array(texts));
        }
    }
    Ok(Value::Object(block))
}

// ---------------------------------------------------------------- translation: responses

/// OpenAI's `finish_reason` for Anthropic's `stop_reason`.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything added later.
        _ => "stop",
    }
}

pub fn translate_response(
    native: &[u8],
    model: &str,
    created: u64,
) -> Result<Vec<u8>, TranslateError> {
    let msg: AnthropicMessage = serde_json::from_slice(native)
        .map_err(|e| invalid(format!("upstream body is not an Anthropic message: {e}")))?;
    if msg.kind.as_deref() == Some("error") || msg.error.is_some() {
        let err = msg.error.unwrap_or_default();
        return Ok(err.to_openai().to_string().into_bytes());
    }
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in msg.content.unwrap_or_default() {
        match block {
            AnthropicContentBlock::Text { text: t } => text.push_str(&t),
            AnthropicContentBlock::ToolUse { id, name, input } => tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": { "name": name, "arguments": input_json(&input) },
            })),
            AnthropicContentBlock::ServerToolUse { .. } | AnthropicContentBlock::Other => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), Value::from("assistant"));
    message.insert(
        "content".into(),
        if text.is_empty() {
            Value::Null
        } else {
            Value::String(text)
        },
    );
    message.insert("refusal".into(), Value::Null);
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    let mut out = json!({
        "id": format!("chatcmpl-{}", msg.id.as_deref().unwrap_or_default()),
        "object": "chat.completion",
        "created": created,
        "model": msg.model.as_deref().unwrap_or(model),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": msg.stop_reason.as_deref().map(finish_reason),
        }],
    });
    if let (Some(u), Value::Object(o)) = (msg.usage, &mut out) {
        o.insert("usage".into(), usage_json(&u.into_usage()));
    }
    serde_json::to_vec(&out).map_err(|e| invalid(e.to_string()))
}

/// Anthropic stream events in, OpenAI `chat.completion.chunk`s out.
///
/// Text deltas become `content`, each `tool_use` block one entry of `tool_calls` (indexed
/// from 0 in order of appearance), `message_delta`'s stop reason the finishing chunk.
/// Thinking blocks are not emitted: OpenAI's chat completions have no field for them.
/// An `error` event becomes OpenAI's `data: {"error": ...}` and ends the translation: nothing
/// follows it, not even `[DONE]`.
#[derive(Debug)]
pub struct AnthropicToOpenAi {
    writer: ChunkWriter,
    include_usage: bool,
    usage: AnthropicUsage,
    /// The content-block index of each `tool_use` block; the position is its OpenAI index.
    tool_blocks: Vec<u64>,
    started: bool,
    stopped: bool,
    failed: bool,
    finished: bool,
}

impl AnthropicToOpenAi {
    pub fn new(model: &str, include_usage: bool, created: u64) -> Self {
        Self {
            // The id and model are replaced by `message_start`'s.
            writer: ChunkWriter::new("chatcmpl-", model, created),
            include_usage,
            usage: AnthropicUsage::default(),
            tool_blocks: Vec::new(),
            started: false,
            stopped: false,
            failed: false,
            finished: false,
        }
    }

    /// The first chunk, once: OpenAI streams open with the role.
    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.writer
                .chunk(json!({ "role": "assistant", "content": "" }), None, out);
        }
    }

    fn fail(&mut self, error: Value, out: &mut Vec<u8>) {
        self.failed = true;
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(error.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        if self.failed || self.finished {
            return;
        }
        let Some(event) = AnthropicStreamEvent::parse(ev) else {
            if ev.event.as_deref() == Some("error") {
                let err = AnthropicError {
                    kind: None,
                    message: Some(ev.data.trim().to_owned()).filter(|m| !m.is_empty()),
                };
                self.fail(err.to_openai(), out);
            }
            return;
        };
        match event {
            AnthropicStreamEvent::MessageStart { message } => {
                if let Some(id) = message.id {
                    self.writer.id = format!("chatcmpl-{id}");
                }
                if let Some(model) = message.model {
                    self.writer.model = model;
                }
                if let Some(u) = message.usage {
                    self.usage.merge_max(&u);
                }
                self.start(out);
            }
            AnthropicStreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                AnthropicContentBlock::Text { text } => {
                    self.start(out);
                    if !text.is_empty() {
                        self.writer.chunk(json!({ "content": text }), None, out);
                    }
                }
                AnthropicContentBlock::ToolUse { id, name, .. } => {
                    self.start(out);
                    let i = self.tool_blocks.len();
                    self.tool_blocks.push(index);
                    let call = json!({
                        "index": i,
                        "id": id,
                        "type": "function",
                        "function": { "name": name, "arguments": "" },
                    });
                    self.writer
                        .chunk(json!({ "tool_calls": [call] }), None, out);
                }
                AnthropicContentBlock::ServerToolUse { .. } | AnthropicContentBlock::Other => {}
            },
            AnthropicStreamEvent::ContentBlockDelta { index, delta } => match delta {
                AnthropicDelta::TextDelta { text } if !text.is_empty() => {
                    self.start(out);
                    self.writer.chunk(json!({ "content": text }), None, out);
                }
                AnthropicDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    if let Some(i) = self.tool_blocks.iter().position(|b| *b == index) {
                        let call = json!({ "index": i, "function": { "arguments": partial_json } });
                        self.writer
                            .chunk(json!({ "tool_calls": [call] }), None, out);
                    }
                }
                _ => {}
            },
            AnthropicStreamEvent::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.usage.merge_max(&u);
                }
                if let Some(reason) = delta.stop_reason {
                    if !self.stopped {
                        self.stopped = true;
                        self.start(out);
                        self.writer
                            .chunk(json!({}), Some(finish_reason(&reason)), out);
                    }
                }
            }
            AnthropicStreamEvent::Error { error } => self.fail(error.to_openai(), out),
            AnthropicStreamEvent::ContentBlockStop
            | AnthropicStreamEvent::MessageStop
            | AnthropicStreamEvent::Ping
            | AnthropicStreamEvent::Unknown => {}
        }
    }

    /// The usage chunk (when asked for) and `[DONE]`; a second call appends nothing.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.finished, true) || self.failed {
            return;
        }
        if self.include_usage {
            self.writer.usage_chunk(&self.usage.into_usage(), out);
        }
        ChunkWriter::done(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::{decode_all, SseDecoder};

    const CREATED: u64 = 1_700_000_000;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/anthropic/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Usage {
        Usage {
            input,
            output,
            cache_read,
            cache_write,
            reasoning: 0,
        }
    }

    /// Parses a fixture as the proxy would (stream or whole body).
    fn parse(name: &str) -> ResponseInfo {
        let bytes = fixture(name);
        let mut p = AnthropicParser::new(Operation::Messages, 1 << 20);
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
        assert_eq!(got.error, None, "{name}");
    }

    // ------------------------------------------------------------ parser

    #[test]
    fn message_with_cache_tokens() {
        check(
            "messages.json",
            "claude-sonnet-4-20250514",
            usage(12 + 2048 + 1500, 12, 2048, 1500),
            "Hello! How can I help you today?",
        );
    }

    #[test]
    fn message_with_tool_use() {
        check(
            "messages_tool_use.json",
            "claude-3-5-sonnet-20241022",
            usage(384, 87, 0, 0),
            "I'll check the current weather in San Francisco for you.\n\
             get_weather({\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"})",
        );
    }

    #[test]
    fn stream_keeps_message_start_input_after_message_delta() {
        check(
            "messages_stream.sse",
            "claude-sonnet-4-20250514",
            usage(25 + 1800, 15, 1800, 0),
            "Hello! How can I help you today?",
        );
    }

    #[test]
    fn stream_with_tool_use() {
        check(
            "messages_stream_tools.sse",
            "claude-3-haiku-20240307",
            usage(472, 89, 0, 0),
            "Okay, let's check the weather:\n\
             get_weather({\"location\": \"San Francisco, CA\", \"unit\": \"fahrenheit\"})\n\
             get_time({\"timezone\": \"America/Los_Angeles\"})",
        );
    }

    #[test]
    fn stream_whose_message_delta_repeats_input() {
        check(
            "messages_stream_full_usage.sse",
            "claude-opus-4-1-20250805",
            usage(5 + 4210, 21, 0, 4210),
            "Sure.",
        );
    }

    #[test]
    fn stream_thinking_is_not_output() {
        check(
            "messages_stream_thinking.sse",
            "claude-3-7-sonnet-20250219",
            usage(46, 180, 0, 0),
            "27 * 453 = 12,231",
        );
    }

    #[test]
    fn message_delta_with_zero_or_null_input_erases_nothing() {
        let events = [
            r#"{"type":"message_start","message":{"model":"m","usage":{"input_tokens":30,"cache_read_input_tokens":70,"output_tokens":1}}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":0,"cache_read_input_tokens":null,"output_tokens":9}}"#,
            r#"{"type":"message_delta","delta":{},"usage":{"output_tokens":12}}"#,
        ];
        let mut p = AnthropicParser::new(Operation::Messages, 1 << 20);
        for data in events {
            p.event(&SseEvent {
                data: data.into(),
                ..SseEvent::default()
            });
        }
        assert_eq!(p.finish().usage, Some(usage(100, 12, 70, 0)));
    }

    #[test]
    fn error_body() {
        let got = parse("error.json");
        assert_eq!(got.error.as_deref(), Some("max_tokens: Field required"));
        assert_eq!(got.usage, None);
        assert_eq!(got.output, None);
    }

    #[test]
    fn stream_error_event() {
        let got = parse("messages_stream_error.sse");
        assert_eq!(got.error.as_deref(), Some("Overloaded"));
        assert_eq!(got.output.as_deref(), Some("Once upon"));
        assert_eq!(got.usage, Some(usage(18, 1, 0, 0)));
    }

    #[test]
    fn unparsable_error_event_keeps_its_data() {
        let mut p = AnthropicParser::new(Operation::Messages, 1 << 20);
        p.event(&SseEvent {
            event: Some("error".into()),
            data: "upstream exploded".into(),
            ..SseEvent::default()
        });
        assert_eq!(p.finish().error.as_deref(), Some("upstream exploded"));
    }

    #[test]
    fn count_tokens_has_no_usage() {
        let mut p = AnthropicParser::new(Operation::Other, 1 << 20);
        p.body(br#"{"input_tokens":14}"#);
        assert_eq!(p.finish(), ResponseInfo::default());
    }

    #[test]
    fn every_event_type_parses() {
        let ping = SseEvent {
            data: r#"{"type": "ping"}"#.into(),
            ..SseEvent::default()
        };
        assert!(matches!(
            AnthropicStreamEvent::parse(&ping),
            Some(AnthropicStreamEvent::Ping)
        ));
        for ev in decode_all(&fixture("messages_stream_tools.sse")) {
            assert!(
                !matches!(
                    AnthropicStreamEvent::parse(&ev),
                    None | Some(AnthropicStreamEvent::Unknown)
                ),
                "{}",
                ev.data
            );
        }
        let future = SseEvent {
            data: r#"{"type":"message_annotation","x":1}"#.into(),
            ..SseEvent::default()
        };
        assert!(matches!(
            AnthropicStreamEvent::parse(&future),
            Some(AnthropicStreamEvent::Unknown)
        ));
    }

    #[test]
    fn output_is_capped() {
        let bytes = fixture("messages_stream_tools.sse");
        let mut p = AnthropicParser::new(Operation::Messages, 10);
        decode_all(&bytes).iter().for_each(|e| p.event(e));
        let out = p.finish().output.unwrap_or_default();
        assert!(out.len() <= 10, "{out:?}");
    }

    const SSE_FIXTURES: &[&str] = &[
        "messages_stream.sse",
        "messages_stream_tools.sse",
        "messages_stream_full_usage.sse",
        "messages_stream_thinking.sse",
        "messages_stream_error.sse",
    ];

    /// Translates a whole stream, event by event, as the proxy would.
    fn translate_events(evs: &[SseEvent], include_usage: bool) -> Vec<u8> {
        let mut t = AnthropicToOpenAi::new("requested-model", include_usage, CREATED);
        let mut out = Vec::new();
        evs.iter().for_each(|e| t.event(e, &mut out));
        t.finish(&mut out);
        out
    }

    #[test]
    fn stream_split_at_every_offset_gives_same_result() {
        for name in SSE_FIXTURES {
            let bytes = fixture(name);
            let whole = parse(name);
            let whole_translated = translate_events(&decode_all(&bytes), true);
            for split in 0..bytes.len() {
                let mut d = SseDecoder::new();
                let mut evs = Vec::new();
                d.feed(&bytes[..split], &mut evs);
                d.feed(&bytes[split..], &mut evs);
                d.finish(&mut evs);
                let mut p = AnthropicParser::new(Operation::Messages, 1 << 20);
                evs.iter().for_each(|e| p.event(e));
                assert_eq!(p.finish(), whole, "{name} split at {split}");
                assert_eq!(
                    translate_events(&evs, true),
                    whole_translated,
                    "{name} translated, split at {split}"
                );
            }
        }
    }

    // ------------------------------------------------------------ request inspection

    #[test]
    fn request_inspection() {
        let body = br#"{"model":"claude-sonnet-4-20250514","max_tokens":1024,"stream":true,
            "system":[{"type":"text","text":"Be brief","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":"Hi"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Hello"},{"type":"tool_use","id":"t1","name":"f","input":{"q":"x"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"42"}]},
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}"#;
        let info = inspect_request("/v1/messages", body);
        assert_eq!(info.operation, Operation::Messages);
        assert_eq!(info.model.as_deref(), Some("claude-sonnet-4-20250514"));
        assert!(info.stream);
        assert_eq!(info.input_text.as_deref(), Some("Be brief\nHi\nHello\n42"));
        assert!(info
            .input
            .as_deref()
            .is_some_and(|i| i.starts_with(r#"[{"role":"user","content":"Hi"}"#)));
    }

    #[test]
    fn request_operations() {
        let body =
            br#"{"model":"claude-3-5-haiku-latest","messages":[{"role":"user","content":"Hi"}]}"#;
        assert_eq!(
            inspect_request("/v1/messages?beta=true", body).operation,
            Operation::Messages
        );
        let counted = inspect_request("/v1/messages/count_tokens", body);
        assert_eq!(counted.operation, Operation::Other);
        assert_eq!(counted.model.as_deref(), Some("claude-3-5-haiku-latest"));
        assert!(!counted.stream);
        assert_eq!(counted.input_text.as_deref(), Some("Hi"));
        let bad = inspect_request("/v1/messages", b"not json");
        assert_eq!(
            bad,
            RequestInfo {
                operation: Operation::Messages,
                ..RequestInfo::default()
            }
        );
    }

    // ------------------------------------------------------------ request translation

    fn translate(body: &[u8]) -> (Translated, Value) {
        let t = translate_request(body).unwrap_or_else(|e| panic!("{e}"));
        let v: Value = serde_json::from_slice(&t.body).unwrap_or_else(|e| panic!("{e}"));
        (t, v)
    }

    fn translate_fixture(name: &str) -> (Translated, Value) {
        translate(&fixture(name))
    }

    fn unsupported_field(body: Value, field: &str) {
        match translate_request(body.to_string().as_bytes()) {
            Err(TranslateError::Unsupported(m)) => assert!(m.contains(field), "{m} vs {field}"),
            other => panic!("{body}: expected Unsupported naming {field}, got {other:?}"),
        }
    }

    fn invalid_request(body: &[u8], needle: &str) {
        match translate_request(body) {
            Err(TranslateError::Invalid(m)) => assert!(m.contains(needle), "{m} vs {needle}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// A minimal valid request with `extra` fields merged in.
    fn request(extra: Value) -> Value {
        let mut v = json!({
            "model": "claude-3-5-haiku-latest",
            "messages": [{ "role": "user", "content": "Hi" }],
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut v, extra) {
            base.extend(extra);
        }
        v
    }

    #[test]
    fn translates_system_multi_turn_and_sampling() {
        let (t, body) = translate_fixture("openai_request_system.json");
        assert_eq!(t.path, "/v1/messages");
        assert_eq!(t.model, "claude-sonnet-4-20250514");
        assert!(!t.stream && !t.include_usage);
        assert_eq!(
            body,
            json!({
                "model": "claude-sonnet-4-20250514",
                "system": [
                    { "type": "text", "text": "You are a terse assistant." },
                    { "type": "text", "text": "Answer in French." },
                ],
                "messages": [
                    { "role": "user", "content": "Hi" },
                    { "role": "assistant", "content": "Bonjour." },
                    { "role": "user", "content": [
                        { "type": "text", "text": "What is 2+2?" },
                        { "type": "text", "text": "Be precise." },
                    ]},
                ],
                "max_tokens": 4096,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop_sequences": ["\n\nHuman:", "END"],
                "metadata": { "user_id": "user-1234" },
            })
        );
        // The translated body is what llmflow records: inspection must read it.
        let info = inspect_request(&t.path, &t.body);
        assert_eq!(info.model.as_deref(), Some("claude-sonnet-4-20250514"));
        assert_eq!(
            info.input_text.as_deref(),
            Some("You are a terse assistant.\nAnswer in French.\nHi\nBonjour.\nWhat is 2+2?\nBe precise.")
        );
    }

    #[test]
    fn translates_one_system_message_to_a_string() {
        let (_, body) = translate(
            request(json!({ "messages": [
                { "role": "system", "content": "Be kind." },
                { "role": "user", "content": "Hi" },
            ]}))
            .to_string()
            .as_bytes(),
        );
        assert_eq!(body["system"], json!("Be kind."));
        assert_eq!(
            body["messages"],
            json!([{ "role": "user", "content": "Hi" }])
        );
    }

    #[test]
    fn translates_tools_and_stream_options() {
        let (t, body) = translate_fixture("openai_request_tools.json");
        assert!(t.stream && t.include_usage);
        assert_eq!(
            body,
            json!({
                "model": "claude-3-5-haiku-latest",
                "messages": [{ "role": "user", "content": "What's the weather in Paris?" }],
                "max_tokens": 512,
                "stream": true,
                "tools": [
                    {
                        "name": "get_weather",
                        "description": "Get the current weather for a city",
                        "input_schema": {
                            "type": "object",
                            "properties": { "location": { "type": "string" } },
                            "required": ["location"],
                        },
                    },
                    { "name": "get_time", "input_schema": { "type": "object", "properties": {} } },
                ],
                "tool_choice": { "type": "any", "disable_parallel_tool_use": true },
            })
        );
    }

    #[test]
    fn translates_tool_choice() {
        let tools = json!([{ "type": "function", "function": { "name": "f" } }]);
        let cases = [
            (json!("auto"), true, json!({ "type": "auto" })),
            (json!("none"), true, json!({ "type": "none" })),
            (json!("required"), true, json!({ "type": "any" })),
            (
                json!({ "type": "function", "function": { "name": "f" } }),
                true,
                json!({ "type": "tool", "name": "f" }),
            ),
            (json!("none"), false, json!({ "type": "none" })),
            (
                json!("auto"),
                false,
                json!({ "type": "auto", "disable_parallel_tool_use": true }),
            ),
            (
                Value::Null,
                false,
                json!({ "type": "auto", "disable_parallel_tool_use": true }),
            ),
        ];
        for (choice, parallel, expect) in cases {
            let (_, body) = translate(
                request(json!({
                    "tools": tools, "tool_choice": choice, "parallel_tool_calls": parallel,
                }))
                .to_string()
                .as_bytes(),
            );
            assert_eq!(body["tool_choice"], expect, "{choice} parallel={parallel}");
        }
        // No choice and parallel calls allowed: Anthropic's default, nothing sent.
        let (_, body) = translate(request(json!({ "tools": tools })).to_string().as_bytes());
        assert_eq!(body.get("tool_choice"), None);
        // A choice without tools means nothing.
        let (_, body) = translate(
            request(json!({ "tool_choice": "none", "tools": [] }))
                .to_string()
                .as_bytes(),
        );
        assert_eq!(body.get("tool_choice"), None);
        assert_eq!(body.get("tools"), None);
    }

    #[test]
    fn translates_images() {
        let (_, body) = translate_fixture("openai_request_images.json");
        assert_eq!(body["max_tokens"], json!(300));
        assert_eq!(
            body["messages"],
            json!([{
                "role": "user",
                "content": [
                    { "type": "text", "text": "What is in these images?" },
                    { "type": "image", "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
                    }},
                    { "type": "image", "source": {
                        "type": "url",
                        "url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg",
                    }},
                ],
            }])
        );
    }

    #[test]
    fn translates_pdf_file_parts() {
        let (_, body) = translate(
            request(json!({ "messages": [{ "role": "user", "content": [
                { "type": "file", "file": { "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0=" } },
            ]}]}))
            .to_string()
            .as_bytes(),
        );
        assert_eq!(
            body["messages"][0]["content"],
            json!([{ "type": "document", "source": {
                "type": "base64", "media_type": "application/pdf", "data": "JVBERi0=",
            }}])
        );
    }

    #[test]
    fn translates_tool_calls_and_merges_tool_results() {
        let (_, body) = translate_fixture("openai_request_tool_results.json");
        assert_eq!(
            body["messages"],
            json!([
                { "role": "user", "content": "Weather and time in Paris?" },
                { "role": "assistant", "content": [
                    { "type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": { "location": "Paris" } },
                    { "type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {} },
                ]},
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C, cloudy" },
                    { "type": "tool_result", "tool_use_id": "toolu_02", "content": [{ "type": "text", "text": "14:05" }] },
                    { "type": "text", "text": "Thanks! Summarise." },
                ]},
            ])
        );
        assert_eq!(
            body["tool_choice"],
            json!({ "type": "tool", "name": "get_weather" })
        );
        assert_eq!(body["tools"][1]["name"], json!("get_time"));
    }

    #[test]
    fn assistant_text_beside_tool_calls_and_empty_content_dropped() {
        let (_, body) = translate(
            request(json!({ "messages": [
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "", "tool_calls": [
                    { "id": "c1", "type": "function", "function": { "name": "f", "arguments": "" } },
                ]},
                { "role": "tool", "tool_call_id": "c1", "content": "ok" },
                { "role": "assistant", "content": [{ "type": "text", "text": "Done" }, { "type": "refusal", "refusal": "but no" }] },
            ]}))
            .to_string()
            .as_bytes(),
        );
        assert_eq!(
            body["messages"],
            json!([
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": [{ "type": "tool_use", "id": "c1", "name": "f", "input": {} }] },
                { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "c1", "content": "ok" }] },
                { "role": "assistant", "content": [
                    { "type": "text", "text": "Done" },
                    { "type": "text", "text": "but no" },
                ]},
            ])
        );
    }

    #[test]
    fn translates_stop_max_tokens_and_user() {
        let (_, body) = translate(
            request(json!({
                "stop": "###", "max_tokens": 100, "max_completion_tokens": 200,
                "top_k": 5, "user": "u1", "metadata": { "user_id": "u2", "tag": "x" },
            }))
            .to_string()
            .as_bytes(),
        );
        assert_eq!(body["stop_sequences"], json!(["###"]));
        assert_eq!(body["max_tokens"], json!(200));
        assert_eq!(body["top_k"], json!(5));
        assert_eq!(body["metadata"], json!({ "user_id": "u2" }));

        let (t, body) = translate(
            request(json!({ "max_tokens": 100, "stream": false }))
                .to_string()
                .as_bytes(),
        );
        assert_eq!(body["max_tokens"], json!(100));
        assert_eq!(body.get("stream"), None);
        assert!(!t.stream);
        // include_usage only means something for a stream.
        let (t, _) = translate(
            request(json!({ "stream_options": { "include_usage": true } }))
                .to_string()
                .as_bytes(),
        );
        assert!(!t.include_usage);
        let (_, body) = translate(
            request(json!({ "safety_identifier": "s1" }))
                .to_string()
                .as_bytes(),
        );
        assert_eq!(body["metadata"], json!({ "user_id": "s1" }));
    }

    #[test]
    fn default_values_and_harmless_fields_are_accepted() {
        let (_, body) = translate(
            request(json!({
                "n": 1, "logprobs": false, "top_logprobs": 0,
                "response_format": { "type": "text" }, "modalities": ["text"],
                "logit_bias": {}, "presence_penalty": 0, "frequency_penalty": 0.0,
                "store": false, "service_tier": "auto", "seed": 7, "prompt_cache_key": "k",
                "parallel_tool_calls": true, "temperature": null, "audio": null,
            }))
            .to_string()
            .as_bytes(),
        );
        assert_eq!(
            body,
            json!({
                "model": "claude-3-5-haiku-latest",
                "messages": [{ "role": "user", "content": "Hi" }],
                "max_tokens": 4096,
            })
        );
    }

    #[test]
    fn untranslatable_fields_are_unsupported_and_named() {
        let cases = [
            (json!({ "n": 2 }), "`n`"),
            (json!({ "logprobs": true }), "`logprobs`"),
            (json!({ "top_logprobs": 3 }), "`top_logprobs`"),
            (
                json!({ "response_format": { "type": "json_schema", "json_schema": {} } }),
                "`response_format`",
            ),
            (
                json!({ "response_format": { "type": "json_object" } }),
                "`response_format`",
            ),
            (
                json!({ "audio": { "voice": "alloy", "format": "wav" } }),
                "`audio`",
            ),
            (json!({ "modalities": ["text", "audio"] }), "`modalities`"),
            (json!({ "logit_bias": { "50256": -100 } }), "`logit_bias`"),
            (json!({ "presence_penalty": 0.5 }), "`presence_penalty`"),
            (json!({ "frequency_penalty": 1 }), "`frequency_penalty`"),
            (json!({ "store": true }), "`store`"),
            (json!({ "service_tier": "flex" }), "`service_tier`"),
            (json!({ "reasoning_effort": "low" }), "`reasoning_effort`"),
            (json!({ "functions": [] }), "`functions`"),
            (
                json!({ "prediction": { "type": "content", "content": "x" } }),
                "`prediction`",
            ),
            (json!({ "some_future_field": 1 }), "`some_future_field`"),
            (
                json!({ "tools": [{ "type": "custom", "custom": { "name": "x" } }] }),
                "`tools[0].type`",
            ),
            (
                json!({ "tool_choice": { "type": "allowed_tools", "allowed_tools": {} } }),
                "`tool_choice`",
            ),
            (
                json!({ "messages": [{ "role": "user", "content": [
                    { "type": "text", "text": "look" },
                    { "type": "image_url", "image_url": { "url": "ftp://example.com/a.png" } },
                ]}]}),
                "`messages[0].content[1].image_url.url`",
            ),
            (
                json!({ "messages": [{ "role": "user", "content": [
                    { "type": "image_url", "image_url": { "url": "data:image/png,%89PNG" } },
                ]}]}),
                "`messages[0].content[0].image_url.url`",
            ),
            (
                json!({ "messages": [{ "role": "user", "content": [
                    { "type": "input_audio", "input_audio": { "data": "AAAA", "format": "wav" } },
                ]}]}),
                "`messages[0].content[0]`",
            ),
            (
                json!({ "messages": [{ "role": "user", "content": [
                    { "type": "file", "file": { "file_id": "file-abc" } },
                ]}]}),
                "`messages[0].content[0].file.file_id`",
            ),
            (
                json!({ "messages": [{ "role": "function", "name": "f", "content": "x" }] }),
                "`messages[0].role`",
            ),
            (
                json!({ "messages": [{ "role": "assistant", "content": null,
                    "function_call": { "name": "f", "arguments": "{}" } }] }),
                "`messages[0].function_call`",
            ),
        ];
        for (extra, field) in cases {
            unsupported_field(request(extra), field);
        }
    }

    #[test]
    fn invalid_requests() {
        invalid_request(b"not json", "JSON");
        invalid_request(br#"[1,2]"#, "JSON object");
        invalid_request(br#"{"messages":[]}"#, "`model`");
        invalid_request(br#"{"model":"claude","messages":"Hi"}"#, "`messages`");
        invalid_request(
            br#"{"model":"claude","messages":[{"role":"wizard","content":"Hi"}]}"#,
            "`messages[0].role`",
        );
        invalid_request(
            br#"{"model":"claude","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}"#,
            "`messages[0].tool_calls[0].function.arguments`",
        );
        invalid_request(
            br#"{"model":"claude","messages":[{"role":"tool","content":"x"}]}"#,
            "`messages[0].tool_call_id`",
        );
        invalid_request(
            br#"{"model":"claude","messages":[],"max_tokens":0}"#,
            "`max_tokens`",
        );
    }

    // ------------------------------------------------------------ response translation

    fn translate_body(native: &[u8]) -> Value {
        let out = translate_response(native, "requested-model", CREATED)
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn translates_text_response() {
        assert_eq!(
            translate_body(&fixture("messages.json")),
            json!({
                "id": "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL",
                "object": "chat.completion",
                "created": CREATED,
                "model": "claude-sonnet-4-20250514",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello! How can I help you today?",
                        "refusal": null,
                    },
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": {
                    "prompt_tokens": 3560,
                    "completion_tokens": 12,
                    "total_tokens": 3572,
                    "prompt_tokens_details": { "cached_tokens": 2048 },
                    "completion_tokens_details": { "reasoning_tokens": 0 },
                },
            })
        );
    }

    #[test]
    fn translates_tool_use_response() {
        let got = translate_body(&fixture("messages_tool_use.json"));
        assert_eq!(
            got["choices"][0],
            json!({
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "I'll check the current weather in San Francisco for you.",
                    "refusal": null,
                    "tool_calls": [{
                        "id": "toolu_01A09q90qw90lq917835lq9",
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": "{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}",
                        },
                    }],
                },
                "logprobs": null,
                "finish_reason": "tool_calls",
            })
        );
        assert_eq!(got["usage"]["prompt_tokens"], json!(384));
        assert_eq!(got["usage"]["completion_tokens"], json!(87));
        assert_eq!(got["usage"]["total_tokens"], json!(471));
    }

    #[test]
    fn translates_finish_reasons() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("pause_turn", "stop"),
        ] {
            let native = json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
                "content": [], "stop_reason": stop,
                "usage": { "input_tokens": 1, "output_tokens": 2 },
            });
            let got = translate_body(native.to_string().as_bytes());
            assert_eq!(got["choices"][0]["finish_reason"], json!(finish), "{stop}");
            assert_eq!(
                got["choices"][0]["message"]["content"],
                Value::Null,
                "{stop}"
            );
        }
    }

    #[test]
    fn translates_error_response() {
        assert_eq!(
            translate_body(&fixture("error.json")),
            json!({ "error": {
                "message": "max_tokens: Field required",
                "type": "invalid_request_error",
                "param": null,
                "code": null,
            }})
        );
        assert!(matches!(
            translate_response(b"<html>", "m", CREATED),
            Err(TranslateError::Invalid(_))
        ));
    }

    // ------------------------------------------------------------ stream translation

    /// Each `data:` of a translated stream: the JSON value, or the string `[DONE]`.
    fn translated_stream(name: &str, include_usage: bool) -> Vec<Value> {
        let mut t = AnthropicToOpenAi::new("requested-model", include_usage, CREATED);
        let mut out = Vec::new();
        for ev in decode_all(&fixture(name)) {
            t.event(&ev, &mut out);
        }
        t.finish(&mut out);
        let len = out.len();
        t.finish(&mut out);
        assert_eq!(out.len(), len, "finish is idempotent");
        decode_all(&out)
            .into_iter()
            .map(|ev| {
                assert_eq!(ev.event, None);
                if ev.data == "[DONE]" {
                    Value::from("[DONE]")
                } else {
                    serde_json::from_str(&ev.data).unwrap_or_else(|e| panic!("{}: {e}", ev.data))
                }
            })
            .collect()
    }

    /// The chunk OpenAI would send, written out in full.
    fn chunk(id: &str, model: &str, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        })
    }

    #[test]
    fn translates_text_stream() {
        let id = "chatcmpl-msg_01HCDu5LRGeP2o7s2xGmxyx8";
        let model = "claude-sonnet-4-20250514";
        let c = |delta, finish| chunk(id, model, delta, finish);
        let mut expect = vec![
            c(json!({ "role": "assistant", "content": "" }), None),
            c(json!({ "content": "Hello" }), None),
            c(json!({ "content": "! How can I" }), None),
            c(json!({ "content": " help you today?" }), None),
            c(json!({}), Some("stop")),
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": 1825,
                    "completion_tokens": 15,
                    "total_tokens": 1840,
                    "prompt_tokens_details": { "cached_tokens": 1800 },
                    "completion_tokens_details": { "reasoning_tokens": 0 },
                },
            }),
            json!("[DONE]"),
        ];
        assert_eq!(translated_stream("messages_stream.sse", true), expect);
        expect.remove(5);
        assert_eq!(translated_stream("messages_stream.sse", false), expect);
    }

    #[test]
    fn translates_tool_stream() {
        let id = "chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U";
        let model = "claude-3-haiku-20240307";
        let c = |delta, finish| chunk(id, model, delta, finish);
        let args = |i: usize, a: &str| {
            c(
                json!({ "tool_calls": [{ "index": i, "function": { "arguments": a } }] }),
                None,
            )
        };
        let mut expect = vec![
            c(json!({ "role": "assistant", "content": "" }), None),
            c(json!({ "content": "Okay" }), None),
            c(json!({ "content": "," }), None),
            c(json!({ "content": " let" }), None),
            c(json!({ "content": "'s" }), None),
            c(json!({ "content": " check the weather:" }), None),
            c(
                json!({ "tool_calls": [{
                    "index": 0,
                    "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "type": "function",
                    "function": { "name": "get_weather", "arguments": "" },
                }]}),
                None,
            ),
            args(0, "{\"location\":"),
            args(0, " \"San Francisc"),
            args(0, "o, CA\", \"unit\": \"fah"),
            args(0, "renheit\"}"),
            c(
                json!({ "tool_calls": [{
                    "index": 1,
                    "id": "toolu_01Q2w3e4r5t6y7u8i9o0pAsD",
                    "type": "function",
                    "function": { "name": "get_time", "arguments": "" },
                }]}),
                None,
            ),
            args(1, "{\"timezone\": \"America/Los_Angeles\"}"),
            c(json!({}), Some("tool_calls")),
            json!("[DONE]"),
        ];
        assert_eq!(
            translated_stream("messages_stream_tools.sse", false),
            expect
        );
        expect.insert(
            14,
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": 472,
                    "completion_tokens": 89,
                    "total_tokens": 561,
                    "prompt_tokens_details": { "cached_tokens": 0 },
                    "completion_tokens_details": { "reasoning_tokens": 0 },
                },
            }),
        );
        assert_eq!(translated_stream("messages_stream_tools.sse", true), expect);
    }

    #[test]
    fn translated_stream_leaves_out_thinking() {
        let id = "chatcmpl-msg_01Vtiz5YBBJgBpb2JNbN1sLU";
        let model = "claude-3-7-sonnet-20250219";
        assert_eq!(
            translated_stream("messages_stream_thinking.sse", false),
            vec![
                chunk(
                    id,
                    model,
                    json!({ "role": "assistant", "content": "" }),
                    None
                ),
                chunk(id, model, json!({ "content": "27 * 453 = 12,231" }), None),
                chunk(id, model, json!({}), Some("stop")),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn translated_stream_ends_at_an_error() {
        let id = "chatcmpl-msg_01Ehz6vLG4pmJfEg5nzmCgM4";
        let model = "claude-sonnet-4-20250514";
        assert_eq!(
            translated_stream("messages_stream_error.sse", true),
            vec![
                chunk(
                    id,
                    model,
                    json!({ "role": "assistant", "content": "" }),
                    None
                ),
                chunk(id, model, json!({ "content": "Once upon" }), None),
                json!({ "error": {
                    "message": "Overloaded",
                    "type": "overloaded_error",
                    "param": null,
                    "code": null,
                }}),
            ]
        );
    }

    #[test]
    fn translated_stream_maps_max_tokens_to_length() {
        let got = translated_stream("messages_stream_full_usage.sse", true);
        assert_eq!(got[2]["choices"][0]["finish_reason"], json!("length"));
        assert_eq!(got[3]["usage"]["prompt_tokens"], json!(4215));
        assert_eq!(got[3]["usage"]["completion_tokens"], json!(21));
        assert_eq!(got.last(), Some(&json!("[DONE]")));
    }

    #[test]
    fn empty_stream_still_ends_with_done() {
        let mut t = AnthropicToOpenAi::new("m", false, CREATED);
        let mut out = Vec::new();
        t.finish(&mut out);
        assert_eq!(out, b"data: [DONE]\n\n");
    }
}
