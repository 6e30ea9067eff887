//! Test harness: a mock OpenAI upstream on an ephemeral port speaking OpenAI's documented wire
//! format from fixture files, and llmflow started on ephemeral ports over a temp data dir.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use llmflow::app::{self, Listeners};
use llmflow::config::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub fn fixture(name: &str) -> Vec<u8> {
    wire_fixture("openai", name)
}

/// A fixture of any wire format (`crates/core/tests/fixtures/<wire>/<name>`).
pub fn wire_fixture(wire: &str, name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures")
        .join(wire)
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Which fixtures the mock answers a native call of each wire format with:
/// (wire dir, non-stream JSON, stream body, stream content type, error JSON).
pub fn native_fixtures(
    path: &str,
) -> Option<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    if path == "/v1/messages" {
        Some((
            "anthropic",
            "messages.json",
            "messages_stream.sse",
            "text/event-stream",
            "error.json",
        ))
    } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        Some((
            "gemini",
            "generate.json",
            "stream.sse",
            "text/event-stream",
            "error.json",
        ))
    } else if path == "/v2/chat" {
        Some((
            "cohere",
            "chat.json",
            "stream.sse",
            "text/event-stream",
            "error.json",
        ))
    } else if path == "/api/chat" {
        Some((
            "ollama",
            "chat.json",
            "chat_stream.ndjson",
            "application/x-ndjson",
            "error.json",
        ))
    } else {
        None
    }
}

/// What the mock saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
pub struct MockState {
    pub seen: Mutex<Vec<Seen>>,
    /// Set when a stalled stream noticed its client went away.
    pub stream_dropped: AtomicBool,
    pub hits: AtomicUsize,
}

pub struct Mock {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
}

impl Mock {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn last(&self) -> Seen {
        self.state
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("mock saw no request")
    }
}

/// Headers a real OpenAI response carries that a proxy must pass back untouched.
fn openai_headers(ctype: &'static str) -> [(&'static str, &'static str); 5] {
    [
        ("content-type", ctype),
        ("x-request-id", "req_8f3c1a2b9d"),
        ("openai-processing-ms", "412"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("set-cookie", "__cf_bm=secretcookie; path=/"),
    ]
}

struct DropFlag(Arc<MockState>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.stream_dropped.store(true, Ordering::SeqCst);
    }
}

fn sse_response(bytes: Vec<u8>, delay: Duration, split_events: bool) -> Response {
    // Send event by event (as OpenAI does), optionally with a pause between events.
    let chunks: Vec<Bytes> = if split_events {
        let text = String::from_utf8(bytes).unwrap();
        text.split_inclusive("\n\n")
            .map(|s| Bytes::from(s.to_owned()))
            .collect()
    } else {
        vec![Bytes::from(bytes)]
    };
    let stream = futures_util::stream::iter(chunks).then(move |c| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok::<_, std::io::Error>(c)
    });
    let mut r = Response::new(Body::from_stream(stream));
    for (k, v) in openai_headers("text/event-stream; charset=utf-8") {
        r.headers_mut().insert(k, v.parse().unwrap());
    }
    r
}

fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    for (k, v) in openai_headers("application/json") {
        r.headers_mut().insert(k, v.parse().unwrap());
    }
    r
}

async fn mock_handler(State(st): State<Arc<MockState>>, req: Request<Body>) -> Response {
    let helicone = req.headers().contains_key("helicone-auth");
    let mut r = mock_inner(st, req).await;
    if helicone {
        // What Helicone's gateway adds to its answers.
        for (k, v) in [
            ("helicone-id", "hel-7f3e2a"),
            ("helicone-cache", "MISS"),
            ("helicone-ratelimit-remaining", "99"),
        ] {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
    }
    r
}

async fn mock_inner(st: Arc<MockState>, req: Request<Body>) -> Response {
    st.hits.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    st.seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let delay = parts
        .headers
        .get("x-mock-delay-ms")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let stream = json["stream"] == true
        || path.contains(":streamGenerateContent")
        || (path == "/api/chat" && json["stream"] != false);
    let include_usage = json["stream_options"]["include_usage"] == true;
    let forced_status = parts
        .headers
        .get("x-mock-status")
        .and_then(|v| v.to_str().ok()?.parse::<u16>().ok());
    let stall = parts.headers.contains_key("x-mock-stall");
    // Azure's deployment paths answer like OpenAI's.
    let path = match path.strip_prefix("/openai/deployments/") {
        Some(rest) => format!("/v1{}", &rest[rest.find('/').unwrap_or(rest.len())..]),
        None => path,
    };
    if let Some((wire, json_name, stream_name, stream_ctype, error_name)) = native_fixtures(&path)
        .or_else(|| {
            (path == "/v1/chat/completions").then_some((
                "openai",
                "chat.json",
                if include_usage {
                    "chat_stream.sse"
                } else {
                    "chat_stream_no_usage_of_same.sse"
                },
                "text/event-stream; charset=utf-8",
                "error.json",
            ))
        })
    {
        if let Some(code) = forced_status {
            return json_response(
                StatusCode::from_u16(code).unwrap(),
                wire_fixture(wire, error_name),
            );
        }
        if stall {
            return stall_response(st.clone(), wire_fixture(wire, stream_name), stream_ctype);
        }
        if stream {
            let mut r = sse_response(
                wire_fixture(wire, stream_name),
                delay,
                stream_ctype == "text/event-stream"
                    || stream_ctype.starts_with("text/event-stream;"),
            );
            r.headers_mut()
                .insert("content-type", stream_ctype.parse().unwrap());
            return r;
        }
        if delay > Duration::ZERO {
            tokio::time::sleep(delay).await;
        }
        return json_response(StatusCode::OK, wire_fixture(wire, json_name));
    }
    match path.as_str() {
        "/v1/responses" if stream => sse_response(fixture("responses_stream.sse"), delay, true),
        "/v1/responses" => json_response(StatusCode::OK, fixture("responses.json")),
        "/v1/completions" => json_response(StatusCode::OK, fixture("completions.json")),
        "/v1/embeddings" => json_response(StatusCode::OK, fixture("embeddings.json")),
        "/v1/unauthorized" => json_response(StatusCode::UNAUTHORIZED, fixture("error.json")),
        "/v1/audio/transcriptions" | "/v1/files" => {
            // Echo a digest of what arrived so the client can compare.
            let digest = format!(
                "{{\"bytes\":{},\"sum\":{}}}",
                body.len(),
                body.iter().map(|b| *b as u64).sum::<u64>()
            );
            json_response(StatusCode::OK, digest.into_bytes())
        }
        "/v1/silent" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        "/v1/stall" => {
            // One event, then nothing until the client goes away.
            let flag = DropFlag(st.clone());
            let first = Bytes::from_static(b"data: {\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n");
            let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) })
                .chain(futures_util::stream::once(async move {
                    let _keep = flag;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(Bytes::new())
                }));
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            r
        }
        "/v1/models" => json_response(StatusCode::OK, br#"{"object":"list","data":[]}"#.to_vec()),
        "/v1/binary" => {
            let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut()
                .insert("content-type", "application/octet-stream".parse().unwrap());
            r
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            br#"{"error":{"message":"no route"}}"#.to_vec(),
        ),
    }
}

/// The first event (or line) of a stream, then nothing until the client goes away.
fn stall_response(st: Arc<MockState>, body: Vec<u8>, ctype: &str) -> Response {
    let text = String::from_utf8(body).unwrap();
    let sep = if ctype.contains("ndjson") {
        "\n"
    } else {
        "\n\n"
    };
    let first = Bytes::from(text.split_inclusive(sep).next().unwrap_or("").to_owned());
    let flag = DropFlag(st);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(
        futures_util::stream::once(async move {
            let _keep = flag;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Bytes::new())
        }),
    );
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("content-type", ctype.parse().unwrap());
    r
}

pub async fn start_mock() -> Mock {
    let state = Arc::new(MockState::default());
    let app = Router::new()
        .fallback(mock_handler)
        .with_state(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Mock { addr, state }
}

pub struct Harness {
    pub proxy: String,
    pub api: String,
    pub otlp_http: String,
    pub otlp_grpc: String,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start(upstream: &str) -> Harness {
        Self::start_with(upstream, |_| {}).await
    }

    pub async fn start_with(upstream: &str, tweak: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, upstream, tweak).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        upstream: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        Self::start_full(dir, upstream, &[], tweak).await
    }

    /// Every built-in provider pointed at the mock, plus `vars`.
    pub async fn start_all(
        upstream: &str,
        vars: &[(&str, &str)],
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let names = [
            "ANTHROPIC",
            "GEMINI",
            "OLLAMA",
            "GROQ",
            "MISTRAL",
            "TOGETHER",
            "PERPLEXITY",
            "OPENROUTER",
            "COHERE",
            "AZURE",
        ];
        let keys: Vec<String> = names
            .iter()
            .map(|n| format!("LLMFLOW_{n}_BASE_URL"))
            .collect();
        let mut all: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), upstream)).collect();
        all.extend_from_slice(vars);
        Self::start_full(tempfile::tempdir().unwrap(), upstream, &all, tweak).await
    }

    pub async fn start_full(
        dir: tempfile::TempDir,
        upstream: &str,
        vars: &[(&str, &str)],
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let mut config = Config::for_tests_with(dir.path(), upstream, vars).unwrap();
        config.flush_interval = Duration::from_millis(2);
        tweak(&mut config);
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dashboard = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let otlp_http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let otlp_grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let api_url = format!("http://{}", dashboard.local_addr().unwrap());
        let otlp_http_url = format!("http://{}", otlp_http.local_addr().unwrap());
        let otlp_grpc_url = format!("http://{}", otlp_grpc.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::run(
            Listeners {
                proxy,
                dashboard,
                otlp_http: Some(otlp_http),
                otlp_grpc: Some(otlp_grpc),
            },
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        Harness {
            proxy: proxy_url,
            api: api_url,
            otlp_http: otlp_http_url,
            otlp_grpc: otlp_grpc_url,
            dir,
            stop: Some(stop),
            task: Some(task),
            http: reqwest::Client::new(),
        }
    }

    /// Stops llmflow gracefully and waits for it.
    pub async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self
            .http
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Polls `/api/traces` until `n` spans are stored (the writer commits off the hot path).
    pub async fn wait_for_spans(&self, n: u64) -> serde_json::Value {
        for _ in 0..500 {
            let v = self.get_json("/api/traces?limit=1000").await;
            if v["total"].as_u64().unwrap_or(0) >= n {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} spans stored");
    }
}
