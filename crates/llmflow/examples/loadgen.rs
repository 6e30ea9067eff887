//! A small closed-loop HTTP/1.1 load generator for `bench/run.sh`: N keep-alive connections,
//! each sending its next request as soon as the previous response has been read whole.
//! Prints one JSON object on stdout.
//!
//! Usage:
//!   loadgen --url URL [-c 16] [-d 5] [--warmup 1] [-n REQUESTS] [--method POST]
//!           [--body JSON | --body-file PATH] [-H 'name: value']... [--threads 1]
//!           [--mode rr|ttft] [--label NAME]
//!
//! - `-d` runs for that many seconds after `--warmup` (warm-up requests are not recorded);
//!   `-n` instead stops after that many recorded requests (whichever comes first when both).
//! - `rr`: latency = request sent -> response body read to its end.
//! - `ttft`: also records time to the first body byte (the first data frame), for streams.
//!
//! Output: `{"label", "connections", "requests", "errors", "seconds", "rps", "bytes",
//! "latency_us": {p50,p90,p99,max,mean,min}, "ttft_us": {...}|null, "first_us"}`, where
//! `first_us` is the very first request's latency (a cold cache, warm-up included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{header, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

#[derive(Clone)]
struct Opts {
    addr: SocketAddr,
    uri: Uri,
    host: String,
    method: Method,
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
    ttft: bool,
    warmup: Duration,
    duration: Option<Duration>,
    requests: Option<u64>,
}

#[derive(Default)]
struct Results {
    lat: Vec<u32>,
    ttft: Vec<u32>,
    errors: u64,
    bytes: u64,
}

struct Shared {
    results: Mutex<Results>,
    /// Recorded requests so far (for `-n`).
    done: AtomicU64,
    /// Every completed request, warm-up and tail included (for CPU per request).
    all: AtomicU64,
    first_us: AtomicU64,
}

fn arg_all(args: &[String], names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if names.contains(&args[i].as_str()) {
            if let Some(v) = args.get(i + 1) {
                out.push(v.clone());
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

fn arg(args: &[String], names: &[&str]) -> Option<String> {
    arg_all(args, names).pop()
}

fn summary(v: &mut [u32]) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::Value::Null;
    }
    v.sort_unstable();
    let pct = |p: f64| -> u32 {
        let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[idx.min(v.len() - 1)]
    };
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    json!({
        "min": v[0],
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "max": v[v.len() - 1],
        "mean": (mean * 10.0).round() / 10.0,
    })
}

async fn connect(addr: SocketAddr) -> Option<http1::SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(addr).await.ok()?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await.ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(sender)
}

fn build(o: &Opts) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(o.method.clone())
        .uri(o.uri.clone())
        .header(header::HOST, o.host.as_str())
        .body(Full::new(o.body.clone()))
        .expect("request");
    let h = req.headers_mut();
    if !o.body.is_empty() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    for (n, v) in &o.headers {
        h.append(n.clone(), v.clone());
    }
    req
}

/// One request; returns (latency, ttft, bytes) or None on any failure.
async fn one(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    o: &Opts,
) -> Option<(Duration, Option<Duration>, u64, bool)> {
    sender.ready().await.ok()?;
    let t = Instant::now();
    let resp = sender.send_request(build(o)).await.ok()?;
    let ok = resp.status().is_success();
    let mut body = resp.into_body();
    let mut first = None;
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if let Some(d) = frame.data_ref() {
            if first.is_none() && !d.is_empty() {
                first = Some(t.elapsed());
            }
            bytes += d.len() as u64;
        }
    }
    Some((t.elapsed(), first, bytes, ok))
}

async fn worker(o: Arc<Opts>, shared: Arc<Shared>, record_from: Instant, stop_at: Option<Instant>) {
    let mut local = Results::default();
    let mut sender: Option<http1::SendRequest<Full<Bytes>>> = None;
    loop {
        let now = Instant::now();
        if stop_at.is_some_and(|s| now >= s) {
            break;
        }
        if let Some(n) = o.requests {
            if shared.done.load(Ordering::Relaxed) >= n {
                break;
            }
        }
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(o.addr).await {
                Some(s) => sender.insert(s),
                None => {
                    local.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let res = one(s, &o).await;
        let recording = started >= record_from && stop_at.is_none_or(|s| Instant::now() <= s);
        match res {
            Some((lat, first, bytes, ok)) => {
                shared.all.fetch_add(1, Ordering::Relaxed);
                let _ = shared.first_us.compare_exchange(
                    0,
                    lat.as_micros().max(1) as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if recording {
                    if ok {
                        local.lat.push(lat.as_micros().min(u32::MAX as u128) as u32);
                        if o.ttft {
                            if let Some(f) = first {
                                local.ttft.push(f.as_micros().min(u32::MAX as u128) as u32);
                            }
                        }
                        local.bytes += bytes;
                        shared.done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        local.errors += 1;
                    }
                }
            }
            None => {
                if recording {
                    local.errors += 1;
                }
                sender = None;
            }
        }
    }
    let mut r = shared.results.lock().unwrap();
    r.lat.extend_from_slice(&local.lat);
    r.ttft.extend_from_slice(&local.ttft);
    r.errors += local.errors;
    r.bytes += local.bytes;
}

/// This process's user+system CPU in clock ticks (Linux `/proc/self/stat`), so the bench
/// script can tell its own CPU use from other processes'.
fn self_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url: Uri = arg(&args, &["--url"])
        .expect("--url is required")
        .parse()
        .expect("--url");
    let host = url.authority().expect("url host").to_string();
    let addr: SocketAddr = {
        let h = url.host().unwrap_or("127.0.0.1");
        let h = if h == "localhost" { "127.0.0.1" } else { h };
        format!("{h}:{}", url.port_u16().unwrap_or(80))
            .parse()
            .expect("--url must use an IP address (loopback)")
    };
    let pq = url
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let body = match (arg(&args, &["--body"]), arg(&args, &["--body-file"])) {
        (Some(b), _) => Bytes::from(b),
        (None, Some(p)) => Bytes::from(std::fs::read(&p).expect("--body-file")),
        (None, None) => Bytes::new(),
    };
    let method: Method = arg(&args, &["--method", "-X"])
        .map(|m| m.parse().expect("--method"))
        .unwrap_or(if body.is_empty() {
            Method::GET
        } else {
            Method::POST
        });
    let headers = arg_all(&args, &["-H", "--header"])
        .into_iter()
        .map(|h| {
            let (n, v) = h.split_once(':').expect("-H 'name: value'");
            (
                HeaderName::from_bytes(n.trim().as_bytes()).expect("header name"),
                HeaderValue::from_str(v.trim()).expect("header value"),
            )
        })
        .collect();
    let conns: usize = arg(&args, &["-c", "--connections"])
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let requests: Option<u64> = arg(&args, &["-n", "--requests"]).and_then(|v| v.parse().ok());
    let duration: Option<Duration> = arg(&args, &["-d", "--duration"])
        .and_then(|v| v.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .or(if requests.is_none() {
            Some(Duration::from_secs(5))
        } else {
            None
        });
    let warmup = arg(&args, &["--warmup"])
        .and_then(|v| v.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::ZERO);
    let threads: usize = arg(&args, &["--threads"])
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let ttft = arg(&args, &["--mode"]).is_some_and(|m| m == "ttft");
    let label = arg(&args, &["--label"]).unwrap_or_default();

    let opts = Arc::new(Opts {
        addr,
        uri: pq.parse().expect("path"),
        host,
        method,
        body,
        headers,
        ttft,
        warmup,
        duration,
        requests,
    });
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
    let shared = Arc::new(Shared {
        results: Mutex::new(Results::default()),
        done: AtomicU64::new(0),
        all: AtomicU64::new(0),
        first_us: AtomicU64::new(0),
    });
    let (elapsed, _) = rt.block_on(async {
        let start = Instant::now();
        let record_from = start + opts.warmup;
        let stop_at = opts.duration.map(|d| record_from + d);
        let tasks: Vec<_> = (0..conns.max(1))
            .map(|_| tokio::spawn(worker(opts.clone(), shared.clone(), record_from, stop_at)))
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        let end = Instant::now();
        (end.saturating_duration_since(record_from), ())
    });
    let mut r = shared.results.lock().unwrap();
    let n = r.lat.len() as u64;
    // A timed run counts requests completed inside its window; `-n` alone uses wall time.
    let secs = match (opts.duration, opts.requests) {
        (Some(d), None) => d.as_secs_f64(),
        _ => elapsed.as_secs_f64(),
    }
    .max(1e-9);
    let out = json!({
        "label": label,
        "url": url.to_string(),
        "connections": conns,
        "requests": n,
        "errors": r.errors,
        "all_requests": shared.all.load(Ordering::Relaxed),
        "seconds": (secs * 1000.0).round() / 1000.0,
        "rps": ((n as f64 / secs) * 10.0).round() / 10.0,
        "bytes": r.bytes,
        "first_us": shared.first_us.load(Ordering::Relaxed),
        "self_cpu_ticks": self_cpu_ticks(),
        "latency_us": summary(&mut r.lat),
        "ttft_us": if opts.ttft { summary(&mut r.ttft) } else { serde_json::Value::Null },
    });
    println!("{out}");
}
