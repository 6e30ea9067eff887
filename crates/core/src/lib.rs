//! Pure logic of llmflow: SSE decoding, usage extraction, pricing, redaction and the
//! record every observed call becomes. No I/O, no async, no panics.
#![forbid(unsafe_code)]

pub mod otlp;
pub mod pricing;
pub mod providers;
pub mod record;
pub mod redact;
pub mod sse;
pub mod usage;

pub use record::{BodyCapture, ErrorKind, LogRecord, MetricKind, MetricPoint, Span};
pub use usage::Usage;
