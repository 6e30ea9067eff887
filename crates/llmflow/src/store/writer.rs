//! The single writer: drains the queue in batches (by count or interval), writes each batch in
//! one transaction, then publishes the committed spans. Also applies retention.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use llmflow_core::{LogRecord, MetricPoint, Span};
use rusqlite::{params, Connection, Transaction};
use tokio::sync::{broadcast, oneshot};

use super::{Event, Msg, OtlpBatch, StoreConfig, StoreCounters};

/// Nanoseconds in an hour: the rollup bucket.
const HOUR_NS: i64 = 3_600_000_000_000;
/// Most traces deleted per retention transaction, so one pass never holds the lock for long.
const PRUNE_BATCH: u64 = 2_000;

/// Records gathered for one transaction, and the acknowledgements waiting on it.
#[derive(Default)]
pub(super) struct Pending {
    spans: Vec<Span>,
    logs: Vec<LogRecord>,
    metrics: Vec<MetricPoint>,
    acks: Vec<oneshot::Sender<bool>>,
}

impl Pending {
    fn len(&self) -> usize {
        self.spans.len() + self.logs.len() + self.metrics.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0 && self.acks.is_empty()
    }
}

pub(super) struct Writer {
    conn: Connection,
    cfg: StoreConfig,
    counters: Arc<StoreCounters>,
    events: broadcast::Sender<Arc<Event>>,
    trace_count: u64,
    log_count: u64,
    metric_count: u64,
}

impl Writer {
    pub fn new(
        conn: Connection,
        cfg: StoreConfig,
        counters: Arc<StoreCounters>,
        events: broadcast::Sender<Arc<Event>>,
    ) -> rusqlite::Result<Self> {
        let trace_count: u64 = conn.query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))?;
        let span_rows: u64 = conn.query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))?;
        counters.span_rows.store(span_rows, Ordering::Relaxed);
        let log_count: u64 = conn.query_row("SELECT COUNT(*) FROM logs", [], |r| r.get(0))?;
        let metric_count: u64 = conn.query_row("SELECT COUNT(*) FROM metrics", [], |r| r.get(0))?;
        Ok(Self {
            conn,
            cfg,
            counters,
            events,
            trace_count,
            log_count,
            metric_count,
        })
    }

    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut batch = Pending::default();
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        let mut closing = false;
        while !closing {
            let Ok(first) = rx.recv() else { break };
            let mut commit_now = !self.take(first, &mut batch, &mut flushes, &mut closing);
            // Sleep one tick, then drain everything queued: one wake-up and one commit per
            // tick beats waking for every record (the proxy's threads share the same cores).
            if !commit_now && !self.cfg.flush_interval.is_zero() {
                std::thread::sleep(self.cfg.flush_interval);
            }
            while !commit_now {
                let Ok(m) = rx.try_recv() else { break };
                commit_now = !self.take(m, &mut batch, &mut flushes, &mut closing);
                if batch.len() >= self.cfg.batch_size {
                    self.commit(std::mem::take(&mut batch));
                }
            }
            if !batch.is_empty() {
                self.commit(std::mem::take(&mut batch));
            }
            self.prune();
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
        }
        // Anything that raced with the close is still written.
        while let Ok(m) = rx.try_recv() {
            self.take(m, &mut batch, &mut flushes, &mut closing);
        }
        if !batch.is_empty() {
            self.commit(batch);
        }
        for f in flushes {
            let _ = f.send(());
        }
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
    }

    /// Returns false when the message asks to commit now (flush, close).
    fn take(
        &self,
        m: Msg,
        batch: &mut Pending,
        flushes: &mut Vec<oneshot::Sender<()>>,
        closing: &mut bool,
    ) -> bool {
        match m {
            Msg::Span(s) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                batch.spans.push(*s);
                true
            }
            Msg::Otlp(b) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                let OtlpBatch {
                    spans,
                    logs,
                    metrics,
                    ack,
                } = *b;
                batch.spans.extend(spans);
                batch.logs.extend(logs);
                batch.metrics.extend(metrics);
                batch.acks.push(ack);
                true
            }
            Msg::Flush(done) => {
                flushes.push(done);
                false
            }
            Msg::Close => {
                *closing = true;
                false
            }
        }
    }

    fn commit(&mut self, batch: Pending) {
        let mut attempt = 0;
        loop {
            match write_batch(&mut self.conn, &batch) {
                Ok(done) => {
                    self.trace_count += done.new_traces.iter().filter(|n| **n).count() as u64;
                    self.log_count += done.logs;
                    self.metric_count += done.metrics;
                    self.counters
                        .span_rows
                        .fetch_add(done.spans, Ordering::Relaxed);
                    self.counters
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    let Pending {
                        spans,
                        logs,
                        metrics,
                        acks,
                    } = batch;
                    // Acknowledged only now: a 200 to an exporter means committed.
                    for ack in acks {
                        let _ = ack.send(true);
                    }
                    if self.events.receiver_count() > 0 {
                        for (span, new_trace) in spans.into_iter().zip(done.new_traces) {
                            // The feed carries list rows: bodies and headers stay on disk, so a
                            // lagging browser can never pin megabytes per span in memory.
                            let span = Span {
                                request_headers: Vec::new(),
                                response_headers: Vec::new(),
                                request_body: Default::default(),
                                response_body: Default::default(),
                                input: None,
                                input_text: None,
                                output: None,
                                attributes: None,
                                ..span
                            };
                            let _ = self.events.send(Arc::new(Event::Span { span, new_trace }));
                        }
                        for log in logs {
                            let _ = self.events.send(Arc::new(Event::Log(log)));
                        }
                        for point in metrics {
                            let _ = self.events.send(Arc::new(Event::Metric(point)));
                        }
                    }
                    return;
                }
                Err(e) if attempt < 2 => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, records = batch.len(), "write failed, retrying");
                    std::thread::sleep(Duration::from_millis(50 * attempt));
                }
                Err(e) => {
                    self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .dropped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::error!(error = %e, records = batch.len(), "write failed: records dropped");
                    for ack in batch.acks {
                        let _ = ack.send(false);
                    }
                    return;
                }
            }
        }
    }

    /// Deletes whole traces, oldest first, once there are more than `max_traces` plus a slack
    /// (1%, at least 10): deletes then come in batches, not one trace per commit.
    fn prune(&mut self) {
        for (table, max, count) in [
            ("logs", self.cfg.max_logs, &mut self.log_count),
            ("metrics", self.cfg.max_metrics, &mut self.metric_count),
        ] {
            let slack = (max / 100).max(10);
            if max > 0 && *count > max + slack {
                let sql = format!(
                    "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} ORDER BY seq LIMIT ?1)"
                );
                match self.conn.execute(&sql, [opt_u64(Some(*count - max))]) {
                    Ok(n) => *count = count.saturating_sub(n as u64),
                    Err(e) => tracing::warn!(error = %e, table, "retention pass failed"),
                }
            }
        }
        let max = self.cfg.max_traces;
        let slack = (max / 100).max(10);
        if max == 0 || self.trace_count <= max + slack {
            return;
        }
        let excess = (self.trace_count - max).min(PRUNE_BATCH);
        match prune_traces(&mut self.conn, excess) {
            Ok((n, spans)) => {
                self.trace_count = self.trace_count.saturating_sub(n);
                self.counters.span_rows.fetch_sub(spans, Ordering::Relaxed);
                self.counters.pruned_traces.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
    }
}

fn opt_u64(v: Option<u64>) -> Option<i64> {
    v.map(|x| i64::try_from(x).unwrap_or(i64::MAX))
}

/// What one transaction wrote.
struct Written {
    /// Per span: it opened a new trace.
    new_traces: Vec<bool>,
    /// Rows inserted (duplicates are skipped).
    spans: u64,
    logs: u64,
    metrics: u64,
}

/// Writes a batch in one transaction.
fn write_batch(conn: &mut Connection, batch: &Pending) -> rusqlite::Result<Written> {
    let tx = conn.transaction()?;
    let mut done = Written {
        new_traces: Vec::with_capacity(batch.spans.len()),
        spans: 0,
        logs: 0,
        metrics: 0,
    };
    for s in &batch.spans {
        let (ins, new_trace) = insert_span(&tx, s)?;
        done.spans += u64::from(ins);
        done.new_traces.push(new_trace);
    }
    for l in &batch.logs {
        done.logs += insert_log(&tx, l)? as u64;
    }
    for m in &batch.metrics {
        done.metrics += insert_metric(&tx, m)? as u64;
    }
    tx.commit()?;
    Ok(done)
}

fn insert_log(tx: &Transaction, l: &LogRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO logs (id, time_ns, observed_ns, severity_number, severity_text,
            body, trace_id, span_id, service_name, event_name, session_id, attributes, resource)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![
        l.id,
        l.time_ns,
        l.observed_ns,
        l.severity_number,
        l.severity_text,
        l.body,
        l.trace_id,
        l.span_id,
        l.service_name,
        l.event_name,
        l.session_id,
        l.attributes,
        l.resource,
    ])
}

fn insert_metric(tx: &Transaction, m: &MetricPoint) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO metrics (id, time_ns, start_ns, name, description, unit, kind,
            temporality, monotonic, value, count, sum, min, max, buckets, service_name,
            session_id, attributes, resource)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![
        m.id,
        m.time_ns,
        m.start_ns,
        m.name,
        m.description,
        m.unit,
        m.kind.as_str(),
        m.temporality,
        m.monotonic,
        m.value,
        opt_u64(m.count),
        m.sum,
        m.min,
        m.max,
        m.buckets,
        m.service_name,
        m.session_id,
        m.attributes,
        m.resource,
    ])
}

/// Returns (inserted, opened a new trace).
fn insert_span(tx: &Transaction, s: &Span) -> rusqlite::Result<(bool, bool)> {
    let u = s.usage;
    let tags = (!s.tags.is_empty()).then(|| s.tags.join(","));
    let inserted = tx
        .prepare_cached(
            "INSERT INTO spans (id, trace_id, parent_id, start_ns, duration_ms, ttft_ms,
                span_type, name, provider, model, status, is_error, error_kind, error, cancelled,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                reasoning_tokens, total_tokens, cost, streamed, chunks, method, path, tags,
                service_name, session_id, conversation_id, user_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            s.id,
            s.trace_id,
            s.parent_id,
            s.start_ns,
            s.duration_ms,
            s.ttft_ms,
            s.span_type,
            s.name,
            s.provider,
            s.model,
            s.status,
            s.is_error(),
            s.error_kind.map(|k| k.as_str()),
            s.error,
            s.cancelled,
            opt_u64(u.map(|u| u.input)),
            opt_u64(u.map(|u| u.output)),
            opt_u64(u.map(|u| u.cache_read)),
            opt_u64(u.map(|u| u.cache_write)),
            opt_u64(u.map(|u| u.reasoning)),
            opt_u64(u.map(|u| u.total())),
            s.cost,
            s.streamed,
            opt_u64(Some(s.chunks)),
            s.method,
            s.path,
            tags,
            s.service_name,
            s.session_id,
            s.conversation_id,
            s.user_id,
        ])?;
    if inserted == 0 {
        // The same span id twice (an exporter retry): stored once.
        return Ok((false, false));
    }
    let seq = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO span_payloads (seq, request_headers, request_body, request_body_size,
            request_truncated, response_headers, response_body, response_body_size,
            response_truncated, input, output, attributes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        seq,
        headers_json(&s.request_headers),
        (!s.request_body.bytes.is_empty()).then_some(&s.request_body.bytes),
        opt_u64(Some(s.request_body.size)),
        s.request_body.truncated,
        headers_json(&s.response_headers),
        (!s.response_body.bytes.is_empty()).then_some(&s.response_body.bytes),
        opt_u64(Some(s.response_body.size)),
        s.response_body.truncated,
        s.input,
        s.output,
        s.attributes,
    ])?;
    for tag in &s.tags {
        tx.prepare_cached("INSERT OR IGNORE INTO span_tags (seq, tag) VALUES (?1, ?2)")?
            .execute(params![seq, tag])?;
    }
    tx.prepare_cached(
        "INSERT INTO spans_fts (rowid, name, model, input, output) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![seq, s.name, s.model, s.input_text, s.output])?;
    let new_trace = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO traces (trace_id, first_seq, start_ns, span_count) VALUES (?1, ?2, ?3, 1)",
        )?
        .execute(params![s.trace_id, seq, s.start_ns])?
        == 1;
    if !new_trace {
        tx.prepare_cached(
            "UPDATE traces SET span_count = span_count + 1, start_ns = min(start_ns, ?2) WHERE trace_id = ?1",
        )?
        .execute(params![s.trace_id, s.start_ns])?;
    }
    tx.prepare_cached(
        "INSERT INTO rollup_hourly (hour, provider, model, requests, errors, input_tokens,
            output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost, unpriced,
            duration_ms, ttft_ms, ttft_count)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (hour, provider, model) DO UPDATE SET
            requests = requests + 1,
            errors = errors + excluded.errors,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
            cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
            reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
            cost = cost + excluded.cost,
            unpriced = unpriced + excluded.unpriced,
            duration_ms = duration_ms + excluded.duration_ms,
            ttft_ms = ttft_ms + excluded.ttft_ms,
            ttft_count = ttft_count + excluded.ttft_count",
    )?
    .execute(params![
        s.start_ns.div_euclid(HOUR_NS) * 3600,
        s.provider.as_deref().unwrap_or(""),
        s.model.as_deref().unwrap_or(""),
        s.is_error(),
        opt_u64(u.map(|u| u.input)).unwrap_or(0),
        opt_u64(u.map(|u| u.output)).unwrap_or(0),
        opt_u64(u.map(|u| u.cache_read)).unwrap_or(0),
        opt_u64(u.map(|u| u.cache_write)).unwrap_or(0),
        opt_u64(u.map(|u| u.reasoning)).unwrap_or(0),
        s.cost.unwrap_or(0.0),
        s.cost.is_none() && u.is_some_and(|u| u.total() > 0),
        s.duration_ms,
        s.ttft_ms.unwrap_or(0.0),
        s.ttft_ms.is_some(),
    ])?;
    Ok((true, new_trace))
}

fn headers_json(h: &[(String, String)]) -> Option<String> {
    if h.is_empty() {
        return None;
    }
    serde_json::to_string(h).ok()
}

/// Deletes the `n` oldest traces with all their spans; returns (traces, spans) deleted.
fn prune_traces(conn: &mut Connection, n: u64) -> rusqlite::Result<(u64, u64)> {
    let mut spans = 0;
    let tx = conn.transaction()?;
    let ids: Vec<String> = {
        let mut st =
            tx.prepare_cached("SELECT trace_id FROM traces ORDER BY first_seq LIMIT ?1")?;
        let rows = st.query_map([opt_u64(Some(n))], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in &ids {
        let seqs: Vec<i64> = {
            let mut st = tx.prepare_cached("SELECT seq FROM spans WHERE trace_id = ?1")?;
            let rows = st.query_map([id], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        spans += seqs.len() as u64;
        for seq in seqs {
            tx.prepare_cached("DELETE FROM span_payloads WHERE seq = ?1")?
                .execute([seq])?;
            tx.prepare_cached("DELETE FROM span_tags WHERE seq = ?1")?
                .execute([seq])?;
            tx.prepare_cached("DELETE FROM spans_fts WHERE rowid = ?1")?
                .execute([seq])?;
        }
        tx.prepare_cached("DELETE FROM spans WHERE trace_id = ?1")?
            .execute([id])?;
        tx.prepare_cached("DELETE FROM traces WHERE trace_id = ?1")?
            .execute([id])?;
    }
    tx.commit()?;
    Ok((ids.len() as u64, spans))
}
