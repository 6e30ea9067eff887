//! OTLP in, llmflow records out: spans become the same records as proxied calls, logs and
//! metric points keep everything they carried, and the AI coding CLIs' usage events become
//! LLM call records attached to their sessions. (Contract; being written.)

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::pricing::PriceTable;
use crate::record::{LogRecord, MetricPoint, Span};

/// What a request mapped to, and how many items were rejected (and why), for
/// `partial_success`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped<T> {
    pub items: Vec<T>,
    pub rejected: u64,
    pub message: Option<String>,
}

/// Spans -> records (type, provider, model, tokens, cost, messages, session...).
pub fn map_traces(req: &ExportTraceServiceRequest, prices: &PriceTable) -> Mapped<Span> {
    let _ = (req, prices);
    Mapped::default()
}

/// Log records, plus one LLM call record per AI-CLI usage event (Claude Code `api_request`,
/// Codex `codex.sse_event` with `response.completed`, Gemini CLI `gemini_cli.api_response`).
pub fn map_logs(
    req: &ExportLogsServiceRequest,
    prices: &PriceTable,
) -> (Mapped<LogRecord>, Vec<Span>) {
    let _ = (req, prices);
    (Mapped::default(), Vec::new())
}

/// One point per data point, every kind, temporality and monotonicity kept.
pub fn map_metrics(req: &ExportMetricsServiceRequest) -> Mapped<MetricPoint> {
    let _ = req;
    Mapped::default()
}
