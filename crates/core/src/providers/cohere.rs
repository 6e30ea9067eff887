//! Cohere: v2 chat (JSON or SSE events), legacy v1 chat (JSON or NDJSON events), embed;
//! request inspection, usage, and the OpenAI chat-completions translation both ways.
//!
//! Cohere answers never name the model: the record keeps the request's.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::chat_options::{self, invalid};
use super::openai::{usage_json, ChunkWriter};
use super::{
    collect_text, push_capped, Operation, RequestInfo, ResponseInfo, TranslateError, Translated,
};
use crate::sse::SseEvent;
use crate::usage::Usage;

// ---------------------------------------------------------------- wire types

/// `usage` (v2) or `meta` (v1, embed). `tokens` counts what the model processed (Cohere's
/// prompt template included), `billed_units` what is charged; `tokens` is preferred.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct CohereUsage {
    tokens: Option<CohereTokens>,
    billed_units: Option<CohereTokens>,
    cached_tokens: Option<f64>,
}

/// Cohere's schema types these as `number`: read them as floats, count them as integers.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct CohereTokens {
    input_tokens: Option<f64>,
    output_tokens: Option<f64>,
}

fn count(n: Option<f64>) -> Option<u64> {
    // Saturating float-to-int conversion: negative or NaN become 0.
    n.map(|n| n as u64)
}

impl CohereUsage {
    pub fn into_usage(self) -> Usage {
        // Billed units are what Cohere charges for; `tokens` adds Cohere's own prompt
        // template (documented example: 5 billed input tokens, 71 tokens), so it would
        // overstate cost. `tokens` is the fallback when no billed units are reported.
        let pick = |f: fn(&CohereTokens) -> Option<f64>| {
            count(self.billed_units.as_ref().and_then(f))
                .or_else(|| count(self.tokens.as_ref().and_then(f)))
                .unwrap_or(0)
        };
        Usage {
            input: pick(|t| t.input_tokens),
            output: pick(|t| t.output_tokens),
            cache_read: count(self.cached_tokens).unwrap_or(0),
            cache_write: 0,
            reasoning: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.tokens.is_none() && self.billed_units.is_none()
    }
}

/// A whole v2 chat answer, a v2 stream event, a v1 answer or event, an embed answer, or an
/// error (`{"id":"..","message":"invalid api token"}`: `message` is then a string).
#[derive(Debug, Default, Deserialize)]
struct CohereMessage {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    message: Option<Value>,
    finish_reason: Option<String>,
    usage: Option<CohereUsage>,
    delta: Option<CohereDelta>,
    /// v1: answer text, or a `text-generation` event's piece.
    text: Option<String>,
    /// v1 and embed.
    meta: Option<CohereUsage>,
    /// v1 stream: `stream-start`, `text-generation`, `stream-end`...
    event_type: Option<String>,
    /// v1 `stream-end`: the whole answer.
    response: Option<Box<CohereMessage>>,
}

#[derive(Debug, Default, Deserialize)]
struct CohereDelta {
    message: Option<CohereDeltaMessage>,
    finish_reason: Option<String>,
    usage: Option<CohereUsage>,
    error: Option<String>,
}

/// `message-start` sends `content: []` and `tool_calls: []` where later events send objects:
/// both are read leniently.
#[derive(Debug, Default, Deserialize)]
struct CohereDeltaMessage {
    content: Option<Value>,
    tool_calls: Option<Value>,
}

impl CohereDeltaMessage {
    fn text(&self) -> Option<String> {
        let c = CohereDeltaContent::deserialize(self.content.as_ref()?).ok()?;
        c.text
    }

    fn tool_call(&self) -> Option<CohereToolCall> {
        CohereToolCall::deserialize(self.tool_calls.as_ref()?).ok()
    }
}

#[derive(Debug, Default, Deserialize)]
struct CohereDeltaContent {
    text: Option<String>,
}

/// The assistant message of a whole v2 answer.
#[derive(Debug, Default, Deserialize)]
struct CohereAssistant {
    content: Option<Vec<CohereContent>>,
    tool_calls: Option<Vec<CohereToolCall>>,
}

#[derive(Debug, Default, Deserialize)]
struct CohereContent {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CohereToolCall {
    id: Option<String>,
    function: Option<CohereFunction>,
}

#[derive(Debug, Default, Deserialize)]
struct CohereFunction {
    name: Option<String>,
    arguments: Option<String>,
}

impl CohereMessage {
    /// v2 events name their type in the data; fall back to the SSE `event:` field.
    fn kind<'a>(&'a self, ev: Option<&'a str>) -> Option<&'a str> {
        self.kind.as_deref().or(ev)
    }

    fn error(&self) -> Option<&str> {
        match &self.message {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    fn assistant(&self) -> Option<CohereAssistant> {
        match &self.message {
            Some(m @ Value::Object(_)) => CohereAssistant::deserialize(m).ok(),
            _ => None,
        }
    }
}

impl CohereAssistant {
    fn text(&self) -> String {
        self.content
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|c| c.kind.as_deref().unwrap_or("text") == "text")
            .filter_map(|c| c.text.as_deref())
            .collect()
    }
}

// ---------------------------------------------------------------- requests

pub fn inspect_request(path: &str, body: &[u8]) -> RequestInfo {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    let operation = if path.ends_with("/chat") {
        Operation::Chat
    } else if path.ends_with("/embed") {
        Operation::Embeddings
    } else {
        Operation::Other
    };
    let mut info = RequestInfo {
        operation,
        ..RequestInfo::default()
    };
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return info;
    };
    info.model = req.get("model").and_then(Value::as_str).map(str::to_owned);
    info.stream = req.get("stream").and_then(Value::as_bool) == Some(true);
    let input = match req.get("messages") {
        Some(m) => Some(m.clone()),
        None if operation == Operation::Chat => v1_messages(&req),
        None => req.get("texts").or_else(|| req.get("inputs")).cloned(),
    };
    let mut text = String::new();
    if let Some(v) = &input {
        collect_text(v, &mut text);
    }
    info.input = input.map(|v| v.to_string());
    if !text.is_empty() {
        info.input_text = Some(text);
    }
    info
}

/// A v1 chat request (`preamble`, `chat_history`, `message`) as chat-formatted messages.
fn v1_messages(req: &Map<String, Value>) -> Option<Value> {
    let mut out = Vec::new();
    if let Some(p) = req.get("preamble").and_then(Value::as_str) {
        out.push(json!({ "role": "system", "content": p }));
    }
    for turn in req
        .get("chat_history")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let role = match turn.get("role").and_then(Value::as_str) {
            Some("CHATBOT") => "assistant",
            Some("SYSTEM") => "system",
            Some("TOOL") => "tool",
            _ => "user",
        };
        let content = turn.get("message").cloned().unwrap_or(Value::Null);
        out.push(json!({ "role": role, "content": content }));
    }
    if let Some(m) = req.get("message").and_then(Value::as_str) {
        out.push(json!({ "role": "user", "content": m }));
    }
    (!out.is_empty()).then_some(Value::Array(out))
}

// ---------------------------------------------------------------- responses

/// Accumulates what a Cohere response says, from SSE events or a whole (JSON/NDJSON) body.
#[derive(Debug)]
pub struct CohereParser {
    text_cap: usize,
    usage: Option<Usage>,
    text: String,
    tools: Vec<String>,
    error: Option<String>,
}

impl CohereParser {
    pub fn new(op: Operation, text_cap: usize) -> Self {
        // Chat and embed answers carry usage in the same places; `op` changes nothing here.
        let _ = op;
        Self {
            text_cap,
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
        if let Ok(msg) = serde_json::from_str::<CohereMessage>(data) {
            self.absorb(msg, ev.event.as_deref());
        }
    }

    /// A whole body: one JSON object, or NDJSON events (v1 streams).
    pub fn body(&mut self, body: &[u8]) {
        match serde_json::from_slice::<CohereMessage>(body) {
            Ok(msg) => self.absorb(msg, None),
            Err(_) => {
                for line in body.split(|&b| b == b'\n') {
                    if let Ok(msg) = serde_json::from_slice::<CohereMessage>(line) {
                        self.absorb(msg, None);
                    }
                }
            }
        }
    }

    fn set_usage(&mut self, u: CohereUsage) {
        if !u.is_empty() {
            self.usage = Some(u.into_usage());
        }
    }

    fn absorb(&mut self, msg: CohereMessage, event: Option<&str>) {
        if let Some(e) = msg.error() {
            self.error = Some(e.to_owned());
        }
        match msg.kind(event) {
            Some("content-delta") => {
                let piece = msg.delta.and_then(|d| d.message).and_then(|m| m.text());
                if let Some(t) = piece {
                    push_capped(&mut self.text, &t, self.text_cap);
                }
                return;
            }
            Some("tool-call-start") => {
                let call = msg
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_call());
                let f = call.and_then(|c| c.function).unwrap_or_default();
                let mut s = format!("{}(", f.name.unwrap_or_default());
                s.push_str(f.arguments.as_deref().unwrap_or_default());
                self.tools.push(s);
                return;
            }
            Some("tool-call-delta") => {
                let args = msg
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_call())
                    .and_then(|c| c.function)
                    .and_then(|f| f.arguments);
                if let (Some(a), Some(last)) = (args, self.tools.last_mut()) {
                    if last.len() < self.text_cap {
                        last.push_str(&a);
                    }
                }
                return;
            }
            Some("message-end") => {
                if let Some(d) = msg.delta {
                    if let Some(u) = d.usage {
                        self.set_usage(u);
                    }
                    if let Some(e) = d.error.filter(|e| !e.is_empty()) {
                        self.error = Some(e);
                    }
                }
                return;
            }
            // message-start, content-start/-end, tool-plan-delta, citations: no usage or text.
            Some(_) => return,
            None => {}
        }
        // v1 events.
        match msg.event_type.as_deref() {
            Some("text-generation") => {
                if let Some(t) = &msg.text {
                    push_capped(&mut self.text, t, self.text_cap);
                }
                return;
            }
            Some("stream-end") => {
                if let Some(meta) = msg.response.and_then(|r| r.meta) {
                    self.set_usage(meta);
                }
                return;
            }
            Some(_) => return,
            None => {}
        }
        // A whole answer: v2 chat, v1 chat or embed.
        if let Some(u) = msg.usage.or(msg.meta) {
            self.set_usage(u);
        }
        if let Some(a) = msg.assistant() {
            push_capped(&mut self.text, &a.text(), self.text_cap);
            for call in a.tool_calls.unwrap_or_default() {
                let f = call.function.unwrap_or_default();
                self.tools.push(format!(
                    "{}({})",
                    f.name.unwrap_or_default(),
                    f.arguments.unwrap_or_default()
                ));
            }
        } else if let Some(t) = &msg.text {
            push_capped(&mut self.text, t, self.text_cap);
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
        ResponseInfo {
            model: None,
            usage: self.usage,
            output: (!output.is_empty()).then_some(output),
            error: self.error,
        }
    }
}

// ---------------------------------------------------------------- OpenAI -> Cohere

fn unsupported(what: impl std::fmt::Display) -> TranslateError {
    TranslateError::Unsupported(format!("{what} cannot be translated to Cohere"))
}

/// Request fields that change nothing Cohere could honour or refuse (bookkeeping only).
const IGNORED_FIELDS: &[&str] = &[
    "user",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

pub fn translate_request(openai_body: &[u8]) -> Result<Translated, TranslateError> {
    let req: Map<String, Value> = serde_json::from_slice(openai_body)
        .map_err(|e| invalid(format!("the body is not a JSON object: {e}")))?;
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("`model` is required"))?;
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;

    let mut out = Map::new();
    out.insert("model".into(), model.into());
    out.insert(
        "messages".into(),
        Value::Array(translate_messages(messages)?),
    );
    let mut stream = false;
    let mut include_usage = false;
    for (key, v) in &req {
        if v.is_null() {
            continue;
        }
        let key = key.as_str();
        match key {
            "model" | "messages" => {}
            "stream" => {
                stream = v
                    .as_bool()
                    .ok_or_else(|| invalid("`stream` must be a boolean"))?
            }
            "stream_options" => {
                include_usage = v.get("include_usage").and_then(Value::as_bool) == Some(true);
            }
            "max_tokens" | "max_completion_tokens" => {
                if let Some(n) = chat_options::max_tokens(&req, key, v)? {
                    out.insert("max_tokens".into(), n.into());
                }
            }
            "temperature" => number(&mut out, "temperature", key, v)?,
            "top_p" => number(&mut out, "p", key, v)?,
            "presence_penalty" => number(&mut out, "presence_penalty", key, v)?,
            "frequency_penalty" => number(&mut out, "frequency_penalty", key, v)?,
            "seed" => {
                let s = v
                    .as_u64()
                    .ok_or_else(|| invalid("`seed` must be a non-negative integer"))?;
                out.insert("seed".into(), s.into());
            }
            "stop" => {
                if let Some(stops) = chat_options::stop_sequences(v)? {
                    out.insert("stop_sequences".into(), stops);
                }
            }
            "n" => {
                if v.as_u64() != Some(1) {
                    return Err(unsupported("`n` other than 1"));
                }
            }
            "response_format" => match v.get("type").and_then(Value::as_str) {
                Some("text") => {}
                Some("json_object") => {
                    out.insert("response_format".into(), json!({ "type": "json_object" }));
                }
                Some("json_schema") => {
                    let schema = v
                        .get("json_schema")
                        .and_then(|s| s.get("schema"))
                        .ok_or_else(|| {
                            invalid("`response_format.json_schema.schema` is required")
                        })?;
                    out.insert(
                        "response_format".into(),
                        json!({ "type": "json_object", "json_schema": schema }),
                    );
                }
                Some(other) => {
                    return Err(unsupported(format!("`response_format` type `{other}`")))
                }
                None => return Err(invalid("`response_format.type` is required")),
            },
            "tools" => {
                let (tools, strict) = translate_tools(v)?;
                if !tools.is_empty() {
                    out.insert("tools".into(), Value::Array(tools));
                    if strict {
                        out.insert("strict_tools".into(), true.into());
                    }
                }
            }
            "tool_choice" => match v.as_str() {
                Some("auto") => {}
                Some("none") => {
                    out.insert("tool_choice".into(), "NONE".into());
                }
                Some("required") => {
                    out.insert("tool_choice".into(), "REQUIRED".into());
                }
                Some(other) => return Err(invalid(format!("unknown `tool_choice` {other:?}"))),
                None => return Err(unsupported("`tool_choice` naming a function")),
            },
            "parallel_tool_calls" => {
                if v.as_bool() == Some(false) {
                    return Err(unsupported("`parallel_tool_calls: false`"));
                }
            }
            "logprobs" => {
                if v.as_bool() == Some(true) {
                    return Err(unsupported("`logprobs`"));
                }
            }
            "modalities" => {
                if v != &json!(["text"]) {
                    return Err(unsupported("`modalities` other than [\"text\"]"));
                }
            }
            _ if IGNORED_FIELDS.contains(&key) => {}
            _ => return Err(unsupported(format!("`{key}`"))),
        }
    }
    out.insert("stream".into(), stream.into());
    let body = serde_json::to_vec(&Value::Object(out))
        .map_err(|e| invalid(format!("cannot encode the Cohere request: {e}")))?;
    Ok(Translated {
        body,
        path: "/v2/chat".into(),
        model: model.to_owned(),
        stream,
        include_usage: stream && include_usage,
    })
}

fn number(
    out: &mut Map<String, Value>,
    to: &str,
    key: &str,
    v: &Value,
) -> Result<(), TranslateError> {
    if !v.is_number() {
        return Err(invalid(format!("`{key}` must be a number")));
    }
    out.insert(to.into(), v.clone());
    Ok(())
}

/// OpenAI function tools have Cohere's shape already; `strict` on every tool becomes
/// `strict_tools` (Cohere's switch is for all tools at once).
fn translate_tools(tools: &Value) -> Result<(Vec<Value>, bool), TranslateError> {
    let tools = tools
        .as_array()
        .ok_or_else(|| invalid("`tools` must be an array"))?;
    let mut out = Vec::with_capacity(tools.len());
    let mut all_strict = !tools.is_empty();
    for tool in tools {
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => return Err(unsupported(format!("tools of type `{other}`"))),
            None => return Err(invalid("`tools[].type` is required")),
        }
        let f = tool
            .get("function")
            .ok_or_else(|| invalid("`tools[].function` is required"))?;
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("`tools[].function.name` is required"))?;
        all_strict &= f.get("strict").and_then(Value::as_bool) == Some(true);
        let mut func = Map::new();
        func.insert("name".into(), name.into());
        if let Some(d) = f.get("description").filter(|d| !d.is_null()) {
            func.insert("description".into(), d.clone());
        }
        // Cohere requires `parameters`; OpenAI allows leaving it out for no arguments.
        let params = f
            .get("parameters")
            .filter(|p| !p.is_null())
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
        func.insert("parameters".into(), params);
        out.push(json!({ "type": "function", "function": func }));
    }
    Ok((out, all_strict))
}

fn translate_messages(messages: &[Value]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(messages.len());
    for msg in messages {
        let role = msg
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("every message needs a `role`"))?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => {
                out.push(json!({ "role": "system", "content": joined_text(content, role)? }));
            }
            "user" => out.push(json!({ "role": "user", "content": user_content(content)? })),
            "assistant" => {
                if msg.get("audio").is_some_and(|a| !a.is_null()) {
                    return Err(unsupported("assistant `audio`"));
                }
                let text = joined_text(content, role)?;
                let calls = msg
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut m = Map::new();
                m.insert("role".into(), "assistant".into());
                if calls.is_empty() {
                    m.insert("content".into(), text.into());
                } else {
                    // Cohere writes the text that goes with tool calls as its `tool_plan`.
                    if !text.is_empty() {
                        m.insert("tool_plan".into(), text.into());
                    }
                    let calls = calls.iter().map(tool_call).collect::<Result<Vec<_>, _>>()?;
                    m.insert("tool_calls".into(), Value::Array(calls));
                }
                out.push(Value::Object(m));
            }
            "tool" => {
                let id = msg
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("a `tool` message needs `tool_call_id`"))?;
                let text = joined_text(content, role)?;
                out.push(json!({
                    "role": "tool",
                    "tool_call_id": id,
                    "content": [{ "type": "text", "text": text }],
                }));
            }
            "function" => return Err(unsupported("the deprecated `function` role")),
            other => return Err(invalid(format!("unknown message role {other:?}"))),
        }
    }
    Ok(out)
}

fn tool_call(call: &Value) -> Result<Value, TranslateError> {
    if call
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("function")
        != "function"
    {
        return Err(unsupported("non-function tool calls"));
    }
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`tool_calls[].id` is required"))?;
    let name = call
        .pointer("/function/name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`tool_calls[].function.name` is required"))?;
    let args = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .unwrap_or("{}");
    Ok(json!({
        "id": id,
        "type": "function",
        "function": { "name": name, "arguments": args },
    }))
}

/// System, developer, assistant and tool content: a string, or `text` (and `refusal`) parts.
fn joined_text(content: &Value, role: &str) -> Result<String, TranslateError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => {
            let mut text = String::new();
            for item in items {
                let key = match item.get("type").and_then(Value::as_str) {
                    Some("text") => "text",
                    Some("refusal") => "refusal",
                    Some(other) => {
                        return Err(unsupported(format!(
                            "`{other}` content in a {role} message"
                        )))
                    }
                    None => return Err(invalid("a content part needs a `type`")),
                };
                text.push_str(item.get(key).and_then(Value::as_str).unwrap_or_default());
            }
            Ok(text)
        }
        _ => Err(invalid("message `content` must be a string or an array")),
    }
}

/// User content: a string, or text and image parts (data URLs and web URLs, as Cohere's
/// vision models take them).
fn user_content(content: &Value) -> Result<Value, TranslateError> {
    let items = match content {
        Value::Array(items) => items,
        other => return Ok(joined_text(other, "user")?.into()),
    };
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        match item.get("type").and_then(Value::as_str) {
            Some("text") => {
                let t = item.get("text").and_then(Value::as_str).unwrap_or_default();
                parts.push(json!({ "type": "text", "text": t }));
            }
            Some("image_url") => {
                let image = item
                    .get("image_url")
                    .ok_or_else(|| invalid("`image_url` is required"))?;
                let url = image
                    .get("url")
                    .or(Some(image))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`image_url.url` is required"))?;
                let mut img = Map::new();
                img.insert("url".into(), url.into());
                if let Some(d) = image.get("detail").filter(|d| d.is_string()) {
                    img.insert("detail".into(), d.clone());
                }
                parts.push(json!({ "type": "image_url", "image_url": img }));
            }
            Some(other) => return Err(unsupported(format!("`{other}` content parts"))),
            None => return Err(invalid("a content part needs a `type`")),
        }
    }
    Ok(Value::Array(parts))
}

// ---------------------------------------------------------------- Cohere -> OpenAI

/// OpenAI's finish reason for Cohere's (`ERROR` is handled as an error before this).
fn finish_reason(reason: Option<&str>, called_tools: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some("TOOL_CALL") => "tool_calls",
        _ if called_tools => "tool_calls",
        // COMPLETE, STOP_SEQUENCE, and TIMEOUT (the answer is cut short but well formed).
        _ => "stop",
    }
}

fn openai_error(message: &str, kind: &str) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })
}

fn completion_id(id: Option<&str>) -> String {
    format!("chatcmpl-{}", id.unwrap_or("cohere"))
}

fn encode(v: &Value) -> Result<Vec<u8>, TranslateError> {
    serde_json::to_vec(v).map_err(|e| invalid(format!("cannot encode the answer: {e}")))
}

/// A whole v2 chat answer (or error body) as an OpenAI `chat.completion` (or error).
pub fn translate_response(
    native: &[u8],
    model: &str,
    created: u64,
) -> Result<Vec<u8>, TranslateError> {
    let msg: CohereMessage = serde_json::from_slice(native)
        .map_err(|e| invalid(format!("the Cohere answer is not JSON: {e}")))?;
    if let Some(e) = msg.error() {
        return encode(&openai_error(e, "upstream_error"));
    }
    if msg.finish_reason.as_deref() == Some("ERROR") {
        return encode(&openai_error(
            "Cohere ended the generation with an error",
            "upstream_error",
        ));
    }
    let assistant = msg.assistant().unwrap_or_default();
    let text = assistant.text();
    let calls: Vec<Value> = assistant
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let f = c.function.unwrap_or_default();
            json!({
                "id": c.id.unwrap_or_else(|| format!("call_{i}")),
                "type": "function",
                "function": {
                    "name": f.name.unwrap_or_default(),
                    "arguments": f.arguments.unwrap_or_else(|| "{}".into()),
                },
            })
        })
        .collect();
    let reason = finish_reason(msg.finish_reason.as_deref(), !calls.is_empty());
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let mut out = json!({
        "id": completion_id(msg.id.as_deref()),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": reason,
        }],
    });
    if let Some(u) = msg.usage.filter(|u| !u.is_empty()) {
        out["usage"] = usage_json(&u.into_usage());
    }
    encode(&out)
}

/// Cohere v2 stream events in, OpenAI `chat.completion.chunk`s out.
#[derive(Debug)]
pub struct CohereToOpenAi {
    writer: ChunkWriter,
    include_usage: bool,
    started: bool,
    /// Index of the tool call being streamed, and how many have started.
    calls: usize,
    cohere_finish: Option<String>,
    usage: Option<Usage>,
    failed: bool,
    done: bool,
}

impl CohereToOpenAi {
    pub fn new(model: &str, include_usage: bool, created: u64) -> Self {
        Self {
            writer: ChunkWriter::new(completion_id(None), model, created),
            include_usage,
            started: false,
            calls: 0,
            cohere_finish: None,
            usage: None,
            failed: false,
            done: false,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.writer
                .chunk(json!({ "role": "assistant", "content": "" }), None, out);
        }
    }

    fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(
            openai_error(message, "upstream_error")
                .to_string()
                .as_bytes(),
        );
        out.extend_from_slice(b"\n\n");
        self.failed = true;
    }

    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        let data = ev.data.trim();
        if self.done || self.failed || data.is_empty() || data == "[DONE]" {
            return;
        }
        let Ok(msg) = serde_json::from_str::<CohereMessage>(data) else {
            return;
        };
        if let Some(e) = msg.error() {
            self.fail(e, out);
            return;
        }
        match msg.kind(ev.event.as_deref()) {
            Some("message-start") => {
                if let Some(id) = &msg.id {
                    if !self.started {
                        self.writer.id = completion_id(Some(id));
                    }
                }
                self.start(out);
            }
            Some("content-delta") => {
                let piece = msg
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.text())
                    .filter(|t| !t.is_empty());
                if let Some(t) = piece {
                    self.start(out);
                    self.writer.chunk(json!({ "content": t }), None, out);
                }
            }
            Some("tool-call-start") => {
                let call = msg
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_call())
                    .unwrap_or_default();
                let f = call.function.unwrap_or_default();
                let index = self.calls;
                self.calls += 1;
                self.start(out);
                let delta = json!({ "tool_calls": [{
                    "index": index,
                    "id": call.id.unwrap_or_else(|| format!("call_{index}")),
                    "type": "function",
                    "function": {
                        "name": f.name.unwrap_or_default(),
                        "arguments": f.arguments.unwrap_or_default(),
                    },
                }]});
                self.writer.chunk(delta, None, out);
            }
            Some("tool-call-delta") => {
                let args = msg
                    .delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_call())
                    .and_then(|c| c.function)
                    .and_then(|f| f.arguments)
                    .filter(|a| !a.is_empty());
                if let (Some(a), Some(index)) = (args, self.calls.checked_sub(1)) {
                    let delta = json!({ "tool_calls": [{
                        "index": index,
                        "function": { "arguments": a },
                    }]});
                    self.writer.chunk(delta, None, out);
                }
            }
            Some("message-end") => {
                let d = msg.delta.unwrap_or_default();
                if let Some(u) = d.usage.filter(|u| !u.is_empty()) {
                    self.usage = Some(u.into_usage());
                }
                if d.finish_reason.as_deref() == Some("ERROR") || d.error.is_some() {
                    let e = d
                        .error
                        .unwrap_or_else(|| "Cohere ended the generation with an error".into());
                    self.fail(&e, out);
                    return;
                }
                self.cohere_finish = d.finish_reason;
            }
            // content-start/-end, tool-plan-delta (the plan is not answer text),
            // tool-call-end, citations: nothing to send.
            _ => {}
        }
    }

    /// End of the Cohere stream: the finish chunk, the usage chunk if asked, `[DONE]`. Once.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        if !self.failed {
            if let Some(r) = &self.cohere_finish {
                let reason = finish_reason(Some(r), self.calls > 0);
                self.start(out);
                self.writer.chunk(json!({}), Some(reason), out);
            }
            if self.include_usage {
                if let Some(u) = &self.usage {
                    self.writer.usage_chunk(u, out);
                }
            }
        }
        ChunkWriter::done(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::{decode_all, SseDecoder};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/cohere/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn usage(input: u64, output: u64, cache_read: u64) -> Usage {
        Usage {
            input,
            output,
            cache_read,
            cache_write: 0,
            reasoning: 0,
        }
    }

    fn parse(name: &str) -> ResponseInfo {
        let bytes = fixture(name);
        let op = if name.starts_with("embed") {
            Operation::Embeddings
        } else {
            Operation::Chat
        };
        let mut p = CohereParser::new(op, 1 << 20);
        if name.ends_with(".sse") {
            decode_all(&bytes).iter().for_each(|ev| p.event(ev));
        } else {
            p.body(&bytes);
        }
        p.finish()
    }

    fn check(name: &str, expect: Usage, output: &str) {
        let got = parse(name);
        assert_eq!(got.model, None, "{name}: Cohere answers name no model");
        assert_eq!(got.usage, Some(expect), "{name}");
        assert_eq!(got.output.as_deref(), Some(output), "{name}");
        assert_eq!(got.error, None, "{name}");
    }

    #[test]
    fn chat_prefers_billed_units_over_tokens() {
        check(
            "chat.json",
            usage(5, 25, 0),
            "LLMs stand for Large Language Models, which are a type of neural network model specialized in processing and generating human language.",
        );
    }

    #[test]
    fn chat_tool_calls_and_cached_tokens() {
        check(
            "chat_tools.json",
            usage(37, 46, 512),
            "get_weather({\"location\":\"Toronto\"})\nget_weather({\"location\":\"Madrid\"})",
        );
    }

    #[test]
    fn stream_usage_from_message_end() {
        check(
            "stream.sse",
            usage(5, 9, 0),
            "Hello! How can I help you today?",
        );
    }

    #[test]
    fn stream_tool_calls() {
        check(
            "stream_tools.sse",
            usage(37, 28, 0),
            "get_weather({\"location\": \"Madrid\"})\nget_weather({\"location\": \"Brasilia\"})",
        );
    }

    #[test]
    fn v1_ndjson_stream() {
        check("v1_stream.ndjson", usage(3, 3, 0), "Hi there!");
    }

    #[test]
    fn embed_uses_billed_units_when_alone() {
        let got = parse("embed.json");
        assert_eq!(got.usage, Some(usage(1, 0, 0)));
        assert_eq!(got.output, None);
    }

    #[test]
    fn error_body() {
        let got = parse("error.json");
        assert_eq!(got.error.as_deref(), Some("invalid api token"));
        assert_eq!(got.usage, None);
    }

    #[test]
    fn stream_split_at_every_offset_gives_same_result() {
        for name in ["stream.sse", "stream_tools.sse"] {
            let bytes = fixture(name);
            let whole = parse(name);
            for split in 0..=bytes.len() {
                let mut d = SseDecoder::new();
                let mut evs = Vec::new();
                d.feed(&bytes[..split], &mut evs);
                d.feed(&bytes[split..], &mut evs);
                d.finish(&mut evs);
                let mut p = CohereParser::new(Operation::Chat, 1 << 20);
                evs.iter().for_each(|e| p.event(e));
                assert_eq!(p.finish(), whole, "{name} split at {split}");
            }
        }
    }

    // ------------------------------------------------------------ request inspection

    #[test]
    fn inspect_v2_chat() {
        let body = br#"{"model":"command-a-03-2025","stream":true,"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":[{"type":"text","text":"Hi"}]}]}"#;
        let info = inspect_request("/v2/chat", body);
        assert_eq!(info.operation, Operation::Chat);
        assert_eq!(info.model.as_deref(), Some("command-a-03-2025"));
        assert!(info.stream);
        assert_eq!(info.input_text.as_deref(), Some("Be brief\nHi"));
        assert!(info
            .input
            .as_deref()
            .is_some_and(|i| i.starts_with(r#"[{"content":"Be brief""#)
                || i.starts_with(r#"[{"role":"system""#)));
    }

    #[test]
    fn inspect_v1_chat_and_embed() {
        let body = br#"{"model":"command-r","preamble":"Be brief","chat_history":[{"role":"USER","message":"Hi"},{"role":"CHATBOT","message":"Hello"}],"message":"How are you?"}"#;
        let info = inspect_request("/v1/chat", body);
        assert_eq!(info.operation, Operation::Chat);
        assert!(!info.stream);
        assert_eq!(
            info.input_text.as_deref(),
            Some("Be brief\nHi\nHello\nHow are you?")
        );
        let input: Value = serde_json::from_str(info.input.as_deref().unwrap()).unwrap();
        assert_eq!(input[2], json!({"role": "assistant", "content": "Hello"}));

        let info = inspect_request(
            "/v2/embed",
            br#"{"model":"embed-v4.0","texts":["hello","world"],"input_type":"search_document"}"#,
        );
        assert_eq!(info.operation, Operation::Embeddings);
        assert_eq!(info.input_text.as_deref(), Some("hello\nworld"));
        assert_eq!(
            inspect_request("/v2/rerank", b"{}").operation,
            Operation::Other
        );
    }

    // ------------------------------------------------------------ request translation

    fn translate(body: Value) -> Result<(Value, Translated), TranslateError> {
        let t = translate_request(body.to_string().as_bytes())?;
        let native: Value = serde_json::from_slice(&t.body).unwrap();
        Ok((native, t))
    }

    fn unsupported_field(body: Value) -> String {
        match translate(body) {
            Err(TranslateError::Unsupported(m)) => m,
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn translate_system_multi_turn_and_sampling() {
        let (native, t) = translate(json!({
            "model": "command-a-03-2025",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bonjour !"},
                {"role": "user", "content": [{"type": "text", "text": "How are you?"}]}
            ],
            "max_tokens": 100,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "seed": 42,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "u-1"
        }))
        .unwrap();
        assert_eq!(t.path, "/v2/chat");
        assert_eq!(t.model, "command-a-03-2025");
        assert!(t.stream && t.include_usage);
        assert_eq!(
            native,
            json!({
                "model": "command-a-03-2025",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "system", "content": "Answer in French."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Bonjour !"},
                    {"role": "user", "content": [{"type": "text", "text": "How are you?"}]}
                ],
                "max_tokens": 100,
                "temperature": 0.2,
                "p": 0.9,
                "stop_sequences": ["END"],
                "seed": 42,
                "frequency_penalty": 0.1,
                "presence_penalty": 0.2,
                "stream": true
            })
        );
    }

    #[test]
    fn translate_tools_calls_and_results() {
        let (native, t) = translate(json!({
            "model": "command-a-03-2025",
            "messages": [
                {"role": "user", "content": "Weather in Madrid?"},
                {"role": "assistant", "content": "I will look it up.", "tool_calls": [
                    {"id": "get_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Madrid\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "get_weather_1", "content": "{\"temp\":24}"}
            ],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather", "strict": true,
                    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}},
                {"type": "function", "function": {"name": "now", "strict": true}}
            ],
            "tool_choice": "required",
            "max_completion_tokens": 300,
            "max_tokens": 1,
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}
        }))
        .unwrap();
        assert!(!t.stream && !t.include_usage);
        assert_eq!(
            native,
            json!({
                "model": "command-a-03-2025",
                "messages": [
                    {"role": "user", "content": "Weather in Madrid?"},
                    {"role": "assistant", "tool_plan": "I will look it up.", "tool_calls": [
                        {"id": "get_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Madrid\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "get_weather_1", "content": [{"type": "text", "text": "{\"temp\":24}"}]}
                ],
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}},
                    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
                ],
                "strict_tools": true,
                "tool_choice": "REQUIRED",
                "max_tokens": 300,
                "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
                "stream": false
            })
        );
    }

    #[test]
    fn translate_images() {
        let (native, _) = translate(json!({
            "model": "command-a-vision-07-2025",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]}]
        }))
        .unwrap();
        assert_eq!(
            native["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ])
        );
    }

    #[test]
    fn translate_tool_choice_variants() {
        let choice = |c: Value| {
            translate(json!({"model": "command-r", "messages": [{"role": "user", "content": "Hi"}], "tool_choice": c}))
                .map(|(n, _)| n.get("tool_choice").cloned())
        };
        assert_eq!(choice(json!("auto")), Ok(None));
        assert_eq!(choice(json!("none")), Ok(Some(json!("NONE"))));
        assert!(matches!(
            choice(json!({"type": "function", "function": {"name": "x"}})),
            Err(TranslateError::Unsupported(m)) if m.contains("`tool_choice`")
        ));
    }

    #[test]
    fn translate_names_unsupported_fields() {
        let base = |extra: Value| {
            let mut body =
                json!({"model": "command-r", "messages": [{"role": "user", "content": "Hi"}]});
            if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
                b.extend(e);
            }
            body
        };
        for (extra, named) in [
            (json!({"logprobs": true}), "`logprobs`"),
            (json!({"logit_bias": {"1": 2}}), "`logit_bias`"),
            (json!({"audio": {"voice": "alloy"}}), "`audio`"),
            (json!({"n": 3}), "`n`"),
            (json!({"reasoning_effort": "high"}), "`reasoning_effort`"),
            (
                json!({"parallel_tool_calls": false}),
                "`parallel_tool_calls: false`",
            ),
            (json!({"response_format": {"type": "xml"}}), "`xml`"),
        ] {
            let msg = unsupported_field(base(extra.clone()));
            assert!(msg.contains(named), "{extra}: {msg}");
            assert!(msg.contains("Cohere"), "{extra}: {msg}");
        }
        let msg = unsupported_field(json!({"model": "command-r", "messages": [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}
        ]}));
        assert!(msg.contains("`input_audio`"), "{msg}");
        assert!(translate(base(
            json!({"logprobs": false, "n": 1, "metadata": {"a": "b"}})
        ))
        .is_ok());
        assert!(matches!(
            translate_request(br#"{"messages":[]}"#),
            Err(TranslateError::Invalid(_))
        ));
    }

    // ------------------------------------------------------------ response translation

    fn translated_response(name: &str) -> Value {
        let out = translate_response(&fixture(name), "command-x", 1_700_000_000).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn translate_response_text() {
        assert_eq!(
            translated_response("chat.json"),
            json!({
                "id": "chatcmpl-c14c80c3-18eb-4519-9460-6c92edd8cfb4",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "command-x",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "LLMs stand for Large Language Models, which are a type of neural network model specialized in processing and generating human language.", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": 25,
                    "total_tokens": 30,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0}
                }
            })
        );
    }

    #[test]
    fn translate_response_tool_calls() {
        let got = translated_response("chat_tools.json");
        assert_eq!(
            got["choices"][0],
            json!({
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": null,
                    "refusal": null,
                    "tool_calls": [
                        {"id": "get_weather_1byjy32y4hvq", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Toronto\"}"}},
                        {"id": "get_weather_x8t2b0zn5c1k", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Madrid\"}"}}
                    ]
                },
                "logprobs": null,
                "finish_reason": "tool_calls"
            })
        );
        assert_eq!(
            got["usage"]["prompt_tokens_details"]["cached_tokens"],
            json!(512)
        );
    }

    #[test]
    fn translate_response_finish_reasons_and_errors() {
        for (cohere, openai) in [
            ("COMPLETE", "stop"),
            ("STOP_SEQUENCE", "stop"),
            ("MAX_TOKENS", "length"),
            ("TIMEOUT", "stop"),
        ] {
            let native = json!({"id": "x", "finish_reason": cohere, "message": {"role": "assistant", "content": [{"type": "text", "text": "a"}]}});
            let out = translate_response(native.to_string().as_bytes(), "m", 1).unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["choices"][0]["finish_reason"], json!(openai), "{cohere}");
        }
        assert_eq!(
            translated_response("error.json"),
            json!({"error": {"message": "invalid api token", "type": "upstream_error", "param": null, "code": null}})
        );
        let failed =
            br#"{"id":"x","finish_reason":"ERROR","message":{"role":"assistant","content":[]}}"#;
        let v: Value =
            serde_json::from_slice(&translate_response(failed, "m", 1).unwrap()).unwrap();
        assert!(v["error"]["message"].is_string());
    }

    // ------------------------------------------------------------ stream translation

    fn translate_stream(name: &str, include_usage: bool) -> Vec<Value> {
        let mut t = CohereToOpenAi::new("command-x", include_usage, 1_700_000_000);
        let mut out = Vec::new();
        for ev in decode_all(&fixture(name)) {
            t.event(&ev, &mut out);
        }
        t.finish(&mut out);
        t.finish(&mut out);
        decode_all(&out)
            .into_iter()
            .map(|ev| serde_json::from_str(&ev.data).unwrap_or(Value::String(ev.data)))
            .collect()
    }

    fn chunk(id: &str, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "command-x",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        })
    }

    #[test]
    fn stream_translation_text_with_usage() {
        let id = "chatcmpl-29f14a5a-11de-4cae-9800-25e4747408ea";
        assert_eq!(
            translate_stream("stream.sse", true),
            vec![
                chunk(id, json!({"role": "assistant", "content": ""}), None),
                chunk(id, json!({"content": "Hello"}), None),
                chunk(id, json!({"content": "! How can I"}), None),
                chunk(id, json!({"content": " help you today?"}), None),
                chunk(id, json!({}), Some("stop")),
                json!({
                    "id": id,
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": "command-x",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 5,
                        "completion_tokens": 9,
                        "total_tokens": 14,
                        "prompt_tokens_details": {"cached_tokens": 0},
                        "completion_tokens_details": {"reasoning_tokens": 0}
                    }
                }),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn stream_translation_without_usage() {
        let got = translate_stream("stream.sse", false);
        assert_eq!(got.len(), 6);
        assert_eq!(got.last(), Some(&json!("[DONE]")));
        assert!(got.iter().all(|v| v.get("usage").is_none()));
    }

    #[test]
    fn stream_translation_tool_calls() {
        let id = "chatcmpl-fba98ad3-e5a1-413c-a8de-84fbf9baabf7";
        let args = |index: usize, a: &str| {
            chunk(
                id,
                json!({"tool_calls": [{"index": index, "function": {"arguments": a}}]}),
                None,
            )
        };
        assert_eq!(
            translate_stream("stream_tools.sse", false),
            vec![
                chunk(id, json!({"role": "assistant", "content": ""}), None),
                chunk(
                    id,
                    json!({"tool_calls": [{"index": 0, "id": "get_weather_nsz5zm3w56q3", "type": "function",
                    "function": {"name": "get_weather", "arguments": ""}}]}),
                    None
                ),
                args(0, "{\""),
                args(0, "location\": \""),
                args(0, "Madrid\"}"),
                chunk(
                    id,
                    json!({"tool_calls": [{"index": 1, "id": "get_weather_8dyb9kfqvn7a", "type": "function",
                    "function": {"name": "get_weather", "arguments": ""}}]}),
                    None
                ),
                args(1, "{\"location\": \"Brasilia\"}"),
                chunk(id, json!({}), Some("tool_calls")),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn stream_translation_error_at_message_end() {
        let mut t = CohereToOpenAi::new("command-x", true, 1);
        let mut out = Vec::new();
        for data in [
            r#"{"id":"a","type":"message-start","delta":{"message":{"role":"assistant"}}}"#,
            r#"{"type":"message-end","delta":{"finish_reason":"ERROR","error":"internal failure"}}"#,
        ] {
            let ev = SseEvent {
                data: data.into(),
                ..SseEvent::default()
            };
            t.event(&ev, &mut out);
        }
        t.finish(&mut out);
        let got: Vec<Value> = decode_all(&out)
            .into_iter()
            .map(|ev| serde_json::from_str(&ev.data).unwrap_or(Value::String(ev.data)))
            .collect();
        assert_eq!(
            got,
            vec![
                chunk_with("chatcmpl-a", 1),
                json!({"error": {"message": "internal failure", "type": "upstream_error", "param": null, "code": null}}),
                json!("[DONE]"),
            ]
        );
    }

    fn chunk_with(id: &str, created: u64) -> Value {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": "command-x",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]
        })
    }
}
