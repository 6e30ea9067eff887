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

// ---------------------------------------------------------------- logs, metrics, sessions,
// timeline and usage analytics (`api::otel`)

use crate::store::otel_query::{
    self as oq, Facet, LogFacets, MetricFacets, MetricSummary, SessionDetail, SessionSummary,
    TimelineItem, TokenRow, UsageGroup, UsageTotals,
};
use llmflow_core::MetricKind;

pub fn logs_json(logs: &[LogRecord]) -> Value {
    Value::Array(logs.iter().map(log_json).collect())
}

fn facets_json(f: &[Facet]) -> Value {
    f.iter()
        .map(|f| serde_json::json!({ "value": f.value, "count": f.count }))
        .collect()
}

/// `GET /api/logs/filters`.
pub fn log_facets_json(f: &LogFacets) -> Value {
    serde_json::json!({
        "services": facets_json(&f.services),
        "event_names": facets_json(&f.event_names),
        "severities": facets_json(&f.severities),
    })
}

/// `GET /api/metrics/filters`.
pub fn metric_facets_json(f: &MetricFacets) -> Value {
    let names: Vec<Value> = f
        .names
        .iter()
        .map(|(name, unit, kind, count)| {
            serde_json::json!({ "name": name, "unit": unit, "metric_type": kind, "count": count })
        })
        .collect();
    serde_json::json!({
        "names": names,
        "services": facets_json(&f.services),
        "metric_types": facets_json(&f.metric_types),
    })
}

/// One metric of `/api/metrics/summary`. `total` is what a sum counted in the window
/// (cumulative series never added point by point); gauges have `latest_value`, `min`, `max`,
/// `avg`; histograms and summaries `count`, `sum` (and `min`, `max`, `avg` = sum / count).
pub fn metric_summary_json(m: &MetricSummary) -> Value {
    let gauge_like = !matches!(m.kind, MetricKind::Sum);
    let only = |v: Option<f64>| if gauge_like { v } else { None };
    serde_json::json!({
        "name": m.name,
        "unit": m.unit,
        "description": m.description,
        "metric_type": m.kind.as_str(),
        "temporality": m.temporality,
        "monotonic": m.monotonic,
        "points": m.points,
        "series": m.series,
        "first_timestamp": ms(m.first_ns),
        "last_timestamp": ms(m.last_ns),
        "latest_value": m.latest_value,
        "total": m.total,
        "count": m.count,
        "sum": m.sum,
        "min": only(m.min),
        "max": only(m.max),
        "avg": only(m.avg),
    })
}

/// A token type as the CLIs and GenAI send it, in one vocabulary: `input`, `output`,
/// `cache_read`, `cache_creation`, `reasoning`, `tool` (others as sent).
fn token_kind(raw: Option<&str>) -> String {
    match raw.unwrap_or("unknown") {
        "input" | "prompt" => "input",
        "output" | "completion" => "output",
        "cacheRead" | "cache_read" | "cache" | "cached" => "cache_read",
        "cacheCreation" | "cache_creation" | "cache_write" => "cache_creation",
        "thought" | "thoughts" | "reasoning" => "reasoning",
        "tool" => "tool",
        other => other,
    }
    .to_owned()
}

/// `GET /api/metrics/tokens`: totals by token type, by model and by tool, and the rows they
/// come from.
pub fn token_metrics_json(rows: &[TokenRow]) -> Value {
    let mut by_type: Map<String, Value> = Map::new();
    let mut by_model: Vec<(Option<&str>, Map<String, Value>)> = Vec::new();
    let mut by_tool: Vec<(Option<&str>, Map<String, Value>)> = Vec::new();
    let add = |m: &mut Map<String, Value>, k: &str, v: f64| {
        let prev = m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        m.insert(k.to_owned(), Value::from(prev + v));
    };
    let mut total = 0.0;
    for r in rows {
        let kind = token_kind(r.token_type.as_deref());
        total += r.tokens;
        add(&mut by_type, &kind, r.tokens);
        for (list, key) in [
            (&mut by_model, r.model.as_deref()),
            (&mut by_tool, r.tool.as_deref()),
        ] {
            let i = match list.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    list.push((key, Map::new()));
                    list.len() - 1
                }
            };
            add(&mut list[i].1, &kind, r.tokens);
            add(&mut list[i].1, "total", r.tokens);
        }
    }
    let keyed = |name: &str, list: Vec<(Option<&str>, Map<String, Value>)>| {
        let mut out: Vec<Value> = list
            .into_iter()
            .map(|(k, mut m)| {
                m.insert(
                    name.to_owned(),
                    k.map_or(Value::Null, |k| Value::String(k.into())),
                );
                Value::Object(m)
            })
            .collect();
        out.sort_by(|a, b| {
            let t = |v: &Value| v["total"].as_f64().unwrap_or(0.0);
            t(b).total_cmp(&t(a))
        });
        out
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "metric": r.metric,
                "tool": r.tool,
                "type": token_kind(r.token_type.as_deref()),
                "raw_type": r.token_type,
                "model": r.model,
                "tokens": r.tokens,
                "points": r.points,
            })
        })
        .collect();
    serde_json::json!({
        "total": total,
        "by_type": by_type,
        "by_model": keyed("model", by_model),
        "by_tool": keyed("tool", by_tool),
        "rows": rows,
    })
}

/// Token and cost fields shared by sessions, models and analytics rows.
pub fn usage_fields(t: &UsageTotals) -> Map<String, Value> {
    let u = &t.usage;
    let Value::Object(m) = serde_json::json!({
        "requests": t.requests,
        "errors": t.errors,
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.total(),
        "cache_read_tokens": u.cache_read,
        "cache_write_tokens": u.cache_write,
        "reasoning_tokens": u.reasoning,
        "cost": t.cost,
        "unpriced_requests": t.unpriced,
    }) else {
        return Map::new();
    };
    m
}

/// A session in `/api/sessions`.
pub fn session_json(s: &SessionSummary) -> Value {
    let mut m = usage_fields(&s.totals);
    m.remove("requests");
    let extra = serde_json::json!({
        "session_id": s.session_id,
        "first_seen": ms(s.first_ns),
        "last_seen": ms(s.last_ns),
        "trace_count": s.trace_count,
        "span_count": s.span_count,
        "log_count": s.log_count,
        "total_cost": s.totals.cost,
        "total_tokens": s.totals.usage.total(),
        "agent_name": s.agent_name,
        "service_name": s.service_name,
        "tool": s.tool,
    });
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

/// `GET /api/sessions/:id`: the summary with per-model usage and tools used, its spans
/// (newest first) and its logs (oldest first).
pub fn session_detail_json(d: &SessionDetail) -> Value {
    let mut session = session_json(&d.summary);
    let models: Vec<Value> = d
        .models
        .iter()
        .map(|m| {
            let mut v = usage_fields(&m.totals);
            v.insert("provider".into(), serde_json::json!(m.provider));
            v.insert("model".into(), serde_json::json!(m.model));
            Value::Object(v)
        })
        .collect();
    let tools: Vec<Value> = d
        .tools
        .iter()
        .map(|t| serde_json::json!({ "name": t.value, "count": t.count }))
        .collect();
    if let Value::Object(m) = &mut session {
        m.insert("models".into(), Value::Array(models));
        m.insert("tools".into(), Value::Array(tools));
    }
    let traces: Vec<TraceJson> = d.spans.iter().map(TraceJson::new).collect();
    serde_json::json!({
        "session": session,
        "traces": traces,
        "logs": logs_json(&d.logs),
    })
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.4}")
    }
}

/// A timeline entry: the record's own JSON (as in its list) plus `type`, `title`, `tool`.
pub fn timeline_item_json(item: &TimelineItem) -> Value {
    let (kind, title, tool, mut v) = match item {
        TimelineItem::Span(s) => {
            let title = match (&s.model, s.name.contains(s.model.as_deref().unwrap_or(""))) {
                (Some(m), false) => format!("{} {m}", s.name),
                _ => s.name.clone(),
            };
            (
                "trace",
                title,
                oq::tool_name(s.service_name.as_deref(), s.method.is_some()),
                serde_json::to_value(TraceJson::new(s)).unwrap_or(Value::Null),
            )
        }
        TimelineItem::Log(l) => {
            let title = l
                .event_name
                .clone()
                .or_else(|| l.body.as_deref().map(|b| clip(b, 120)))
                .unwrap_or_else(|| "log".into());
            (
                "log",
                title,
                oq::tool_name(l.service_name.as_deref(), false),
                log_json(l),
            )
        }
        TimelineItem::Metric(m) => {
            let shown = match (m.value, m.count, m.sum) {
                (Some(v), _, _) => format!("{} = {}", m.name, number(v)),
                (None, Some(c), Some(s)) => {
                    format!("{} count={c} sum={}", m.name, number(s))
                }
                _ => m.name.clone(),
            };
            (
                "metric",
                shown,
                oq::tool_name(m.service_name.as_deref(), false),
                metric_json(m),
            )
        }
    };
    if let Value::Object(o) = &mut v {
        o.insert("type".into(), Value::String(kind.into()));
        o.insert("title".into(), Value::String(title));
        o.insert("tool".into(), serde_json::json!(tool));
    }
    v
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2025-01-31` (UTC).
pub fn utc_date(unix_s: i64) -> String {
    let (y, m, d) = civil_date(unix_s.div_euclid(oq::DAY_S));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A usage row: its key fields (bucket `timestamp` and `date`, `provider`/`model`, `tool`,
/// as grouped) and the usage fields. Hour buckets also carry `hour` (`2025-01-31T13:00Z`).
pub fn usage_group_json(g: &UsageGroup, width_s: i64) -> Value {
    let mut m = Map::new();
    if let Some(b) = g.bucket_s {
        m.insert("timestamp".into(), Value::from(b.saturating_mul(1000)));
        m.insert("date".into(), Value::String(utc_date(b)));
        if width_s < oq::DAY_S {
            let h = b.rem_euclid(oq::DAY_S) / oq::HOUR_S;
            m.insert(
                "hour".into(),
                Value::String(format!("{}T{h:02}:00Z", utc_date(b))),
            );
        }
    }
    if g.provider.is_some() || g.model.is_some() {
        m.insert("provider".into(), serde_json::json!(g.provider));
        m.insert("model".into(), serde_json::json!(g.model));
    }
    if let Some(t) = &g.tool {
        m.insert("tool".into(), Value::String(t.clone()));
    }
    m.extend(usage_fields(&g.totals));
    Value::Object(m)
}

pub fn usage_groups_json(groups: &[UsageGroup], width_s: i64) -> Value {
    groups
        .iter()
        .map(|g| usage_group_json(g, width_s))
        .collect()
}

/// The sum of rows, as usage fields.
pub fn usage_total_json(groups: &[UsageGroup]) -> Value {
    let mut t = UsageTotals::default();
    for g in groups {
        t.add(&g.totals);
    }
    Value::Object(usage_fields(&t))
}
