//! OTLP/HTTP: `POST /v1/{traces,logs,metrics}`, protobuf or JSON (chosen by Content-Type,
//! answered in kind), optionally gzip-compressed, size-limited after decompression too.

use std::io::Read;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Accepted, Ingest, IngestError};

pub fn router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .with_state(ingest)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status`, the body of every OTLP error.
#[derive(Clone, PartialEq, Message, Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn status_response(enc: Encoding, http: StatusCode, code: i32, message: String) -> Response {
    let status = RpcStatus { code, message };
    let (ctype, body) = match enc {
        Encoding::Protobuf => ("application/x-protobuf", status.encode_to_vec()),
        Encoding::Json => (
            "application/json",
            serde_json::to_vec(&status).unwrap_or_default(),
        ),
    };
    let mut r = (http, [(header::CONTENT_TYPE, ctype)], body).into_response();
    if http == StatusCode::SERVICE_UNAVAILABLE || http == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// Reads, decompresses and decodes a request, or answers the error.
async fn decode<T: Message + Default + DeserializeOwned>(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Encoding, T), Response> {
    let Some(enc) = encoding(headers) else {
        return Err(status_response(
            Encoding::Json,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            "llmflow: OTLP/HTTP takes application/x-protobuf or application/json".into(),
        ));
    };
    let max = ingest.max_bytes;
    let too_large = || {
        status_response(
            enc,
            StatusCode::PAYLOAD_TOO_LARGE,
            8,
            format!("llmflow: OTLP request larger than {max} bytes (LLMFLOW_OTLP_MAX_BYTES)"),
        )
    };
    let raw: Bytes = match http_body_util::Limited::new(body, max).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large())
        }
        Err(e) => {
            return Err(status_response(
                enc,
                StatusCode::BAD_REQUEST,
                3,
                format!("llmflow: reading the request failed: {e}"),
            ))
        }
    };
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let bytes: Bytes = match content_encoding.as_str() {
        "identity" | "" => raw,
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            let mut reader = flate2::read::GzDecoder::new(&raw[..]).take(max as u64 + 1);
            if let Err(e) = reader.read_to_end(&mut out) {
                return Err(status_response(
                    enc,
                    StatusCode::BAD_REQUEST,
                    3,
                    format!("llmflow: invalid gzip body: {e}"),
                ));
            }
            if out.len() > max {
                return Err(too_large());
            }
            Bytes::from(out)
        }
        other => {
            return Err(status_response(
                enc,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                format!("llmflow: unsupported Content-Encoding '{other}' (gzip or none)"),
            ))
        }
    };
    let decoded = match enc {
        Encoding::Protobuf => T::decode(bytes).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice::<T>(&bytes).map_err(|e| e.to_string()),
    };
    match decoded {
        Ok(v) => Ok((enc, v)),
        Err(e) => Err(status_response(
            enc,
            StatusCode::BAD_REQUEST,
            3,
            format!("llmflow: undecodable OTLP request: {e}"),
        )),
    }
}

fn answer<R: Message + Serialize>(enc: Encoding, resp: &R) -> Response {
    let (ctype, body) = match enc {
        Encoding::Protobuf => ("application/x-protobuf", resp.encode_to_vec()),
        Encoding::Json => (
            "application/json",
            serde_json::to_vec(resp).unwrap_or_default(),
        ),
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

fn failed(enc: Encoding, e: IngestError) -> Response {
    // UNAVAILABLE: retryable, so exporters send it again and nothing is lost.
    status_response(
        enc,
        StatusCode::SERVICE_UNAVAILABLE,
        14,
        format!("llmflow: {e}"),
    )
}

fn partial(a: &Accepted) -> Option<(i64, String)> {
    (a.rejected > 0 || a.message.is_some()).then(|| {
        (
            i64::try_from(a.rejected).unwrap_or(i64::MAX),
            a.message.clone().unwrap_or_default(),
        )
    })
}

async fn traces(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let (enc, req) = match decode::<ExportTraceServiceRequest>(&ingest, &headers, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match ingest.traces(&req).await {
        Ok(a) => answer(
            enc,
            &ExportTraceServiceResponse {
                partial_success: partial(&a).map(|(n, m)| ExportTracePartialSuccess {
                    rejected_spans: n,
                    error_message: m,
                }),
            },
        ),
        Err(e) => failed(enc, e),
    }
}

async fn logs(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let (enc, req) = match decode::<ExportLogsServiceRequest>(&ingest, &headers, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match ingest.logs(&req).await {
        Ok(a) => answer(
            enc,
            &ExportLogsServiceResponse {
                partial_success: partial(&a).map(|(n, m)| ExportLogsPartialSuccess {
                    rejected_log_records: n,
                    error_message: m,
                }),
            },
        ),
        Err(e) => failed(enc, e),
    }
}

async fn metrics(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let (enc, req) = match decode::<ExportMetricsServiceRequest>(&ingest, &headers, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match ingest.metrics(&req).await {
        Ok(a) => answer(
            enc,
            &ExportMetricsServiceResponse {
                partial_success: partial(&a).map(|(n, m)| ExportMetricsPartialSuccess {
                    rejected_data_points: n,
                    error_message: m,
                }),
            },
        ),
        Err(e) => failed(enc, e),
    }
}
