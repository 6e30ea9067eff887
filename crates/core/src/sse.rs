//! Incremental Server-Sent Events decoder: bytes in at any chunk boundary, events out.
//!
//! Follows the WHATWG event-stream rules: lines end in `\n`, `\r\n` or `\r` (a `\r\n` split
//! across two chunks is one line end), `:` starts a comment, an empty line dispatches the event,
//! multi-line `data` is joined with `\n`. It can also hand back each event's raw bytes, so a
//! filter can forward events unchanged or drop them.

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The exact bytes of the event including its terminating blank line (only when the decoder
    /// was built with [`SseDecoder::keeping_raw`]).
    pub raw: Vec<u8>,
}

/// Longest event kept; larger events are skipped so memory stays bounded on hostile streams.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Previous chunk ended in `\r`: a leading `\n` in the next chunk belongs to it.
    skip_lf: bool,
    keep_raw: bool,
    raw: Vec<u8>,
    /// Bytes in the current event so far (data + line), to enforce [`MAX_EVENT_BYTES`].
    event_bytes: usize,
    /// Bytes of the current line, including any dropped because the event was oversized.
    line_len: usize,
    oversized: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that also records each event's raw bytes in [`SseEvent::raw`].
    pub fn keeping_raw() -> Self {
        Self {
            keep_raw: true,
            ..Self::default()
        }
    }

    /// Feeds a chunk; complete events are appended to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.skip_lf {
            self.skip_lf = false;
            if let Some((&b'\n', rest)) = chunk.split_first() {
                if self.keep_raw {
                    self.raw.push(b'\n');
                }
                chunk = rest;
            }
        }
        while !chunk.is_empty() {
            match memchr::memchr2(b'\n', b'\r', chunk) {
                None => {
                    self.push_partial(chunk);
                    return;
                }
                Some(i) => {
                    self.push_partial(&chunk[..i]);
                    let mut end = i + 1;
                    if chunk[i] == b'\r' {
                        match chunk.get(i + 1) {
                            Some(b'\n') => end += 1,
                            None => self.skip_lf = true,
                            Some(_) => {}
                        }
                    }
                    if self.keep_raw {
                        self.raw.extend_from_slice(&chunk[i..end]);
                    }
                    chunk = &chunk[end..];
                    self.end_line(out);
                }
            }
        }
    }

    /// End of stream: a final event without its blank line is still dispatched (servers that
    /// close right after the last `data:` line are common), and leftover raw bytes are returned
    /// as an event with empty data so a filter forwards them.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if self.line_len > 0 {
            self.end_line(out);
        }
        if self.has_data {
            self.dispatch(out);
        } else if self.keep_raw && !self.raw.is_empty() {
            out.push(SseEvent {
                raw: std::mem::take(&mut self.raw),
                ..SseEvent::default()
            });
        }
        self.skip_lf = false;
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.keep_raw {
            self.raw.extend_from_slice(bytes);
        }
        self.line_len += bytes.len();
        self.event_bytes = self.event_bytes.saturating_add(bytes.len());
        if self.event_bytes > MAX_EVENT_BYTES {
            self.oversized = true;
            self.line = Vec::new();
        }
        if !self.oversized {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let blank = self.line_len == 0;
        self.line_len = 0;
        if blank {
            self.dispatch(out);
            return;
        }
        if self.oversized {
            self.line.clear();
            return;
        }
        let line = std::mem::take(&mut self.line);
        let (field, value) = match memchr::memchr(b':', &line) {
            Some(0) => (&b""[..], &b""[..]), // comment
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // comments, id, retry and unknown fields carry nothing llmflow needs
        }
        self.line = line;
        self.line.clear();
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.raw);
        let was_oversized = std::mem::take(&mut self.oversized);
        self.event_bytes = 0;
        if self.has_data && !was_oversized {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
                raw,
            });
        } else if self.keep_raw && !raw.is_empty() {
            // A blank line or a comment-only block: forward its bytes, it carries no event.
            out.push(SseEvent {
                raw,
                ..SseEvent::default()
            });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }
}

/// Decodes a whole buffer (a stored body, a test fixture).
pub fn decode_all(bytes: &[u8]) -> Vec<SseEvent> {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    dec.feed(bytes, &mut out);
    dec.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8]) -> Vec<(Option<String>, String)> {
        decode_all(input)
            .into_iter()
            .map(|e| (e.event, e.data))
            .collect()
    }

    #[test]
    fn basic_fields_comments_and_multiline() {
        let got = events(b": keep-alive\n\nevent: ping\ndata: a\ndata: b\n\ndata:c\r\n\r\n");
        assert_eq!(
            got,
            vec![(Some("ping".into()), "a\nb".into()), (None, "c".into())]
        );
    }

    #[test]
    fn lone_cr_line_endings() {
        assert_eq!(
            events(b"data: x\r\rdata: y\r\r"),
            vec![(None, "x".into()), (None, "y".into())]
        );
    }

    #[test]
    fn unterminated_last_event_is_dispatched_at_finish() {
        assert_eq!(events(b"data: [DONE]"), vec![(None, "[DONE]".into())]);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.feed(b"data: a\r", &mut out);
        d.feed(b"\n\r", &mut out);
        d.feed(b"\ndata: b\n\n", &mut out);
        let got: Vec<_> = out.into_iter().map(|e| e.data).collect();
        assert_eq!(got, vec!["a", "b"]);
    }

    #[test]
    fn raw_bytes_reassemble_the_stream() {
        let input: &[u8] = b": c\n\ndata: 1\n\nevent: x\r\ndata: 2\r\n\r\ndata: tail";
        for split in 0..input.len() {
            let mut d = SseDecoder::keeping_raw();
            let mut out = Vec::new();
            d.feed(&input[..split], &mut out);
            d.feed(&input[split..], &mut out);
            d.finish(&mut out);
            let joined: Vec<u8> = out.iter().flat_map(|e| e.raw.clone()).collect();
            assert_eq!(joined, input, "split at {split}");
        }
    }

    /// Every `.sse` fixture of every provider.
    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        for dir in std::fs::read_dir(root).unwrap() {
            for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_some_and(|e| e == "sse") {
                    out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
                }
            }
        }
        assert!(!out.is_empty());
        out
    }

    #[test]
    fn fixtures_split_at_every_offset_give_the_same_events() {
        for (name, bytes) in fixtures() {
            let whole = decode_all(&bytes);
            assert!(!whole.is_empty(), "{name}");
            for split in 0..=bytes.len() {
                let mut d = SseDecoder::new();
                let mut out = Vec::new();
                d.feed(&bytes[..split], &mut out);
                d.feed(&bytes[split..], &mut out);
                d.finish(&mut out);
                assert_eq!(out, whole, "{name} split at {split}");
            }
            // And one byte at a time.
            let mut d = SseDecoder::new();
            let mut out = Vec::new();
            for b in bytes.chunks(1) {
                d.feed(b, &mut out);
            }
            d.finish(&mut out);
            assert_eq!(out, whole, "{name} byte by byte");
        }
    }
}
