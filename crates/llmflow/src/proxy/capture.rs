//! The capture tee. Response bytes go to the client untouched and at once; a copy feeds the
//! provider's parser. The capture ends on end of stream, on upstream error and on client
//! disconnect (Drop), and always yields exactly one record.

use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use llmflow_core::providers::openai::{strip_injected_usage, StripAction};
use llmflow_core::providers::{ResponseParser, StreamTranslator};
use llmflow_core::sse::{SseDecoder, SseEvent};
use llmflow_core::{BodyCapture, ErrorKind, Span};

use super::ProxyState;

/// Non-stream bodies are parsed for usage up to this size even when fewer bytes are stored.
const PARSE_CAP: usize = 16 * 1024 * 1024;

enum Outcome {
    Complete,
    UpstreamError(String),
    Cancelled,
}

/// How a stream is changed on its way to the client (never, unless llmflow itself caused it).
pub enum Rewrite {
    None,
    /// Remove what llmflow's own `include_usage` injection adds to the stream.
    StripUsage,
    /// Native events in, OpenAI `chat.completion.chunk`s out.
    Translate(StreamTranslator),
}

/// What the response headers said about the body.
pub struct ResponseShape {
    pub is_sse: bool,
    pub is_json: bool,
    pub rewrite: Rewrite,
    /// `Content-Encoding`, when not identity.
    pub compressed: Option<String>,
    /// `Content-Length`, when the upstream sent one.
    pub content_length: Option<u64>,
}

pub struct Capture {
    st: Arc<ProxyState>,
    span: Span,
    t0: Instant,
    parser: ResponseParser,
    /// SSE decoder for streamed responses (keeping raw bytes when stripping).
    decoder: Option<SseDecoder>,
    rewrite: Rewrite,
    events: Vec<SseEvent>,
    /// Whole body copy for non-stream JSON parsing (bounded by PARSE_CAP).
    whole: Vec<u8>,
    /// The body is worth parsing whole (JSON, or a compressed stream).
    parse_whole: bool,
    whole_overflow: bool,
    compressed: Option<String>,
    first_byte_ms: Option<f64>,
}

impl Capture {
    pub fn new(
        st: Arc<ProxyState>,
        span: Span,
        t0: Instant,
        parser: ResponseParser,
        shape: ResponseShape,
    ) -> Self {
        let ResponseShape {
            is_sse,
            is_json,
            rewrite,
            compressed,
            content_length,
        } = shape;
        // A body known to be larger than the parse cap is not buffered at all; a known size
        // is reserved once instead of growing (and copying) the buffer.
        let too_big = content_length.is_some_and(|n| n > PARSE_CAP as u64);
        let parse_whole = (is_json || (is_sse && compressed.is_some())) && !too_big;
        let whole = match content_length {
            Some(n) if parse_whole => Vec::with_capacity(n as usize),
            _ => Vec::new(),
        };
        let decoder = (is_sse && compressed.is_none()).then(|| {
            if matches!(rewrite, Rewrite::StripUsage) {
                SseDecoder::keeping_raw()
            } else {
                SseDecoder::new()
            }
        });
        Self {
            st,
            span,
            t0,
            parser,
            decoder,
            rewrite,
            events: Vec::new(),
            whole,
            parse_whole,
            whole_overflow: false,
            compressed,
            first_byte_ms: None,
        }
    }

    /// Sees one chunk. When stripping, returns the bytes to send instead.
    fn on_data(&mut self, data: &Bytes) -> Option<Bytes> {
        if self.first_byte_ms.is_none() {
            self.first_byte_ms = Some(self.t0.elapsed().as_secs_f64() * 1000.0);
        }
        self.span.chunks += 1;
        self.span
            .response_body
            .push(data, self.st.config.capture_bytes);
        match self.decoder.as_mut() {
            Some(dec) => {
                dec.feed(data, &mut self.events);
                self.drain_events()
            }
            None => {
                if self.parse_whole && !self.whole_overflow {
                    if self.whole.len() + data.len() > PARSE_CAP {
                        self.whole_overflow = true;
                        self.whole = Vec::new();
                    } else {
                        self.whole.extend_from_slice(data);
                    }
                }
                None
            }
        }
    }

    fn drain_events(&mut self) -> Option<Bytes> {
        let mut out = match self.rewrite {
            Rewrite::None => None,
            _ => Some(Vec::new()),
        };
        for ev in self.events.drain(..) {
            self.parser.event(&ev);
            let Some(out) = out.as_mut() else { continue };
            match &mut self.rewrite {
                Rewrite::None => {}
                Rewrite::StripUsage => match strip_injected_usage(&ev) {
                    StripAction::Keep => out.extend_from_slice(&ev.raw),
                    StripAction::Drop => {}
                    StripAction::Rewrite(b) => out.extend_from_slice(&b),
                },
                Rewrite::Translate(t) => t.event(&ev, out),
            }
        }
        out.map(Bytes::from)
    }

    /// End of the upstream body: the decoder's leftovers (bytes to send when rewriting).
    fn on_end(&mut self) -> Option<Bytes> {
        let dec = self.decoder.as_mut()?;
        dec.finish(&mut self.events);
        let mut out = self.drain_events().map(|b| b.to_vec());
        if let (Rewrite::Translate(t), Some(out)) = (&mut self.rewrite, out.as_mut()) {
            t.finish(out);
        }
        out.filter(|b| !b.is_empty()).map(Bytes::from)
    }

    /// A body read whole by the caller (translated answers): record it and end.
    pub fn complete_whole(mut self, body: &Bytes) {
        if !body.is_empty() {
            self.on_data(body);
        }
        self.on_end();
        self.finish(Outcome::Complete);
    }

    /// The body could not be read: record the failure.
    pub fn upstream_failed(self, why: &str) {
        self.finish(Outcome::UpstreamError(why.to_owned()));
    }

    fn finish(mut self, outcome: Outcome) {
        let st = self.st.clone();
        if self.decoder.is_none() && !self.whole_overflow && !self.whole.is_empty() {
            let body = match self.compressed.as_deref() {
                Some(enc) => decompress(enc, &self.whole),
                None => Some(std::mem::take(&mut self.whole)),
            };
            if let Some(body) = body {
                if self.span.streamed && self.compressed.is_some() {
                    for ev in llmflow_core::sse::decode_all(&body) {
                        self.parser.event(&ev);
                    }
                } else {
                    self.parser.body(&body);
                }
            }
        }
        let info = self.parser.finish();
        let mut span = self.span;
        span.duration_ms = self.t0.elapsed().as_secs_f64() * 1000.0;
        span.ttft_ms = self.first_byte_ms;
        if info.model.is_some() {
            span.model = info.model;
        }
        span.usage = info.usage;
        span.output = info.output;
        if let (Some(model), Some(usage)) = (span.model.as_deref(), span.usage.as_ref()) {
            span.cost = st.pricing.cost(span.provider.as_deref(), model, usage);
        }
        if span.status.is_some_and(|s| s >= 400) {
            span.error = info
                .error
                .or_else(|| span.status.map(|s| format!("upstream answered HTTP {s}")));
        }
        match outcome {
            Outcome::Complete => {}
            Outcome::UpstreamError(e) => {
                span.error_kind = Some(ErrorKind::Upstream);
                span.error = Some(format!("upstream stream failed: {e}"));
            }
            Outcome::Cancelled => {
                span.cancelled = true;
                span.error_kind = Some(ErrorKind::Downstream);
                span.error = Some("client disconnected before the response ended".into());
            }
        }
        log_call(&span);
        st.store.submit(span);
    }
}

fn decompress(encoding: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let limited =
        |r: &mut dyn Read, out: &mut Vec<u8>| r.take(PARSE_CAP as u64).read_to_end(out).ok();
    match encoding {
        "gzip" | "x-gzip" => limited(&mut flate2::read::GzDecoder::new(bytes), &mut out)?,
        "deflate" => limited(&mut flate2::read::ZlibDecoder::new(bytes), &mut out)?,
        _ => return None,
    };
    Some(out)
}

/// One line per call: time (from the subscriber), OK/STREAM/ERR, model, tokens, cost, duration.
pub fn log_call(span: &Span) {
    let level = if span.is_error() {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    // Build nothing when the line would not be written.
    if (level == tracing::Level::WARN && !tracing::enabled!(tracing::Level::WARN))
        || (level == tracing::Level::INFO && !tracing::enabled!(tracing::Level::INFO))
    {
        return;
    }
    let word = if span.is_error() {
        "ERR"
    } else if span.streamed {
        "STREAM"
    } else {
        "OK"
    };
    let model = span.model.as_deref().unwrap_or("-");
    let tokens = span
        .usage
        .map(|u| u.total().to_string())
        .unwrap_or_else(|| "?".into());
    let cost = span
        .cost
        .map(|c| format!("${c:.6}"))
        .unwrap_or_else(|| "unpriced".into());
    let status = span.status.map(|s| s.to_string()).unwrap_or_default();
    let path = span.path.as_deref().unwrap_or("");
    match &span.error {
        Some(e) if span.is_error() => tracing::warn!(
            "{word} {status} {model} {path} {tokens} tok {cost} {:.0}ms: {e}",
            span.duration_ms
        ),
        _ => tracing::info!(
            "{word} {status} {model} {path} {tokens} tok {cost} {:.0}ms",
            span.duration_ms
        ),
    }
}

/// The response body handed to the client: upstream frames, passed on as they arrive.
pub struct TeeBody {
    inner: Incoming,
    capture: Option<Capture>,
    /// Bytes still to send after the upstream ended (stripping mode leftovers).
    tail: Option<Bytes>,
}

impl TeeBody {
    pub fn new(inner: Incoming, capture: Capture) -> Self {
        Self {
            inner,
            capture: Some(capture),
            tail: None,
        }
    }
}

impl HttpBody for TeeBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(tail) = this.tail.take() {
                return Poll::Ready(Some(Ok(Frame::data(tail))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let Some(cap) = this.capture.as_mut() else {
                        return Poll::Ready(Some(Ok(frame)));
                    };
                    let frame = match frame.into_data() {
                        Ok(data) => match cap.on_data(&data) {
                            None => Frame::data(data),
                            Some(rewritten) if rewritten.is_empty() => continue,
                            Some(rewritten) => Frame::data(rewritten),
                        },
                        Err(other) => other,
                    };
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(Some(Err(e))) => {
                    if let Some(cap) = this.capture.take() {
                        cap.finish(Outcome::UpstreamError(e.to_string()));
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    if let Some(mut cap) = this.capture.take() {
                        let leftover = cap.on_end();
                        cap.finish(Outcome::Complete);
                        if let Some(b) = leftover {
                            this.tail = Some(b);
                            continue;
                        }
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.tail.is_none() && self.capture.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.capture {
            Some(c) if !matches!(c.rewrite, Rewrite::None) => SizeHint::default(),
            _ => self.inner.size_hint(),
        }
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        if let Some(mut cap) = self.capture.take() {
            // Dropped before end of stream was polled: complete if every byte arrived,
            // otherwise the client went away (and dropping `inner` cancels the upstream).
            if self.inner.is_end_stream() {
                cap.on_end();
                cap.finish(Outcome::Complete);
            } else {
                cap.finish(Outcome::Cancelled);
            }
        }
    }
}

/// A streamed request body (uploads): forwarded as is, first bytes copied for the record.
pub struct RequestBodyTee {
    inner: Body,
    copy: Arc<Mutex<BodyCapture>>,
    cap: usize,
}

impl RequestBodyTee {
    pub fn new(inner: Body, copy: Arc<Mutex<BodyCapture>>, cap: usize) -> Self {
        Self { inner, copy, cap }
    }
}

impl HttpBody for RequestBodyTee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                if let Ok(mut c) = this.copy.lock() {
                    c.push(data, this.cap);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
