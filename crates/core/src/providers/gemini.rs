//! Gemini (`generateContent`, `streamGenerateContent` as SSE or as a JSON array, embeddings):
//! request inspection, usage, and the OpenAI chat-completions translation both ways.
//!
//! Tool call ids: Gemini has none, so translated calls get `call_<responseId>_<n>`. Gemini 3
//! requires the `thoughtSignature` of a function call back in the next request (400 without
//! it), and an OpenAI client only keeps the id: the signature rides in the id after
//! [`SIGNATURE_MARK`] and is restored on the way back. Without one, Gemini 3 models get the
//! documented `skip_thought_signature_validator` placeholder.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::chat_options::{self, invalid};
use super::openai::{usage_json, ChunkWriter};
use super::{push_capped, Operation, RequestInfo, ResponseInfo, TranslateError, Translated};
use crate::sse::SseEvent;
use crate::usage::Usage;

/// Separates a generated tool call id from the thought signature it carries.
pub const SIGNATURE_MARK: &str = "~sig~";

/// Gemini's documented placeholder for a function call whose signature was lost.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

// ---------------------------------------------------------------- wire types

/// `usageMetadata`. `promptTokenCount` already includes the cached tokens; thoughts and
/// tool-use prompts are counted beside it (`totalTokenCount` is the sum of all four).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeminiUsage {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
    tool_use_prompt_token_count: Option<u64>,
}

impl GeminiUsage {
    pub fn into_usage(self) -> Usage {
        let thoughts = self.thoughts_token_count.unwrap_or(0);
        Usage {
            // Tool-use prompts (search results, code output fed back) are billed as input.
            input: self
                .prompt_token_count
                .unwrap_or(0)
                .saturating_add(self.tool_use_prompt_token_count.unwrap_or(0)),
            output: self
                .candidates_token_count
                .unwrap_or(0)
                .saturating_add(thoughts),
            cache_read: self.cached_content_token_count.unwrap_or(0),
            cache_write: 0,
            reasoning: thoughts,
        }
    }
}

/// A whole `GenerateContentResponse`, one stream chunk, or an error body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiResponse {
    candidates: Option<Vec<GeminiCandidate>>,
    usage_metadata: Option<GeminiUsage>,
    model_version: Option<String>,
    response_id: Option<String>,
    prompt_feedback: Option<GeminiPromptFeedback>,
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiCandidate {
    content: Option<GeminiContent>,
    finish_reason: Option<String>,
    index: Option<u64>,
}

impl GeminiCandidate {
    /// Only the first candidate is recorded and translated (`n > 1` is not translated).
    fn is_first(&self) -> bool {
        self.index.unwrap_or(0) == 0
    }

    fn parts(&self) -> &[GeminiPart] {
        self.content
            .as_ref()
            .and_then(|c| c.parts.as_deref())
            .unwrap_or(&[])
    }
}

#[derive(Debug, Default, Deserialize)]
struct GeminiContent {
    parts: Option<Vec<GeminiPart>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiPart {
    text: Option<String>,
    thought: Option<bool>,
    function_call: Option<GeminiFunctionCall>,
    thought_signature: Option<String>,
}

impl GeminiPart {
    /// Answer text (thought summaries excluded).
    fn answer_text(&self) -> Option<&str> {
        if self.thought == Some(true) {
            return None;
        }
        self.text.as_deref().filter(|t| !t.is_empty())
    }
}

#[derive(Debug, Default, Deserialize)]
struct GeminiFunctionCall {
    name: Option<String>,
    args: Option<Value>,
}

impl GeminiFunctionCall {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    fn arguments(&self) -> String {
        match &self.args {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(v) => v.to_string(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiPromptFeedback {
    block_reason: Option<String>,
}

/// Calls each JSON value of a body: one object, a streamed JSON array (`[{..}\r\n,\r\n{..}]`,
/// possibly cut short by a cancelled call), or NDJSON. Stops at the first malformed value.
fn for_each_value(body: &[u8], mut f: impl FnMut(GeminiResponse)) {
    let mut rest = body;
    loop {
        let Some(start) = rest
            .iter()
            .position(|b| !(b.is_ascii_whitespace() || matches!(b, b'[' | b']' | b',')))
        else {
            return;
        };
        rest = &rest[start..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<GeminiResponse>();
        match values.next() {
            Some(Ok(resp)) => {
                let end = values.byte_offset();
                f(resp);
                rest = &rest[end..];
            }
            _ => return,
        }
    }
}

/// `{"error":{"code":400,"message":"..","status":"INVALID_ARGUMENT"}}` (or a bare string).
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

/// The same error in OpenAI's shape, which OpenAI SDKs raise.
fn openai_error(err: &Value) -> Value {
    let status = err.get("status").and_then(Value::as_str);
    json!({
        "error": {
            "message": error_message(err),
            "type": status.map(str::to_ascii_lowercase).unwrap_or_else(|| "upstream_error".into()),
            "param": null,
            "code": err.get("code").cloned().unwrap_or(Value::Null),
        }
    })
}

// ---------------------------------------------------------------- requests

/// `/v1beta/models/{model}:{method}` (also `/v1/...`, tuned models and Vertex's
/// `.../publishers/google/models/{model}:{method}`), without the query.
fn model_and_method(path: &str) -> (Option<&str>, Option<&str>) {
    let path = path.split('?').next().unwrap_or(path);
    let last = path.rsplit('/').next().unwrap_or(path);
    match last.split_once(':') {
        Some((model, method)) => ((!model.is_empty()).then_some(model), Some(method)),
        None => (None, None),
    }
}

pub fn inspect_request(path: &str, body: &[u8]) -> RequestInfo {
    let (model, method) = model_and_method(path);
    let operation = match method {
        Some("generateContent" | "streamGenerateContent") => Operation::GenerateContent,
        Some("embedContent" | "batchEmbedContents") => Operation::Embeddings,
        _ => Operation::Other,
    };
    let mut info = RequestInfo {
        operation,
        model: model.map(str::to_owned),
        stream: method == Some("streamGenerateContent"),
        ..RequestInfo::default()
    };
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return info;
    };
    if info.model.is_none() {
        info.model = req
            .get("model")
            .and_then(Value::as_str)
            .map(|m| m.strip_prefix("models/").unwrap_or(m).to_owned());
    }
    let input = req
        .get("contents")
        .or_else(|| req.get("content"))
        .or_else(|| req.get("requests"));
    info.input = input.map(Value::to_string);
    let mut text = String::new();
    for v in [req.get("systemInstruction"), input].into_iter().flatten() {
        collect_text(v, &mut text);
    }
    if !text.is_empty() {
        info.input_text = Some(text);
    }
    info
}

/// Gathers every `text` string of contents, parts and system instructions.
fn collect_text(v: &Value, out: &mut String) {
    const CAP: usize = 256 * 1024;
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("text", Value::String(s)) => {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        push_capped(out, s, CAP);
                    }
                    (_, Value::Array(_) | Value::Object(_)) => collect_text(inner, out),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------- responses

/// Accumulates what a Gemini response says: a whole body, a JSON array stream, or SSE events.
#[derive(Debug)]
pub struct GeminiParser {
    text_cap: usize,
    model: Option<String>,
    usage: Option<Usage>,
    text: String,
    tools: Vec<String>,
    error: Option<String>,
}

impl GeminiParser {
    pub fn new(op: Operation, text_cap: usize) -> Self {
        // Every Gemini operation answers in the same shape; `op` changes nothing here.
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
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        self.body(data.as_bytes());
    }

    pub fn body(&mut self, body: &[u8]) {
        for_each_value(body, |resp| self.absorb(resp));
    }

    fn absorb(&mut self, resp: GeminiResponse) {
        if let Some(m) = resp.model_version {
            self.model = Some(m);
        }
        if let Some(u) = resp.usage_metadata {
            // Stream chunks repeat cumulative counts; a later chunk never means fewer tokens.
            self.usage
                .get_or_insert_with(Usage::default)
                .merge_max(&u.into_usage());
        }
        if let Some(err) = resp.error.filter(|e| !e.is_null()) {
            self.error = Some(error_message(&err));
        }
        for cand in resp.candidates.unwrap_or_default() {
            if !cand.is_first() {
                continue;
            }
            for part in cand.parts() {
                if let Some(t) = part.answer_text() {
                    push_capped(&mut self.text, t, self.text_cap);
                }
                if let Some(call) = &part.function_call {
                    self.tools
                        .push(format!("{}({})", call.name(), call.arguments()));
                }
            }
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

// ---------------------------------------------------------------- OpenAI -> Gemini

fn unsupported(what: impl std::fmt::Display) -> TranslateError {
    TranslateError::Unsupported(format!("{what} cannot be translated to Gemini"))
}

/// Request fields that change nothing Gemini could honour or refuse (bookkeeping only).
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
    let model_name = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`model` is required"))?;
    let model = model_name.strip_prefix("models/").unwrap_or(model_name);
    if model.is_empty()
        || !model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(invalid(format!(
            "`model` {model_name:?} is not a Gemini model name"
        )));
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    let gemini3 = model.contains("gemini-3");

    let mut out = Map::new();
    let mut config = Map::new();
    let mut stream = false;
    let mut include_usage = false;
    let (contents, system) = translate_messages(messages, gemini3)?;
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }

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
                    config.insert("maxOutputTokens".into(), n.into());
                }
            }
            "temperature" => number(&mut config, "temperature", key, v)?,
            "top_p" => number(&mut config, "topP", key, v)?,
            "presence_penalty" => number(&mut config, "presencePenalty", key, v)?,
            "frequency_penalty" => number(&mut config, "frequencyPenalty", key, v)?,
            "seed" => {
                let s = v
                    .as_i64()
                    .ok_or_else(|| invalid("`seed` must be an integer"))?;
                config.insert("seed".into(), s.into());
            }
            "stop" => {
                if let Some(stops) = chat_options::stop_sequences(v)? {
                    config.insert("stopSequences".into(), stops);
                }
            }
            "n" => {
                if v.as_u64() != Some(1) {
                    return Err(unsupported("`n` other than 1"));
                }
            }
            "response_format" => response_format(&mut config, v)?,
            "tools" => {
                let decls = function_declarations(v)?;
                if !decls.is_empty() {
                    out.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
                }
            }
            "tool_choice" => {
                out.insert("toolConfig".into(), tool_config(v)?);
            }
            "parallel_tool_calls" => {
                if v.as_bool() == Some(false) {
                    return Err(unsupported("`parallel_tool_calls: false`"));
                }
            }
            "reasoning_effort" => {
                let effort = v
                    .as_str()
                    .ok_or_else(|| invalid("`reasoning_effort` must be a string"))?;
                config.insert("thinkingConfig".into(), thinking_config(effort, gemini3)?);
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
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    let body = serde_json::to_vec(&Value::Object(out))
        .map_err(|e| invalid(format!("cannot encode the Gemini request: {e}")))?;
    let path = if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    };
    Ok(Translated {
        body,
        path,
        model: model_name.to_owned(),
        stream,
        include_usage: stream && include_usage,
    })
}

fn number(
    config: &mut Map<String, Value>,
    to: &str,
    key: &str,
    v: &Value,
) -> Result<(), TranslateError> {
    if !v.is_number() {
        return Err(invalid(format!("`{key}` must be a number")));
    }
    config.insert(to.into(), v.clone());
    Ok(())
}

fn response_format(config: &mut Map<String, Value>, v: &Value) -> Result<(), TranslateError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some("json_object") => {
            config.insert("responseMimeType".into(), "application/json".into());
        }
        Some("json_schema") => {
            let schema = v
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .ok_or_else(|| invalid("`response_format.json_schema.schema` is required"))?;
            config.insert("responseMimeType".into(), "application/json".into());
            // `responseJsonSchema` takes JSON Schema as is (`responseSchema` is OpenAPI's subset).
            config.insert("responseJsonSchema".into(), schema.clone());
        }
        Some(other) => return Err(unsupported(format!("`response_format` type `{other}`"))),
        None => return Err(invalid("`response_format.type` is required")),
    }
    Ok(())
}

/// OpenAI's `reasoning_effort` as Google's own OpenAI-compatible endpoint maps it: thinking
/// levels for Gemini 3, token budgets (1K/8K/24K, 0 for none) for earlier models.
fn thinking_config(effort: &str, gemini3: bool) -> Result<Value, TranslateError> {
    if gemini3 {
        let level = match effort {
            "none" | "minimal" => "minimal",
            "low" | "medium" | "high" => effort,
            _ => return Err(unsupported(format!("`reasoning_effort` {effort:?}"))),
        };
        return Ok(json!({ "thinkingLevel": level }));
    }
    let budget = match effort {
        "none" => 0,
        "minimal" | "low" => 1024,
        "medium" => 8192,
        "high" => 24576,
        _ => return Err(unsupported(format!("`reasoning_effort` {effort:?}"))),
    };
    Ok(json!({ "thinkingBudget": budget }))
}

fn function_declarations(tools: &Value) -> Result<Vec<Value>, TranslateError> {
    let tools = tools
        .as_array()
        .ok_or_else(|| invalid("`tools` must be an array"))?;
    let mut decls = Vec::with_capacity(tools.len());
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
        let mut decl = Map::new();
        decl.insert("name".into(), name.into());
        if let Some(d) = f.get("description").filter(|d| !d.is_null()) {
            decl.insert("description".into(), d.clone());
        }
        if let Some(p) = f.get("parameters").filter(|p| !p.is_null()) {
            // `parametersJsonSchema` accepts JSON Schema as OpenAI clients write it.
            decl.insert("parametersJsonSchema".into(), p.clone());
        }
        decls.push(Value::Object(decl));
    }
    Ok(decls)
}

fn tool_config(choice: &Value) -> Result<Value, TranslateError> {
    let config = |mode: &str, names: Option<Vec<Value>>| match names {
        Some(n) => json!({ "functionCallingConfig": { "mode": mode, "allowedFunctionNames": n } }),
        None => json!({ "functionCallingConfig": { "mode": mode } }),
    };
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(config("AUTO", None)),
            "none" => Ok(config("NONE", None)),
            "required" => Ok(config("ANY", None)),
            other => Err(invalid(format!("unknown `tool_choice` {other:?}"))),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = choice
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`tool_choice.function.name` is required"))?;
                Ok(config("ANY", Some(vec![name.into()])))
            }
            Some("allowed_tools") => {
                let allowed = o
                    .get("allowed_tools")
                    .ok_or_else(|| invalid("`tool_choice.allowed_tools` is required"))?;
                if allowed.get("mode").and_then(Value::as_str) != Some("required") {
                    return Err(unsupported("`tool_choice.allowed_tools` with mode `auto`"));
                }
                let names = allowed
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(|tools| {
                        tools
                            .iter()
                            .filter_map(|t| t.pointer("/function/name").cloned())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                Ok(config("ANY", Some(names)))
            }
            Some(other) => Err(unsupported(format!("`tool_choice` of type `{other}`"))),
            None => Err(invalid("`tool_choice.type` is required")),
        },
        _ => Err(invalid("`tool_choice` must be a string or an object")),
    }
}

/// OpenAI messages into Gemini `contents` (role `user` / `model`) and system parts.
fn translate_messages(
    messages: &[Value],
    gemini3: bool,
) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system: Vec<Value> = Vec::new();
    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // Tool results name the function only by call id: remember the names as calls go by.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for msg in messages {
        let role = msg
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("every message needs a `role`"))?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => system.extend(text_parts(content, role)?),
            "user" => push_turn(&mut contents, "user", user_parts(content)?),
            "assistant" => {
                if msg.get("audio").is_some_and(|a| !a.is_null()) {
                    return Err(unsupported("assistant `audio`"));
                }
                let mut parts = text_parts(content, role)?;
                for call in msg
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let (part, id, name) = function_call_part(call)?;
                    call_names.insert(id, name);
                    parts.push(part);
                }
                push_turn(&mut contents, "model", parts);
            }
            "tool" => {
                let id = msg
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("a `tool` message needs `tool_call_id`"))?;
                let name = call_names.get(id).ok_or_else(|| {
                    invalid(format!(
                        "`tool_call_id` {id:?} matches no earlier assistant tool call"
                    ))
                })?;
                let text = joined_text(content, role)?;
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(o)) => Value::Object(o),
                    Ok(other) => json!({ "result": other }),
                    Err(_) => json!({ "result": text }),
                };
                let part = json!({ "functionResponse": { "name": name, "response": response } });
                push_turn(&mut contents, "user", vec![part]);
            }
            "function" => return Err(unsupported("the deprecated `function` role")),
            other => return Err(invalid(format!("unknown message role {other:?}"))),
        }
    }
    if contents.is_empty() {
        return Err(unsupported(
            "a conversation without user or assistant messages",
        ));
    }
    if gemini3 {
        for (role, parts) in &mut contents {
            if *role == "model" {
                ensure_signature(parts);
            }
        }
    }
    let contents = contents
        .into_iter()
        .map(|(role, parts)| json!({ "role": role, "parts": parts }))
        .collect();
    Ok((contents, system))
}

/// Consecutive messages of one role become one turn: all the tool results answering one
/// model turn must come back together.
fn push_turn(
    contents: &mut Vec<(&'static str, Vec<Value>)>,
    role: &'static str,
    parts: Vec<Value>,
) {
    if parts.is_empty() {
        return;
    }
    match contents.last_mut() {
        Some((last, p)) if *last == role => p.extend(parts),
        _ => contents.push((role, parts)),
    }
}

/// Gemini 3 rejects a model turn whose first function call has no thought signature.
fn ensure_signature(parts: &mut [Value]) {
    let mut calls = parts.iter_mut().filter(|p| p.get("functionCall").is_some());
    let Some(first) = calls.next() else { return };
    let signed = first.get("thoughtSignature").is_some();
    if !signed {
        if let Value::Object(o) = first {
            o.insert("thoughtSignature".into(), SKIP_SIGNATURE.into());
        }
    }
}

fn function_call_part(call: &Value) -> Result<(Value, &str, &str), TranslateError> {
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
    let args = match call.pointer("/function/arguments") {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(s)) if s.trim().is_empty() => json!({}),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(invalid(format!(
                    "the arguments of tool call {id:?} are not a JSON object"
                )))
            }
        },
        Some(_) => {
            return Err(invalid(
                "`tool_calls[].function.arguments` must be a string",
            ))
        }
    };
    let mut part = Map::new();
    part.insert("functionCall".into(), json!({ "name": name, "args": args }));
    if let Some((_, sig)) = id
        .rsplit_once(SIGNATURE_MARK)
        .filter(|(_, s)| !s.is_empty())
    {
        part.insert("thoughtSignature".into(), sig.into());
    }
    Ok((Value::Object(part), id, name))
}

fn text_part(s: &str) -> Option<Value> {
    (!s.is_empty()).then(|| json!({ "text": s }))
}

/// System, developer and assistant content: a string, or `text` (and `refusal`) parts.
fn text_parts(content: &Value, role: &str) -> Result<Vec<Value>, TranslateError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(text_part(s).into_iter().collect()),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let t = item.get("text").and_then(Value::as_str).unwrap_or_default();
                        parts.extend(text_part(t));
                    }
                    Some("refusal") => {
                        let t = item
                            .get("refusal")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        parts.extend(text_part(t));
                    }
                    Some(other) => {
                        return Err(unsupported(format!(
                            "`{other}` content in a {role} message"
                        )))
                    }
                    None => return Err(invalid("a content part needs a `type`")),
                }
            }
            Ok(parts)
        }
        _ => Err(invalid("message `content` must be a string or an array")),
    }
}

fn joined_text(content: &Value, role: &str) -> Result<String, TranslateError> {
    let parts = text_parts(content, role)?;
    Ok(parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(""))
}

/// User content: text, images (data URLs inline; `http(s)`/`gs` URLs and Files API URIs as
/// `fileData`), audio, and files given as data URLs.
fn user_parts(content: &Value) -> Result<Vec<Value>, TranslateError> {
    let items = match content {
        Value::Array(items) => items,
        other => return text_parts(other, "user"),
    };
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        match item.get("type").and_then(Value::as_str) {
            Some("text") => {
                let t = item.get("text").and_then(Value::as_str).unwrap_or_default();
                parts.extend(text_part(t));
            }
            Some("image_url") => {
                let url = item
                    .get("image_url")
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`image_url.url` is required"))?;
                parts.push(url_part(url)?);
            }
            Some("input_audio") => {
                let audio = item
                    .get("input_audio")
                    .ok_or_else(|| invalid("`input_audio` is required"))?;
                let data = audio
                    .get("data")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("`input_audio.data` is required"))?;
                let mime = match audio.get("format").and_then(Value::as_str) {
                    Some("wav") => "audio/wav",
                    Some("mp3") => "audio/mp3",
                    other => return Err(unsupported(format!("`input_audio.format` {other:?}"))),
                };
                parts.push(json!({ "inlineData": { "mimeType": mime, "data": data } }));
            }
            Some("file") => {
                let data = item
                    .pointer("/file/file_data")
                    .and_then(Value::as_str)
                    .ok_or_else(|| unsupported("a `file` part without `file_data` (file ids)"))?;
                parts.push(url_part(data)?);
            }
            Some(other) => return Err(unsupported(format!("`{other}` content parts"))),
            None => return Err(invalid("a content part needs a `type`")),
        }
    }
    Ok(parts)
}

fn url_part(url: &str) -> Result<Value, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| invalid("a data URL without a comma"))?;
        let mut meta = meta.split(';');
        let mime = meta.next().unwrap_or_default();
        if !meta.any(|p| p == "base64") {
            return Err(unsupported("a data URL that is not base64"));
        }
        return Ok(json!({ "inlineData": { "mimeType": mime, "data": data } }));
    }
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("gs://")) {
        return Err(unsupported(format!("the URL scheme of {url:?}")));
    }
    Ok(match mime_from_extension(url) {
        Some(mime) => json!({ "fileData": { "mimeType": mime, "fileUri": url } }),
        None => json!({ "fileData": { "fileUri": url } }),
    })
}

fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

// ---------------------------------------------------------------- Gemini -> OpenAI

/// OpenAI's finish reason for Gemini's (`tool_calls` when the answer calls functions).
fn finish_reason(reason: Option<&str>, called_tools: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION",
        ) => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// The OpenAI id of the `n`th function call of a response, carrying its thought signature.
fn tool_call_id(response_id: Option<&str>, n: usize, signature: Option<&str>) -> String {
    let mut id = match response_id {
        Some(r) => format!("call_{r}_{n}"),
        None => format!("call_{n}"),
    };
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        id.push_str(SIGNATURE_MARK);
        id.push_str(sig);
    }
    id
}

fn tool_call_json(id: String, call: &GeminiFunctionCall) -> Value {
    json!({
        "id": id,
        "type": "function",
        "function": { "name": call.name(), "arguments": call.arguments() },
    })
}

fn completion_id(response_id: Option<&str>) -> String {
    format!("chatcmpl-{}", response_id.unwrap_or("gemini"))
}

/// A whole `generateContent` answer (or error body) as an OpenAI `chat.completion` (or error).
pub fn translate_response(
    native: &[u8],
    model: &str,
    created: u64,
) -> Result<Vec<u8>, TranslateError> {
    let mut resp: Option<GeminiResponse> = None;
    for_each_value(native, |r| {
        resp.get_or_insert(r);
    });
    let resp = resp.ok_or_else(|| invalid("the Gemini answer is not JSON"))?;
    if let Some(err) = resp.error.as_ref().filter(|e| !e.is_null()) {
        return encode(&openai_error(err));
    }
    let rid = resp.response_id.as_deref();
    let first = resp
        .candidates
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.is_first());
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in first.map(GeminiCandidate::parts).unwrap_or_default() {
        if let Some(t) = part.answer_text() {
            text.push_str(t);
        }
        if let Some(call) = &part.function_call {
            let id = tool_call_id(rid, calls.len(), part.thought_signature.as_deref());
            calls.push(tool_call_json(id, call));
        }
    }
    let reason = match first {
        Some(c) => finish_reason(c.finish_reason.as_deref(), !calls.is_empty()),
        // No candidate at all: the prompt itself was blocked.
        None if resp
            .prompt_feedback
            .is_some_and(|f| f.block_reason.is_some()) =>
        {
            "content_filter"
        }
        None => "stop",
    };
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let mut out = json!({
        "id": completion_id(rid),
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
    if let Some(u) = resp.usage_metadata {
        out["usage"] = usage_json(&u.into_usage());
    }
    encode(&out)
}

fn encode(v: &Value) -> Result<Vec<u8>, TranslateError> {
    serde_json::to_vec(v).map_err(|e| invalid(format!("cannot encode the answer: {e}")))
}

/// Gemini SSE chunks in, OpenAI `chat.completion.chunk`s out. Gemini sends whole function
/// calls, so each becomes one complete `tool_calls` delta.
#[derive(Debug)]
pub struct GeminiToOpenAi {
    writer: ChunkWriter,
    include_usage: bool,
    named: bool,
    started: bool,
    response_id: Option<String>,
    calls: usize,
    gemini_finish: Option<String>,
    blocked: bool,
    usage: Option<Usage>,
    failed: bool,
    done: bool,
}

impl GeminiToOpenAi {
    pub fn new(model: &str, include_usage: bool, created: u64) -> Self {
        Self {
            writer: ChunkWriter::new(completion_id(None), model, created),
            include_usage,
            named: false,
            started: false,
            response_id: None,
            calls: 0,
            gemini_finish: None,
            blocked: false,
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

    fn flush_text(&mut self, text: &mut String, out: &mut Vec<u8>) {
        if !text.is_empty() {
            self.start(out);
            let t = std::mem::take(text);
            self.writer.chunk(json!({ "content": t }), None, out);
        }
    }

    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        let data = ev.data.trim();
        if self.done || self.failed || data.is_empty() || data == "[DONE]" {
            return;
        }
        let mut chunks = Vec::new();
        for_each_value(data.as_bytes(), |r| chunks.push(r));
        for resp in chunks {
            self.chunk(resp, out);
        }
    }

    fn chunk(&mut self, resp: GeminiResponse, out: &mut Vec<u8>) {
        if let Some(err) = resp.error.as_ref().filter(|e| !e.is_null()) {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(openai_error(err).to_string().as_bytes());
            out.extend_from_slice(b"\n\n");
            self.failed = true;
            return;
        }
        if !self.named {
            if let Some(rid) = resp.response_id {
                self.writer.id = completion_id(Some(&rid));
                self.response_id = Some(rid);
                self.named = true;
            }
        }
        if let Some(u) = resp.usage_metadata {
            self.usage
                .get_or_insert_with(Usage::default)
                .merge_max(&u.into_usage());
        }
        if resp
            .prompt_feedback
            .is_some_and(|f| f.block_reason.is_some())
        {
            self.blocked = true;
        }
        let mut text = String::new();
        for cand in resp.candidates.unwrap_or_default() {
            if !cand.is_first() {
                continue;
            }
            for part in cand.parts() {
                if let Some(t) = part.answer_text() {
                    text.push_str(t);
                }
                if let Some(call) = &part.function_call {
                    self.flush_text(&mut text, out);
                    self.start(out);
                    let id = tool_call_id(
                        self.response_id.as_deref(),
                        self.calls,
                        part.thought_signature.as_deref(),
                    );
                    let mut tc = tool_call_json(id, call);
                    tc["index"] = self.calls.into();
                    self.writer.chunk(json!({ "tool_calls": [tc] }), None, out);
                    self.calls += 1;
                }
            }
            self.flush_text(&mut text, out);
            if let Some(r) = cand.finish_reason {
                self.gemini_finish = Some(r);
            }
        }
    }

    /// End of the Gemini stream: the finish chunk, the usage chunk if asked, `[DONE]`. Once.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        if !self.failed {
            let reason = if self.gemini_finish.is_some() {
                Some(finish_reason(self.gemini_finish.as_deref(), self.calls > 0))
            } else if self.blocked {
                Some("content_filter")
            } else {
                // The stream broke off before Gemini said why it stopped: no finish chunk.
                None
            };
            if let Some(reason) = reason {
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
            "{}/tests/fixtures/gemini/{name}",
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

    /// Parses a fixture as the proxy would (SSE events or a whole body).
    fn parse(name: &str) -> ResponseInfo {
        let bytes = fixture(name);
        let mut p = GeminiParser::new(Operation::GenerateContent, 1 << 20);
        if name.ends_with(".sse") {
            decode_all(&bytes).iter().for_each(|ev| p.event(ev));
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

    #[test]
    fn generate_counts_cache_and_thoughts_once() {
        check(
            "generate.json",
            "gemini-2.5-flash",
            usage(2113, 399, 2048, 388),
            "There are three r's in \"strawberry\".",
        );
        // Normalised total equals Gemini's own totalTokenCount.
        assert_eq!(usage(2113, 399, 2048, 388).total(), 2512);
    }

    #[test]
    fn generate_with_function_calls() {
        check(
            "generate_tools.json",
            "gemini-3-flash-preview",
            usage(74, 78, 0, 56),
            "Let me check both cities.\nget_weather({\"location\":\"Paris\"})\nget_weather({\"location\":\"London\"})",
        );
    }

    #[test]
    fn sse_stream_takes_the_last_cumulative_usage() {
        check(
            "stream.sse",
            "gemini-2.5-flash",
            usage(9, 37, 0, 28),
            "Hello! How can I help you today?",
        );
    }

    #[test]
    fn sse_stream_with_function_calls() {
        check(
            "stream_tools.sse",
            "gemini-2.0-flash",
            usage(74, 31, 0, 0),
            "Checking the weather.\nget_weather({\"location\":\"Paris\"})\nget_time({\"timezone\":\"Europe/Paris\"})",
        );
    }

    #[test]
    fn json_array_stream() {
        check(
            "stream_array.json",
            "gemini-2.0-flash",
            usage(6, 10, 0, 0),
            "The sky is blue because of Rayleigh scattering.",
        );
    }

    #[test]
    fn json_array_stream_cut_short_keeps_what_arrived() {
        let bytes = fixture("stream_array.json");
        let cut = bytes.len() * 2 / 3;
        let mut p = GeminiParser::new(Operation::GenerateContent, 1 << 20);
        p.body(&bytes[..cut]);
        let got = p.finish();
        assert_eq!(got.output.as_deref(), Some("The sky is blue"));
        assert_eq!(got.usage, Some(usage(6, 0, 0, 0)));
    }

    #[test]
    fn error_body() {
        let got = parse("error.json");
        assert_eq!(
            got.error.as_deref(),
            Some("API key not valid. Please pass a valid API key.")
        );
        assert_eq!(got.usage, None);
        assert_eq!(got.output, None);
    }

    #[test]
    fn text_cap_is_respected() {
        let mut p = GeminiParser::new(Operation::GenerateContent, 5);
        p.body(&fixture("stream_array.json"));
        assert_eq!(p.finish().output.as_deref(), Some("The s"));
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
                let mut p = GeminiParser::new(Operation::GenerateContent, 1 << 20);
                evs.iter().for_each(|e| p.event(e));
                assert_eq!(p.finish(), whole, "{name} split at {split}");
            }
        }
    }

    // ------------------------------------------------------------ request inspection

    #[test]
    fn inspect_generate_content() {
        let body = br#"{"systemInstruction":{"parts":[{"text":"Be brief"}]},"contents":[{"role":"user","parts":[{"text":"Hi"},{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}]}"#;
        let info = inspect_request("/v1beta/models/gemini-2.0-flash:generateContent", body);
        assert_eq!(info.operation, Operation::GenerateContent);
        assert_eq!(info.model.as_deref(), Some("gemini-2.0-flash"));
        assert!(!info.stream);
        assert_eq!(info.input_text.as_deref(), Some("Be brief\nHi"));
        assert!(info
            .input
            .as_deref()
            .is_some_and(|i| i.starts_with(r#"[{"parts""#)));
    }

    #[test]
    fn inspect_paths() {
        let cases = [
            (
                "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=k",
                Operation::GenerateContent,
                Some("gemini-2.5-pro"),
                true,
            ),
            (
                "/v1/models/gemini-1.5-flash:generateContent",
                Operation::GenerateContent,
                Some("gemini-1.5-flash"),
                false,
            ),
            (
                "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent",
                Operation::GenerateContent,
                Some("gemini-2.0-flash"),
                true,
            ),
            (
                "/v1beta/models/text-embedding-004:embedContent",
                Operation::Embeddings,
                Some("text-embedding-004"),
                false,
            ),
            (
                "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                Operation::Embeddings,
                Some("gemini-embedding-001"),
                false,
            ),
            (
                "/v1beta/models/gemini-2.0-flash:countTokens",
                Operation::Other,
                Some("gemini-2.0-flash"),
                false,
            ),
            ("/v1beta/models", Operation::Other, None, false),
        ];
        for (path, op, model, stream) in cases {
            let info = inspect_request(path, b"{}");
            assert_eq!(
                (info.operation, info.model.as_deref(), info.stream),
                (op, model, stream),
                "{path}"
            );
        }
    }

    #[test]
    fn inspect_embed_content() {
        let body = br#"{"model":"models/text-embedding-004","content":{"parts":[{"text":"What is life?"}]}}"#;
        let info = inspect_request("/v1beta/models/text-embedding-004:embedContent", body);
        assert_eq!(info.input_text.as_deref(), Some("What is life?"));
        assert_eq!(
            info.input.as_deref(),
            Some(r#"{"parts":[{"text":"What is life?"}]}"#)
        );
    }

    // ------------------------------------------------------------ request translation

    fn translate(body: Value) -> Result<(Value, Translated), TranslateError> {
        let t = translate_request(body.to_string().as_bytes())?;
        let native: Value = serde_json::from_slice(&t.body).unwrap();
        Ok((native, t))
    }

    fn translated(body: Value) -> Value {
        translate(body).unwrap().0
    }

    fn unsupported_field(body: Value) -> String {
        match translate(body) {
            Err(TranslateError::Unsupported(m)) => m,
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn translate_system_and_multi_turn() {
        let (native, t) = translate(json!({
            "model": "gemini-2.0-flash",
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
            "user": "u-123"
        }))
        .unwrap();
        assert_eq!(t.path, "/v1beta/models/gemini-2.0-flash:generateContent");
        assert_eq!(t.model, "gemini-2.0-flash");
        assert!(!t.stream && !t.include_usage);
        assert_eq!(
            native,
            json!({
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [{"text": "Bonjour !"}]},
                    {"role": "user", "parts": [{"text": "How are you?"}]}
                ],
                "generationConfig": {
                    "maxOutputTokens": 100,
                    "temperature": 0.2,
                    "topP": 0.9,
                    "stopSequences": ["END"]
                }
            })
        );
    }

    #[test]
    fn translate_stream_path_and_include_usage() {
        let body = json!({
            "model": "models/gemini-2.5-flash",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_completion_tokens": 50,
            "max_tokens": 10,
            "stop": ["a", "b"],
            "seed": 7,
            "n": 1,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
            "response_format": {"type": "json_object"}
        });
        let (native, t) = translate(body).unwrap();
        assert_eq!(
            t.path,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(t.model, "models/gemini-2.5-flash");
        assert!(t.stream && t.include_usage);
        assert_eq!(
            native["generationConfig"],
            json!({
                "maxOutputTokens": 50,
                "stopSequences": ["a", "b"],
                "seed": 7,
                "presencePenalty": 0.5,
                "frequencyPenalty": 0.25,
                "responseMimeType": "application/json"
            })
        );
        let t = translate_request(
            br#"{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"Hi"}],"stream":true}"#,
        )
        .unwrap();
        assert!(t.stream && !t.include_usage);
    }

    #[test]
    fn translate_tools_calls_and_results() {
        let native = translated(json!({
            "model": "gemini-2.0-flash",
            "messages": [
                {"role": "user", "content": "Weather in Paris and London?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"London\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\":21}"},
                {"role": "tool", "tool_call_id": "call_b", "content": "rainy"},
                {"role": "user", "content": "Thanks"}
            ],
            "tools": [
                {"type": "function", "function": {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"], "additionalProperties": false},
                    "strict": true
                }},
                {"type": "function", "function": {"name": "now"}}
            ],
            "tool_choice": "required"
        }));
        assert_eq!(
            native,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Weather in Paris and London?"}]},
                    {"role": "model", "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}},
                        {"functionCall": {"name": "get_weather", "args": {"location": "London"}}}
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                        {"functionResponse": {"name": "get_weather", "response": {"result": "rainy"}}},
                        {"text": "Thanks"}
                    ]}
                ],
                "tools": [{"functionDeclarations": [
                    {"name": "get_weather", "description": "Current weather", "parametersJsonSchema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"], "additionalProperties": false}},
                    {"name": "now"}
                ]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}
            })
        );
    }

    #[test]
    fn translate_tool_choice_variants() {
        let config = |choice: Value| {
            translated(json!({
                "model": "gemini-2.0-flash",
                "messages": [{"role": "user", "content": "Hi"}],
                "tool_choice": choice
            }))["toolConfig"]
                .clone()
        };
        assert_eq!(
            config(json!("auto")),
            json!({"functionCallingConfig": {"mode": "AUTO"}})
        );
        assert_eq!(
            config(json!("none")),
            json!({"functionCallingConfig": {"mode": "NONE"}})
        );
        assert_eq!(
            config(json!({"type": "function", "function": {"name": "get_weather"}})),
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
        assert_eq!(
            config(
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
                    {"type": "function", "function": {"name": "a"}},
                    {"type": "function", "function": {"name": "b"}}
                ]}})
            ),
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}})
        );
    }

    #[test]
    fn translate_tool_result_with_unknown_id_is_invalid() {
        let r = translate(json!({
            "model": "gemini-2.0-flash",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "tool", "tool_call_id": "call_x", "content": "1"}
            ]
        }));
        assert!(matches!(r, Err(TranslateError::Invalid(m)) if m.contains("call_x")));
    }

    #[test]
    fn translate_thought_signatures_round_trip() {
        // The id this translator gave the call carries the signature back.
        let id = tool_call_id(Some("r1"), 0, Some("c2lnbmF0dXJl"));
        assert_eq!(id, "call_r1_0~sig~c2lnbmF0dXJl");
        let messages = json!([
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [
                {"id": id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
                {"id": "call_r1_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": id, "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_r1_1", "content": "[1,2]"}
        ]);
        let native = translated(json!({"model": "gemini-2.5-flash", "messages": messages}));
        assert_eq!(
            native["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": "c2lnbmF0dXJl"},
                {"functionCall": {"name": "get_weather", "args": {}}}
            ]})
        );
        assert_eq!(
            native["contents"][2]["parts"][1],
            json!({"functionResponse": {"name": "get_weather", "response": {"result": [1, 2]}}})
        );
        // Gemini 3 without a signature (a call made elsewhere): the documented placeholder.
        let native = translated(json!({"model": "gemini-3-pro-preview", "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "sunny"}
        ]}));
        assert_eq!(
            native["contents"][1]["parts"],
            json!([
                {"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": "skip_thought_signature_validator"},
                {"functionCall": {"name": "get_weather", "args": {}}}
            ])
        );
    }

    #[test]
    fn translate_images_audio_and_files() {
        let native = translated(json!({
            "model": "gemini-2.0-flash",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?size=large"}},
                {"type": "image_url", "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}
            ]}]
        }));
        assert_eq!(
            native["contents"],
            json!([{"role": "user", "parts": [
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?size=large"}},
                {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
            ]}])
        );
    }

    #[test]
    fn translate_json_schema_and_reasoning_effort() {
        let native = translated(json!({
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "Hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
            "reasoning_effort": "medium"
        }));
        assert_eq!(
            native["generationConfig"],
            json!({
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "properties": {"a": {"type": "integer"}}},
                "thinkingConfig": {"thinkingBudget": 8192}
            })
        );
        let native = translated(json!({
            "model": "gemini-3-pro-preview",
            "messages": [{"role": "user", "content": "Hi"}],
            "reasoning_effort": "low"
        }));
        assert_eq!(
            native["generationConfig"]["thinkingConfig"],
            json!({"thinkingLevel": "low"})
        );
    }

    #[test]
    fn translate_names_unsupported_fields() {
        let base = |extra: Value| {
            let mut body = json!({"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "Hi"}]});
            if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
                b.extend(e);
            }
            body
        };
        for (extra, named) in [
            (json!({"logprobs": true}), "`logprobs`"),
            (json!({"logit_bias": {"50256": -100}}), "`logit_bias`"),
            (
                json!({"audio": {"voice": "alloy", "format": "wav"}}),
                "`audio`",
            ),
            (json!({"modalities": ["text", "audio"]}), "`modalities`"),
            (json!({"n": 2}), "`n`"),
            (json!({"top_logprobs": 2}), "`top_logprobs`"),
            (
                json!({"prediction": {"type": "content", "content": "x"}}),
                "`prediction`",
            ),
            (
                json!({"parallel_tool_calls": false}),
                "`parallel_tool_calls: false`",
            ),
            (
                json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]}),
                "`custom`",
            ),
            (json!({"function_call": "auto"}), "`function_call`"),
        ] {
            let msg = unsupported_field(base(extra.clone()));
            assert!(msg.contains(named), "{extra}: {msg}");
            assert!(msg.contains("Gemini"), "{extra}: {msg}");
        }
        // Explicit nulls and harmless defaults are accepted.
        assert!(translate(base(json!({"logprobs": false, "logit_bias": null, "parallel_tool_calls": true, "metadata": {"a": "b"}}))).is_ok());
        let msg = unsupported_field(json!({"model": "gemini-2.0-flash", "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}
        ]}));
        assert!(msg.contains("file ids"), "{msg}");
        let msg = unsupported_field(json!({"model": "gemini-2.0-flash", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}
        ]}));
        assert!(msg.contains("URL scheme"), "{msg}");
    }

    #[test]
    fn translate_rejects_invalid_bodies() {
        for body in [
            &b"not json"[..],
            br#"{"messages":[]}"#,
            br#"{"model":"gemini-2.0-flash"}"#,
            br#"{"model":"../x","messages":[{"role":"user","content":"Hi"}]}"#,
            br#"{"model":"gemini-2.0-flash","messages":[{"content":"Hi"}]}"#,
            br#"{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"Hi"}],"max_tokens":"ten"}"#,
        ] {
            assert!(
                matches!(translate_request(body), Err(TranslateError::Invalid(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    // ------------------------------------------------------------ response translation

    fn translated_response(name: &str) -> Value {
        let out = translate_response(&fixture(name), "gemini-x", 1_700_000_000).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn translate_response_text() {
        assert_eq!(
            translated_response("generate.json"),
            json!({
                "id": "chatcmpl-mT9SaJ6XFoWd1dkP4NKJmQQ",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "gemini-x",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "There are three r's in \"strawberry\".", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {
                    "prompt_tokens": 2113,
                    "completion_tokens": 399,
                    "total_tokens": 2512,
                    "prompt_tokens_details": {"cached_tokens": 2048},
                    "completion_tokens_details": {"reasoning_tokens": 388}
                }
            })
        );
    }

    #[test]
    fn translate_response_tool_calls() {
        let got = translated_response("generate_tools.json");
        assert_eq!(
            got["choices"][0],
            json!({
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me check both cities.",
                    "refusal": null,
                    "tool_calls": [
                        {"id": "call_Yk0daNHsLbK9nvgP0ZK9-Qs_0~sig~CiQBVKhc7q5kF1x2Qm9uZS1zaWc=", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}},
                        {"id": "call_Yk0daNHsLbK9nvgP0ZK9-Qs_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"location\":\"London\"}"}}
                    ]
                },
                "logprobs": null,
                "finish_reason": "tool_calls"
            })
        );
        assert_eq!(got["usage"]["completion_tokens"], json!(78));
    }

    #[test]
    fn translate_response_finish_reasons() {
        for (gemini, openai) in [
            ("STOP", "stop"),
            ("MAX_TOKENS", "length"),
            ("SAFETY", "content_filter"),
            ("RECITATION", "content_filter"),
            ("PROHIBITED_CONTENT", "content_filter"),
            ("OTHER", "stop"),
        ] {
            let native = json!({"candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": gemini, "index": 0}]});
            let out = translate_response(native.to_string().as_bytes(), "m", 1).unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["choices"][0]["finish_reason"], json!(openai), "{gemini}");
            assert_eq!(v["id"], json!("chatcmpl-gemini"));
            assert_eq!(v.get("usage"), None);
        }
        let blocked = br#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}"#;
        let v: Value =
            serde_json::from_slice(&translate_response(blocked, "m", 1).unwrap()).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], json!("content_filter"));
        assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
    }

    #[test]
    fn translate_response_error_body_into_openai_error() {
        assert_eq!(
            translated_response("error.json"),
            json!({"error": {
                "message": "API key not valid. Please pass a valid API key.",
                "type": "invalid_argument",
                "param": null,
                "code": 400
            }})
        );
        assert!(matches!(
            translate_response(b"<html>", "m", 1),
            Err(TranslateError::Invalid(_))
        ));
    }

    // ------------------------------------------------------------ stream translation

    /// Feeds a fixture through the translator (finish twice: it must be idempotent) and
    /// returns the `data:` payloads, `[DONE]` as a JSON string.
    fn translate_stream(name: &str, include_usage: bool) -> Vec<Value> {
        let mut t = GeminiToOpenAi::new("gemini-x", include_usage, 1_700_000_000);
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
            "model": "gemini-x",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        })
    }

    #[test]
    fn stream_translation_text_with_usage() {
        let id = "chatcmpl-8J5SaKqVOaCV1dkPq7TsoAk";
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
                    "model": "gemini-x",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 9,
                        "completion_tokens": 37,
                        "total_tokens": 46,
                        "prompt_tokens_details": {"cached_tokens": 0},
                        "completion_tokens_details": {"reasoning_tokens": 28}
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
        assert_eq!(got[4]["choices"][0]["finish_reason"], json!("stop"));
        assert_eq!(got.last(), Some(&json!("[DONE]")));
        assert!(got.iter().all(|v| v.get("usage").is_none()));
    }

    #[test]
    fn stream_translation_tool_calls() {
        let id = "chatcmpl-c2ZiaPvWB9-Dz7IP6YzmiA4";
        assert_eq!(
            translate_stream("stream_tools.sse", false),
            vec![
                chunk(id, json!({"role": "assistant", "content": ""}), None),
                chunk(id, json!({"content": "Checking the weather."}), None),
                chunk(
                    id,
                    json!({"tool_calls": [{"index": 0, "id": "call_c2ZiaPvWB9-Dz7IP6YzmiA4_0", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]}),
                    None
                ),
                chunk(
                    id,
                    json!({"tool_calls": [{"index": 1, "id": "call_c2ZiaPvWB9-Dz7IP6YzmiA4_1", "type": "function",
                    "function": {"name": "get_time", "arguments": "{\"timezone\":\"Europe/Paris\"}"}}]}),
                    None
                ),
                chunk(id, json!({}), Some("tool_calls")),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn stream_translation_error_event() {
        let mut t = GeminiToOpenAi::new("gemini-x", true, 1);
        let mut out = Vec::new();
        let ev = SseEvent {
            data: r#"{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}"#.into(),
            ..SseEvent::default()
        };
        t.event(&ev, &mut out);
        t.finish(&mut out);
        let got: Vec<Value> = decode_all(&out)
            .into_iter()
            .map(|ev| serde_json::from_str(&ev.data).unwrap_or(Value::String(ev.data)))
            .collect();
        assert_eq!(
            got,
            vec![
                json!({"error": {"message": "Resource exhausted", "type": "resource_exhausted", "param": null, "code": 429}}),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn stream_translation_of_an_empty_stream_is_just_done() {
        let mut t = GeminiToOpenAi::new("gemini-x", true, 1);
        let mut out = Vec::new();
        t.finish(&mut out);
        assert_eq!(out, b"data: [DONE]\n\n");
    }
}
