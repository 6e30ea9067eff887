//! Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`): NDJSON streams.
//! (Stub: being written.)

use super::{Operation, RequestInfo, ResponseInfo};
use crate::sse::SseEvent;

pub fn inspect_request(path: &str, body: &[u8]) -> RequestInfo {
    let _ = (path, body);
    RequestInfo::default()
}

#[derive(Debug)]
pub struct OllamaParser {
    info: ResponseInfo,
}

impl OllamaParser {
    pub fn new(op: Operation, text_cap: usize) -> Self {
        let _ = (op, text_cap);
        Self {
            info: ResponseInfo::default(),
        }
    }

    pub fn event(&mut self, ev: &SseEvent) {
        let _ = ev;
    }

    /// A whole body: one JSON object, or NDJSON lines (a stream).
    pub fn body(&mut self, body: &[u8]) {
        let _ = body;
    }

    pub fn finish(self) -> ResponseInfo {
        self.info
    }
}
