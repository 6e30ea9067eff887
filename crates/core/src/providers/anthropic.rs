//! Anthropic wire format. (Stub: being written.)

use super::{Operation, RequestInfo, ResponseInfo, TranslateError, Translated};
use crate::sse::SseEvent;

pub fn inspect_request(path: &str, body: &[u8]) -> RequestInfo {
    let _ = (path, body);
    RequestInfo::default()
}

#[derive(Debug)]
pub struct AnthropicParser {
    info: ResponseInfo,
}

impl AnthropicParser {
    pub fn new(op: Operation, text_cap: usize) -> Self {
        let _ = (op, text_cap);
        Self {
            info: ResponseInfo::default(),
        }
    }

    pub fn event(&mut self, ev: &SseEvent) {
        let _ = ev;
    }

    pub fn body(&mut self, body: &[u8]) {
        let _ = body;
    }

    pub fn finish(self) -> ResponseInfo {
        self.info
    }
}

pub fn translate_request(openai_body: &[u8]) -> Result<Translated, TranslateError> {
    let _ = openai_body;
    Err(TranslateError::Unsupported("not yet".into()))
}

pub fn translate_response(
    native: &[u8],
    model: &str,
    created: u64,
) -> Result<Vec<u8>, TranslateError> {
    let _ = (native, model, created);
    Err(TranslateError::Unsupported("not yet".into()))
}

#[derive(Debug)]
pub struct AnthropicToOpenAi {}

impl AnthropicToOpenAi {
    pub fn new(model: &str, include_usage: bool, created: u64) -> Self {
        let _ = (model, include_usage, created);
        Self {}
    }

    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        let _ = (ev, out);
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }
}
