//! Log output that never slows a proxied call: lines are appended to a bounded in-memory
//! buffer and written to stdout by a background thread every 50 ms, one write per batch.
//! Nothing is woken per line (a channel per line cost a thread wake-up per request); when
//! stdout cannot keep up, lines beyond 1 MiB are dropped and counted.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const MAX_BUFFERED: usize = 1024 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Shared {
    buf: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

/// A `MakeWriter` for tracing-subscriber.
#[derive(Clone)]
pub struct BatchedStdout {
    shared: Arc<Shared>,
}

/// Flushes what is left when dropped (keep it alive until `main` returns).
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

fn flush(shared: &Shared) {
    let batch = match shared.buf.lock() {
        Ok(mut b) if !b.is_empty() => std::mem::take(&mut *b),
        _ => return,
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&batch);
    let dropped = shared.dropped.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        let _ = writeln!(
            out,
            "llmflow: {dropped} log lines dropped (stdout too slow)"
        );
    }
    let _ = out.flush();
}

impl BatchedStdout {
    pub fn start() -> (Self, FlushGuard) {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("llmflow-log".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Acquire) {
                    std::thread::sleep(FLUSH_EVERY);
                    flush(&s);
                }
                flush(&s);
            })
            .ok();
        (
            Self {
                shared: shared.clone(),
            },
            FlushGuard { shared, thread },
        )
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        flush(&self.shared);
    }
}

/// One log line being formatted.
pub struct Line {
    shared: Arc<Shared>,
}

impl Write for Line {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.shared.buf.lock() {
            Ok(mut b) if b.len() + data.len() <= MAX_BUFFERED => b.extend_from_slice(data),
            _ => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStdout {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            shared: self.shared.clone(),
        }
    }
}
