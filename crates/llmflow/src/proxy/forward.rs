//! Forwarding: the request goes upstream as received (method, path, query, headers minus
//! hop-by-hop, body bytes), the response comes back as sent, through the capture tee.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use llmflow_core::providers::{openai, Provider, RequestInfo};
use llmflow_core::{redact, BodyCapture, ErrorKind, Span};

use super::capture::{Capture, RequestBodyTee, ResponseShape, TeeBody};
use super::ProxyState;

/// Headers that belong to one connection, never forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub async fn forward(State(st): State<Arc<ProxyState>>, req: Request<Body>) -> Response {
    let t0 = Instant::now();
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let (parts, body) = req.into_parts();

    if parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(&parts.headers);
    }

    let (provider, upstream_path) = match resolve_provider(&parts.headers, &parts.uri) {
        Ok(r) => r,
        Err(msg) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "unknown_provider",
                &msg,
            )
        }
    };
    let path_only = upstream_path.split('?').next().unwrap_or("").to_owned();

    let mut span = Pending::new(st.clone(), t0, new_span(&parts.headers, start_ns));
    span.provider = Some(provider.name().to_owned());
    span.method = Some(parts.method.to_string());
    span.path = Some(redact::path_and_query(&upstream_path));
    span.request_headers = redact::headers(
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("[binary]"))),
    );
    let cap = st.config.capture_bytes;
    let origin = parts.headers.get(header::ORIGIN).cloned();

    // JSON bodies are small and say what the call is: read them whole. Anything else
    // (uploads, binary) streams through, with its first bytes copied.
    let mut info = RequestInfo {
        operation: openai::operation_for(&path_only),
        ..RequestInfo::default()
    };
    let mut strip_usage = false;
    let mut shared_req_body: Option<Arc<Mutex<BodyCapture>>> = None;
    let mut content_length_changed = false;
    let upstream_body = if is_json(&parts.headers) {
        let bytes = match read_limited(body, st.config.max_json_body).await {
            Ok(b) => b,
            Err(ReadError::TooLarge) => {
                let msg = format!(
                    "llmflow: request body larger than {} bytes (LLMFLOW_MAX_JSON_BODY)",
                    st.config.max_json_body
                );
                span.status = Some(413);
                return fail(
                    &st,
                    span.take(),
                    t0,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorKind::Downstream,
                    "request_too_large",
                    msg,
                );
            }
            Err(ReadError::Client(e)) => {
                let msg = format!("llmflow: could not read the request body: {e}");
                span.status = Some(400);
                return fail(
                    &st,
                    span.take(),
                    t0,
                    StatusCode::BAD_REQUEST,
                    ErrorKind::Downstream,
                    "request_body_unreadable",
                    msg,
                );
            }
        };
        info = provider.inspect_request(&path_only, &bytes);
        span.request_body = BodyCapture::from_bytes(&bytes, cap);
        let sent = if st.config.stream_usage && provider == Provider::OpenAi {
            match openai::inject_include_usage(&path_only, &bytes) {
                Some(changed) => {
                    strip_usage = true;
                    content_length_changed = true;
                    Bytes::from(changed)
                }
                None => bytes,
            }
        } else {
            bytes
        };
        Body::from(sent)
    } else {
        let shared = Arc::new(Mutex::new(BodyCapture::default()));
        shared_req_body = Some(shared.clone());
        Body::new(RequestBodyTee::new(body, shared, cap))
    };
    span.model = info.model.clone();
    span.span_type = info.operation.span_type().to_owned();
    span.name = info.operation.name().to_owned();
    span.input = info.input.clone();
    span.input_text = info.input_text.clone();

    let uri = match upstream_uri(st.base_url(provider), &upstream_path) {
        Ok(u) => u,
        Err(e) => {
            let msg = format!("llmflow: cannot build the upstream URL: {e}");
            return fail(
                &st,
                span.take(),
                t0,
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                "bad_upstream_url",
                msg,
            );
        }
    };
    let mut builder = Request::builder().method(parts.method.clone()).uri(uri);
    if let Some(h) = builder.headers_mut() {
        copy_request_headers(&parts.headers, h, content_length_changed);
    }
    let upstream_req = match builder.body(upstream_body) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("llmflow: cannot build the upstream request: {e}");
            return fail(
                &st,
                span.take(),
                t0,
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                "bad_request",
                msg,
            );
        }
    };

    let sent = tokio::time::timeout(
        st.config.first_byte_timeout,
        st.client.request(upstream_req),
    )
    .await;
    let resp = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            finish_request_body(&mut span, shared_req_body.as_ref());
            let msg = format!(
                "llmflow: upstream {} unreachable: {}",
                provider.name(),
                error_chain(&e)
            );
            span.status = Some(502);
            return fail(
                &st,
                span.take(),
                t0,
                StatusCode::BAD_GATEWAY,
                ErrorKind::Upstream,
                "upstream_unreachable",
                msg,
            );
        }
        Err(_) => {
            finish_request_body(&mut span, shared_req_body.as_ref());
            let msg = format!(
                "llmflow: upstream {} sent no response within {:.0?} (LLMFLOW_FIRST_BYTE_TIMEOUT)",
                provider.name(),
                st.config.first_byte_timeout
            );
            span.status = Some(504);
            return fail(
                &st,
                span.take(),
                t0,
                StatusCode::GATEWAY_TIMEOUT,
                ErrorKind::Upstream,
                "upstream_timeout",
                msg,
            );
        }
    };
    finish_request_body(&mut span, shared_req_body.as_ref());

    let (rparts, rbody) = resp.into_parts();
    span.status = Some(rparts.status.as_u16());
    span.response_headers = redact::headers(
        rparts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("[binary]"))),
    );
    let is_sse = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let response_is_json = is_json(&rparts.headers);
    let compressed = rparts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.eq_ignore_ascii_case("identity"))
        .map(str::to_ascii_lowercase);
    // Rewriting a compressed stream would mean re-encoding it: forward it as sent instead.
    let strip = strip_usage && is_sse && compressed.is_none();
    let mut out_headers = HeaderMap::with_capacity(rparts.headers.len());
    copy_response_headers(&rparts.headers, &mut out_headers, strip);
    if let Some(o) = origin {
        if !out_headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            out_headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
    }
    span.streamed = is_sse || info.stream;
    let parser = provider.response_parser(info.operation, cap);
    let capture = Capture::new(
        st.clone(),
        span.take(),
        t0,
        parser,
        ResponseShape {
            is_sse,
            is_json: response_is_json,
            strip,
            compressed,
        },
    );
    let mut response = Response::new(Body::new(TeeBody::new(rbody, capture)));
    *response.status_mut() = rparts.status;
    *response.headers_mut() = out_headers;
    response
}

/// The record of a call that has no response yet. If the handler is dropped before handing it
/// on (the client went away while the request was read or the upstream was thinking), the
/// record is still written, marked cancelled.
struct Pending {
    st: Arc<ProxyState>,
    t0: Instant,
    span: Span,
    armed: bool,
}

impl Pending {
    fn new(st: Arc<ProxyState>, t0: Instant, span: Span) -> Self {
        Self {
            st,
            t0,
            span,
            armed: true,
        }
    }

    fn take(&mut self) -> Span {
        self.armed = false;
        std::mem::take(&mut self.span)
    }
}

impl std::ops::Deref for Pending {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl std::ops::DerefMut for Pending {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut span = std::mem::take(&mut self.span);
        span.duration_ms = self.t0.elapsed().as_secs_f64() * 1000.0;
        span.cancelled = true;
        span.error_kind = Some(ErrorKind::Downstream);
        span.error = Some("client disconnected before the response started".into());
        super::capture::log_call(&span);
        self.st.store.submit(span);
    }
}

/// `X-LLMFlow-Provider` wins; else a first path segment naming a provider is stripped; else
/// OpenAI with the path as is.
fn resolve_provider(headers: &HeaderMap, uri: &Uri) -> Result<(Provider, String), String> {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    if let Some(name) = headers
        .get("x-llmflow-provider")
        .and_then(|v| v.to_str().ok())
    {
        return match Provider::from_name(name.trim()) {
            Some(p) => Ok((p, pq)),
            None => Err(format!(
                "llmflow: unknown provider '{name}' in X-LLMFlow-Provider; known: {}",
                Provider::ALL
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    let rest = pq.trim_start_matches('/');
    let first = rest.split(['/', '?']).next().unwrap_or(rest);
    if let Some(p) = Provider::from_name(first) {
        let stripped = &pq[1 + first.len()..];
        let stripped = if stripped.is_empty() || stripped.starts_with('?') {
            format!("/{stripped}")
        } else {
            stripped.to_owned()
        };
        return Ok((p, stripped));
    }
    Ok((Provider::OpenAi, pq))
}

/// Base URL (with any path prefix) + the request's path and query.
fn upstream_uri(base: &Uri, path_and_query: &str) -> Result<Uri, http::Error> {
    let prefix = base.path().trim_end_matches('/');
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(format!("{prefix}{path_and_query}").parse()?);
    Ok(Uri::from_parts(parts)?)
}

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn copy_request_headers(from: &HeaderMap, to: &mut HeaderMap, drop_length: bool) {
    let listed = connection_listed(from);
    for (name, value) in from {
        let n = name.as_str();
        if n == "host"
            || HOP_BY_HOP.contains(&n)
            || listed.iter().any(|l| l == n)
            || n.starts_with("x-llmflow-")
            || (drop_length && n == "content-length")
        {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap, drop_length: bool) {
    let listed = connection_listed(from);
    for (name, value) in from {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || listed.iter().any(|l| l == n)
            || (drop_length && n == "content-length")
        {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|ct| ct == "application/json" || ct.ends_with("+json"))
}

enum ReadError {
    TooLarge,
    Client(String),
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ReadError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ReadError::TooLarge)
        }
        Err(e) => Err(ReadError::Client(e.to_string())),
    }
}

fn finish_request_body(span: &mut Span, shared: Option<&Arc<Mutex<BodyCapture>>>) {
    if let Some(b) = shared.and_then(|s| s.lock().ok().map(|g| g.clone())) {
        span.request_body = b;
    }
}

/// A span with ids, trace linking and tags from the request headers.
fn new_span(headers: &HeaderMap, start_ns: i64) -> Span {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let id = uuid::Uuid::now_v7().to_string();
    let (mut trace_id, mut parent_id) = (get("x-trace-id"), get("x-parent-id"));
    if trace_id.is_none() {
        if let Some((t, p)) = get("traceparent").as_deref().and_then(parse_traceparent) {
            trace_id = Some(t);
            parent_id = parent_id.or(Some(p));
        }
    }
    let mut tags: Vec<String> = Vec::new();
    for name in ["x-llmflow-tag", "x-llmflow-tags"] {
        for v in headers.get_all(name).iter().filter_map(|v| v.to_str().ok()) {
            for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !tags.iter().any(|x| x == t) {
                    tags.push(t.to_owned());
                }
            }
        }
    }
    Span {
        trace_id: trace_id.unwrap_or_else(|| id.clone()),
        id,
        parent_id,
        start_ns,
        tags,
        span_type: "llm".into(),
        name: "http".into(),
        ..Span::default()
    }
}

/// W3C `traceparent`: `00-<32 hex trace id>-<16 hex parent id>-<flags>`.
fn parse_traceparent(v: &str) -> Option<(String, String)> {
    let mut it = v.split('-');
    let (version, trace, parent, flags) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2)
    {
        return None;
    }
    if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    Some((trace.to_ascii_lowercase(), parent.to_ascii_lowercase()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// An OpenAI-style error body naming llmflow.
pub fn error_response(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        HeaderName::from_static("x-llmflow-error"),
        HeaderValue::from_static("1"),
    );
    r
}

/// Records a call that failed before a response existed, and answers the client.
fn fail(
    st: &Arc<ProxyState>,
    mut span: Span,
    t0: Instant,
    status: StatusCode,
    kind: ErrorKind,
    code: &str,
    msg: String,
) -> Response {
    span.duration_ms = t0.elapsed().as_secs_f64() * 1000.0;
    span.status = Some(status.as_u16());
    span.error_kind = Some(kind);
    span.error = Some(msg.clone());
    let error_type = match kind {
        ErrorKind::Downstream => "invalid_request_error",
        ErrorKind::Upstream => "llmflow_upstream_error",
        ErrorKind::Internal => "llmflow_internal_error",
    };
    let body = serde_json::json!({
        "error": { "message": msg, "type": error_type, "param": null, "code": code }
    });
    span.response_body =
        BodyCapture::from_bytes(body.to_string().as_bytes(), st.config.capture_bytes);
    super::capture::log_call(&span);
    st.store.submit(span);
    error_response(status, error_type, code, &msg)
}

fn preflight(headers: &HeaderMap) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    let origin = headers
        .get(header::ORIGIN)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    let allow = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(tp),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into()
            ))
        );
        assert_eq!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(parse_traceparent("garbage"), None);
    }

    #[test]
    fn provider_prefix_is_stripped() {
        let h = HeaderMap::new();
        let r = |p: &str| resolve_provider(&h, &p.parse().unwrap()).unwrap();
        assert_eq!(
            r("/v1/chat/completions?x=1"),
            (Provider::OpenAi, "/v1/chat/completions?x=1".into())
        );
        assert_eq!(
            r("/openai/v1/models"),
            (Provider::OpenAi, "/v1/models".into())
        );
        assert_eq!(r("/openai"), (Provider::OpenAi, "/".into()));
        assert_eq!(r("/openaiz/v1"), (Provider::OpenAi, "/openaiz/v1".into()));
    }

    #[test]
    fn upstream_uri_keeps_base_path() {
        let base: Uri = "http://127.0.0.1:9/api".parse().unwrap();
        assert_eq!(
            upstream_uri(&base, "/v1/x?a=b").unwrap().to_string(),
            "http://127.0.0.1:9/api/v1/x?a=b"
        );
        let base: Uri = "https://api.openai.com".parse().unwrap();
        assert_eq!(
            upstream_uri(&base, "/v1/x").unwrap().to_string(),
            "https://api.openai.com/v1/x"
        );
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let mut from = HeaderMap::new();
        from.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        from.insert("x-secret-hop", HeaderValue::from_static("1"));
        from.insert("host", HeaderValue::from_static("localhost"));
        from.insert("x-llmflow-tag", HeaderValue::from_static("a"));
        from.insert("openai-organization", HeaderValue::from_static("org-1"));
        let mut to = HeaderMap::new();
        copy_request_headers(&from, &mut to, false);
        assert_eq!(to.len(), 1);
        assert!(to.contains_key("openai-organization"));
    }
}
