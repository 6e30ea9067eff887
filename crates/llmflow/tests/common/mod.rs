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
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/openai")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
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
    let stream = json["stream"] == true;
    let include_usage = json["stream_options"]["include_usage"] == true;
    match parts.uri.path() {
        "/v1/chat/completions" if stream => {
            let name = if include_usage {
                "chat_stream.sse"
            } else {
                "chat_stream_no_usage_of_same.sse"
            };
            sse_response(fixture(name), delay, true)
        }
        "/v1/chat/completions" => {
            if delay > Duration::ZERO {
                tokio::time::sleep(delay).await;
            }
            json_response(StatusCode::OK, fixture("chat.json"))
        }
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
        let mut config = Config::for_tests(dir.path(), upstream).unwrap();
        config.flush_interval = Duration::from_millis(2);
        tweak(&mut config);
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dashboard = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let api_url = format!("http://{}", dashboard.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::run(
            Listeners { proxy, dashboard },
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        Harness {
            proxy: proxy_url,
            api: api_url,
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
