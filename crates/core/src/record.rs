//! The record every observed call or received span becomes, whatever its source.

use serde::{Deserialize, Serialize};

use crate::usage::Usage;

/// Whose fault a failed call was (Pingora's `ErrorSource`): decides 502/504 vs 400/413 vs 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The upstream refused, failed, timed out or broke the stream.
    Upstream,
    /// The client sent something unusable or went away.
    Downstream,
    /// llmflow itself failed.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Upstream => "upstream",
            ErrorKind::Downstream => "downstream",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upstream" => Some(ErrorKind::Upstream),
            "downstream" => Some(ErrorKind::Downstream),
            "internal" => Some(ErrorKind::Internal),
            _ => None,
        }
    }
}

/// A body as captured: at most the configured cap, with the true size kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyCapture {
    /// The first bytes of the body (never more than the cap).
    pub bytes: Vec<u8>,
    /// The full size seen on the wire.
    pub size: u64,
    /// `bytes` holds less than `size`.
    pub truncated: bool,
}

impl BodyCapture {
    /// Appends `chunk`, copying only what fits under `cap`.
    pub fn push(&mut self, chunk: &[u8], cap: usize) {
        self.size += chunk.len() as u64;
        let room = cap.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    pub fn from_bytes(bytes: &[u8], cap: usize) -> Self {
        let mut b = Self::default();
        b.push(bytes, cap);
        b
    }
}

/// One span: a proxied LLM call, a span received over OTLP or one posted to `/api/spans`.
#[derive(Debug, Clone, Default)]
pub struct Span {
    pub id: String,
    pub trace_id: String,
    pub parent_id: Option<String>,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_ns: i64,
    pub duration_ms: f64,
    /// Time to the first response byte (for a stream: the first chunk), from the start.
    pub ttft_ms: Option<f64>,
    /// `llm`, `embedding`, `tool`, `agent`, `chain`, `retrieval`, `trace`, `custom`...
    pub span_type: String,
    pub name: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// HTTP status returned to the client, when there was one.
    pub status: Option<u16>,
    pub error_kind: Option<ErrorKind>,
    pub error: Option<String>,
    /// The client went away before the response ended.
    pub cancelled: bool,
    /// `None` when the usage is unknown (no usage in the response, parse failure).
    pub usage: Option<Usage>,
    /// `None` when unpriced (unknown model or unknown usage), never a guess.
    pub cost: Option<f64>,
    pub tags: Vec<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub streamed: bool,
    pub chunks: u64,
    pub service_name: Option<String>,
    pub session_id: Option<String>,
    pub conversation_id: Option<String>,
    pub user_id: Option<String>,
    /// Redacted request headers, in order received.
    pub request_headers: Vec<(String, String)>,
    pub request_body: BodyCapture,
    pub response_headers: Vec<(String, String)>,
    pub response_body: BodyCapture,
    /// Chat-formatted input (the request's messages) as JSON text.
    pub input: Option<String>,
    /// Plain text of the input, for full-text search only (not stored as a column).
    pub input_text: Option<String>,
    /// The answer's text (or JSON for structured outputs).
    pub output: Option<String>,
    /// Free-form attributes (JSON object text).
    pub attributes: Option<String>,
}

impl Span {
    pub fn is_error(&self) -> bool {
        self.error_kind.is_some() || self.status.is_some_and(|s| s >= 400)
    }

    pub fn end_ns(&self) -> i64 {
        self.start_ns + (self.duration_ms * 1_000_000.0) as i64
    }
}

/// One OTLP log record (an event from an app or an AI coding CLI).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRecord {
    /// Stable id derived from the record's content, so an exporter's retry is stored once.
    pub id: String,
    pub time_ns: i64,
    pub observed_ns: Option<i64>,
    pub severity_number: Option<i32>,
    /// As sent, else derived from the number (TRACE, DEBUG, INFO, WARN, ERROR, FATAL).
    pub severity_text: Option<String>,
    /// The body as text (strings as is, structured values as JSON).
    pub body: Option<String>,
    /// Hex, when the record belongs to a trace.
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub service_name: Option<String>,
    /// `event.name` attribute or the record's own `event_name` field.
    pub event_name: Option<String>,
    pub session_id: Option<String>,
    /// JSON object text of the record's attributes.
    pub attributes: Option<String>,
    /// JSON object text of the resource's attributes.
    pub resource: Option<String>,
}

/// Kind of an OTLP metric data point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricKind {
    #[default]
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Sum => "sum",
            MetricKind::Histogram => "histogram",
            MetricKind::ExponentialHistogram => "exponential_histogram",
            MetricKind::Summary => "summary",
        }
    }
}

/// One metric data point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricPoint {
    /// Stable id derived from name, attributes, resource and time, so a retry is stored once.
    pub id: String,
    pub time_ns: i64,
    pub start_ns: Option<i64>,
    pub name: String,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub kind: MetricKind,
    /// `delta` or `cumulative` (sums and histograms).
    pub temporality: Option<String>,
    pub monotonic: Option<bool>,
    /// Gauge and sum value.
    pub value: Option<f64>,
    pub count: Option<u64>,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Bucket bounds and counts (histograms), scale/offsets (exponential) or quantiles
    /// (summaries), as JSON text.
    pub buckets: Option<String>,
    pub service_name: Option<String>,
    pub session_id: Option<String>,
    /// JSON object text of the point's attributes.
    pub attributes: Option<String>,
    /// JSON object text of the resource's attributes.
    pub resource: Option<String>,
}
