//! The floor llmflow is measured against: a bare HTTP forwarder with nothing but the hop.
//! hyper 1.x server + hyper-util legacy pooled client; request and response body frames are
//! passed through as they arrive; no capture, no parsing, no store.
//!
//! Usage: `bare_forwarder [--port 18402] [--upstream http://127.0.0.1:18401] [--threads 2]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

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

type Out = BoxBody<Bytes, hyper::Error>;

struct Fwd {
    client: Client<HttpConnector, Incoming>,
    scheme_authority: String,
}

async fn forward(fwd: Arc<Fwd>, req: Request<Incoming>) -> Result<Response<Out>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri: Uri = match format!("{}{pq}", fwd.scheme_authority).parse() {
        Ok(u) => u,
        Err(_) => return Ok(error(StatusCode::BAD_REQUEST)),
    };
    parts.uri = uri;
    parts.headers.remove(header::HOST);
    for h in HOP_BY_HOP {
        parts.headers.remove(*h);
    }
    let upstream = Request::from_parts(parts, body);
    match fwd.client.request(upstream).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            for h in HOP_BY_HOP {
                parts.headers.remove(*h);
            }
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Err(_) => Ok(error(StatusCode::BAD_GATEWAY)),
    }
}

fn error(status: StatusCode) -> Response<Out> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(b"{\"error\":\"bare_forwarder\"}"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
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
        .unwrap_or(18402);
    let upstream = arg(&args, "--upstream").unwrap_or_else(|| "http://127.0.0.1:18401".into());
    let threads: usize = arg(&args, "--threads")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(512)
            .build(http);
        let fwd = Arc::new(Fwd {
            client,
            scheme_authority: upstream.trim_end_matches('/').to_owned(),
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr).await.expect("bind");
        println!(
            "bare_forwarder listening on http://{} -> {}",
            listener.local_addr().unwrap(),
            fwd.scheme_authority
        );
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let fwd = fwd.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| forward(fwd.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
}
