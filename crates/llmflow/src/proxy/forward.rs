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

use super::capture::Rewrite;
use super::{helicone, route};
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let start_ns = now.as_nanos() as i64;
    let (parts, body) = req.into_parts();
    let inject = st.config.inject_keys;

    if parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        if inject {
            return cross_origin_refused();
        }
        return preflight(&parts.headers);
    }
    // With server-side keys on, a web page must not be able to spend them.
    if inject && parts.headers.contains_key(header::ORIGIN) {
        return cross_origin_refused();
    }

    let ups = &st.config.upstreams;
    let route = match route::resolve(ups, &parts.headers, &parts.uri) {
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
    let path_only = route.path.split('?').next().unwrap_or("").to_owned();

    let mut span = Pending::new(st.clone(), t0, new_span(&parts.headers, start_ns));
    span.provider = Some(route.upstream.name.clone());
    span.method = Some(parts.method.to_string());
    span.path = Some(redact::path_and_query(&route.path));
    span.request_headers = redact::headers(
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("[binary]"))),
    );
    let mut attributes = serde_json::Map::new();
    if route.passthrough {
        attributes.insert("llmflow.passthrough".into(), true.into());
    }
    if route.is_helicone() {
        helicone::request_metadata(&parts.headers, &mut span, &mut attributes);
    }
    let cap = st.config.capture_bytes;
    let origin = parts.headers.get(header::ORIGIN).cloned();

    // JSON bodies are small and say what the call is: read them whole. Anything else
    // (uploads, binary) streams through, with its first bytes copied.
    let mut info: RequestInfo;
    let mut rewrite = RewritePlan::None;
    let mut upstream_path = route.path.clone();
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
        span.request_body = BodyCapture::from_bytes(&bytes, cap);
        let sent = if route.translate {
            info = openai::inspect_request(&path_only, &bytes);
            match route.wire.translate_request(&bytes) {
                Ok(t) => {
                    attributes.insert("llmflow.translated_from".into(), "openai".into());
                    info.stream = t.stream;
                    info.model = Some(t.model.clone());
                    upstream_path = t.path;
                    rewrite = if t.stream {
                        RewritePlan::Translate {
                            model: t.model,
                            include_usage: t.include_usage,
                            created: now.as_secs(),
                        }
                    } else {
                        RewritePlan::TranslateWhole {
                            model: t.model,
                            created: now.as_secs(),
                        }
                    };
                    content_length_changed = true;
                    Bytes::from(t.body)
                }
                Err(e) => {
                    let msg = format!(
                        "llmflow: cannot translate this request for {}: {e}",
                        route.upstream.name
                    );
                    span.model = info.model.clone();
                    return fail(
                        &st,
                        span.take(),
                        t0,
                        StatusCode::BAD_REQUEST,
                        ErrorKind::Downstream,
                        "unsupported_parameter",
                        msg,
                    );
                }
            }
        } else {
            info = route.wire.inspect_request(&path_only, &bytes);
            let injected = (st.config.stream_usage && route.wire == Provider::OpenAi)
                .then(|| openai::inject_include_usage(&path_only, &bytes))
                .flatten();
            match injected {
                Some(changed) => {
                    rewrite = RewritePlan::StripUsage;
                    content_length_changed = true;
                    Bytes::from(changed)
                }
                None => bytes,
            }
        };
        Body::from(sent)
    } else {
        info = route.wire.inspect_request(&path_only, &[]);
        let shared = Arc::new(Mutex::new(BodyCapture::default()));
        shared_req_body = Some(shared.clone());
        Body::new(RequestBodyTee::new(body, shared, cap))
    };
    span.model = info.model.clone();
    span.span_type = info.operation.span_type().to_owned();
    span.name = info.operation.name().to_owned();
    span.input = info.input.clone();
    span.input_text = info.input_text.clone();

    let mut base = route.upstream.base.clone();
    if route.upstream.name == "azure" {
        match route::azure_target(ups, &parts.headers, &upstream_path, info.model.as_deref()) {
            Ok((b, p)) => {
                base = b;
                upstream_path = p;
            }
            Err(msg) => {
                return fail(
                    &st,
                    span.take(),
                    t0,
                    StatusCode::BAD_REQUEST,
                    ErrorKind::Downstream,
                    "azure_not_configured",
                    msg,
                );
            }
        }
    }
    let uri = match upstream_uri(&base, &upstream_path) {
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
        if route.translate {
            // The answer is rewritten anyway: ask for it uncompressed.
            h.remove(header::ACCEPT_ENCODING);
        }
        route::map_auth(&route, h);
        if route.is_helicone() {
            helicone::add_auth(&ups.helicone, h);
        }
        if inject && route::inject_key(&route, h) {
            attributes.insert("llmflow.key_injected".into(), true.into());
        }
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
    let name = &route.upstream.name;
    let resp = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            finish_request_body(&mut span, shared_req_body.as_ref());
            let msg = format!("llmflow: upstream {name} unreachable: {}", error_chain(&e));
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
                "llmflow: upstream {name} sent no response within {:.0?} (LLMFLOW_FIRST_BYTE_TIMEOUT)",
                st.config.first_byte_timeout
            );
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
    if route.is_helicone() {
        helicone::response_metadata(&rparts.headers, &mut attributes);
    }
    if !attributes.is_empty() {
        span.attributes = Some(serde_json::Value::Object(attributes).to_string());
    }
    let ctype = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_sse = ctype.starts_with("text/event-stream");
    let compressed = rparts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.eq_ignore_ascii_case("identity"))
        .map(str::to_ascii_lowercase);
    // Rewriting a compressed stream would mean re-encoding it: forward it as sent instead.
    let rewrite = match rewrite {
        RewritePlan::StripUsage if !is_sse || compressed.is_some() => RewritePlan::None,
        // A translated stream that did not start (an error, a compressed body) is translated
        // whole, as a non-stream answer.
        RewritePlan::Translate { model, created, .. }
            if !is_sse || compressed.is_some() || !rparts.status.is_success() =>
        {
            RewritePlan::TranslateWhole { model, created }
        }
        other => other,
    };
    span.streamed = is_sse || info.stream;
    let parser = route.wire.response_parser(info.operation, cap);
    let content_length = rparts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let shape = ResponseShape {
        content_length,
        is_sse,
        is_json: is_json_like(ctype),
        compressed,
        rewrite: match &rewrite {
            RewritePlan::StripUsage => Rewrite::StripUsage,
            RewritePlan::Translate {
                model,
                include_usage,
                created,
            } => route
                .wire
                .stream_translator(model, *include_usage, *created)
                .map(Rewrite::Translate)
                .unwrap_or(Rewrite::None),
            RewritePlan::None | RewritePlan::TranslateWhole { .. } => Rewrite::None,
        },
    };
    let drop_length = !matches!(rewrite, RewritePlan::None);
    let mut out_headers = HeaderMap::with_capacity(rparts.headers.len());
    copy_response_headers(&rparts.headers, &mut out_headers, drop_length);
    if let Some(o) = origin {
        if !out_headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            out_headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
    }
    let capture = Capture::new(st.clone(), span.take(), t0, parser, shape);

    if let RewritePlan::TranslateWhole { model, created } = rewrite {
        // Read the native answer whole, record it, and answer in OpenAI's format.
        let native = match read_limited(Body::new(rbody), st.config.max_json_body).await {
            Ok(b) => b,
            Err(e) => {
                let why = match e {
                    ReadError::TooLarge => "too large".to_owned(),
                    ReadError::Client(e) => e,
                };
                capture.upstream_failed(&why);
                return error_response(
                    StatusCode::BAD_GATEWAY,
                    "llmflow_upstream_error",
                    "upstream_body",
                    &format!("llmflow: reading the {name} answer failed: {why}"),
                );
            }
        };
        let translated = route.wire.translate_response(&native, &model, created);
        capture.complete_whole(&native);
        let body = match translated {
            Ok(b) => b,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_GATEWAY,
                    "llmflow_upstream_error",
                    "untranslatable_response",
                    &format!("llmflow: cannot translate the {name} answer: {e}"),
                )
            }
        };
        out_headers.remove(header::CONTENT_ENCODING);
        out_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = rparts.status;
        *response.headers_mut() = out_headers;
        return response;
    }
    if matches!(rewrite, RewritePlan::Translate { .. }) {
        out_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
    }
    let mut response = Response::new(Body::new(TeeBody::new(rbody, capture)));
    *response.status_mut() = rparts.status;
    *response.headers_mut() = out_headers;
    response
}

/// How the response body will be changed on its way to the client.
enum RewritePlan {
    None,
    /// Remove what llmflow's own `include_usage` injection added.
    StripUsage,
    /// Native stream events -> OpenAI chunks.
    Translate {
        model: String,
        include_usage: bool,
        created: u64,
    },
    /// Native JSON -> OpenAI `chat.completion`.
    TranslateWhole {
        model: String,
        created: u64,
    },
}

fn cross_origin_refused() -> Response {
    error_response(
        StatusCode::FORBIDDEN,
        "invalid_request_error",
        "cross_origin_refused",
        "llmflow: browser (cross-origin) requests are refused while LLMFLOW_INJECT_KEYS is on, so no web page can spend your keys",
    )
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

/// A response body worth parsing whole: JSON, or NDJSON (Ollama's streams).
fn is_json_like(ctype: &str) -> bool {
    let ct = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct == "application/json"
        || ct.ends_with("+json")
        || ct == "application/x-ndjson"
        || ct == "application/ndjson"
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
