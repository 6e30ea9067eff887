//! OTLP in, llmflow records out: spans become the same records as proxied calls, logs and
//! metric points keep everything they carried, and the AI coding CLIs' usage events become
//! LLM call records attached to their sessions.
//!
//! - `conventions`: every attribute name read, current and deprecated side by side.
//! - `values`: `AnyValue` -> JSON, lenient attribute lookup, hex ids, content hashes.
//! - `spans`: type, provider, model, tokens, cost, status; `messages`: chat-formatted
//!   input and output from every convention.
//! - `logs`: log records and AI-CLI usage events; `metrics`: one point per data point.
//!
//! The functions here never fail: what cannot be stored is counted in [`Mapped::rejected`]
//! with the first reason, for the receiver's `partial_success`.

pub mod conventions;
mod logs;
mod messages;
mod metrics;
mod spans;
pub mod values;

#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{json, Value};

use crate::pricing::PriceTable;
use crate::record::{LogRecord, MetricPoint, Span};
use values::Attrs;

pub use logs::severity_name;
pub use messages::{Message, ToolCall};

/// What a request mapped to, and how many items were rejected (and why), for
/// `partial_success`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped<T> {
    pub items: Vec<T>,
    pub rejected: u64,
    pub message: Option<String>,
}

impl<T> Mapped<T> {
    fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.message.is_none() {
            self.message = Some(reason);
        }
    }

    /// "N rejected; first: reason", once everything is counted.
    fn finish(mut self, what: &str) -> Self {
        if self.rejected > 1 {
            if let Some(first) = &self.message {
                self.message = Some(format!("{} {what} rejected; first: {first}", self.rejected));
            }
        }
        self
    }
}

/// Where items came from: their resource and instrumentation scope.
pub(crate) struct Origin<'a> {
    pub resource: Attrs<'a>,
    pub resource_kvs: &'a [KeyValue],
    pub scope: Option<&'a InstrumentationScope>,
}

impl<'a> Origin<'a> {
    fn new(resource: Option<&'a Resource>, scope: Option<&'a InstrumentationScope>) -> Self {
        let kvs = resource.map_or(&[][..], |r| r.attributes.as_slice());
        Self {
            resource: Attrs::new(kvs),
            resource_kvs: kvs,
            scope,
        }
    }

    pub fn service_name(&self) -> Option<String> {
        self.resource.text(conventions::SERVICE_NAME)
    }

    /// `{name, version}` of the scope, when it has a name.
    pub fn scope_json(&self) -> Option<Value> {
        let s = self.scope.filter(|s| !s.name.is_empty())?;
        let mut v = json!({ "name": s.name });
        if !s.version.is_empty() {
            v["version"] = Value::String(s.version.clone());
        }
        Some(v)
    }
}

/// Spans -> records (type, provider, model, tokens, cost, messages, session...).
pub fn map_traces(req: &ExportTraceServiceRequest, prices: &PriceTable) -> Mapped<Span> {
    let mut out = Mapped::default();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            let origin = Origin::new(rs.resource.as_ref(), ss.scope.as_ref());
            for s in &ss.spans {
                match spans::map_span(s, &origin, prices) {
                    Ok(span) => out.items.push(span),
                    Err(reason) => out.reject(reason),
                }
            }
        }
    }
    out.finish("spans")
}

/// Log records, plus one LLM call record per AI-CLI usage event (Claude Code `api_request`,
/// Codex `codex.sse_event` with `response.completed`, Gemini CLI `gemini_cli.api_response`;
/// also their API errors, as failed calls without usage).
pub fn map_logs(
    req: &ExportLogsServiceRequest,
    prices: &PriceTable,
) -> (Mapped<LogRecord>, Vec<Span>) {
    let mut out = Mapped::default();
    let mut calls = Vec::new();
    for rl in &req.resource_logs {
        for sl in &rl.scope_logs {
            let origin = Origin::new(rl.resource.as_ref(), sl.scope.as_ref());
            for r in &sl.log_records {
                let log = logs::map_log(r, &origin);
                calls.extend(logs::cli_span(r, &log, &origin, prices));
                out.items.push(log);
            }
        }
    }
    (out.finish("log records"), calls)
}

/// One point per data point, every kind, temporality and monotonicity kept.
pub fn map_metrics(req: &ExportMetricsServiceRequest) -> Mapped<MetricPoint> {
    let mut out = Mapped::default();
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            let origin = Origin::new(rm.resource.as_ref(), sm.scope.as_ref());
            for m in &sm.metrics {
                let mut mo = metrics::MetricOut::default();
                metrics::map_metric(m, &origin, &mut mo);
                out.items.append(&mut mo.points);
                for reason in mo.rejected {
                    out.reject(reason);
                }
            }
        }
    }
    out.finish("data points")
}
