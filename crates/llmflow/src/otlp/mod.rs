//! The OTLP receiver: traces, logs and metrics over HTTP (protobuf and JSON, gzip) and gRPC.
//! Records are mapped by `llmflow_core::otlp` and written through the store's queue; an
//! exporter gets its 200 only once they are committed, and "retry later" (503/UNAVAILABLE)
//! when the writer cannot keep up, so nothing acknowledged is ever lost.

mod grpc;
mod http;

use std::sync::Arc;

use llmflow_core::otlp::{self as mapping, Mapped};
use llmflow_core::{LogRecord, MetricPoint, Span};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::pricing::Pricing;
use crate::store::Store;

pub use self::http::router as http_router;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("llmflow is busy writing: retry later")]
    Busy,
    #[error("the write failed: retry later")]
    WriteFailed,
}

/// Shared by the HTTP and gRPC receivers.
pub struct Ingest {
    pub store: Arc<Store>,
    pub pricing: Arc<Pricing>,
    /// Largest request accepted, after decompression too.
    pub max_bytes: usize,
}

/// What was accepted: items rejected and why (for `partial_success`).
pub struct Accepted {
    pub rejected: u64,
    pub message: Option<String>,
}

impl Ingest {
    async fn commit(
        &self,
        spans: Vec<Span>,
        logs: Vec<LogRecord>,
        metrics: Vec<MetricPoint>,
    ) -> Result<(), IngestError> {
        if spans.is_empty() && logs.is_empty() && metrics.is_empty() {
            return Ok(());
        }
        let done = self
            .store
            .submit_batch(spans, logs, metrics)
            .ok_or(IngestError::Busy)?;
        match done.await {
            Ok(true) => Ok(()),
            _ => Err(IngestError::WriteFailed),
        }
    }

    fn accepted<T>(m: &Mapped<T>) -> Accepted {
        Accepted {
            rejected: m.rejected,
            message: m.message.clone(),
        }
    }

    pub async fn traces(&self, req: &ExportTraceServiceRequest) -> Result<Accepted, IngestError> {
        let mut mapped = mapping::map_traces(req, &self.pricing.current());
        let accepted = Self::accepted(&mapped);
        self.commit(std::mem::take(&mut mapped.items), Vec::new(), Vec::new())
            .await?;
        Ok(accepted)
    }

    pub async fn logs(&self, req: &ExportLogsServiceRequest) -> Result<Accepted, IngestError> {
        let (mut mapped, usage) = mapping::map_logs(req, &self.pricing.current());
        let accepted = Self::accepted(&mapped);
        self.commit(usage, std::mem::take(&mut mapped.items), Vec::new())
            .await?;
        Ok(accepted)
    }

    pub async fn metrics(
        &self,
        req: &ExportMetricsServiceRequest,
    ) -> Result<Accepted, IngestError> {
        let mut mapped = mapping::map_metrics(req);
        let accepted = Self::accepted(&mapped);
        self.commit(Vec::new(), Vec::new(), std::mem::take(&mut mapped.items))
            .await?;
        Ok(accepted)
    }
}

/// gRPC services for all three signals, as an axum router (served on the gRPC port with
/// HTTP/2 prior knowledge, beside the OTLP/HTTP routes).
pub fn grpc_router(ingest: Arc<Ingest>) -> axum::Router {
    grpc::router(ingest)
}
