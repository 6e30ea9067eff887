//! The single writer: drains the queue in batches (by count or interval), writes each batch in
//! one transaction, then publishes the committed spans. Also applies retention.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use llmflow_core::Span;
use rusqlite::{params, Connection, Transaction};
use tokio::sync::{broadcast, oneshot};

use super::{Committed, Msg, StoreConfig, StoreCounters};

/// Nanoseconds in an hour: the rollup bucket.
const HOUR_NS: i64 = 3_600_000_000_000;
/// Most traces deleted per retention transaction, so one pass never holds the lock for long.
const PRUNE_BATCH: u64 = 2_000;

pub(super) struct Writer {
    conn: Connection,
    cfg: StoreConfig,
    counters: Arc<StoreCounters>,
    events: broadcast::Sender<Arc<Committed>>,
    trace_count: u64,
}

impl Writer {
    pub fn new(
        conn: Connection,
        cfg: StoreConfig,
        counters: Arc<StoreCounters>,
        events: broadcast::Sender<Arc<Committed>>,
    ) -> rusqlite::Result<Self> {
        let trace_count: u64 = conn.query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0))?;
        let span_rows: u64 = conn.query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))?;
        counters.span_rows.store(span_rows, Ordering::Relaxed);
        Ok(Self {
            conn,
            cfg,
            counters,
            events,
            trace_count,
        })
    }

    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut batch: Vec<Span> = Vec::with_capacity(self.cfg.batch_size);
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
        batch: &mut Vec<Span>,
        flushes: &mut Vec<oneshot::Sender<()>>,
        closing: &mut bool,
    ) -> bool {
        match m {
            Msg::Span(s) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                batch.push(*s);
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

    fn commit(&mut self, batch: Vec<Span>) {
        let mut attempt = 0;
        loop {
            match write_batch(&mut self.conn, &batch) {
                Ok((new_traces, inserted)) => {
                    self.trace_count += new_traces.iter().filter(|n| **n).count() as u64;
                    self.counters
                        .span_rows
                        .fetch_add(inserted, Ordering::Relaxed);
                    self.counters
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    if self.events.receiver_count() > 0 {
                        for (span, new_trace) in batch.into_iter().zip(new_traces) {
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
                            let _ = self.events.send(Arc::new(Committed { span, new_trace }));
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
                    return;
                }
            }
        }
    }

    /// Deletes whole traces, oldest first, once there are more than `max_traces` plus a slack
    /// (1%, at least 10): deletes then come in batches, not one trace per commit.
    fn prune(&mut self) {
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

/// Writes a batch in one transaction; returns, per span, whether it opened a new trace.
/// Also returns how many rows were inserted (duplicates are skipped).
fn write_batch(conn: &mut Connection, batch: &[Span]) -> rusqlite::Result<(Vec<bool>, u64)> {
    let tx = conn.transaction()?;
    let mut new_traces = Vec::with_capacity(batch.len());
    let mut inserted = 0;
    for s in batch {
        let (ins, new_trace) = insert_span(&tx, s)?;
        inserted += u64::from(ins);
        new_traces.push(new_trace);
    }
    tx.commit()?;
    Ok((new_traces, inserted))
}

/// Returns (inserted, opened a new trace).
fn insert_span(tx: &Transaction, s: &Span) -> rusqlite::Result<(bool, bool)> {
    let u = s.usage;
    let tags = (!s.tags.is_empty()).then(|| s.tags.join(","));
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO spans (id, trace_id, parent_id, start_ns, duration_ms, ttft_ms,
                span_type, name, provider, model, status, is_error, error_kind, error, cancelled,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                reasoning_tokens, total_tokens, cost, streamed, chunks, method, path, tags,
                service_name, session_id, conversation_id, user_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)",
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
