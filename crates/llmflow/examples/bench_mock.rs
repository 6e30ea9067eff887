//! A fast mock OpenAI upstream for `bench/run.sh` (hyper 1.x, HTTP/1.1, keep-alive).
//!
//! `POST /v1/chat/completions`:
//! - without `"stream":true`: the `chat.json` fixture (a real chat completion, ~0.8 KB);
//! - with `"stream":true`: the `chat_stream.sse` fixture (with `"include_usage":true` in the
//!   request) or `chat_stream_no_usage.sse`, one frame per event;
//! - with an `x-mock-bytes: N` request header: a body of about N bytes: for a stream, SSE chunk
//!   events (64 KiB frames) then a usage chunk and `[DONE]`; otherwise one JSON chat completion
//!   whose content is N bytes long. For the memory test.
//!
//! `MOCK_STREAM_DELAY_MS` (or `--delay-ms`) waits that long between stream events after the
//! first (0: send as fast as the socket takes them).
//!
//! Usage: `bench_mock [--port 18401] [--threads 1] [--delay-ms 0]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const CHAT_JSON: &[u8] = include_bytes!("../../core/tests/fixtures/openai/chat.json");
const STREAM_USAGE: &[u8] = include_bytes!("../../core/tests/fixtures/openai/chat_stream.sse");
const STREAM_NO_USAGE: &[u8] =
    include_bytes!("../../core/tests/fixtures/openai/chat_stream_no_usage.sse");

const BLOCK: usize = 64 * 1024;

struct Mock {
    delay: Option<Duration>,
    stream_usage: Vec<Bytes>,
    stream_no_usage: Vec<Bytes>,
    /// 64 KiB of complete SSE chunk events.
    sse_block: Bytes,
    /// 64 KiB of JSON-safe text.
    text_block: Bytes,
}

/// Splits an SSE fixture into events (each with its blank line).
fn events(raw: &[u8]) -> Vec<Bytes> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    text.split_inclusive("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| Bytes::from(e.to_owned()))
        .collect()
}

fn sse_block() -> Bytes {
    let ev = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1741570283,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor \"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
    let mut s = String::with_capacity(BLOCK + ev.len());
    while s.len() + ev.len() <= BLOCK {
        s.push_str(ev);
    }
    Bytes::from(s)
}

impl Mock {
    fn new(delay: Option<Duration>) -> Self {
        let text: String = "lorem ipsum dolor sit amet "
            .chars()
            .cycle()
            .take(BLOCK)
            .collect();
        Self {
            delay,
            stream_usage: events(STREAM_USAGE),
            stream_no_usage: events(STREAM_NO_USAGE),
            sse_block: sse_block(),
            text_block: Bytes::from(text),
        }
    }

    fn big_stream(&self, bytes: usize) -> VecDeque<Bytes> {
        let mut frames = VecDeque::new();
        let mut sent = 0;
        while sent < bytes {
            frames.push_back(self.sse_block.clone());
            sent += self.sse_block.len();
        }
        frames.push_back(Bytes::from_static(
            b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1741570283,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":700000,\"total_tokens\":700019}}\n\ndata: [DONE]\n\n",
        ));
        frames
    }

    fn big_json(&self, bytes: usize) -> VecDeque<Bytes> {
        let mut frames = VecDeque::new();
        frames.push_back(Bytes::from_static(
            b"{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1741569952,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"",
        ));
        let mut sent = 0;
        while sent < bytes {
            frames.push_back(self.text_block.clone());
            sent += self.text_block.len();
        }
        frames.push_back(Bytes::from_static(
            b"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":700000,\"total_tokens\":700019}}",
        ));
        frames
    }
}

/// Frames from a queue, optionally paced.
struct Frames {
    frames: VecDeque<Bytes>,
    delay: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    first: bool,
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.frames.is_empty() {
            return Poll::Ready(None);
        }
        if let Some(d) = this.delay.filter(|_| !this.first) {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(d)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        this.first = false;
        Poll::Ready(this.frames.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if self.delay.is_none() && self.frames.len() == 1 {
            let n = self.frames[0].len() as u64;
            return SizeHint::with_exact(n);
        }
        SizeHint::default()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `"stream":true` or `"stream": true`.
fn wants_stream(body: &[u8]) -> bool {
    contains(body, b"\"stream\":true") || contains(body, b"\"stream\": true")
}

fn wants_usage(body: &[u8]) -> bool {
    contains(body, b"\"include_usage\":true") || contains(body, b"\"include_usage\": true")
}

async fn handle(mock: Arc<Mock>, req: Request<Incoming>) -> Result<Response<Frames>, Infallible> {
    let big: Option<usize> = req
        .headers()
        .get("x-mock-bytes")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let path_ok = req.uri().path().ends_with("/chat/completions");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let frames = |frames: VecDeque<Bytes>, delay: Option<Duration>| Frames {
        frames,
        delay,
        sleep: None,
        first: true,
    };
    if !path_ok {
        let mut r = Response::new(frames(
            VecDeque::from([Bytes::from_static(
                b"{\"error\":{\"message\":\"not found\"}}",
            )]),
            None,
        ));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        return Ok(r);
    }
    let stream = wants_stream(&body);
    let (ctype, q, delay) = match (stream, big) {
        (true, Some(n)) => ("text/event-stream", mock.big_stream(n), None),
        (false, Some(n)) => ("application/json", mock.big_json(n), None),
        (true, None) => {
            let evs = if wants_usage(&body) {
                &mock.stream_usage
            } else {
                &mock.stream_no_usage
            };
            (
                "text/event-stream",
                evs.iter().cloned().collect(),
                mock.delay,
            )
        }
        (false, None) => (
            "application/json",
            VecDeque::from([Bytes::from_static(CHAT_JSON)]),
            None,
        ),
    };
    let mut r = Response::new(frames(q, delay));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, ctype.parse().unwrap());
    h.insert("x-request-id", "req_bench".parse().unwrap());
    h.insert("openai-processing-ms", "1".parse().unwrap());
    if stream {
        h.insert(header::CACHE_CONTROL, "no-cache".parse().unwrap());
    }
    Ok(r)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, "--port")
        .and_then(|v| v.parse().ok())
        .unwrap_or(18401);
    let threads: usize = arg(&args, "--threads")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let delay_ms: u64 = arg(&args, "--delay-ms")
        .or_else(|| std::env::var("MOCK_STREAM_DELAY_MS").ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("runtime");
    let mock = Arc::new(Mock::new(
        (delay_ms > 0).then(|| Duration::from_millis(delay_ms)),
    ));
    rt.block_on(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr).await.expect("bind");
        println!(
            "bench_mock listening on http://{}",
            listener.local_addr().unwrap()
        );
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let mock = mock.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(mock.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
}
