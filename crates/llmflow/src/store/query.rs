//! Reads: filtered span lists with totals, a span with its payload, trace trees, stats from
//! the rollups, export pages.

use llmflow_core::{BodyCapture, ErrorKind, Span, Usage};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};
use serde::Deserialize;

use super::StoreError;

/// Filters of `/api/traces` (and its export). Dates are Unix milliseconds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TraceFilter {
    pub model: Option<String>,
    pub status: Option<String>,
    pub q: Option<String>,
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
    pub provider: Option<String>,
    pub session_id: Option<String>,
    pub conversation_id: Option<String>,
    pub tag: Option<String>,
    pub service_name: Option<String>,
    pub span_type: Option<String>,
    pub cost_min: Option<f64>,
    pub cost_max: Option<f64>,
    pub trace_id: Option<String>,
}

pub(crate) const SPAN_COLS: &str =
    "spans.seq, spans.id, spans.trace_id, spans.parent_id, spans.start_ns, spans.duration_ms, spans.ttft_ms, spans.span_type, spans.name, spans.provider, spans.model, spans.status, spans.error_kind, spans.error, spans.cancelled, spans.input_tokens, spans.output_tokens, spans.cache_read_tokens, spans.cache_write_tokens, spans.reasoning_tokens, spans.cost, spans.streamed, spans.chunks, spans.method, spans.path, spans.tags, spans.service_name, spans.session_id, spans.conversation_id, spans.user_id";

/// Builds a span from a row selected with [`SPAN_COLS`] (payload fields left empty).
pub(crate) fn span_from_row(r: &Row) -> rusqlite::Result<(i64, Span)> {
    let tok = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as u64))
    };
    let usage = match (tok(15)?, tok(16)?) {
        (None, None) => None,
        (i, o) => Some(Usage {
            input: i.unwrap_or(0),
            output: o.unwrap_or(0),
            cache_read: tok(17)?.unwrap_or(0),
            cache_write: tok(18)?.unwrap_or(0),
            reasoning: tok(19)?.unwrap_or(0),
        }),
    };
    let tags: Option<String> = r.get(25)?;
    let span = Span {
        id: r.get(1)?,
        trace_id: r.get(2)?,
        parent_id: r.get(3)?,
        start_ns: r.get(4)?,
        duration_ms: r.get(5)?,
        ttft_ms: r.get(6)?,
        span_type: r.get(7)?,
        name: r.get(8)?,
        provider: r.get(9)?,
        model: r.get(10)?,
        status: r.get(11)?,
        error_kind: r
            .get::<_, Option<String>>(12)?
            .and_then(|k| ErrorKind::parse(&k)),
        error: r.get(13)?,
        cancelled: r.get(14)?,
        usage,
        cost: r.get(20)?,
        streamed: r.get(21)?,
        chunks: r.get::<_, i64>(22)?.max(0) as u64,
        method: r.get(23)?,
        path: r.get(24)?,
        tags: tags
            .map(|t| t.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        service_name: r.get(26)?,
        session_id: r.get(27)?,
        conversation_id: r.get(28)?,
        user_id: r.get(29)?,
        ..Span::default()
    };
    Ok((r.get(0)?, span))
}

/// Turns a user's search text into a safe FTS5 query: each word a quoted prefix term.
pub(crate) fn fts_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split_whitespace()
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl TraceFilter {
    fn is_empty(&self) -> bool {
        self.where_clause().0.is_empty()
    }

    fn where_clause(&self) -> (String, Vec<Value>) {
        let mut conds: Vec<&str> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let mut eq = |col: &'static str, v: &Option<String>, conds: &mut Vec<&str>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                conds.push(col);
                args.push(Value::Text(v.to_owned()));
            }
        };
        eq("spans.model = ?", &self.model, &mut conds);
        eq("spans.provider = ?", &self.provider, &mut conds);
        eq("spans.session_id = ?", &self.session_id, &mut conds);
        eq(
            "spans.conversation_id = ?",
            &self.conversation_id,
            &mut conds,
        );
        eq("spans.service_name = ?", &self.service_name, &mut conds);
        eq("spans.span_type = ?", &self.span_type, &mut conds);
        eq("spans.trace_id = ?", &self.trace_id, &mut conds);
        eq(
            "spans.seq IN (SELECT seq FROM span_tags WHERE tag = ?)",
            &self.tag,
            &mut conds,
        );
        let fts = self.q.as_deref().and_then(fts_query);
        eq(
            "spans.seq IN (SELECT rowid FROM spans_fts WHERE spans_fts MATCH ?)",
            &fts,
            &mut conds,
        );
        match self.status.as_deref() {
            Some("success" | "ok") => conds.push("spans.is_error = 0"),
            Some("error") => conds.push("spans.is_error = 1"),
            _ => {}
        }
        if let Some(ms) = self.date_from {
            conds.push("spans.start_ns >= ?");
            args.push(Value::Integer(ms.saturating_mul(1_000_000)));
        }
        if let Some(ms) = self.date_to {
            conds.push("spans.start_ns <= ?");
            args.push(Value::Integer(ms.saturating_mul(1_000_000)));
        }
        if let Some(c) = self.cost_min {
            conds.push("spans.cost >= ?");
            args.push(Value::Real(c));
        }
        if let Some(c) = self.cost_max {
            conds.push("spans.cost <= ?");
            args.push(Value::Real(c));
        }
        if conds.is_empty() {
            (String::new(), args)
        } else {
            (format!("WHERE {}", conds.join(" AND ")), args)
        }
    }
}

/// A page of spans, newest first, and the total matching the filter.
pub fn list_spans(
    conn: &Connection,
    f: &TraceFilter,
    limit: u32,
    offset: u64,
    total_rows: u64,
) -> Result<(Vec<Span>, u64), StoreError> {
    // A search drives the query from the full-text index, newest rowid first, joining spans
    // by primary key: a common word then costs a page, not a sort of every match.
    let fts = f.q.as_deref().and_then(fts_query);
    let rest = TraceFilter {
        q: None,
        ..f.clone()
    };
    let (w, mut args) = rest.where_clause();
    let count = |sql: &str, args: &[Value]| -> Result<u64, StoreError> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row(params_from_iter(args.iter()), |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    };
    let (from, order) = match &fts {
        Some(q) => {
            let w = if w.is_empty() {
                "WHERE spans_fts MATCH ?".to_owned()
            } else {
                format!("{w} AND spans_fts MATCH ?")
            };
            args.push(Value::Text(q.clone()));
            (
                format!("spans_fts CROSS JOIN spans ON spans.seq = spans_fts.rowid {w}"),
                "spans_fts.rowid DESC",
            )
        }
        None => (format!("spans {w}"), "spans.seq DESC"),
    };
    let total = if fts.is_none() && rest.is_empty() {
        total_rows
    } else if fts.is_some() && rest.is_empty() {
        count(
            "SELECT COUNT(*) FROM spans_fts WHERE spans_fts MATCH ?",
            &args,
        )?
    } else {
        count(&format!("SELECT COUNT(*) FROM {from}"), &args)?
    };
    args.push(Value::Integer(limit.into()));
    args.push(Value::Integer(offset.min(i64::MAX as u64) as i64));
    let sql = format!("SELECT {SPAN_COLS} FROM {from} ORDER BY {order} LIMIT ? OFFSET ?");
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), span_from_row)?;
    let spans = rows
        .map(|r| r.map(|(_, s)| s))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((spans, total))
}

/// Keyset pagination for streamed exports: pages of spans older than the last one seen.
#[derive(Debug, Clone)]
pub struct ExportCursor {
    pub filter: TraceFilter,
    pub before_seq: i64,
}

impl ExportCursor {
    pub fn new(filter: TraceFilter) -> Self {
        Self {
            filter,
            before_seq: i64::MAX,
        }
    }

    /// The next page (empty at the end), advancing the cursor.
    pub fn next_page(
        &mut self,
        conn: &Connection,
        size: u32,
    ) -> Result<Vec<SpanDetail>, StoreError> {
        let (w, mut args) = self.filter.where_clause();
        let w = if w.is_empty() {
            "WHERE spans.seq < ?".to_owned()
        } else {
            format!("{w} AND spans.seq < ?")
        };
        args.push(Value::Integer(self.before_seq));
        args.push(Value::Integer(size.into()));
        let sql = format!(
            "SELECT {SPAN_COLS}, {PAYLOAD_COLS} FROM spans LEFT JOIN span_payloads p ON p.seq = spans.seq
             {w} ORDER BY spans.seq DESC LIMIT ?"
        );
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(args.iter()), detail_from_row)?;
        let page = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if let Some(last) = page.last() {
            self.before_seq = last.seq;
        }
        Ok(page)
    }
}

const PAYLOAD_COLS: &str = "p.request_headers, p.request_body, p.request_body_size,
    p.request_truncated, p.response_headers, p.response_body, p.response_body_size,
    p.response_truncated, p.input, p.output, p.attributes";

/// A span with its payload.
#[derive(Debug, Clone)]
pub struct SpanDetail {
    pub seq: i64,
    pub span: Span,
}

fn detail_from_row(r: &Row) -> rusqlite::Result<SpanDetail> {
    let (seq, mut span) = span_from_row(r)?;
    let n = 30;
    let headers = |i: usize| -> rusqlite::Result<Vec<(String, String)>> {
        Ok(r.get::<_, Option<String>>(i)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    };
    let body = |i: usize| -> rusqlite::Result<BodyCapture> {
        Ok(BodyCapture {
            bytes: r.get::<_, Option<Vec<u8>>>(i)?.unwrap_or_default(),
            size: r.get::<_, Option<i64>>(i + 1)?.unwrap_or(0).max(0) as u64,
            truncated: r.get::<_, Option<bool>>(i + 2)?.unwrap_or(false),
        })
    };
    span.request_headers = headers(n)?;
    span.request_body = body(n + 1)?;
    span.response_headers = headers(n + 4)?;
    span.response_body = body(n + 5)?;
    span.input = r.get(n + 8)?;
    span.output = r.get(n + 9)?;
    span.attributes = r.get(n + 10)?;
    Ok(SpanDetail { seq, span })
}

/// One span by id, with its payload.
pub fn span_detail(conn: &Connection, id: &str) -> Result<SpanDetail, StoreError> {
    let sql = format!(
        "SELECT {SPAN_COLS}, {PAYLOAD_COLS} FROM spans LEFT JOIN span_payloads p ON p.seq = spans.seq WHERE spans.id = ?1"
    );
    conn.prepare_cached(&sql)?
        .query_row([id], detail_from_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// All spans of a trace, by start time.
#[derive(Debug, Clone)]
pub struct TraceTree {
    pub trace_id: String,
    pub spans: Vec<Span>,
}

/// The trace `id` names (a trace id, or a span id whose trace is wanted).
pub fn trace_tree(conn: &Connection, id: &str) -> Result<TraceTree, StoreError> {
    let sql =
        format!("SELECT {SPAN_COLS} FROM spans WHERE spans.trace_id = ?1 ORDER BY spans.start_ns, spans.seq");
    let load = |tid: &str| -> Result<Vec<Span>, StoreError> {
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map([tid], span_from_row)?;
        Ok(rows
            .map(|r| r.map(|(_, s)| s))
            .collect::<rusqlite::Result<_>>()?)
    };
    let mut spans = load(id)?;
    let mut trace_id = id.to_owned();
    if spans.is_empty() {
        let tid: Option<String> = conn
            .prepare_cached("SELECT trace_id FROM spans WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        match tid {
            Some(t) => {
                spans = load(&t)?;
                trace_id = t;
            }
            None => return Err(StoreError::NotFound),
        }
    }
    Ok(TraceTree { trace_id, spans })
}

/// Totals over everything recorded (from the hourly rollups; retention does not lower them).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub usage: Usage,
    pub cost: f64,
    pub unpriced: u64,
    pub duration_ms: f64,
    pub ttft_ms: f64,
    pub ttft_count: u64,
    pub models: Vec<ModelRow>,
}

#[derive(Debug, Clone, Default)]
pub struct ModelRow {
    pub provider: String,
    pub model: String,
    pub requests: u64,
    pub errors: u64,
    pub usage: Usage,
    pub cost: f64,
    pub unpriced: u64,
    pub duration_ms: f64,
    pub ttft_ms: f64,
    pub ttft_count: u64,
}

/// Per provider/model totals since `since_unix_s` (0: all time), most requests first.
pub fn model_rows(conn: &Connection, since_unix_s: i64) -> Result<Vec<ModelRow>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT provider, model, SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens),
            SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost),
            SUM(unpriced), SUM(duration_ms), SUM(ttft_ms), SUM(ttft_count)
         FROM rollup_hourly WHERE hour >= ?1 GROUP BY provider, model ORDER BY SUM(requests) DESC",
    )?;
    let u = |r: &Row, i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    let rows = st.query_map([since_unix_s], |r| {
        Ok(ModelRow {
            provider: r.get(0)?,
            model: r.get(1)?,
            requests: u(r, 2)?,
            errors: u(r, 3)?,
            usage: Usage {
                input: u(r, 4)?,
                output: u(r, 5)?,
                cache_read: u(r, 6)?,
                cache_write: u(r, 7)?,
                reasoning: u(r, 8)?,
            },
            cost: r.get(9)?,
            unpriced: u(r, 10)?,
            duration_ms: r.get(11)?,
            ttft_ms: r.get(12)?,
            ttft_count: u(r, 13)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn stats(conn: &Connection) -> Result<Stats, StoreError> {
    let models = model_rows(conn, 0)?;
    let mut s = Stats::default();
    for m in &models {
        s.requests += m.requests;
        s.errors += m.errors;
        s.usage.input += m.usage.input;
        s.usage.output += m.usage.output;
        s.usage.cache_read += m.usage.cache_read;
        s.usage.cache_write += m.usage.cache_write;
        s.usage.reasoning += m.usage.reasoning;
        s.cost += m.cost;
        s.unpriced += m.unpriced;
        s.duration_ms += m.duration_ms;
        s.ttft_ms += m.ttft_ms;
        s.ttft_count += m.ttft_count;
    }
    s.models = models;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_query_quotes_every_word() {
        assert_eq!(
            fts_query("hello wor").as_deref(),
            Some("\"hello\"* \"wor\"*")
        );
        assert_eq!(fts_query("a\"b OR").as_deref(), Some("\"a\"\"b\"* \"OR\"*"));
        assert_eq!(fts_query("   "), None);
    }

    #[test]
    fn search_is_driven_by_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("q.db")).unwrap();
        super::super::schema::configure(&conn).unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO spans (seq, id, trace_id, start_ns, duration_ms, span_type, name, is_error, cancelled, streamed, chunks, model)
             VALUES (1, 'a', 't', 0, 1, 'llm', 'x', 0, 0, 0, 0, 'm1'), (2, 'b', 't', 0, 1, 'llm', 'x', 0, 0, 0, 0, 'm2');
             INSERT INTO spans_fts (rowid, name, model, input, output) VALUES (1, 'x', 'm1', 'quick fox', ''), (2, 'x', 'm2', 'lazy dog', '');",
        )
        .unwrap();
        let f = |q: &str, model: Option<&str>| TraceFilter {
            q: Some(q.into()),
            model: model.map(str::to_owned),
            ..TraceFilter::default()
        };
        let (spans, total) = list_spans(&conn, &f("qui", None), 10, 0, 2).unwrap();
        assert_eq!((spans.len(), total, spans[0].id.as_str()), (1, 1, "a"));
        let (spans, total) = list_spans(&conn, &f("quick", Some("m2")), 10, 0, 2).unwrap();
        assert_eq!((spans.len(), total), (0, 0));
    }

    #[test]
    fn empty_filter_has_no_where() {
        assert!(TraceFilter::default().is_empty());
        let f = TraceFilter {
            status: Some("error".into()),
            ..TraceFilter::default()
        };
        assert_eq!(f.where_clause().0, "WHERE spans.is_error = 1");
    }
}
