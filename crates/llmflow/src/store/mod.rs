//! The store: one writer thread fed by a bounded queue, a small pool of read connections,
//! and a broadcast of every committed span.
//!
//! The proxy only ever calls [`Store::submit`], which never blocks: a full queue drops the
//! record and counts it, so a slow disk can never slow a user's call.

pub mod otel_query;
pub mod query;
pub mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use llmflow_core::{LogRecord, MetricPoint, Span};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, oneshot};

pub use query::{
    list_spans, model_rows, span_detail, stats, trace_tree, ExportCursor, ModelRow, SpanDetail,
    Stats, TraceFilter, TraceTree,
};

/// Knobs of the writer and retention.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub max_traces: u64,
    pub max_logs: u64,
    pub max_metrics: u64,
}

/// A committed record, as published to the live feed (spans without bodies or headers).
/// Events travel in an `Arc`, so the variants' size difference costs nothing per clone.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    Span {
        span: Span,
        /// Its trace had no span before this one.
        new_trace: bool,
    },
    Log(LogRecord),
    Metric(MetricPoint),
}

/// Records from one OTLP request: written in one transaction, then acknowledged.
pub struct OtlpBatch {
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<MetricPoint>,
    /// `true` once committed, `false` if the write failed.
    pub ack: oneshot::Sender<bool>,
}

/// Counters shown in `/api/health`.
#[derive(Debug, Default)]
pub struct StoreCounters {
    pub queued: AtomicU64,
    pub dropped: AtomicU64,
    pub written: AtomicU64,
    pub write_errors: AtomicU64,
    pub pruned_traces: AtomicU64,
    /// Rows in `spans` now (kept by the writer, so unfiltered totals need no scan).
    pub span_rows: AtomicU64,
    /// OTLP requests answered "retry later" because the queue was full (nothing was lost).
    pub refused: AtomicU64,
}

pub(crate) enum Msg {
    Span(Box<Span>),
    Otlp(Box<OtlpBatch>),
    Flush(oneshot::Sender<()>),
    /// Write everything queued before this, then stop.
    Close,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("reader task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("not found")]
    NotFound,
}

pub struct Store {
    tx: SyncSender<Msg>,
    closed: AtomicBool,
    capacity: usize,
    counters: Arc<StoreCounters>,
    readers: Arc<Readers>,
    events: broadcast::Sender<Arc<Event>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating and migrating) the database and starts the writer thread.
    pub fn open(cfg: StoreConfig) -> anyhow::Result<Arc<Self>> {
        if let Some(dir) = cfg.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
        }
        let mut conn = Connection::open(&cfg.path)
            .with_context(|| format!("opening database {}", cfg.path.display()))?;
        schema::configure(&conn).context("configuring database")?;
        schema::migrate(&mut conn).context("migrating database")?;
        let (tx, rx) = mpsc::sync_channel(cfg.queue_capacity);
        // Slim events (no bodies); room for an OTLP batch of a few thousand spans at once.
        let (events, _) = broadcast::channel(8192);
        let counters = Arc::new(StoreCounters::default());
        let w = writer::Writer::new(conn, cfg.clone(), counters.clone(), events.clone())
            .context("preparing the writer")?;
        let handle = std::thread::Builder::new()
            .name("llmflow-writer".into())
            .spawn(move || w.run(rx))
            .context("starting the writer thread")?;
        Ok(Arc::new(Self {
            tx,
            closed: AtomicBool::new(false),
            capacity: cfg.queue_capacity,
            counters,
            readers: Arc::new(Readers::new(cfg.path.clone())),
            events,
            writer: Mutex::new(Some(handle)),
            path: cfg.path,
        }))
    }

    /// Queues a span for writing. Never blocks; returns false (and counts a drop) when the
    /// queue is full or the store is shut down.
    pub fn submit(&self, span: Span) -> bool {
        let sent = !self.closed.load(Ordering::Acquire) && {
            self.counters.queued.fetch_add(1, Ordering::Relaxed);
            match self.tx.try_send(Msg::Span(Box::new(span))) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                    false
                }
            }
        };
        if !sent {
            let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "record queue full: records dropped");
            }
        }
        sent
    }

    /// Waits until everything submitted before this call is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        let tx = self.tx.clone();
        // A blocking send: flush is rare and must not be lost to a full queue.
        let sent = tokio::task::spawn_blocking(move || tx.send(Msg::Flush(done)).is_ok()).await;
        if matches!(sent, Ok(true)) {
            let _ = wait.await;
        }
    }

    /// Stops the writer after it has written everything queued, and checkpoints the WAL.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Blocking: everything queued before is written first.
        let _ = self.tx.send(Msg::Close);
        let handle = self.writer.lock().ok().and_then(|mut g| g.take());
        if let Some(h) = handle {
            if h.join().is_err() {
                tracing::error!("writer thread panicked");
            }
        }
    }

    /// Queues an OTLP request's records; the returned receiver says when they are committed.
    /// `None` when the queue is full: the exporter should retry later.
    pub fn submit_batch(
        &self,
        spans: Vec<Span>,
        logs: Vec<LogRecord>,
        metrics: Vec<MetricPoint>,
    ) -> Option<oneshot::Receiver<bool>> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let (ack, done) = oneshot::channel();
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let batch = OtlpBatch {
            spans,
            logs,
            metrics,
            ack,
        };
        match self.tx.try_send(Msg::Otlp(Box::new(batch))) {
            Ok(()) => Some(done),
            Err(_) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    pub fn counters(&self) -> &StoreCounters {
        &self.counters
    }

    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes on disk: the database and its WAL.
    pub fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Runs a read on a pooled read-only connection, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f)).await?
    }
}

/// Read-only connections, opened on demand and kept for reuse.
struct Readers {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Readers {
    const KEEP: usize = 4;

    fn new(path: PathBuf) -> Self {
        Self {
            path,
            pool: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(Duration::from_secs(5))?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < Self::KEEP {
                p.push(conn);
            }
        }
        out
    }
}
