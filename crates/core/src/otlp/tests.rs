//! Fixture tests: each convention's documented shape, as OTLP/JSON, mapped and checked field
//! by field (`tests/fixtures/otlp/*.json`).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;
use crate::record::MetricKind;
use crate::usage::Usage;

const T0: i64 = 1_735_689_600_000_000_000;
const MS: i64 = 1_000_000;

const PRICES: &str = r#"{
  "gpt-4o": {"input_cost_per_token": 2.5e-6, "output_cost_per_token": 1e-5,
             "cache_read_input_token_cost": 1.25e-6, "litellm_provider": "openai"},
  "gpt-4o-mini": {"input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7,
                  "cache_read_input_token_cost": 7.5e-8, "litellm_provider": "openai"},
  "gpt-5-codex": {"input_cost_per_token": 1.25e-6, "output_cost_per_token": 1e-5,
                  "cache_read_input_token_cost": 1.25e-7, "litellm_provider": "openai"},
  "claude-3-5-sonnet-20241022": {"input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5,
                  "cache_read_input_token_cost": 3e-7, "cache_creation_input_token_cost": 3.75e-6,
                  "litellm_provider": "anthropic"},
  "claude-sonnet-4-20250514": {"input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5,
                  "cache_read_input_token_cost": 3e-7, "cache_creation_input_token_cost": 3.75e-6,
                  "litellm_provider": "anthropic"},
  "gemini-2.5-pro": {"input_cost_per_token": 1.25e-6, "output_cost_per_token": 1e-5,
                  "cache_read_input_token_cost": 3.125e-7, "litellm_provider": "gemini"}
}"#;

fn prices() -> PriceTable {
    PriceTable::from_json(PRICES.as_bytes(), "test").unwrap()
}

fn fixture<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/otlp/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn traces(name: &str) -> Vec<Span> {
    let m = map_traces(&fixture(name), &prices());
    assert_eq!((m.rejected, &m.message), (0, &None), "{name}");
    m.items
}

fn span<'a>(spans: &'a [Span], id: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no span {id}"))
}

fn json_of(text: Option<&str>) -> Value {
    serde_json::from_str(text.unwrap_or("null")).unwrap()
}

fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
    }
}

#[track_caller]
fn assert_cost(got: Option<f64>, want: f64) {
    let got = got.unwrap_or(f64::NAN);
    assert!((got - want).abs() < 1e-12, "cost {got} != {want}");
}

/// Serialise and parse again (the canonical OTLP/JSON form: ints as strings, hex ids).
fn reencoded<T: Serialize + DeserializeOwned>(req: &T) -> T {
    serde_json::from_str(&serde_json::to_string(req).unwrap()).unwrap()
}

// ---------------------------------------------------------------- spans

#[test]
fn genai_current() {
    let spans = traces("genai_current.json");
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(s.id, "eee19b7ec3c1b174");
    assert_eq!(s.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(s.parent_id.as_deref(), Some("eee19b7ec3c1b173"));
    assert_eq!(s.start_ns, T0);
    assert_eq!(s.duration_ms, 1500.0);
    assert_eq!(s.ttft_ms, Some(250.0));
    assert_eq!(s.span_type, "llm");
    assert_eq!(s.name, "chat gpt-4o");
    assert_eq!(s.provider.as_deref(), Some("openai"));
    assert_eq!(s.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!((s.status, &s.error, s.error_kind), (None, &None, None));
    assert!(!s.is_error());
    assert_eq!(s.usage, Some(usage(1200, 85, 1000, 0, 0)));
    // 200 uncached input + 1000 cached + 85 output, at gpt-4o's rates.
    assert_cost(s.cost, 200.0 * 2.5e-6 + 1000.0 * 1.25e-6 + 85.0 * 1e-5);
    assert_eq!(s.service_name.as_deref(), Some("weather-app"));
    assert_eq!(s.session_id.as_deref(), Some("sess-7"));
    assert_eq!(s.conversation_id.as_deref(), Some("conv-42"));
    assert_eq!(s.user_id.as_deref(), Some("user-3"));
    assert!(!s.streamed);
    assert_eq!(
        json_of(s.input.as_deref()),
        json!([
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "content": "rainy, 14C", "tool_call_id": "call_1"},
        ])
    );
    assert_eq!(
        s.input_text.as_deref(),
        Some("You are a weather assistant.\nWeather in Paris?\nrainy, 14C")
    );
    assert_eq!(s.output.as_deref(), Some("Rainy in Paris, 14C."));

    let a = json_of(s.attributes.as_deref());
    assert_eq!(
        a["app.request"],
        json!({"tenant": "acme", "tier": 2, "beta": true})
    );
    assert_eq!(a["gen_ai.response.finish_reasons"], json!(["stop"]));
    assert_eq!(a["gen_ai.request.temperature"], json!(0.2));
    assert_eq!(a["gen_ai.usage.input_tokens"], json!(1200));
    assert_eq!(a["span.kind"], "client");
    assert_eq!(a["status"], json!({"code": "ok"}));
    assert_eq!(a["llmflow.agent"], "weather-bot");
    assert_eq!(a["llmflow.operation"], "chat");
    assert_eq!(
        a["events"],
        json!([{"name": "gen_ai.evaluation.result",
                "time_unix_nano": (T0 + 1400 * MS).to_string(),
                "attributes": {"gen_ai.evaluation.name": "relevance",
                               "gen_ai.evaluation.score.value": 0.9}}])
    );
    assert_eq!(
        a["links"],
        json!([{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
                "attributes": {"link.reason": "retry"}}])
    );
    assert_eq!(
        a["resource"],
        json!({"service.name": "weather-app", "service.instance.id": "instance-1",
               "telemetry.sdk.language": "python"})
    );
    assert_eq!(
        a["scope"],
        json!({"name": "opentelemetry.instrumentation.openai_v2", "version": "2.1b0"})
    );
}

#[test]
fn genai_deprecated() {
    let spans = traces("genai_deprecated.json");
    assert_eq!(spans.len(), 2);

    let s = span(&spans, "00f067aa0ba902b7");
    assert_eq!(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(s.parent_id, None);
    assert_eq!(s.duration_ms, 800.0);
    assert_eq!(s.span_type, "llm");
    assert_eq!(s.name, "openai.chat");
    assert_eq!(s.provider.as_deref(), Some("openai"));
    assert_eq!(s.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    // Counts sent as strings ("30", "42") and as ints.
    assert_eq!(s.usage, Some(usage(30, 12, 0, 0, 0)));
    assert_cost(s.cost, 30.0 * 1.5e-7 + 12.0 * 6e-7);
    assert!(s.streamed);
    assert_eq!(s.session_id.as_deref(), Some("sess-legacy"));
    assert_eq!(s.user_id.as_deref(), Some("user-legacy"));
    assert_eq!(s.conversation_id, None);
    assert_eq!(s.service_name.as_deref(), Some("legacy-app"));
    assert_eq!(
        json_of(s.input.as_deref()),
        json!([{"role": "system", "content": "You are helpful."},
               {"role": "user", "content": "Weather in Paris?"}])
    );
    assert_eq!(
        s.input_text.as_deref(),
        Some("You are helpful.\nWeather in Paris?")
    );
    assert_eq!(
        s.output.as_deref(),
        Some(r#"get_weather({"city":"Paris"})"#)
    );
    let a = json_of(s.attributes.as_deref());
    assert_eq!(a["llmflow.agent"], "weather_flow");
    assert_eq!(a["llmflow.operation"], "chat");

    // Messages as deprecated span events; failed with HTTP 429.
    let s = span(&spans, "00f067aa0ba902b8");
    assert_eq!(s.parent_id.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(s.start_ns, T0 + 900 * MS);
    assert_eq!(s.span_type, "llm");
    assert_eq!(s.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(s.status, Some(429));
    assert_eq!(s.error.as_deref(), Some("Rate limit reached"));
    assert_eq!(s.error_kind, None);
    assert!(s.is_error());
    assert_eq!((s.usage, s.cost), (None, None));
    assert_eq!(
        json_of(s.input.as_deref()),
        json!([{"role": "system", "content": "You are helpful."},
               {"role": "user", "content": "Hello"}])
    );
    assert_eq!(s.output.as_deref(), Some("Hi there!"));
    let a = json_of(s.attributes.as_deref());
    assert_eq!(
        a["status"],
        json!({"code": "error", "message": "Rate limit reached"})
    );
    assert_eq!(a["events"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        a["events"][2]["attributes"]["message"],
        json!({"role": "assistant", "content": "Hi there!"})
    );
}

#[test]
fn openinference() {
    let spans = traces("openinference.json");
    assert_eq!(spans.len(), 4);

    let chain = span(&spans, "1000000000000001");
    assert_eq!(chain.span_type, "chain");
    assert_eq!(chain.name, "RetrievalQA");
    assert_eq!(
        chain.input.as_deref(),
        Some(r#"{"query": "What is OTLP?"}"#)
    );
    assert_eq!(
        chain.input_text.as_deref(),
        Some(r#"{"query": "What is OTLP?"}"#)
    );
    assert_eq!(
        chain.output.as_deref(),
        Some("OTLP is the OpenTelemetry protocol.")
    );
    assert_eq!(chain.session_id.as_deref(), Some("oi-session"));
    assert_eq!(chain.user_id.as_deref(), Some("oi-user"));
    assert_eq!(chain.tags, ["prod", "rag"]);
    assert_eq!((chain.usage, chain.cost, &chain.model), (None, None, &None));
    assert_eq!(chain.service_name.as_deref(), Some("rag-service"));

    let retriever = span(&spans, "1000000000000002");
    assert_eq!(retriever.span_type, "retrieval");
    assert_eq!(retriever.parent_id.as_deref(), Some("1000000000000001"));
    assert_eq!(
        json_of(retriever.input.as_deref()),
        json!([{"role": "user", "content": "What is OTLP?"}])
    );

    let llm = span(&spans, "1000000000000003");
    assert_eq!(llm.span_type, "llm");
    assert_eq!(llm.provider.as_deref(), Some("openai"));
    assert_eq!(llm.model.as_deref(), Some("gpt-4o"));
    assert_eq!(llm.usage, Some(usage(120, 15, 100, 0, 0)));
    // The cost the source reported wins over the table's.
    assert_cost(llm.cost, 0.00042);
    assert_eq!(
        json_of(llm.input.as_deref()),
        json!([{"role": "system", "content": "Answer from the context."},
               {"role": "user", "content": "What is OTLP?"}])
    );
    assert_eq!(
        llm.output.as_deref(),
        Some("OTLP is the OpenTelemetry protocol.")
    );
    assert_eq!(llm.session_id.as_deref(), Some("oi-session"));
    assert_eq!(llm.duration_ms, 1200.0);

    let tool = span(&spans, "1000000000000004");
    assert_eq!(tool.span_type, "tool");
    assert_eq!(tool.input.as_deref(), Some(r#"{"expression": "2+2"}"#));
    assert_eq!(tool.input_text.as_deref(), Some(r#"{"expression": "2+2"}"#));
    assert_eq!(tool.output.as_deref(), Some("4"));
}

#[test]
fn openllmetry_anthropic() {
    let spans = traces("openllmetry_anthropic.json");
    assert_eq!(spans.len(), 5);

    let wf = span(&spans, "2000000000000001");
    assert_eq!(wf.span_type, "trace");
    assert_eq!(wf.name, "support_flow.workflow");
    assert_eq!(
        wf.input.as_deref(),
        Some(r#"{"inputs": {"question": "Where is order 7?"}}"#)
    );
    assert_eq!(wf.output.as_deref(), Some(r#""Order 7 has shipped.""#));
    assert_eq!(wf.session_id.as_deref(), Some("tl-session"));
    assert_eq!(wf.conversation_id.as_deref(), Some("tl-thread"));
    assert_eq!(wf.user_id.as_deref(), Some("tl-user"));
    assert_eq!(
        json_of(wf.attributes.as_deref())["llmflow.agent"],
        "support_flow"
    );

    let task = span(&spans, "2000000000000002");
    assert_eq!(task.span_type, "chain");
    assert_eq!(task.session_id, None);

    // OpenLLMetry already adds the cache to input_tokens: nothing is added again.
    let summed = span(&spans, "2000000000000003");
    assert_eq!(summed.span_type, "llm");
    assert_eq!(summed.provider.as_deref(), Some("anthropic"));
    assert_eq!(summed.model.as_deref(), Some("claude-3-5-sonnet-20241022"));
    assert_eq!(summed.usage, Some(usage(2150, 40, 2000, 50, 0)));
    let want = 100.0 * 3e-6 + 2000.0 * 3e-7 + 50.0 * 3.75e-6 + 40.0 * 1.5e-5;
    assert_cost(summed.cost, want);
    assert_eq!(
        json_of(summed.input.as_deref()),
        json!([{"role": "user", "content": "Where is order 7?"}])
    );
    assert_eq!(summed.output.as_deref(), Some("Let me check."));
    assert_eq!(
        json_of(summed.attributes.as_deref())["llmflow.operation"],
        "completion"
    );

    // Anthropic's raw counts (input 100 < cache 2050): the cache is added once.
    let raw = span(&spans, "2000000000000004");
    assert_eq!(raw.usage, Some(usage(2150, 40, 2000, 50, 0)));
    assert_cost(raw.cost, want);

    let tool = span(&spans, "2000000000000005");
    assert_eq!(tool.span_type, "tool");
    assert_eq!(tool.input.as_deref(), Some(r#"{"order_id": 7}"#));
    assert_eq!(tool.output.as_deref(), Some(r#"{"status": "shipped"}"#));
}

#[test]
fn vercel_ai() {
    let spans = traces("vercel_ai.json");
    assert_eq!(spans.len(), 3);

    // The outer call reports its steps' usage: not counted again.
    let outer = span(&spans, "3000000000000001");
    assert_eq!(outer.span_type, "chain");
    assert_eq!((outer.usage, outer.cost), (None, None));
    assert_eq!(outer.provider.as_deref(), Some("anthropic"));
    assert_eq!(outer.model.as_deref(), Some("claude-3-5-sonnet-20241022"));
    assert_eq!(outer.session_id.as_deref(), Some("v-session"));
    assert_eq!(outer.user_id.as_deref(), Some("v-user"));
    assert_eq!(outer.conversation_id.as_deref(), Some("v-thread"));
    assert_eq!(
        json_of(outer.input.as_deref()),
        json!([{"role": "system", "content": "You are terse."},
               {"role": "user", "content": "Say hi"}])
    );
    assert_eq!(outer.output.as_deref(), Some("Hi!"));
    let a = json_of(outer.attributes.as_deref());
    assert_eq!(a["llmflow.agent"], "greeter");
    assert_eq!(a["llmflow.operation"], "ai.streamText");

    // Anthropic through the SDK: input excludes the cache read and the write (metadata).
    let call = span(&spans, "3000000000000002");
    assert_eq!(call.span_type, "llm");
    assert!(call.streamed);
    assert_eq!(call.ttft_ms, Some(321.5));
    assert_eq!(call.provider.as_deref(), Some("anthropic"));
    assert_eq!(call.usage, Some(usage(1220, 5, 1000, 200, 0)));
    assert_cost(
        call.cost,
        20.0 * 3e-6 + 1000.0 * 3e-7 + 200.0 * 3.75e-6 + 5.0 * 1.5e-5,
    );
    assert_eq!(
        json_of(call.input.as_deref()),
        json!([{"role": "system", "content": "You are terse."},
               {"role": "user", "content": "Say hi"}])
    );
    assert_eq!(call.input_text.as_deref(), Some("You are terse.\nSay hi"));
    assert_eq!(call.output.as_deref(), Some("Hi!"));
    assert_eq!(call.session_id.as_deref(), Some("v-session"));

    let tool = span(&spans, "3000000000000003");
    assert_eq!(tool.span_type, "tool");
    assert_eq!(tool.name, "ai.toolCall");
    assert_eq!(tool.input.as_deref(), Some(r#"{"city":"Berlin"}"#));
    assert_eq!(tool.output.as_deref(), Some(r#"{"temp":12}"#));
}

#[test]
fn tool_and_agent_spans() {
    let spans = traces("tool_span.json");
    assert_eq!(spans.len(), 3);

    let agent = span(&spans, "4000000000000001");
    assert_eq!(agent.span_type, "agent");
    // An agent's tokens are its model calls' tokens: not counted on the agent.
    assert_eq!((agent.usage, agent.cost), (None, None));
    assert_eq!(agent.conversation_id.as_deref(), Some("conv-tool"));
    let a = json_of(agent.attributes.as_deref());
    assert_eq!(a["llmflow.agent"], "weather-agent");
    assert_eq!(a["llmflow.operation"], "invoke_agent");

    let tool = span(&spans, "4000000000000002");
    assert_eq!(tool.span_type, "tool");
    assert_eq!(tool.name, "execute_tool get_weather");
    assert_eq!(
        tool.input.as_deref(),
        Some(r#"{"city": "Paris", "unit": "c"}"#)
    );
    assert_eq!(
        tool.input_text.as_deref(),
        Some(r#"{"city": "Paris", "unit": "c"}"#)
    );
    assert_eq!(
        tool.output.as_deref(),
        Some(r#"{"forecast": "rainy", "temp": 14}"#)
    );
    assert!(!tool.is_error());
    let a = json_of(tool.attributes.as_deref());
    assert_eq!(a["gen_ai.tool.call.id"], "call_abc");
    assert_eq!(a["gen_ai.tool.name"], "get_weather");

    // Structured (kvlist) arguments; failed with an exception event.
    let failed = span(&spans, "4000000000000003");
    assert_eq!(failed.input.as_deref(), Some(r#"{"tz":"Europe/Paris"}"#));
    assert_eq!(failed.output, None);
    assert_eq!(failed.status, Some(500));
    assert_eq!(
        failed.error.as_deref(),
        Some("TimeoutError: tool timed out")
    );
    assert!(failed.is_error());
    assert_eq!(failed.duration_ms, 5000.0);
}

#[test]
fn invalid_ids_are_rejected_and_counted() {
    let doc = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
         "parentSpanId": "0000000000000000", "name": "ok"},
        {"traceId": "", "spanId": "eee19b7ec3c1b175", "name": "no trace"},
        {"traceId": "00000000000000000000000000000000", "spanId": "eee19b7ec3c1b176",
         "name": "zero trace"},
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7e", "name": "short span"},
    ]}]}]});
    let req: ExportTraceServiceRequest = serde_json::from_value(doc).unwrap();
    let m = map_traces(&req, &prices());
    assert_eq!(m.items.len(), 1);
    assert_eq!(m.items[0].name, "ok");
    assert_eq!(m.items[0].parent_id, None);
    assert_eq!(m.items[0].span_type, "custom");
    assert_eq!(m.rejected, 3);
    assert_eq!(
        m.message.as_deref(),
        Some(r#"3 spans rejected; first: span "no trace": invalid trace id"#)
    );
}

#[test]
fn unknown_model_is_unpriced_and_total_only_is_not_priced() {
    let doc = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
         "name": "chat mystery", "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "mystery-model-9"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "10"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"doubleValue": 5.0}}]},
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175",
         "name": "chat gpt-4o", "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "llm.usage.total_tokens", "value": {"intValue": 99}}]},
    ]}]}]});
    let req: ExportTraceServiceRequest = serde_json::from_value(doc).unwrap();
    let spans = map_traces(&req, &prices()).items;
    assert_eq!(spans[0].usage, Some(usage(10, 5, 0, 0, 0)));
    assert_eq!(spans[0].cost, None);
    assert_eq!(spans[1].usage, Some(usage(99, 0, 0, 0, 0)));
    assert_eq!(spans[1].cost, None);
    assert_eq!(
        json_of(spans[1].attributes.as_deref())["llmflow.usage_total_only"],
        true
    );
}

#[test]
fn spans_survive_reencoding() {
    for name in [
        "genai_current.json",
        "genai_deprecated.json",
        "openinference.json",
        "openllmetry_anthropic.json",
        "vercel_ai.json",
        "tool_span.json",
    ] {
        let req: ExportTraceServiceRequest = fixture(name);
        let again = reencoded(&req);
        assert_eq!(again, req, "{name}");
        let a = map_traces(&req, &prices()).items;
        let b = map_traces(&again, &prices()).items;
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}");
    }
}

// ---------------------------------------------------------------- logs

fn logs(name: &str) -> (Vec<LogRecord>, Vec<Span>) {
    let (m, spans) = map_logs(&fixture(name), &prices());
    assert_eq!((m.rejected, &m.message), (0, &None), "{name}");
    (m.items, spans)
}

fn log_attr(l: &LogRecord, key: &str) -> Value {
    json_of(l.attributes.as_deref())[key].clone()
}

#[test]
fn claude_code_logs() {
    let (logs, spans) = logs("claude_code_logs.json");
    assert_eq!(logs.len(), 4);
    assert_eq!(spans.len(), 2);

    let prompt = &logs[0];
    assert_eq!(prompt.time_ns, T0 + 4000 * MS);
    assert_eq!(prompt.observed_ns, Some(T0 + 4002 * MS));
    assert_eq!(prompt.severity_number, Some(9));
    assert_eq!(prompt.severity_text.as_deref(), Some("INFO"));
    assert_eq!(prompt.body.as_deref(), Some("claude_code.user_prompt"));
    assert_eq!(prompt.event_name.as_deref(), Some("user_prompt"));
    assert_eq!(prompt.service_name.as_deref(), Some("claude-code"));
    assert_eq!(prompt.session_id.as_deref(), Some("cc-session-1"));
    assert_eq!((&prompt.trace_id, &prompt.span_id), (&None, &None));
    assert_eq!(log_attr(prompt, "prompt_length"), "42");
    assert_eq!(
        json_of(prompt.resource.as_deref())["service.version"],
        "1.0.98"
    );
    assert_eq!(logs[3].severity_text.as_deref(), Some("ERROR"));
    assert_eq!(logs[3].event_name.as_deref(), Some("api_error"));

    let call = &spans[0];
    assert_eq!(call.id.len(), 16);
    assert_eq!(call.trace_id.len(), 32);
    assert_eq!(call.parent_id, None);
    assert_eq!(call.span_type, "llm");
    assert_eq!(call.name, "chat claude-sonnet-4-20250514");
    assert_eq!(call.provider.as_deref(), Some("anthropic"));
    assert_eq!(call.model.as_deref(), Some("claude-sonnet-4-20250514"));
    // Anthropic's input excludes the cache: 12 + 15000 + 800.
    assert_eq!(call.usage, Some(usage(15812, 340, 15000, 800, 0)));
    // Claude Code's own cost wins.
    assert_cost(call.cost, 0.0123);
    assert_eq!(call.duration_ms, 2500.0);
    assert_eq!(call.start_ns, T0 + 5000 * MS);
    assert_eq!(call.service_name.as_deref(), Some("claude-code"));
    assert_eq!(call.session_id.as_deref(), Some("cc-session-1"));
    assert_eq!(call.user_id.as_deref(), Some("acct-1"));
    assert_eq!((call.status, &call.error), (None, &None));
    let a = json_of(call.attributes.as_deref());
    assert_eq!(a["llmflow.log_id"], Value::String(logs[1].id.clone()));
    assert_eq!(a["resource"]["service.name"], "claude-code");

    let failed = &spans[1];
    assert_eq!(failed.status, Some(500));
    assert_eq!(failed.error.as_deref(), Some("Request timed out"));
    assert_eq!((failed.usage, failed.cost), (None, None));
    assert_eq!(failed.start_ns, T0 + 10_000 * MS);
    assert!(failed.is_error());
}

#[test]
fn codex_logs() {
    let (logs, spans) = logs("codex_logs.json");
    assert_eq!(logs.len(), 3);
    // Only `response.completed` carries usage.
    assert_eq!(spans.len(), 1);
    let done = &logs[2];
    assert_eq!(done.service_name.as_deref(), Some("codex_cli_rs"));
    assert_eq!(done.session_id.as_deref(), Some("019a-conv"));
    assert_eq!(done.event_name.as_deref(), Some("codex.sse_event"));
    assert_eq!(
        done.trace_id.as_deref(),
        Some("9e0e47364bf92f3577b34da6a3ce929d")
    );
    assert_eq!(done.span_id.as_deref(), Some("5000000000000001"));
    assert_eq!(log_attr(done, "input_token_count"), 5000);

    let call = &spans[0];
    assert_eq!(call.trace_id, "9e0e47364bf92f3577b34da6a3ce929d");
    assert_eq!(call.parent_id.as_deref(), Some("5000000000000001"));
    assert_eq!(call.provider.as_deref(), Some("openai"));
    assert_eq!(call.model.as_deref(), Some("gpt-5-codex"));
    // Input includes the cached tokens, output the reasoning ones (OpenAI's rules).
    assert_eq!(call.usage, Some(usage(5000, 800, 4000, 0, 512)));
    assert_cost(
        call.cost,
        1000.0 * 1.25e-6 + 4000.0 * 1.25e-7 + 800.0 * 1e-5,
    );
    assert_eq!(call.service_name.as_deref(), Some("codex-cli"));
    assert_eq!(call.session_id.as_deref(), Some("019a-conv"));
    assert_eq!(call.conversation_id.as_deref(), Some("019a-conv"));
    assert_eq!(call.user_id.as_deref(), Some("acct-codex"));
    assert_eq!(call.duration_ms, 4000.0);
    assert_eq!(call.start_ns, T0 + 2000 * MS);
}

#[test]
fn gemini_cli_logs() {
    let (logs, spans) = logs("gemini_cli_logs.json");
    assert_eq!(logs.len(), 3);
    assert_eq!(spans.len(), 2);
    assert_eq!(logs[0].severity_number, None);
    assert_eq!(logs[0].severity_text, None);
    assert_eq!(
        logs[0].event_name.as_deref(),
        Some("gemini_cli.user_prompt")
    );
    assert_eq!(logs[0].session_id.as_deref(), Some("gem-session"));

    let call = &spans[0];
    assert_eq!(call.provider.as_deref(), Some("gemini"));
    assert_eq!(call.model.as_deref(), Some("gemini-2.5-pro"));
    // Output is candidates + thoughts.
    assert_eq!(call.usage, Some(usage(9000, 650, 6000, 0, 250)));
    assert_cost(
        call.cost,
        3000.0 * 1.25e-6 + 6000.0 * 3.125e-7 + 650.0 * 1e-5,
    );
    assert_eq!(call.status, Some(200));
    assert_eq!(call.error, None);
    assert_eq!(call.output.as_deref(), Some("Done."));
    assert_eq!(call.service_name.as_deref(), Some("gemini-cli"));
    assert_eq!(call.session_id.as_deref(), Some("gem-session"));
    assert_eq!(call.user_id.as_deref(), Some("dev@example.com"));
    assert_eq!(call.duration_ms, 1800.0);

    let failed = &spans[1];
    assert_eq!(failed.status, Some(429));
    assert_eq!(failed.error.as_deref(), Some("quota exceeded"));
    assert_eq!(failed.usage, None);
}

#[test]
fn log_ids_are_stable_and_distinct() {
    for name in [
        "claude_code_logs.json",
        "codex_logs.json",
        "gemini_cli_logs.json",
    ] {
        let req: ExportLogsServiceRequest = fixture(name);
        let (a, sa) = map_logs(&req, &prices());
        let (b, sb) = map_logs(&reencoded(&req), &prices());
        assert_eq!(a, b, "{name}");
        assert_eq!(format!("{sa:?}"), format!("{sb:?}"), "{name}");
        let mut ids: Vec<_> = a.items.iter().map(|l| l.id.clone()).collect();
        ids.extend(sa.iter().map(|s| s.id.clone()));
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{name}: ids collide");
    }
    // Any change of content is another record.
    let mut req: ExportLogsServiceRequest = fixture("codex_logs.json");
    let before = map_logs(&req, &prices()).0.items[0].id.clone();
    req.resource_logs[0].scope_logs[0].log_records[0].observed_time_unix_nano += 1;
    assert_ne!(map_logs(&req, &prices()).0.items[0].id, before);
}

#[test]
fn structured_bodies_and_event_name_field() {
    let doc = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"observedTimeUnixNano": "1735689600000000000", "eventName": "app.checkout",
         "body": {"kvlistValue": {"values": [
             {"key": "cart", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}},
             {"key": "ok", "value": {"boolValue": true}}]}},
         "attributes": [{"key": "conversation.id", "value": {"stringValue": "c-1"}}]}
    ]}]}]});
    let req: ExportLogsServiceRequest = serde_json::from_value(doc).unwrap();
    let (m, spans) = map_logs(&req, &prices());
    let l = &m.items[0];
    assert_eq!(l.time_ns, T0);
    assert_eq!(json_of(l.body.as_deref()), json!({"cart": [1], "ok": true}));
    assert_eq!(l.event_name.as_deref(), Some("app.checkout"));
    assert_eq!(l.session_id.as_deref(), Some("c-1"));
    assert_eq!(l.service_name, None);
    assert_eq!(l.resource, None);
    assert!(spans.is_empty());
}

// ---------------------------------------------------------------- metrics

#[test]
fn metrics_all_kinds() {
    let req: ExportMetricsServiceRequest = fixture("metrics_all_kinds.json");
    let m = map_metrics(&req);
    assert_eq!((m.rejected, &m.message), (0, &None));
    let p = &m.items;
    assert_eq!(p.len(), 8);
    let by = |name: &str| p.iter().filter(|x| x.name == name).collect::<Vec<_>>();

    let tokens = by("claude_code.token.usage");
    assert_eq!(tokens.len(), 2);
    let t = tokens[0];
    assert_eq!(t.kind, MetricKind::Sum);
    assert_eq!(t.temporality.as_deref(), Some("delta"));
    assert_eq!(t.monotonic, Some(true));
    assert_eq!(t.value, Some(12.0));
    assert_eq!(tokens[1].value, Some(15000.0));
    assert_eq!(t.unit.as_deref(), Some("tokens"));
    assert_eq!(t.description.as_deref(), Some("Number of tokens used"));
    assert_eq!((t.start_ns, t.time_ns), (Some(T0), T0 + 60_000 * MS));
    assert_eq!(t.service_name.as_deref(), Some("claude-code"));
    assert_eq!(t.session_id.as_deref(), Some("cc-session-1"));
    assert_eq!(
        json_of(t.attributes.as_deref()),
        json!({"session.id": "cc-session-1", "model": "claude-sonnet-4-20250514", "type": "input"})
    );
    assert_eq!(
        json_of(tokens[1].attributes.as_deref())["type"],
        "cacheRead"
    );
    assert_eq!(
        json_of(t.resource.as_deref()),
        json!({"service.name": "claude-code", "service.version": "1.0.98"})
    );
    assert_eq!((t.count, t.sum, t.buckets.as_deref()), (None, None, None));

    let cost = by("claude_code.cost.usage")[0];
    assert_eq!(cost.value, Some(0.0123));
    assert_eq!(cost.unit.as_deref(), Some("USD"));

    let counter = by("http.client.request.count")[0];
    assert_eq!(counter.kind, MetricKind::Sum);
    assert_eq!(counter.temporality.as_deref(), Some("cumulative"));
    assert_eq!(counter.monotonic, Some(true));
    assert_eq!(counter.value, Some(42.0));
    assert_eq!(counter.service_name.as_deref(), Some("rag-service"));
    assert_eq!(counter.session_id, None);

    let gauge = by("system.cpu.utilization")[0];
    assert_eq!(gauge.kind, MetricKind::Gauge);
    assert_eq!(
        (gauge.temporality.as_deref(), gauge.monotonic),
        (None, None)
    );
    assert_eq!(gauge.value, Some(0.75));
    assert_eq!(gauge.start_ns, None);

    let h = by("gen_ai.client.token.usage")[0];
    assert_eq!(h.kind, MetricKind::Histogram);
    assert_eq!(h.temporality.as_deref(), Some("cumulative"));
    assert_eq!(h.monotonic, None);
    assert_eq!(h.value, None);
    assert_eq!(
        (h.count, h.sum, h.min, h.max),
        (Some(3), Some(1500.0), Some(100.0), Some(1000.0))
    );
    assert_eq!(
        json_of(h.buckets.as_deref()),
        json!({"bounds": [64.0, 256.0, 1024.0], "counts": [0, 1, 1, 1]})
    );
    assert_eq!(
        json_of(h.attributes.as_deref())["gen_ai.token.type"],
        "input"
    );

    let e = by("gen_ai.client.operation.duration")[0];
    assert_eq!(e.kind, MetricKind::ExponentialHistogram);
    assert_eq!(e.temporality.as_deref(), Some("delta"));
    assert_eq!(
        (e.count, e.sum, e.min, e.max),
        (Some(4), Some(3.2), Some(0.0), Some(1.5))
    );
    assert_eq!(
        json_of(e.buckets.as_deref()),
        json!({"scale": 3, "zero_count": 1, "zero_threshold": 0.0,
               "positive": {"offset": 2, "counts": [1, 2]},
               "negative": {"offset": 0, "counts": []}})
    );

    let s = by("rpc.server.latency")[0];
    assert_eq!(s.kind, MetricKind::Summary);
    assert_eq!((s.count, s.sum), (Some(10), Some(5.5)));
    assert_eq!(s.temporality, None);
    assert_eq!(
        json_of(s.buckets.as_deref()),
        json!({"quantiles": [{"quantile": 0.5, "value": 0.4}, {"quantile": 0.99, "value": 1.2}]})
    );
}

#[test]
fn metric_ids_are_stable_and_distinct() {
    let req: ExportMetricsServiceRequest = fixture("metrics_all_kinds.json");
    let a = map_metrics(&req);
    let b = map_metrics(&reencoded(&req));
    assert_eq!(a, b);
    let mut ids: Vec<_> = a.items.iter().map(|p| p.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), a.items.len());
    // The next export of the same series is a new point.
    let mut next = req.clone();
    if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) =
        &mut next.resource_metrics[0].scope_metrics[0].metrics[0].data
    {
        s.data_points[0].time_unix_nano += 60_000_000_000;
    }
    assert_ne!(map_metrics(&next).items[0].id, a.items[0].id);
    assert_eq!(map_metrics(&next).items[1].id, a.items[1].id);
}

#[test]
fn invalid_metric_points_are_rejected() {
    let doc = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "", "gauge": {"dataPoints": [{"timeUnixNano": "1", "asInt": "1"}]}},
        {"name": "no.value", "gauge": {"dataPoints": [
            {"timeUnixNano": "1"},
            {"timeUnixNano": "2", "asDouble": 2.5},
            {"timeUnixNano": "3", "flags": 1}]}},
        {"name": "nan", "sum": {"aggregationTemporality": 2, "dataPoints": [
            {"timeUnixNano": "1", "asDouble": "NaN"}]}},
        {"name": "no.data"},
    ]}]}]});
    let req: ExportMetricsServiceRequest = serde_json::from_value(doc).unwrap();
    let m = map_metrics(&req);
    // The flagged point (no recorded value) is a valid staleness marker: skipped, not rejected.
    assert_eq!(m.items.len(), 1);
    assert_eq!(m.items[0].value, Some(2.5));
    assert_eq!(m.rejected, 4);
    assert_eq!(
        m.message.as_deref(),
        Some("4 data points rejected; first: metric without a name")
    );
}
