//! The dashboard port's JSON API and WebSocket feed.

pub mod otel;
pub mod types;
pub mod ws;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use llmflow_core::{BodyCapture, Span, Usage};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::pricing::Pricing;
use crate::store::{self, ExportCursor, Store, StoreError, TraceFilter};

pub struct ApiState {
    pub config: Arc<Config>,
    pub client: crate::proxy::HttpClient,
    pub store: Arc<Store>,
    pub pricing: Arc<Pricing>,
    pub started: Instant,
    pub hub: ws::Hub,
    pub dashboard_port: u16,
    pub proxy_port: u16,
}

/// Every API failure, with its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("queue full: the span was not recorded; retry later")]
    Busy,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound | ApiError::Store(StoreError::NotFound) => StatusCode::NOT_FOUND,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "API error");
        }
        let mut r = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if matches!(self, ApiError::Busy) {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/health/providers", get(provider_health))
        .route("/api/stats", get(stats))
        .route("/api/models", get(models))
        .route("/api/traces", get(traces))
        .route("/api/traces/export", get(export))
        .route("/api/traces/{id}", get(trace_detail))
        .route("/api/traces/{id}/tree", get(trace_tree))
        .route("/api/spans", post(create_span))
        .route("/ws", get(ws::upgrade))
        .merge(otel::routes())
        .with_state(state)
}

async fn health(State(st): State<Arc<ApiState>>) -> Json<Value> {
    let c = st.store.counters();
    let pricing = st.pricing.current();
    Json(json!({
        "status": "ok",
        "service": "dashboard",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": st.started.elapsed().as_secs(),
        "ports": { "proxy": st.proxy_port, "dashboard": st.dashboard_port },
        "database": {
            "path": st.store.path().display().to_string(),
            "size_bytes": st.store.size_bytes(),
            "spans": c.span_rows.load(Ordering::Relaxed),
        },
        "writer": {
            "queue_depth": c.queued.load(Ordering::Relaxed),
            "queue_capacity": st.store.queue_capacity(),
            "written": c.written.load(Ordering::Relaxed),
            "dropped": c.dropped.load(Ordering::Relaxed),
            "write_errors": c.write_errors.load(Ordering::Relaxed),
            "pruned_traces": c.pruned_traces.load(Ordering::Relaxed),
        },
        "dropped": c.dropped.load(Ordering::Relaxed),
        "retention": {
            "max_traces": st.config.max_traces,
            "max_logs": st.config.max_logs,
            "max_metrics": st.config.max_metrics,
        },
        "pricing": { "source": pricing.source, "models": pricing.len() },
        "websocket_clients": st.hub.clients(),
    }))
}

/// Reachability of every provider with a key (Ollama needs none), checked concurrently.
async fn provider_health(State(st): State<Arc<ApiState>>) -> Json<Value> {
    use crate::proxy::upstreams::AuthStyle;
    use llmflow_core::providers::Provider;
    let checks = st.config.upstreams.list.iter().map(|u| {
        let client = st.client.clone();
        let azure_without_host = u.name == "azure" && !st.config.upstreams.azure.base_override;
        async move {
            let needs_key = u.wire != Provider::Ollama && !(u.custom && u.key.is_none());
            if (needs_key && u.key.is_none()) || azure_without_host {
                return (u.name.clone(), json!({ "status": "unconfigured", "key_env": u.key_vars }));
            }
            let path = match u.wire {
                Provider::Ollama => "/api/tags",
                Provider::Gemini => "/v1beta/models",
                _ => "/v1/models",
            };
            let base = u.base.to_string();
            let uri = format!("{}{path}", base.trim_end_matches('/'));
            let mut req = http::Request::get(uri.as_str());
            if let Some(k) = &u.key {
                req = match u.auth {
                    AuthStyle::Bearer => req.header("authorization", format!("Bearer {}", k.0)),
                    AuthStyle::XApiKey => req.header("x-api-key", &k.0).header("anthropic-version", "2023-06-01"),
                    AuthStyle::GoogApiKey => req.header("x-goog-api-key", &k.0),
                    AuthStyle::ApiKey => req.header("api-key", &k.0),
                };
            }
            let started = Instant::now();
            let result = match req.body(Body::empty()) {
                Ok(r) => tokio::time::timeout(std::time::Duration::from_secs(5), client.request(r)).await,
                Err(e) => return (u.name.clone(), json!({ "status": "error", "message": e.to_string() })),
            };
            let latency = started.elapsed().as_secs_f64() * 1000.0;
            let v = match result {
                Ok(Ok(resp)) if resp.status().is_success() => {
                    json!({ "status": "ok", "latency_ms": latency, "http_status": resp.status().as_u16() })
                }
                Ok(Ok(resp)) => json!({
                    "status": "error", "latency_ms": latency, "http_status": resp.status().as_u16(),
                    "message": format!("answered HTTP {}", resp.status()),
                }),
                Ok(Err(e)) => json!({ "status": "error", "latency_ms": latency, "message": e.to_string() }),
                Err(_) => json!({ "status": "error", "message": "no answer within 5 s" }),
            };
            (u.name.clone(), v)
        }
    });
    let results = futures_util::future::join_all(checks).await;
    let map: serde_json::Map<String, Value> = results.into_iter().collect();
    Json(json!({ "providers": map }))
}

async fn stats(State(st): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let s = st.store.read(store::stats).await?;
    Ok(Json(types::stats_json(&s)))
}

async fn models(State(st): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let rows = st.store.read(|c| store::model_rows(c, 0)).await?;
    Ok(Json(Value::Array(
        rows.iter().map(types::model_json).collect(),
    )))
}

#[derive(Debug, Deserialize)]
struct Page {
    limit: Option<u32>,
    offset: Option<u64>,
}

/// Parses the query string into a filter, with a clear 400 for bad values.
fn parse_query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or("");
    serde_urlencoded_from_str(raw).map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))
}

fn serde_urlencoded_from_str<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, String> {
    // Empty values mean "no filter" (forms send `model=`).
    let cleaned: Vec<&str> = raw
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.ends_with('='))
        .collect();
    Query::<T>::try_from_uri(
        &format!("/?{}", cleaned.join("&"))
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?,
    )
    .map(|q| q.0)
    .map_err(|e| e.body_text())
}

async fn traces(State(st): State<Arc<ApiState>>, uri: http::Uri) -> Result<Json<Value>, ApiError> {
    let filter: TraceFilter = parse_query(uri.query())?;
    let page: Page = parse_query(uri.query())?;
    let limit = page.limit.unwrap_or(50).clamp(1, 1000);
    let offset = page.offset.unwrap_or(0);
    let rows = st.store.counters().span_rows.load(Ordering::Relaxed);
    let (spans, total) = st
        .store
        .read(move |c| store::list_spans(c, &filter, limit, offset, rows))
        .await?;
    let items: Vec<_> = spans.iter().map(types::TraceJson::new).collect();
    Ok(Json(json!({
        "traces": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

async fn trace_detail(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (d, logs) = st
        .store
        .read(move |c| {
            let d = store::span_detail(c, &id)?;
            let log_id = store::otel_query::source_log_id(&d.span);
            let logs = store::otel_query::trace_logs(c, &d.span.trace_id, log_id.as_deref())?;
            Ok((d, logs))
        })
        .await?;
    let mut v = types::detail(&d.span);
    v["logs"] = types::logs_json(&logs);
    Ok(Json(v))
}

async fn trace_tree(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = st.store.read(move |c| store::trace_tree(c, &id)).await?;
    Ok(Json(types::tree(&t)))
}

#[derive(Debug, Deserialize)]
struct ExportParams {
    format: Option<String>,
}

const CSV_HEADER: &str = "id,trace_id,parent_id,timestamp,duration_ms,ttft_ms,span_type,span_name,provider,model,status,prompt_tokens,completion_tokens,total_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,estimated_cost,error,tags,service_name,session_id\n";

fn csv_field(out: &mut String, v: &str) {
    // Quote always when needed; a leading formula character is neutralised for spreadsheets.
    let risky = v.starts_with(['=', '+', '-', '@']) && v.parse::<f64>().is_err();
    if risky || v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if risky {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

fn csv_row(s: &Span) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let u = s.usage;
    let fields: [String; 22] = [
        s.id.clone(),
        s.trace_id.clone(),
        opt(s.parent_id.clone()),
        s.start_ns.div_euclid(1_000_000).to_string(),
        format!("{:.3}", s.duration_ms),
        opt(s.ttft_ms.map(|t| format!("{t:.3}"))),
        s.span_type.clone(),
        s.name.clone(),
        opt(s.provider.clone()),
        opt(s.model.clone()),
        opt(s.status.map(|v| v.to_string())),
        opt(u.map(|u| u.input.to_string())),
        opt(u.map(|u| u.output.to_string())),
        opt(u.map(|u| u.total().to_string())),
        opt(u.map(|u| u.cache_read.to_string())),
        opt(u.map(|u| u.cache_write.to_string())),
        opt(u.map(|u| u.reasoning.to_string())),
        opt(s.cost.map(|c| c.to_string())),
        opt(s.error.clone()),
        s.tags.join(","),
        opt(s.service_name.clone()),
        opt(s.session_id.clone()),
    ];
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(&mut out, f);
    }
    out.push('\n');
    out
}

/// Streams every span matching the list's filters, page by page, as JSON, JSONL or CSV.
async fn export(State(st): State<Arc<ApiState>>, uri: http::Uri) -> Result<Response, ApiError> {
    let filter: TraceFilter = parse_query(uri.query())?;
    let params: ExportParams = parse_query(uri.query())?;
    let format = params.format.unwrap_or_else(|| "json".into());
    let (ctype, ext) = match format.as_str() {
        "json" => ("application/json", "json"),
        "jsonl" | "ndjson" => ("application/x-ndjson", "jsonl"),
        "csv" => ("text/csv; charset=utf-8", "csv"),
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown format '{other}': use json, jsonl or csv"
            )))
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let store = st.store.clone();
    tokio::spawn(async move {
        let mut cursor = ExportCursor::new(filter);
        let mut first = true;
        let head = match ext {
            "json" => "[",
            "csv" => CSV_HEADER,
            _ => "",
        };
        if tx.send(Ok(Bytes::from(head))).await.is_err() {
            return;
        }
        loop {
            let mut c = cursor.clone();
            let page = store
                .read(move |conn| c.next_page(conn, 500).map(|p| (p, c)))
                .await;
            let (page, next) = match page {
                Ok(v) => v,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            cursor = next;
            if page.is_empty() {
                break;
            }
            let mut chunk = String::new();
            for d in &page {
                match ext {
                    "csv" => chunk.push_str(&csv_row(&d.span)),
                    "json" => {
                        if !first {
                            chunk.push(',');
                        }
                        chunk.push_str(&types::detail(&d.span).to_string());
                    }
                    _ => {
                        chunk.push_str(&types::detail(&d.span).to_string());
                        chunk.push('\n');
                    }
                }
                first = false;
            }
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return; // client went away
            }
        }
        if ext == "json" {
            let _ = tx.send(Ok(Bytes::from("]"))).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let disposition = format!("attachment; filename=\"llmflow-traces.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /api/spans`, as the original SDK sends it.
#[derive(Debug, Deserialize)]
struct NewSpan {
    id: Option<String>,
    trace_id: Option<String>,
    parent_id: Option<String>,
    span_type: Option<String>,
    span_name: Option<String>,
    name: Option<String>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    duration_ms: Option<f64>,
    status: Option<u16>,
    error: Option<String>,
    input: Option<Value>,
    output: Option<Value>,
    attributes: Option<Value>,
    tags: Option<Vec<String>>,
    service_name: Option<String>,
    session_id: Option<String>,
    conversation_id: Option<String>,
    model: Option<String>,
    provider: Option<String>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    estimated_cost: Option<f64>,
}

async fn create_span(
    State(st): State<Arc<ApiState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let n: NewSpan = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid span JSON: {e}")))?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0);
    let start_ms = n.start_time.unwrap_or(now_ms);
    let duration_ms = n
        .duration_ms
        .or(n.end_time.map(|e| e - start_ms))
        .unwrap_or(0.0)
        .max(0.0);
    let id =
        n.id.filter(|s| !s.is_empty())
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let trace_id = n
        .trace_id
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| id.clone());
    let usage = (n.prompt_tokens.is_some() || n.completion_tokens.is_some()).then(|| Usage {
        input: n.prompt_tokens.unwrap_or(0),
        output: n.completion_tokens.unwrap_or(0),
        ..Usage::default()
    });
    let cost = n.estimated_cost.or_else(|| {
        let (m, u) = (n.model.as_deref()?, usage.as_ref()?);
        st.pricing.cost(n.provider.as_deref(), m, u)
    });
    let text = |v: &Option<Value>| {
        v.as_ref().map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let span_type = n.span_type.unwrap_or_else(|| "custom".into());
    let span = Span {
        id: id.clone(),
        trace_id: trace_id.clone(),
        parent_id: n.parent_id.filter(|s| !s.is_empty()),
        start_ns: (start_ms * 1e6) as i64,
        duration_ms,
        name: n.span_name.or(n.name).unwrap_or_else(|| span_type.clone()),
        span_type,
        provider: n.provider,
        model: n.model,
        status: n.status,
        error: n.error,
        usage,
        cost,
        tags: n.tags.unwrap_or_default(),
        service_name: n.service_name.or(Some("app".into())),
        session_id: n.session_id,
        conversation_id: n.conversation_id,
        input: n.input.as_ref().map(Value::to_string),
        input_text: text(&n.input),
        output: text(&n.output),
        attributes: n.attributes.as_ref().map(Value::to_string),
        request_body: BodyCapture::default(),
        ..Span::default()
    };
    if !st.store.submit(span) {
        return Err(ApiError::Busy);
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "trace_id": trace_id })),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        let mut s = String::new();
        csv_field(&mut s, "a,b");
        s.push('|');
        csv_field(&mut s, "=HYPERLINK(\"x\")");
        s.push('|');
        csv_field(&mut s, "-1.5");
        assert_eq!(s, "\"a,b\"|\"'=HYPERLINK(\"\"x\"\")\"|-1.5");
    }

    #[test]
    fn query_parsing_ignores_empty_values_and_rejects_bad_numbers() {
        let f: TraceFilter =
            serde_urlencoded_from_str("model=&provider=openai&cost_min=0.5").unwrap();
        assert_eq!(f.model, None);
        assert_eq!(f.provider.as_deref(), Some("openai"));
        assert_eq!(f.cost_min, Some(0.5));
        assert!(serde_urlencoded_from_str::<TraceFilter>("date_from=yesterday").is_err());
    }
}
