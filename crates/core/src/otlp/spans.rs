//! One OTLP span -> one llmflow record: type, provider, model, tokens (normalised per source
//! so nothing is counted twice), cost, messages, session, and every attribute kept.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use serde_json::{json, Map, Value};

use super::conventions::{self as conv, added};
use super::messages;
use super::values::{self, kv_to_map, Attrs};
use super::Origin;
use crate::pricing::PriceTable;
use crate::record::Span;
use crate::usage::Usage;

/// Maps one span, or says why it cannot be stored (an invalid trace or span id).
pub fn map_span(s: &OtlpSpan, origin: &Origin<'_>, prices: &PriceTable) -> Result<Span, String> {
    let trace_id = values::trace_id(&s.trace_id)
        .ok_or_else(|| format!("span {:?}: invalid trace id", s.name))?;
    let id =
        values::span_id(&s.span_id).ok_or_else(|| format!("span {:?}: invalid span id", s.name))?;
    let a = Attrs::new(&s.attributes);

    let (span_type, operation) = classify(&a, &s.name);
    let provider = a.first_str(conv::PROVIDER).map(conv::normalize_provider);
    let model = a
        .first_str(conv::RESPONSE_MODEL)
        .or_else(|| a.first_str(conv::REQUEST_MODEL))
        .map(|m| m.trim().to_owned());

    // Usage is the call's own only on model calls; agents, chains and the Vercel SDK's outer
    // spans report their children's totals, which would count them twice.
    let model_call = matches!(span_type, "llm" | "embedding");
    let tokens = if model_call {
        usage(&a, provider.as_deref())
    } else {
        None
    };
    let cost = if model_call {
        a.first_f64(conv::COST).or_else(|| match (&tokens, &model) {
            (Some(t), Some(m)) if !t.total_only => prices.cost(provider.as_deref(), m, &t.usage),
            _ => None,
        })
    } else {
        None
    };

    let ex = messages::extract(&a, &s.events, span_type == "tool");
    let start_ns = values::ns(s.start_time_unix_nano);
    let duration_ms =
        s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64 / 1_000_000.0;
    let ttft_ms = a
        .first_f64(conv::TTFT_SECONDS)
        .map(|secs| secs * 1000.0)
        .or_else(|| a.first_f64(conv::TTFT_MS));

    let (status, error) = status_and_error(s, &a);
    let vercel_stream = a
        .str(conv::VERCEL_OPERATION_ID)
        .is_some_and(|op| op.ends_with(".doStream"));
    let streamed = vercel_stream || conv::STREAMING.iter().any(|k| a.bool(k) == Some(true));

    let mut attributes = kv_to_map(&s.attributes);
    if let Some(agent) = a.first_text(conv::AGENT) {
        attributes.insert(added::AGENT.into(), Value::String(agent));
    }
    if let Some(op) = operation {
        attributes.insert(added::OPERATION.into(), Value::String(op));
    }
    if tokens.as_ref().is_some_and(|t| t.total_only) {
        attributes.insert(added::USAGE_TOTAL_ONLY.into(), Value::Bool(true));
    }
    add_otel_details(&mut attributes, s, origin);

    Ok(Span {
        id,
        trace_id,
        parent_id: values::span_id(&s.parent_span_id),
        start_ns,
        duration_ms,
        ttft_ms,
        span_type: span_type.to_owned(),
        name: s.name.clone(),
        provider,
        model,
        status,
        error_kind: None,
        error,
        usage: tokens.map(|t| t.usage),
        cost,
        tags: tags(&a),
        method: a.first_text(conv::HTTP_METHOD),
        path: a.first_text(conv::URL_PATH),
        streamed,
        service_name: origin.service_name(),
        session_id: first_of(&a, origin, conv::SESSION)
            .or_else(|| origin.resource.text(conv::SERVICE_INSTANCE_ID)),
        conversation_id: first_of(&a, origin, conv::CONVERSATION),
        user_id: first_of(&a, origin, conv::USER),
        input: ex.input,
        input_text: ex.input_text,
        output: ex.output,
        attributes: Some(Value::Object(attributes).to_string()),
        ..Span::default()
    })
}

/// The span's attribute, else the resource's.
fn first_of(a: &Attrs, origin: &Origin<'_>, keys: &[&str]) -> Option<String> {
    a.first_text(keys)
        .or_else(|| origin.resource.first_text(keys))
}

// ---------------------------------------------------------------- type

/// Span type and the operation named by the source. Explicit kinds first (OTel's operation,
/// OpenInference's and OpenLLMetry's span kinds, the Vercel SDK's operation id,
/// OpenLLMetry's request type), then what the attributes imply, then the original LLMFlow's
/// name heuristics.
pub fn classify(a: &Attrs, name: &str) -> (&'static str, Option<String>) {
    if let Some(op) = a.str(conv::OPERATION_NAME) {
        let t = match op {
            "chat" | "text_completion" | "generate_content" => Some("llm"),
            "embeddings" => Some("embedding"),
            "execute_tool" => Some("tool"),
            "invoke_agent" | "create_agent" => Some("agent"),
            "invoke_workflow" => Some("chain"),
            "retrieval" => Some("retrieval"),
            _ => None,
        };
        if let Some(t) = t {
            return (t, Some(op.to_owned()));
        }
    }
    if let Some(kind) = a.str(conv::OPENINFERENCE_SPAN_KIND) {
        let t = match kind.to_ascii_uppercase().as_str() {
            "LLM" => Some("llm"),
            "EMBEDDING" => Some("embedding"),
            "RETRIEVER" | "RERANKER" => Some("retrieval"),
            "TOOL" => Some("tool"),
            "AGENT" => Some("agent"),
            "CHAIN" | "GUARDRAIL" | "EVALUATOR" | "PROMPT" => Some("chain"),
            _ => None,
        };
        if let Some(t) = t {
            return (t, None);
        }
    }
    if let Some(kind) = a.str(conv::TRACELOOP_SPAN_KIND) {
        let t = match kind {
            "workflow" => Some("trace"),
            "task" => Some("chain"),
            "agent" => Some("agent"),
            "tool" => Some("tool"),
            _ => None,
        };
        if let Some(t) = t {
            return (t, None);
        }
    }
    if let Some(op) = a.str(conv::VERCEL_OPERATION_ID) {
        if op.starts_with("ai.") {
            let t = if op.ends_with(".doEmbed") {
                "embedding"
            } else if op.ends_with(".doGenerate") || op.ends_with(".doStream") {
                "llm"
            } else if op == "ai.toolCall" {
                "tool"
            } else {
                "chain"
            };
            return (t, Some(op.to_owned()));
        }
    }
    if let Some(rt) = a.str(conv::LLM_REQUEST_TYPE) {
        let t = match rt {
            "embedding" | "embeddings" => "embedding",
            "rerank" => "retrieval",
            _ => "llm",
        };
        return (t, Some(rt.to_owned()));
    }
    let has_any = |keys: &[&str]| keys.iter().any(|k| a.contains(k));
    if has_any(conv::TOOL_NAME) {
        return ("tool", None);
    }
    if has_any(conv::PROVIDER)
        || has_any(conv::REQUEST_MODEL)
        || has_any(conv::RESPONSE_MODEL)
        || has_any(conv::INPUT_TOKENS)
        || has_any(conv::OUTPUT_TOKENS)
    {
        return ("llm", None);
    }
    if let Some(db) = a.first_str(conv::DB_SYSTEM) {
        if conv::VECTOR_DBS.contains(&db.to_ascii_lowercase().as_str()) {
            return ("retrieval", None);
        }
    }
    let lower = name.to_ascii_lowercase();
    let t = if lower.contains("embed") {
        "embedding"
    } else if lower.contains("retriev") || lower.contains("search") {
        "retrieval"
    } else if lower.contains("agent") {
        "agent"
    } else if lower.contains("tool") || lower.contains("function") {
        "tool"
    } else if lower.contains("chain") {
        "chain"
    } else {
        "custom"
    };
    (t, None)
}

// ---------------------------------------------------------------- usage

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tokens {
    pub usage: Usage,
    /// Only a total was sent; it sits in `usage.input` and the call is not priced.
    pub total_only: bool,
}

/// Token counts normalised to [`Usage`]'s rules (input includes cache, output includes
/// reasoning), whatever the source's own rules:
/// - OTel, OpenLLMetry and OpenInference count cached tokens inside input (OpenLLMetry's
///   Anthropic instrumentation sums `input_tokens + cache_read + cache_creation` itself).
/// - The Vercel AI SDK's Anthropic provider reports Anthropic's raw `input_tokens`, which
///   exclude the cache: the cache read and (from provider metadata) write are added.
/// - Any source whose numbers prove the other rule is corrected: input smaller than its
///   cached part, or a total equal to input + cache + output, means input excluded the cache;
///   output smaller than its reasoning part, or a total that also counts reasoning, means
///   output excluded it (Gemini's `candidatesTokenCount`).
/// - Only a total: it goes to input, flagged so the call stays unpriced.
pub fn usage(a: &Attrs, provider: Option<&str>) -> Option<Tokens> {
    let input = a.first_u64(conv::INPUT_TOKENS);
    let output = a.first_u64(conv::OUTPUT_TOKENS).map(|(_, v)| v);
    let total = a.first_u64(conv::TOTAL_TOKENS).map(|(_, v)| v);
    let cache_read = a.first_u64(conv::CACHE_READ_TOKENS).map(|(_, v)| v);
    let mut cache_write = a.first_u64(conv::CACHE_WRITE_TOKENS).map(|(_, v)| v);
    let reasoning = a.first_u64(conv::REASONING_TOKENS).map(|(_, v)| v);
    // The SDK's model-call spans also carry `gen_ai.usage.*` with the same numbers.
    let vercel = a.contains(conv::VERCEL_OPERATION_ID)
        || input.is_some_and(|(k, _)| k.starts_with(conv::VERCEL_USAGE_PREFIX));
    let anthropic = provider == Some("anthropic");
    if vercel && anthropic && cache_write.is_none() {
        cache_write = a
            .json(conv::VERCEL_PROVIDER_METADATA)
            .and_then(|v| v.pointer("/anthropic/cacheCreationInputTokens")?.as_u64());
    }
    let input = input.map(|(_, v)| v);
    if input.is_none() && output.is_none() && total.is_none() {
        return None;
    }
    let (input, output, total_only) = match (input, output, total) {
        (None, None, Some(t)) => (t, 0, true),
        (Some(i), None, Some(t)) => (i, t.saturating_sub(i), false),
        (None, Some(o), Some(t)) => (t.saturating_sub(o), o, false),
        (i, o, _) => (i.unwrap_or(0), o.unwrap_or(0), false),
    };
    let cache_read = cache_read.unwrap_or(0);
    let cache_write = cache_write.unwrap_or(0);
    let reasoning = reasoning.unwrap_or(0);
    let cached = cache_read.saturating_add(cache_write);

    let mut u = Usage {
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
    };
    if total_only {
        return Some(Tokens {
            usage: u,
            total_only,
        });
    }
    let mut input_excludes_cache = vercel && anthropic;
    let mut output_excludes_reasoning = false;
    if let Some(t) = total {
        let io = input.saturating_add(output);
        if t != io {
            if cached > 0 && t == io.saturating_add(cached) {
                input_excludes_cache = true;
            } else if reasoning > 0 && t == io.saturating_add(reasoning) {
                output_excludes_reasoning = true;
            } else if cached > 0
                && reasoning > 0
                && t == io.saturating_add(cached).saturating_add(reasoning)
            {
                input_excludes_cache = true;
                output_excludes_reasoning = true;
            }
        }
    }
    if input_excludes_cache || input < cached {
        u.input = input.saturating_add(cached);
    }
    if output_excludes_reasoning || output < reasoning {
        u.output = output.saturating_add(reasoning);
    }
    Some(Tokens {
        usage: u,
        total_only: false,
    })
}

// ---------------------------------------------------------------- status, tags, details

/// HTTP status and error text. An OTLP span has no HTTP status of its own: `status` is the
/// `http.response.status_code` attribute when there is one. A span with status ERROR gets
/// the error text (status message, else the exception event, else `error.type`) and, since
/// the API calls a record failed when `status >= 400`, status 500 unless its HTTP status
/// already says it failed. `error_kind` stays `None`: whose fault it was is a proxy notion.
fn status_and_error(s: &OtlpSpan, a: &Attrs) -> (Option<u16>, Option<String>) {
    let http = a
        .first_u64(conv::HTTP_STATUS)
        .and_then(|(_, v)| u16::try_from(v).ok());
    let failed = s
        .status
        .as_ref()
        .is_some_and(|st| st.code == StatusCode::Error as i32);
    if !failed {
        return (http, None);
    }
    let exception = s
        .events
        .iter()
        .find(|e| e.name == conv::EXCEPTION_EVENT)
        .and_then(|e| {
            let ea = Attrs::new(&e.attributes);
            match (
                ea.text(conv::EXCEPTION_TYPE),
                ea.text(conv::EXCEPTION_MESSAGE),
            ) {
                (Some(t), Some(m)) => Some(format!("{t}: {m}")),
                (t, m) => m.or(t),
            }
        });
    let message = s
        .status
        .as_ref()
        .map(|st| st.message.trim())
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .or(exception)
        .or_else(|| a.text(conv::ERROR_TYPE))
        .unwrap_or_else(|| "error".to_owned());
    let status = http.filter(|h| *h >= 400).unwrap_or(500);
    (Some(status), Some(message))
}

fn tags(a: &Attrs) -> Vec<String> {
    match a.json(conv::TAGS) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .filter(|t| !t.is_empty())
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s],
        _ => Vec::new(),
    }
}

/// Span kind, status, events, links, resource and scope, beside the span's attributes.
fn add_otel_details(m: &mut Map<String, Value>, s: &OtlpSpan, origin: &Origin<'_>) {
    let kind = SpanKind::try_from(s.kind).unwrap_or(SpanKind::Unspecified);
    let kind = match kind {
        SpanKind::Unspecified => None,
        SpanKind::Internal => Some("internal"),
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
    };
    if let Some(k) = kind {
        m.insert(added::SPAN_KIND.into(), Value::String(k.into()));
    }
    if let Some(st) = &s.status {
        let code = match StatusCode::try_from(st.code) {
            Ok(StatusCode::Ok) => Some("ok"),
            Ok(StatusCode::Error) => Some("error"),
            _ => None,
        };
        if let Some(code) = code {
            let mut status = json!({ "code": code });
            if !st.message.is_empty() {
                status["message"] = Value::String(st.message.clone());
            }
            m.insert(added::STATUS.into(), status);
        }
    }
    if !s.events.is_empty() {
        let events = s
            .events
            .iter()
            .map(|e| {
                let mut ev = json!({
                    "name": e.name,
                    "time_unix_nano": e.time_unix_nano.to_string(),
                });
                add_attributes(&mut ev, &e.attributes);
                ev
            })
            .collect();
        m.insert(added::EVENTS.into(), Value::Array(events));
    }
    let links: Vec<Value> = s
        .links
        .iter()
        .filter_map(|l| {
            let mut link = json!({
                "trace_id": values::trace_id(&l.trace_id)?,
                "span_id": values::span_id(&l.span_id)?,
            });
            add_attributes(&mut link, &l.attributes);
            Some(link)
        })
        .collect();
    if !links.is_empty() {
        m.insert(added::LINKS.into(), Value::Array(links));
    }
    m.insert(
        added::RESOURCE.into(),
        Value::Object(kv_to_map(origin.resource_kvs)),
    );
    if let Some(scope) = origin.scope_json() {
        m.insert(added::SCOPE.into(), scope);
    }
}

fn add_attributes(v: &mut Value, kvs: &[KeyValue]) {
    if !kvs.is_empty() {
        v["attributes"] = Value::Object(kv_to_map(kvs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    fn kv(k: &str, v: Av) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            key_strindex: 0,
        }
    }

    fn int(k: &str, v: i64) -> KeyValue {
        kv(k, Av::IntValue(v))
    }

    fn s(k: &str, v: &str) -> KeyValue {
        kv(k, Av::StringValue(v.into()))
    }

    fn tokens(kvs: &[KeyValue], provider: Option<&str>) -> Option<Tokens> {
        usage(&Attrs::new(kvs), provider)
    }

    fn u(input: u64, output: u64, cache_read: u64, cache_write: u64, reasoning: u64) -> Usage {
        Usage {
            input,
            output,
            cache_read,
            cache_write,
            reasoning,
        }
    }

    #[test]
    fn otel_input_includes_cache_already() {
        let t = tokens(
            &[
                int("gen_ai.usage.input_tokens", 1200),
                int("gen_ai.usage.output_tokens", 50),
                int("gen_ai.usage.cache_read.input_tokens", 1000),
            ],
            Some("openai"),
        );
        assert_eq!(t.map(|t| t.usage), Some(u(1200, 50, 1000, 0, 0)));
    }

    #[test]
    fn input_smaller_than_its_cache_is_raw_anthropic() {
        let t = tokens(
            &[
                int("gen_ai.usage.input_tokens", 12),
                int("gen_ai.usage.output_tokens", 50),
                int("gen_ai.usage.cache_read_input_tokens", 1000),
                int("gen_ai.usage.cache_creation_input_tokens", 200),
            ],
            Some("anthropic"),
        );
        assert_eq!(t.map(|t| t.usage), Some(u(1212, 50, 1000, 200, 0)));
    }

    #[test]
    fn total_reveals_what_was_excluded() {
        // Gemini through the Vercel SDK: output excludes thoughts, the total counts them.
        let t = tokens(
            &[
                s("ai.usage.inputTokens", "100"),
                s("ai.usage.outputTokens", "10"),
                s("ai.usage.reasoningTokens", "5"),
                s("ai.usage.totalTokens", "115"),
            ],
            Some("gemini"),
        );
        assert_eq!(t.map(|t| t.usage), Some(u(100, 15, 0, 0, 5)));
        // Input 1500 excluding a cache read of 1000 (total says so).
        let t = tokens(
            &[
                int("gen_ai.usage.input_tokens", 1500),
                int("gen_ai.usage.output_tokens", 10),
                int("gen_ai.usage.cache_read_input_tokens", 1000),
                int("llm.usage.total_tokens", 2510),
            ],
            Some("anthropic"),
        );
        assert_eq!(t.map(|t| t.usage), Some(u(2500, 10, 1000, 0, 0)));
    }

    #[test]
    fn vercel_anthropic_input_excludes_cache() {
        let t = tokens(
            &[
                int("ai.usage.inputTokens", 1500),
                int("ai.usage.outputTokens", 10),
                int("ai.usage.cachedInputTokens", 1000),
                s(
                    "ai.response.providerMetadata",
                    r#"{"anthropic":{"cacheCreationInputTokens":300}}"#,
                ),
            ],
            Some("anthropic"),
        );
        assert_eq!(t.map(|t| t.usage), Some(u(2800, 10, 1000, 300, 0)));
    }

    #[test]
    fn totals_fill_what_is_missing() {
        let t = tokens(
            &[
                int("llm.usage.total_tokens", 30),
                int("gen_ai.usage.prompt_tokens", 20),
            ],
            None,
        );
        assert_eq!(
            t.map(|t| (t.usage, t.total_only)),
            Some((u(20, 10, 0, 0, 0), false))
        );
        let t = tokens(&[int("llm.token_count.total", 30)], None);
        assert_eq!(
            t.map(|t| (t.usage, t.total_only)),
            Some((u(30, 0, 0, 0, 0), true))
        );
        assert_eq!(
            tokens(&[s("gen_ai.usage.input_tokens", "many")], None),
            None
        );
    }

    #[test]
    fn type_order() {
        let t = |kvs: &[KeyValue], name: &str| classify(&Attrs::new(kvs), name).0;
        assert_eq!(
            t(&[s("gen_ai.operation.name", "execute_tool")], "x"),
            "tool"
        );
        assert_eq!(
            t(
                &[
                    s("traceloop.span.kind", "agent"),
                    s("gen_ai.system", "openai")
                ],
                "x"
            ),
            "agent"
        );
        assert_eq!(t(&[s("traceloop.span.kind", "workflow")], "x"), "trace");
        assert_eq!(
            t(&[s("openinference.span.kind", "RETRIEVER")], "x"),
            "retrieval"
        );
        assert_eq!(
            t(&[s("ai.operationId", "ai.streamText.doStream")], "x"),
            "llm"
        );
        assert_eq!(t(&[s("ai.operationId", "ai.streamText")], "x"), "chain");
        assert_eq!(t(&[s("ai.operationId", "ai.toolCall")], "x"), "tool");
        assert_eq!(t(&[s("llm.request.type", "embedding")], "x"), "embedding");
        assert_eq!(t(&[s("gen_ai.system", "anthropic")], "x"), "llm");
        assert_eq!(t(&[s("tool.name", "calc")], "x"), "tool");
        assert_eq!(t(&[s("db.system", "qdrant")], "x"), "retrieval");
        assert_eq!(
            t(&[s("db.system", "postgresql")], "vector search"),
            "retrieval"
        );
        assert_eq!(t(&[], "embed_docs"), "embedding");
        assert_eq!(t(&[], "run_agent"), "agent");
        assert_eq!(t(&[], "call_function"), "tool");
        assert_eq!(t(&[], "my_chain"), "chain");
        assert_eq!(t(&[], "GET /"), "custom");
    }
}
