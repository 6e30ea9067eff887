//! Messages from every convention in one chat format: a span's `input` (a JSON array of
//! `{role, content, tool_calls?, tool_call_id?}`, tool calls in OpenAI's shape), its
//! `input_text` (plain text for search) and its `output` (the answer's text, tool calls as
//! `name(arguments)` lines, as the proxy writes them).
//!
//! Sources are tried in order and the first that yields messages wins: OTel's current
//! `gen_ai.input.messages`/`gen_ai.output.messages` (and `gen_ai.system_instructions`),
//! the deprecated span events, OpenLLMetry's `gen_ai.prompt.{i}.*`, OpenInference's
//! `llm.input_messages.{i}.*`, the Vercel AI SDK's `ai.prompt*`/`ai.response.*`, then the raw
//! `input.value`/`traceloop.entity.input` values.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::trace::v1::span::Event;
use serde_json::{json, Map, Value};

use super::conventions as conv;
use super::values::{any_to_text, json_text, parse_json_text, push_line_capped, Attrs, TEXT_CAP};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    pub id: Option<String>,
    pub name: String,
    /// As sent (usually JSON text).
    pub arguments: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
}

impl Message {
    fn new(role: &str) -> Self {
        Self {
            role: role.to_owned(),
            ..Self::default()
        }
    }

    fn text(role: &str, text: &str) -> Self {
        Self {
            role: role.to_owned(),
            content: text.to_owned(),
            ..Self::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.content.is_empty() && self.tool_calls.is_empty() && self.tool_call_id.is_none()
    }

    /// OpenAI's chat shape (content `null` when a message only calls tools).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("role".into(), Value::String(self.role.clone()));
        let content = if self.content.is_empty() && !self.tool_calls.is_empty() {
            Value::Null
        } else {
            Value::String(self.content.clone())
        };
        m.insert("content".into(), content);
        if !self.tool_calls.is_empty() {
            let calls = self
                .tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    })
                })
                .collect();
            m.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some(id) = &self.tool_call_id {
            m.insert("tool_call_id".into(), Value::String(id.clone()));
        }
        Value::Object(m)
    }
}

/// What a span was asked and answered, as stored on the record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exchange {
    pub input: Option<String>,
    pub input_text: Option<String>,
    pub output: Option<String>,
}

/// Reads a span's messages. A tool span's input is its arguments and its output its result.
pub fn extract(a: &Attrs, events: &[Event], tool: bool) -> Exchange {
    if tool {
        let args = a
            .first_text(conv::TOOL_ARGS)
            .or_else(|| a.first_text(conv::INPUT_VALUE));
        let result = a
            .first_text(conv::TOOL_RESULT)
            .or_else(|| a.first_text(conv::OUTPUT_VALUE));
        if args.is_some() || result.is_some() {
            return Exchange {
                input: args.as_deref().map(json_or_string),
                input_text: args.map(|s| capped(&s)),
                output: result,
            };
        }
    }
    let (event_in, event_out) = event_messages(events);
    let mut ex = Exchange::default();

    let input = first_nonempty(vec![
        Box::new(|| otel_input(a)),
        Box::new(move || event_in),
        Box::new(|| indexed(a, conv::PROMPT_PREFIX, "user")),
        Box::new(|| indexed(a, conv::OI_INPUT_PREFIX, "user")),
        Box::new(|| vercel_input(a)),
    ]);
    if input.is_empty() {
        if let Some(raw) = a.first_text(conv::INPUT_VALUE) {
            let msgs = parse_json_text(&raw)
                .map(|v| messages_from_json(&v, "user"))
                .unwrap_or_else(|| vec![Message::text("user", &raw)]);
            if msgs.is_empty() {
                // Structured input that is not messages (a chain's arguments): kept as sent.
                ex.input_text = Some(capped(&raw));
                ex.input = Some(raw);
            } else {
                set_input(&mut ex, &msgs);
            }
        }
    } else {
        set_input(&mut ex, &input);
    }

    let output = first_nonempty(vec![
        Box::new(|| otel_output(a)),
        Box::new(move || event_out),
        Box::new(|| indexed(a, conv::COMPLETION_PREFIX, "assistant")),
        Box::new(|| indexed(a, conv::OI_OUTPUT_PREFIX, "assistant")),
        Box::new(|| vercel_output(a)),
    ]);
    ex.output = output_text(&output)
        .or_else(|| a.first_text(conv::OUTPUT_VALUE))
        .or_else(|| a.text(conv::VERCEL_RESPONSE_OBJECT));
    ex
}

type Source<'a> = Box<dyn FnOnce() -> Vec<Message> + 'a>;

fn first_nonempty(sources: Vec<Source<'_>>) -> Vec<Message> {
    for s in sources {
        let msgs = s();
        if !msgs.is_empty() {
            return msgs;
        }
    }
    Vec::new()
}

fn set_input(ex: &mut Exchange, msgs: &[Message]) {
    let arr: Vec<Value> = msgs.iter().map(Message::to_json).collect();
    ex.input = Some(Value::Array(arr).to_string());
    let mut text = String::new();
    for m in msgs {
        push_line_capped(&mut text, &m.content, TEXT_CAP);
    }
    ex.input_text = (!text.is_empty()).then_some(text);
}

/// The answer as the proxy writes it: text, then one `name(arguments)` line per tool call.
pub fn output_text(msgs: &[Message]) -> Option<String> {
    let mut out = String::new();
    for m in msgs {
        push_line(&mut out, &m.content);
    }
    for m in msgs {
        for c in &m.tool_calls {
            push_line(&mut out, &format!("{}({})", c.name, c.arguments));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// JSON text as is, anything else as a JSON string.
fn json_or_string(s: &str) -> String {
    match serde_json::from_str::<Value>(s) {
        Ok(_) => s.to_owned(),
        Err(_) => Value::String(s.to_owned()).to_string(),
    }
}

fn capped(s: &str) -> String {
    let mut out = String::new();
    push_line_capped(&mut out, s, TEXT_CAP);
    out
}

fn push_line(out: &mut String, s: &str) {
    if s.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(s);
}

// ---------------------------------------------------------------- OTel GenAI (current)

fn otel_input(a: &Attrs) -> Vec<Message> {
    let mut out = Vec::new();
    if let Some(v) = a.json(conv::SYSTEM_INSTRUCTIONS) {
        let mut m = Message::new("system");
        absorb_content(&mut m, &v);
        if !m.is_empty() {
            out.push(m);
        }
    }
    if let Some(v) = a.json(conv::INPUT_MESSAGES) {
        out.extend(messages_from_json(&v, "user"));
    }
    out
}

fn otel_output(a: &Attrs) -> Vec<Message> {
    a.json(conv::OUTPUT_MESSAGES)
        .map(|v| messages_from_json(&v, "assistant"))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- deprecated span events

fn event_messages(events: &[Event]) -> (Vec<Message>, Vec<Message>) {
    let mut input = Vec::new();
    let mut output = Vec::new();
    for e in events {
        let a = Attrs::new(&e.attributes);
        let role = match e.name.as_str() {
            conv::EVENT_SYSTEM_MESSAGE => "system",
            conv::EVENT_USER_MESSAGE => "user",
            conv::EVENT_ASSISTANT_MESSAGE => "assistant",
            conv::EVENT_TOOL_MESSAGE => "tool",
            conv::EVENT_CHOICE => {
                let msg = match a.json("message") {
                    Some(v) => message_from_json(&v, "assistant"),
                    None => event_message(&a, "assistant", false),
                };
                output.extend(msg);
                continue;
            }
            conv::EVENT_CONTENT_PROMPT => {
                if let Some(v) = a.json(conv::EVENT_PROMPT_ATTR) {
                    input.extend(messages_from_json(&v, "user"));
                }
                continue;
            }
            conv::EVENT_CONTENT_COMPLETION => {
                if let Some(v) = a.json(conv::EVENT_COMPLETION_ATTR) {
                    output.extend(messages_from_json(&v, "assistant"));
                }
                continue;
            }
            conv::EVENT_INFERENCE_DETAILS => {
                input.extend(otel_input(&a));
                output.extend(otel_output(&a));
                continue;
            }
            _ => continue,
        };
        input.extend(event_message(&a, role, role == "tool"));
    }
    (input, output)
}

fn event_message(a: &Attrs, default_role: &str, tool: bool) -> Option<Message> {
    let mut m = Message::new(a.str("role").unwrap_or(default_role));
    if let Some(c) = a.json("content") {
        absorb_content(&mut m, &c);
    }
    if let Some(Value::Array(calls)) = a.json("tool_calls") {
        m.tool_calls
            .extend(calls.iter().filter_map(tool_call_from_json));
    }
    if tool {
        m.tool_call_id = a.text("id");
    }
    (!m.is_empty()).then_some(m)
}

// ---------------------------------------------------------------- indexed attributes

#[derive(Default)]
struct Slot {
    role: Option<String>,
    content: Option<String>,
    parts: BTreeMap<usize, String>,
    calls: BTreeMap<usize, CallSlot>,
    tool_call_id: Option<String>,
}

#[derive(Default)]
struct CallSlot {
    id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
}

/// `{prefix}.{i}.role`, `.content`, `.tool_call_id`, `.tool_calls.{j}.{id,name,arguments}`
/// (OpenLLMetry), and the same under `.message.` with `tool_call.function.` and
/// `.contents.{j}.message_content.text` (OpenInference).
fn indexed(a: &Attrs, prefix: &str, default_role: &str) -> Vec<Message> {
    let dotted = format!("{prefix}.");
    let mut slots: BTreeMap<usize, Slot> = BTreeMap::new();
    for (key, value) in a.with_prefix(&dotted) {
        let Some((i, field)) = split_index(&key[dotted.len()..]) else {
            continue;
        };
        let field = field.strip_prefix("message.").unwrap_or(field);
        let slot = slots.entry(i).or_default();
        let text = any_to_text(value);
        match field {
            "role" => slot.role = text,
            "content" => slot.content = text,
            "tool_call_id" => slot.tool_call_id = text,
            "function_call.name" => slot.calls.entry(usize::MAX).or_default().name = text,
            "function_call.arguments" => slot.calls.entry(usize::MAX).or_default().arguments = text,
            f => {
                if let Some((j, cf)) = f.strip_prefix("tool_calls.").and_then(split_index) {
                    let cf = cf.strip_prefix("tool_call.").unwrap_or(cf);
                    let cf = cf.strip_prefix("function.").unwrap_or(cf);
                    let call = slot.calls.entry(j).or_default();
                    match cf {
                        "name" => call.name = text,
                        "arguments" => call.arguments = text,
                        "id" => call.id = text,
                        _ => {}
                    }
                } else if let Some((j, cf)) = f.strip_prefix("contents.").and_then(split_index) {
                    let cf = cf.strip_prefix("message_content.").unwrap_or(cf);
                    match (cf, text) {
                        ("text", Some(t)) => {
                            slot.parts.insert(j, t);
                        }
                        (c, Some(_)) if c.starts_with("image") => {
                            slot.parts.entry(j).or_insert_with(|| "[image]".into());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    slots
        .into_values()
        .filter_map(|s| {
            let mut m = Message::new(s.role.as_deref().unwrap_or(default_role));
            m.content = match s.content {
                Some(c) => c,
                None => s.parts.into_values().collect::<Vec<_>>().join("\n"),
            };
            m.tool_call_id = s.tool_call_id;
            m.tool_calls = s
                .calls
                .into_values()
                .filter_map(|c| {
                    Some(ToolCall {
                        id: c.id,
                        name: c.name?,
                        arguments: c.arguments.unwrap_or_default(),
                    })
                })
                .collect();
            (!m.is_empty()).then_some(m)
        })
        .collect()
}

/// `"3.role"` -> `(3, "role")`.
fn split_index(s: &str) -> Option<(usize, &str)> {
    let (i, rest) = s.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

// ---------------------------------------------------------------- Vercel AI SDK

fn vercel_input(a: &Attrs) -> Vec<Message> {
    let msgs = a
        .json(conv::VERCEL_PROMPT_MESSAGES)
        .map(|v| messages_from_json(&v, "user"))
        .unwrap_or_default();
    if !msgs.is_empty() {
        return msgs;
    }
    a.json(conv::VERCEL_PROMPT)
        .map(|v| messages_from_json(&v, "user"))
        .unwrap_or_default()
}

fn vercel_output(a: &Attrs) -> Vec<Message> {
    let mut m = Message::new("assistant");
    if let Some(t) = a.text(conv::VERCEL_RESPONSE_TEXT) {
        m.content = t;
    }
    if let Some(Value::Array(calls)) = a.json(conv::VERCEL_RESPONSE_TOOL_CALLS) {
        m.tool_calls
            .extend(calls.iter().filter_map(tool_call_from_json));
    }
    if m.is_empty() {
        Vec::new()
    } else {
        vec![m]
    }
}

// ---------------------------------------------------------------- JSON message shapes

/// Messages in any of the JSON shapes the conventions use: an array of messages (OTel parts,
/// OpenAI, Anthropic or Vercel content), a `{system?, prompt?, messages?}` object (Vercel's
/// `ai.prompt`, an OpenAI request body), one message object, or a plain string.
pub fn messages_from_json(v: &Value, default_role: &str) -> Vec<Message> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter(|i| is_message_like(i))
            .filter_map(|i| message_from_json(i, default_role))
            .collect(),
        Value::Object(o) if o.contains_key("messages") || o.contains_key("prompt") => {
            let mut out = Vec::new();
            if let Some(system) = o.get("system") {
                let mut m = Message::new("system");
                absorb_content(&mut m, system);
                if !m.is_empty() {
                    out.push(m);
                }
            }
            if let Some(msgs) = o.get("messages") {
                out.extend(messages_from_json(msgs, default_role));
            }
            match o.get("prompt") {
                Some(Value::String(s)) if !s.is_empty() => out.push(Message::text("user", s)),
                Some(p @ Value::Array(_)) => out.extend(messages_from_json(p, default_role)),
                _ => {}
            }
            out
        }
        Value::Object(_) if is_message_like(v) => {
            message_from_json(v, default_role).into_iter().collect()
        }
        Value::String(s) if !s.is_empty() => vec![Message::text(default_role, s)],
        _ => Vec::new(),
    }
}

fn is_message_like(v: &Value) -> bool {
    match v {
        Value::Object(o) => ["role", "parts", "message"]
            .iter()
            .any(|k| o.contains_key(*k)),
        Value::String(s) => !s.is_empty(),
        _ => false,
    }
}

fn message_from_json(v: &Value, default_role: &str) -> Option<Message> {
    let o = match v {
        Value::Object(o) => o,
        Value::String(s) if !s.is_empty() => return Some(Message::text(default_role, s)),
        _ => return None,
    };
    let role = o
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or(default_role);
    let mut m = Message::new(role);
    if let Some(parts) = o.get("parts") {
        absorb_content(&mut m, parts);
    }
    if let Some(content) = o.get("content") {
        absorb_content(&mut m, content);
    }
    for key in ["tool_calls", "toolCalls"] {
        if let Some(Value::Array(calls)) = o.get(key) {
            m.tool_calls
                .extend(calls.iter().filter_map(tool_call_from_json));
        }
    }
    if let Some(fc) = o.get("function_call") {
        m.tool_calls.extend(tool_call_from_json(fc));
    }
    if m.tool_call_id.is_none() {
        m.tool_call_id = str_of(o, &["tool_call_id", "toolCallId"]);
    }
    if m.is_empty() {
        // `gen_ai.choice` bodies: `{index, finish_reason, message: {...}}`.
        if let Some(inner) = o.get("message") {
            return message_from_json(inner, role);
        }
        return None;
    }
    Some(m)
}

/// Content as a string, one part, or an array of parts.
fn absorb_content(m: &mut Message, v: &Value) {
    match v {
        Value::String(s) => push_line(&mut m.content, s),
        Value::Array(parts) => parts.iter().for_each(|p| absorb_part(m, p)),
        Value::Object(_) => absorb_part(m, v),
        Value::Null => {}
        other => push_line(&mut m.content, &other.to_string()),
    }
}

/// One content part: OTel (`text`, `tool_call`, `tool_call_response`, `blob`...), OpenAI
/// (`text`, `image_url`), Anthropic (`tool_use`, `tool_result`), Vercel (`tool-call`,
/// `tool-result`).
fn absorb_part(m: &mut Message, p: &Value) {
    let o = match p {
        Value::Object(o) => o,
        Value::String(s) => return push_line(&mut m.content, s),
        _ => return,
    };
    let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "tool_call" | "tool-call" | "tool_use" | "function_call" => {
            m.tool_calls.extend(tool_call_from_json(p));
        }
        "tool_call_response" | "tool-result" | "tool_result" | "function_call_output" => {
            if let Some(id) = str_of(o, &["id", "toolCallId", "tool_use_id", "call_id"]) {
                m.tool_call_id = Some(id);
            }
            let result = ["response", "result", "output", "content"]
                .iter()
                .find_map(|k| o.get(*k));
            if let Some(r) = result {
                push_line(&mut m.content, &value_text(r));
            }
        }
        "reasoning" | "thinking" | "redacted_thinking" => {}
        "blob" | "uri" | "file" | "image" | "image_url" | "input_image" | "input_audio"
        | "audio" => {
            let what = o.get("modality").and_then(Value::as_str).unwrap_or(ty);
            push_line(&mut m.content, &format!("[{what}]"));
        }
        _ => {
            if let Some(t) = ["content", "text"].iter().find_map(|k| o.get(*k)) {
                push_line(&mut m.content, &value_text(t));
            }
        }
    }
}

/// OpenAI `{id, function: {name, arguments}}`, flat `{id, name, arguments}`, Anthropic
/// `{id, name, input}`, Vercel `{toolCallId, toolName, args|input}`.
fn tool_call_from_json(v: &Value) -> Option<ToolCall> {
    let o = v.as_object()?;
    let f = o.get("function").and_then(Value::as_object).unwrap_or(o);
    let name = str_of(f, &["name", "toolName"]).or_else(|| str_of(o, &["name", "toolName"]))?;
    let arguments = ["arguments", "args", "input"]
        .iter()
        .find_map(|k| f.get(*k).or_else(|| o.get(*k)))
        .map(json_text)
        .unwrap_or_default();
    Some(ToolCall {
        id: str_of(o, &["id", "toolCallId", "call_id"]),
        name,
        arguments,
    })
}

fn str_of(o: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match o.get(*k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Text inside a value: strings, and the `text`/`content`/`value` strings of parts; JSON
/// text when there is none.
fn value_text(v: &Value) -> String {
    fn collect(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => push_line(out, s),
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            Value::Object(o) => {
                for k in ["text", "content", "value"] {
                    if let Some(inner) = o.get(k) {
                        collect(inner, out);
                    }
                }
            }
            _ => {}
        }
    }
    if let Value::String(s) = v {
        return s.clone();
    }
    let mut out = String::new();
    collect(v, &mut out);
    if out.is_empty() {
        json_text(v)
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Av::StringValue(v.into())),
            }),
            key_strindex: 0,
        }
    }

    fn ex(kvs: &[KeyValue]) -> Exchange {
        extract(&Attrs::new(kvs), &[], false)
    }

    #[test]
    fn otel_parts_become_chat_messages() {
        let kvs = [
            kv(
                "gen_ai.system_instructions",
                r#"[{"type":"text","content":"Be brief"}]"#,
            ),
            kv(
                "gen_ai.input.messages",
                r#"[{"role":"user","parts":[{"type":"text","content":"Weather?"}]},
                    {"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"weather","arguments":{"city":"Paris"}}]},
                    {"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"rainy"}]}]"#,
            ),
            kv(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"Rainy."}],"finish_reason":"stop"}]"#,
            ),
        ];
        let e = ex(&kvs);
        let input: Value = serde_json::from_str(e.input.as_deref().unwrap_or("")).unwrap();
        assert_eq!(
            input,
            json!([
                {"role": "system", "content": "Be brief"},
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "content": "rainy", "tool_call_id": "c1"},
            ])
        );
        assert_eq!(e.input_text.as_deref(), Some("Be brief\nWeather?\nrainy"));
        assert_eq!(e.output.as_deref(), Some("Rainy."));
    }

    #[test]
    fn openinference_contents_and_tool_calls() {
        let kvs = [
            kv("llm.input_messages.0.message.role", "user"),
            kv(
                "llm.input_messages.0.message.contents.1.message_content.text",
                "second",
            ),
            kv(
                "llm.input_messages.0.message.contents.0.message_content.text",
                "first",
            ),
            kv("llm.output_messages.0.message.role", "assistant"),
            kv(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
                "search",
            ),
            kv(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
                r#"{"q":"x"}"#,
            ),
            kv(
                "llm.output_messages.0.message.tool_calls.0.tool_call.id",
                "t1",
            ),
        ];
        let e = ex(&kvs);
        assert_eq!(
            e.input.as_deref(),
            Some(r#"[{"content":"first\nsecond","role":"user"}]"#)
        );
        assert_eq!(e.output.as_deref(), Some(r#"search({"q":"x"})"#));
    }

    #[test]
    fn raw_values_fall_back() {
        let e = ex(&[kv("input.value", "What is 2+2?"), kv("output.value", "4")]);
        assert_eq!(
            e.input.as_deref(),
            Some(r#"[{"content":"What is 2+2?","role":"user"}]"#)
        );
        assert_eq!(e.output.as_deref(), Some("4"));
        let e = ex(&[kv("traceloop.entity.input", r#"{"args":[1],"kwargs":{}}"#)]);
        assert_eq!(e.input.as_deref(), Some(r#"{"args":[1],"kwargs":{}}"#));
        let e = ex(&[kv(
            "input.value",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}"#,
        )]);
        assert_eq!(
            e.input.as_deref(),
            Some(r#"[{"content":"Hi","role":"user"}]"#)
        );
    }

    #[test]
    fn vercel_prompt_object_and_tool_results() {
        let e = ex(&[
            kv("ai.prompt", r#"{"system":"S","prompt":"P"}"#),
            kv("ai.response.text", "A"),
        ]);
        assert_eq!(
            e.input.as_deref(),
            Some(r#"[{"content":"S","role":"system"},{"content":"P","role":"user"}]"#)
        );
        assert_eq!(e.output.as_deref(), Some("A"));
        let e = ex(&[kv(
            "ai.prompt.messages",
            r#"[{"role":"tool","content":[{"type":"tool-result","toolCallId":"c9","toolName":"w","output":{"type":"text","value":"sunny"}}]}]"#,
        )]);
        assert_eq!(
            e.input.as_deref(),
            Some(r#"[{"content":"sunny","role":"tool","tool_call_id":"c9"}]"#)
        );
    }

    fn event(name: &str, kvs: Vec<KeyValue>) -> Event {
        Event {
            name: name.into(),
            attributes: kvs,
            ..Event::default()
        }
    }

    #[test]
    fn older_event_forms() {
        let events = [
            event(
                "gen_ai.content.prompt",
                vec![kv("gen_ai.prompt", r#"[{"role":"user","content":"Q"}]"#)],
            ),
            event(
                "gen_ai.content.completion",
                vec![kv("gen_ai.completion", "A")],
            ),
        ];
        let e = extract(&Attrs::default(), &events, false);
        assert_eq!(
            e.input.as_deref(),
            Some(r#"[{"content":"Q","role":"user"}]"#)
        );
        assert_eq!(e.output.as_deref(), Some("A"));

        let events = [event(
            "gen_ai.client.inference.operation.details",
            vec![
                kv(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Q2"}]}]"#,
                ),
                kv(
                    "gen_ai.output.messages",
                    r#"[{"role":"assistant","parts":[{"type":"tool_call","name":"f","arguments":"{}"}]}]"#,
                ),
            ],
        )];
        let e = extract(&Attrs::default(), &events, false);
        assert_eq!(
            e.input.as_deref(),
            Some(r#"[{"content":"Q2","role":"user"}]"#)
        );
        assert_eq!(e.output.as_deref(), Some("f({})"));
    }

    #[test]
    fn vercel_tool_calls_in_the_response() {
        let e = ex(&[kv(
            "ai.response.toolCalls",
            r#"[{"toolCallType":"function","toolCallId":"c1","toolName":"w","args":"{\"c\":1}"}]"#,
        )]);
        assert_eq!(e.output.as_deref(), Some(r#"w({"c":1})"#));
    }

    #[test]
    fn tool_span_keeps_arguments_and_result() {
        let kvs = [
            kv("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#),
            kv("gen_ai.tool.call.result", "rainy"),
        ];
        let e = extract(&Attrs::new(&kvs), &[], true);
        assert_eq!(e.input.as_deref(), Some(r#"{"city":"Paris"}"#));
        assert_eq!(e.output.as_deref(), Some("rainy"));
        let kvs = [kv("ai.toolCall.args", "not json")];
        let e = extract(&Attrs::new(&kvs), &[], true);
        assert_eq!(e.input.as_deref(), Some(r#""not json""#));
    }
}
