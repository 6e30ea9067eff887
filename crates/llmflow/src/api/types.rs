//! The JSON the dashboard and API clients see. Rows are never serialised straight out of SQL;
//! every shape is defined here.

use llmflow_core::{BodyCapture, LogRecord, MetricPoint, Span};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::store::{ModelRow, Stats, TraceTree};

fn ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

/// A span in lists, the live feed and exports. Field names follow the original LLMFlow
/// (`prompt_tokens`, `estimated_cost`, `timestamp`...) so its users' scripts keep working.
#[derive(Debug, Serialize)]
pub struct TraceJson<'a> {
    pub id: &'a str,
    pub trace_id: &'a str,
    pub parent_id: Option<&'a str>,
    /// Start, Unix milliseconds.
    pub timestamp: i64,
    pub start_time: i64,
    pub end_time: i64,
    pub duration_ms: f64,
    pub ttft_ms: Option<f64>,
    pub span_type: &'a str,
    pub span_name: &'a str,
    pub provider: Option<&'a str>,
    pub model: Option<&'a str>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    /// USD; `null` when unpriced.
    pub estimated_cost: Option<f64>,
    pub unpriced: bool,
    pub status: Option<u16>,
    pub is_error: bool,
    pub error: Option<&'a str>,
    pub error_kind: Option<&'static str>,
    pub cancelled: bool,
    pub streamed: bool,
    pub chunks: u64,
    pub request_method: Option<&'a str>,
    pub request_path: Option<&'a str>,
    pub tags: &'a [String],
    pub service_name: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub conversation_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
}

impl<'a> TraceJson<'a> {
    pub fn new(s: &'a Span) -> Self {
        let u = s.usage;
        Self {
            id: &s.id,
            trace_id: &s.trace_id,
            parent_id: s.parent_id.as_deref(),
            timestamp: ms(s.start_ns),
            start_time: ms(s.start_ns),
            end_time: ms(s.end_ns()),
            duration_ms: s.duration_ms,
            ttft_ms: s.ttft_ms,
            span_type: &s.span_type,
            span_name: &s.name,
            provider: s.provider.as_deref(),
            model: s.model.as_deref(),
            prompt_tokens: u.map(|u| u.input),
            completion_tokens: u.map(|u| u.output),
            total_tokens: u.map(|u| u.total()),
            cache_read_tokens: u.map(|u| u.cache_read),
            cache_write_tokens: u.map(|u| u.cache_write),
            reasoning_tokens: u.map(|u| u.reasoning),
            estimated_cost: s.cost,
            unpriced: s.cost.is_none() && u.is_some(),
            status: s.status,
            is_error: s.is_error(),
            error: s.error.as_deref(),
            error_kind: s.error_kind.map(|k| k.as_str()),
            cancelled: s.cancelled,
            streamed: s.streamed,
            chunks: s.chunks,
            request_method: s.method.as_deref(),
            request_path: s.path.as_deref(),
            tags: &s.tags,
            service_name: s.service_name.as_deref(),
            session_id: s.session_id.as_deref(),
            conversation_id: s.conversation_id.as_deref(),
            user_id: s.user_id.as_deref(),
        }
    }
}

/// Headers as an object; repeated names joined with `, ` (as HTTP allows).
pub fn headers_object(h: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in h {
        match m.get_mut(k) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                m.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    Value::Object(m)
}

/// A stored body: parsed JSON when it is complete JSON, else text (lossy for binary).
pub fn body_value(b: &BodyCapture) -> Value {
    if b.bytes.is_empty() {
        return Value::Null;
    }
    if !b.truncated {
        if let Ok(v) = serde_json::from_slice::<Value>(&b.bytes) {
            return v;
        }
    }
    Value::String(String::from_utf8_lossy(&b.bytes).into_owned())
}

fn json_text(t: Option<&str>) -> Value {
    match t {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())),
    }
}

/// `GET /api/traces/:id`.
pub fn detail(s: &Span) -> Value {
    let mut trace = serde_json::to_value(TraceJson::new(s)).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut trace {
        m.insert("input".into(), json_text(s.input.as_deref()));
        m.insert(
            "output".into(),
            s.output.clone().map(Value::String).unwrap_or(Value::Null),
        );
        m.insert("attributes".into(), json_text(s.attributes.as_deref()));
    }
    serde_json::json!({
        "trace": trace,
        "request": {
            "method": s.method,
            "path": s.path,
            "headers": headers_object(&s.request_headers),
            "body": body_value(&s.request_body),
            "body_size": s.request_body.size,
            "truncated": s.request_body.truncated,
        },
        "response": {
            "status": s.status,
            "headers": headers_object(&s.response_headers),
            "body": body_value(&s.response_body),
            "body_size": s.response_body.size,
            "truncated": s.response_body.truncated,
        },
    })
}

/// `GET /api/traces/:id/tree`: the summary and the spans nested under their parents.
/// Spans whose parent is not in the trace are roots.
pub fn tree(t: &TraceTree) -> Value {
    let spans = &t.spans;
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(Span::end_ns).max().unwrap_or(start);
    let total_cost: f64 = spans.iter().filter_map(|s| s.cost).sum();
    let total_tokens: u64 = spans
        .iter()
        .filter_map(|s| s.usage)
        .map(|u| u.total())
        .sum();
    let index: std::collections::HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_id.as_deref().and_then(|p| index.get(p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    // Iterative build (deep traces must not overflow the stack): children before parents.
    let mut order = Vec::with_capacity(spans.len());
    let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
    let mut seen = vec![false; spans.len()];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push(i);
        stack.extend(children[i].iter().rev().copied());
    }
    let mut built: Vec<Option<Value>> = vec![None; spans.len()];
    for &i in order.iter().rev() {
        let kids: Vec<Value> = children[i]
            .iter()
            .filter_map(|&c| built[c].take())
            .collect();
        let mut v = serde_json::to_value(TraceJson::new(&spans[i])).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("children".into(), Value::Array(kids));
        }
        built[i] = Some(v);
    }
    let roots: Vec<Value> = roots.iter().filter_map(|&r| built[r].take()).collect();
    serde_json::json!({
        "trace": {
            "trace_id": t.trace_id,
            "start_time": ms(start),
            "end_time": ms(end),
            "duration_ms": (end - start) as f64 / 1e6,
            "total_cost": total_cost,
            "total_tokens": total_tokens,
            "span_count": spans.len(),
        },
        "spans": roots,
    })
}

fn avg(sum: f64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

pub fn model_json(m: &ModelRow) -> Value {
    serde_json::json!({
        "model": if m.model.is_empty() { None } else { Some(&m.model) },
        "provider": if m.provider.is_empty() { None } else { Some(&m.provider) },
        "requests": m.requests,
        "count": m.requests,
        "errors": m.errors,
        "prompt_tokens": m.usage.input,
        "completion_tokens": m.usage.output,
        "total_tokens": m.usage.total(),
        "tokens": m.usage.total(),
        "cache_read_tokens": m.usage.cache_read,
        "cache_write_tokens": m.usage.cache_write,
        "reasoning_tokens": m.usage.reasoning,
        "total_cost": m.cost,
        "cost": m.cost,
        "unpriced_requests": m.unpriced,
        "avg_latency_ms": avg(m.duration_ms, m.requests),
        "avg_ttft_ms": avg(m.ttft_ms, m.ttft_count),
    })
}

pub fn stats_json(s: &Stats) -> Value {
    serde_json::json!({
        "total_requests": s.requests,
        "total_tokens": s.usage.total(),
        "prompt_tokens": s.usage.input,
        "completion_tokens": s.usage.output,
        "cache_read_tokens": s.usage.cache_read,
        "cache_write_tokens": s.usage.cache_write,
        "reasoning_tokens": s.usage.reasoning,
        "total_cost": s.cost,
        "unpriced_requests": s.unpriced,
        "total_duration": s.duration_ms,
        "error_count": s.errors,
        "avg_latency": avg(s.duration_ms, s.requests),
        "avg_ttft": avg(s.ttft_ms, s.ttft_count),
        "models": s.models.iter().map(model_json).collect::<Vec<_>>(),
    })
}

fn ms_opt(ns: Option<i64>) -> Option<i64> {
    ns.map(ms)
}

/// A log record (`/api/logs`, `new_log`).
pub fn log_json(l: &LogRecord) -> Value {
    serde_json::json!({
        "id": l.id,
        "timestamp": ms(l.time_ns),
        "observed_timestamp": ms_opt(l.observed_ns),
        "severity_number": l.severity_number,
        "severity_text": l.severity_text,
        "body": l.body,
        "trace_id": l.trace_id,
        "span_id": l.span_id,
        "service_name": l.service_name,
        "event_name": l.event_name,
        "session_id": l.session_id,
        "attributes": json_text(l.attributes.as_deref()),
        "resource": json_text(l.resource.as_deref()),
    })
}

/// A metric data point (`/api/metrics`, `new_metric`).
pub fn metric_json(m: &MetricPoint) -> Value {
    serde_json::json!({
        "id": m.id,
        "timestamp": ms(m.time_ns),
        "start_timestamp": ms_opt(m.start_ns),
        "name": m.name,
        "description": m.description,
        "unit": m.unit,
        "metric_type": m.kind.as_str(),
        "temporality": m.temporality,
        "monotonic": m.monotonic,
        "value": m.value,
        "count": m.count,
        "sum": m.sum,
        "min": m.min,
        "max": m.max,
        "buckets": json_text(m.buckets.as_deref()),
        "service_name": m.service_name,
        "session_id": m.session_id,
        "attributes": json_text(m.attributes.as_deref()),
        "resource": json_text(m.resource.as_deref()),
    })
}
