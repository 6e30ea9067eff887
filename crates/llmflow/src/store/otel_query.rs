//! Reads behind the OTLP side of the API: logs, metric points and their aggregates, sessions,
//! the merged timeline and usage analytics. Every list comes with its total under the same
//! filter; SQL is built from conditions with bound values.
//!
//! The metric rule: delta points add up; cumulative points are never added to each other.
//! Each series (name, kind, attributes, resource, start time) contributes its increments: its
//! first point's value, then each rise over the previous point, and after a drop (a reset that
//! kept its start time) the new value. For a monotonic cumulative series that is its last value,
//! and a restart (a new start time) is a new series whose value adds on.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

use llmflow_core::otlp::conventions::added;
use llmflow_core::{LogRecord, MetricKind, MetricPoint, Span, Usage};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};
use serde::{Deserialize, Deserializer};

use super::StoreError;

const NS_PER_MS: i64 = 1_000_000;
const NS_PER_S: i64 = 1_000_000_000;

fn ms_to_ns(ms: i64) -> i64 {
    ms.saturating_mul(NS_PER_MS)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(v: u64) -> Value {
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// A non-negative count from a nullable integer column.
fn count_at(r: &Row, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
}

/// `%q%` for `LIKE ... ESCAPE '\'`: the user's `%`, `_` and `\` match themselves.
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// SQL conditions joined by AND, with their bound values in order.
#[derive(Debug, Default, Clone)]
struct Conds {
    sql: Vec<String>,
    args: Vec<Value>,
}

impl Conds {
    fn add(&mut self, sql: impl Into<String>, args: impl IntoIterator<Item = Value>) {
        self.sql.push(sql.into());
        self.args.extend(args);
    }

    /// `col = ?`, unless the value is absent or empty.
    fn eq(&mut self, col: &str, v: Option<&str>) {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            self.add(format!("{col} = ?"), [text(v)]);
        }
    }

    /// `from <= col <= to`, both in Unix milliseconds, the column in nanoseconds.
    fn range(&mut self, col: &str, from_ms: Option<i64>, to_ms: Option<i64>) {
        if let Some(ms) = from_ms {
            self.add(format!("{col} >= ?"), [Value::Integer(ms_to_ns(ms))]);
        }
        if let Some(ms) = to_ms {
            self.add(format!("{col} <= ?"), [Value::Integer(ms_to_ns(ms))]);
        }
    }

    /// A substring of any of `cols` (case-insensitive for ASCII, as `LIKE` is).
    fn contains(&mut self, cols: &[&str], q: Option<&str>) {
        let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
            return;
        };
        let pat = like_pattern(q);
        let sql: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} LIKE ? ESCAPE '\\'"))
            .collect();
        self.add(
            format!("({})", sql.join(" OR ")),
            cols.iter().map(|_| text(&pat)),
        );
    }

    fn where_sql(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    fn and_sql(&self) -> String {
        self.sql.iter().map(|c| format!(" AND {c}")).collect()
    }
}

fn count(conn: &Connection, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached(sql)?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

fn paged(mut args: Vec<Value>, limit: u32, offset: u64) -> Vec<Value> {
    args.push(Value::Integer(limit.into()));
    args.push(int(offset));
    args
}

// ---------------------------------------------------------------- tools

/// The AI coding tools llmflow recognises, with the `service.name`s each reports (Codex's
/// own is `codex_cli_rs`; records llmflow derives from CLI events say `codex-cli`).
pub const TOOLS: &[(&str, &[&str])] = &[
    ("claude-code", &["claude-code", "claude_code"]),
    (
        "codex-cli",
        &["codex-cli", "codex_cli_rs", "codex_cli", "codex"],
    ),
    ("gemini-cli", &["gemini-cli", "gemini_cli"]),
    ("aider", &["aider"]),
];

/// Spans the proxy recorded (they have an HTTP method); no log or metric is one.
pub const PROXY_TOOL: &str = "proxy";

/// The tool a record came from: `proxy` for proxied calls, a known tool's name, else the
/// service name as is.
pub fn tool_name(service: Option<&str>, proxied: bool) -> Option<String> {
    if proxied {
        return Some(PROXY_TOOL.to_owned());
    }
    let s = service?;
    let tool = TOOLS
        .iter()
        .find(|(_, names)| names.contains(&s))
        .map_or(s, |(t, _)| t);
    Some(tool.to_owned())
}

/// Restricts to one tool's rows. `method` is the column marking proxied calls (spans only).
fn tool_cond(c: &mut Conds, tool: Option<&str>, service: &str, method: Option<&str>) {
    let Some(tool) = tool.map(str::trim).filter(|t| !t.is_empty()) else {
        return;
    };
    if tool == PROXY_TOOL {
        match method {
            Some(m) => c.add(format!("{m} IS NOT NULL"), []),
            None => c.add("0", []),
        }
        return;
    }
    let names: Vec<&str> = TOOLS
        .iter()
        .find(|(t, names)| *t == tool || names.contains(&tool))
        .map_or_else(|| vec![tool], |(_, names)| names.to_vec());
    let marks = vec!["?"; names.len()].join(", ");
    let mut sql = format!("{service} IN ({marks})");
    if let Some(m) = method {
        sql.push_str(&format!(" AND {m} IS NULL"));
    }
    c.add(sql, names.into_iter().map(text));
}

// ---------------------------------------------------------------- spans (list rows)

use super::query::{fts_query, span_from_row as span_row, SPAN_COLS};

fn span_from_row(r: &Row) -> rusqlite::Result<Span> {
    span_row(r).map(|(_, s)| s)
}

fn query_spans(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<Span>, StoreError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), span_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

// ---------------------------------------------------------------- logs

/// Filters of `/api/logs`. Dates are Unix milliseconds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogFilter {
    pub service_name: Option<String>,
    pub event_name: Option<String>,
    pub trace_id: Option<String>,
    pub session_id: Option<String>,
    /// A severity number (1-24) or a level name (`trace` ... `fatal`): that level and above.
    #[serde(default, deserialize_with = "severity_opt")]
    pub severity_min: Option<i32>,
    /// A substring of the body or the event name.
    pub q: Option<String>,
    pub tool: Option<String>,
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
}

fn severity_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let s = String::deserialize(d)?;
    severity_floor(&s).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "severity_min '{s}': expected 1-24 or trace, debug, info, warn, error, fatal"
        ))
    })
}

/// The lowest severity number of a level given as a number or a name.
pub fn severity_floor(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return (1..=24).contains(&n).then_some(n);
    }
    Some(match s.to_ascii_uppercase().as_str() {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" | "WARNING" => 13,
        "ERROR" => 17,
        "FATAL" | "CRITICAL" => 21,
        _ => return None,
    })
}

/// A record's severity number, from its text when it sent no number.
const SEVERITY_SQL: &str = "COALESCE(logs.severity_number, CASE upper(substr(logs.severity_text, 1, 4)) WHEN 'TRAC' THEN 1 WHEN 'DEBU' THEN 5 WHEN 'INFO' THEN 9 WHEN 'WARN' THEN 13 WHEN 'ERRO' THEN 17 WHEN 'FATA' THEN 21 END)";

const LOG_COLS: &str = "logs.id, logs.time_ns, logs.observed_ns, logs.severity_number, logs.severity_text, logs.body, logs.trace_id, logs.span_id, logs.service_name, logs.event_name, logs.session_id, logs.attributes, logs.resource";

fn log_from_row(r: &Row) -> rusqlite::Result<LogRecord> {
    Ok(LogRecord {
        id: r.get(0)?,
        time_ns: r.get(1)?,
        observed_ns: r.get(2)?,
        severity_number: r.get(3)?,
        severity_text: r.get(4)?,
        body: r.get(5)?,
        trace_id: r.get(6)?,
        span_id: r.get(7)?,
        service_name: r.get(8)?,
        event_name: r.get(9)?,
        session_id: r.get(10)?,
        attributes: r.get(11)?,
        resource: r.get(12)?,
    })
}

fn query_logs(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<LogRecord>, StoreError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), log_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl LogFilter {
    fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("logs.service_name", self.service_name.as_deref());
        c.eq("logs.event_name", self.event_name.as_deref());
        c.eq("logs.trace_id", self.trace_id.as_deref());
        c.eq("logs.session_id", self.session_id.as_deref());
        if let Some(n) = self.severity_min {
            c.add(format!("{SEVERITY_SQL} >= ?"), [Value::Integer(n.into())]);
        }
        c.contains(&["logs.body", "logs.event_name"], self.q.as_deref());
        tool_cond(&mut c, self.tool.as_deref(), "logs.service_name", None);
        c.range("logs.time_ns", self.date_from, self.date_to);
        c
    }
}

/// A page of log records, newest first, and the total matching the filter.
pub fn list_logs(
    conn: &Connection,
    f: &LogFilter,
    limit: u32,
    offset: u64,
) -> Result<(Vec<LogRecord>, u64), StoreError> {
    let c = f.conds();
    let w = c.where_sql();
    let total = count(conn, &format!("SELECT COUNT(*) FROM logs {w}"), &c.args)?;
    let sql = format!(
        "SELECT {LOG_COLS} FROM logs {w} ORDER BY logs.time_ns DESC, logs.seq DESC LIMIT ? OFFSET ?"
    );
    let logs = query_logs(conn, &sql, &paged(c.args, limit, offset))?;
    Ok((logs, total))
}

pub fn log_by_id(conn: &Connection, id: &str) -> Result<LogRecord, StoreError> {
    conn.prepare_cached(&format!("SELECT {LOG_COLS} FROM logs WHERE logs.id = ?1"))?
        .query_row([id], log_from_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// The most log records listed with one trace or session.
pub const ATTACHED_LOGS_MAX: u32 = 1000;

/// Logs of a trace, oldest first; plus the log record `log_id` names (the event a CLI call
/// record was made from), when given.
pub fn trace_logs(
    conn: &Connection,
    trace_id: &str,
    log_id: Option<&str>,
) -> Result<Vec<LogRecord>, StoreError> {
    let sql = format!(
        "SELECT {LOG_COLS} FROM logs WHERE logs.trace_id = ?1 OR logs.id = ?2
         ORDER BY logs.time_ns, logs.seq LIMIT ?3"
    );
    query_logs(
        conn,
        &sql,
        &[
            text(trace_id),
            log_id.map_or(Value::Null, text),
            Value::Integer(ATTACHED_LOGS_MAX.into()),
        ],
    )
}

/// The log record a CLI call record was made from (its `llmflow.log_id` attribute).
pub fn source_log_id(span: &Span) -> Option<String> {
    let attrs: serde_json::Value = serde_json::from_str(span.attributes.as_deref()?).ok()?;
    attrs.get(added::LOG_ID)?.as_str().map(str::to_owned)
}

/// One value of a field and how many records have it.
#[derive(Debug, Clone, PartialEq)]
pub struct Facet {
    pub value: String,
    pub count: u64,
}

fn facets(conn: &Connection, sql: &str) -> Result<Vec<Facet>, StoreError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map([], |r| {
        Ok(Facet {
            value: r.get(0)?,
            count: count_at(r, 1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Values offered as log filters.
#[derive(Debug, Clone, Default)]
pub struct LogFacets {
    pub services: Vec<Facet>,
    pub event_names: Vec<Facet>,
    /// In level order.
    pub severities: Vec<Facet>,
}

pub fn log_facets(conn: &Connection) -> Result<LogFacets, StoreError> {
    Ok(LogFacets {
        services: facets(
            conn,
            "SELECT service_name, COUNT(*) FROM logs WHERE service_name IS NOT NULL
             GROUP BY service_name ORDER BY COUNT(*) DESC, service_name",
        )?,
        event_names: facets(
            conn,
            "SELECT event_name, COUNT(*) FROM logs WHERE event_name IS NOT NULL
             GROUP BY event_name ORDER BY COUNT(*) DESC, event_name",
        )?,
        severities: facets(
            conn,
            &format!(
                "SELECT severity_text, COUNT(*) FROM logs WHERE severity_text IS NOT NULL
                 GROUP BY severity_text ORDER BY MIN({SEVERITY_SQL}), severity_text"
            ),
        )?,
    })
}

// ---------------------------------------------------------------- metrics

/// Filters of `/api/metrics` and its aggregates. Dates are Unix milliseconds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricFilter {
    pub name: Option<String>,
    pub service_name: Option<String>,
    /// `sum`, `gauge`, `histogram`, `exponential_histogram` or `summary`.
    pub metric_type: Option<String>,
    pub session_id: Option<String>,
    pub tool: Option<String>,
    /// A substring of the metric's name.
    pub q: Option<String>,
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
}

impl MetricFilter {
    /// Everything but the time window: what picks the series.
    fn series_conds(&self) -> Conds {
        let mut c = Conds::default();
        c.eq("name", self.name.as_deref());
        c.eq("service_name", self.service_name.as_deref());
        c.eq("kind", self.metric_type.as_deref());
        c.eq("session_id", self.session_id.as_deref());
        c.contains(&["name"], self.q.as_deref());
        tool_cond(&mut c, self.tool.as_deref(), "service_name", None);
        c
    }

    fn time_conds(&self) -> Conds {
        let mut c = Conds::default();
        c.range("time_ns", self.date_from, self.date_to);
        c
    }

    fn conds(&self) -> Conds {
        let mut c = self.series_conds();
        let t = self.time_conds();
        c.sql.extend(t.sql);
        c.args.extend(t.args);
        c
    }
}

fn metric_kind(s: &str) -> MetricKind {
    match s {
        "sum" => MetricKind::Sum,
        "histogram" => MetricKind::Histogram,
        "exponential_histogram" => MetricKind::ExponentialHistogram,
        "summary" => MetricKind::Summary,
        _ => MetricKind::Gauge,
    }
}

const METRIC_COLS: &str = "id, time_ns, start_ns, name, description, unit, kind, temporality, monotonic, value, count, sum, min, max, buckets, service_name, session_id, attributes, resource";

fn metric_from_row(r: &Row) -> rusqlite::Result<MetricPoint> {
    Ok(MetricPoint {
        id: r.get(0)?,
        time_ns: r.get(1)?,
        start_ns: r.get(2)?,
        name: r.get(3)?,
        description: r.get(4)?,
        unit: r.get(5)?,
        kind: metric_kind(&r.get::<_, String>(6)?),
        temporality: r.get(7)?,
        monotonic: r.get(8)?,
        value: r.get(9)?,
        count: r.get::<_, Option<i64>>(10)?.map(|c| c.max(0) as u64),
        sum: r.get(11)?,
        min: r.get(12)?,
        max: r.get(13)?,
        buckets: r.get(14)?,
        service_name: r.get(15)?,
        session_id: r.get(16)?,
        attributes: r.get(17)?,
        resource: r.get(18)?,
    })
}

fn query_metrics(
    conn: &Connection,
    sql: &str,
    args: &[Value],
) -> Result<Vec<MetricPoint>, StoreError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), metric_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A page of data points, newest first, and the total matching the filter.
pub fn list_metrics(
    conn: &Connection,
    f: &MetricFilter,
    limit: u32,
    offset: u64,
) -> Result<(Vec<MetricPoint>, u64), StoreError> {
    let c = f.conds();
    let w = c.where_sql();
    let total = count(conn, &format!("SELECT COUNT(*) FROM metrics {w}"), &c.args)?;
    let sql = format!(
        "SELECT {METRIC_COLS} FROM metrics {w} ORDER BY time_ns DESC, seq DESC LIMIT ? OFFSET ?"
    );
    let points = query_metrics(conn, &sql, &paged(c.args, limit, offset))?;
    Ok((points, total))
}

pub fn metric_by_id(conn: &Connection, id: &str) -> Result<MetricPoint, StoreError> {
    conn.prepare_cached(&format!("SELECT {METRIC_COLS} FROM metrics WHERE id = ?1"))?
        .query_row([id], metric_from_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// One metric (name, unit, kind) over the filter's window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSummary {
    pub name: String,
    pub unit: Option<String>,
    pub description: Option<String>,
    pub kind: MetricKind,
    /// `delta`, `cumulative`, `mixed`, or `None` (gauges, summaries).
    pub temporality: Option<String>,
    pub monotonic: Option<bool>,
    pub points: u64,
    /// Distinct attribute and resource sets.
    pub series: u64,
    pub first_ns: i64,
    pub last_ns: i64,
    /// The newest point's value (gauges and sums).
    pub latest_value: Option<f64>,
    /// Gauges: over values. Histograms: over the points' own min and max.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Gauges: mean of the values. Histograms: sum / count.
    pub avg: Option<f64>,
    /// Sums: what was counted in the window (see the module's rule). Monotonic or delta sums
    /// add their increments; a non-monotonic cumulative sum adds each series' latest value.
    /// `None` for gauges.
    pub total: Option<f64>,
    /// Histograms and summaries: observations and their sum, by the same rule.
    pub count: Option<u64>,
    pub sum: Option<f64>,
}

/// A text column without copying it (`None` for NULL or non-UTF-8).
fn str_at<'a>(r: &'a Row, i: usize) -> rusqlite::Result<Option<&'a str>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    })
}

/// Hash of text columns (absent as empty), to key series without copying their text.
fn text_hash(r: &Row, cols: &[usize]) -> rusqlite::Result<u64> {
    let mut h = DefaultHasher::new();
    for &i in cols {
        match r.get_ref(i)? {
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                h.write_u8(1);
                t.hash(&mut h);
            }
            _ => h.write_u8(0),
        }
    }
    Ok(h.finish())
}

/// A hasher for keys that are hashes already (most maps here): they are used as they are.
#[derive(Debug, Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are used; anything else still hashes (FNV-1a).
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashedMap<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;
type HashedSet = HashSet<u64, BuildHasherDefault<PreHashed>>;

fn hash_of(v: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// A point's value, count and sum (what it reports, or what it added), and `probe`: the
/// field whose drop marks a reset (a sum's value, a histogram's count).
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    probe: f64,
    value: Option<f64>,
    count: Option<f64>,
    sum: Option<f64>,
}

/// Each cumulative series' previous point, to turn a point into what it added.
#[derive(Debug, Default)]
struct Previous(HashedMap<Reading>);

impl Previous {
    /// What a point added: a delta point, all it reports; a cumulative one, its rise over
    /// the series' previous point, or all of it when it is the first or its probe dropped (a
    /// reset that kept its start time).
    fn added(&mut self, series: u64, cumulative: bool, now: Reading) -> Reading {
        if !cumulative {
            return now;
        }
        let rise = |n: Option<f64>, p: Option<f64>| match (n, p) {
            (Some(n), Some(p)) => Some(n - p),
            (n, _) => n,
        };
        match self.0.insert(series, now) {
            Some(p) if now.probe >= p.probe => Reading {
                probe: now.probe,
                value: rise(now.value, p.value),
                count: rise(now.count, p.count),
                sum: rise(now.sum, p.sum),
            },
            _ => now,
        }
    }
}

/// A summary being built from one metric's points, oldest first.
#[derive(Debug, Default)]
struct SummaryAcc {
    s: MetricSummary,
    temporalities: Vec<String>,
    series: HashedSet,
    /// Latest value of each attribute set (non-monotonic cumulative sums).
    levels: HashedMap<f64>,
    values: (f64, u64),
    increments: Option<f64>,
    count: f64,
    sum: Option<f64>,
}

impl SummaryAcc {
    fn add(
        &mut self,
        r: &Row,
        time: i64,
        value: Option<f64>,
        set: u64,
        added: Reading,
    ) -> rusqlite::Result<()> {
        let s = &mut self.s;
        if s.description.is_none() {
            s.description = r.get(3)?;
        }
        match r.get::<_, Option<bool>>(5)? {
            Some(false) => s.monotonic = Some(false),
            m if s.monotonic.is_none() => s.monotonic = m,
            _ => {}
        }
        if let Some(t) = str_at(r, 4)? {
            if !self.temporalities.iter().any(|x| x == t) {
                self.temporalities.push(t.to_owned());
            }
        }
        if s.points == 0 {
            s.first_ns = time;
        }
        s.points += 1;
        s.last_ns = time;
        self.series.insert(set);
        let (lo, hi): (Option<f64>, Option<f64>) = (r.get(11)?, r.get(12)?);
        if let Some(v) = lo.or(value) {
            s.min = Some(s.min.map_or(v, |m| m.min(v)));
        }
        if let Some(v) = hi.or(value) {
            s.max = Some(s.max.map_or(v, |m| m.max(v)));
        }
        if let Some(v) = value {
            s.latest_value = Some(v);
            self.values.0 += v;
            self.values.1 += 1;
            if s.kind == MetricKind::Sum {
                self.levels.insert(set, v);
            }
        }
        let plus = |acc: &mut Option<f64>, v: Option<f64>| {
            if let Some(v) = v {
                *acc = Some(acc.unwrap_or(0.0) + v);
            }
        };
        plus(&mut self.increments, added.value);
        plus(&mut self.sum, added.sum);
        self.count += added.count.unwrap_or(0.0).max(0.0);
        Ok(())
    }

    fn finish(mut self) -> MetricSummary {
        let mut s = self.s;
        self.temporalities.sort();
        s.temporality = match self.temporalities.len() {
            0 => None,
            1 => self.temporalities.pop(),
            _ => Some("mixed".into()),
        };
        s.series = self.series.len() as u64;
        let histogram = matches!(
            s.kind,
            MetricKind::Histogram | MetricKind::ExponentialHistogram | MetricKind::Summary
        );
        if histogram {
            let count = self.count.round() as u64;
            s.count = Some(count);
            s.sum = self.sum;
            s.avg = self.sum.filter(|_| count > 0).map(|v| v / count as f64);
        } else if self.values.1 > 0 {
            s.avg = Some(self.values.0 / self.values.1 as f64);
        }
        if s.kind == MetricKind::Sum {
            let levels =
                s.temporality.as_deref() == Some("cumulative") && s.monotonic == Some(false);
            s.total = if levels {
                Some(self.levels.values().sum())
            } else {
                self.increments
            };
        }
        s
    }
}

/// A point's value, count and sum, with the reset probe of its kind.
fn reading(r: &Row, kind: MetricKind) -> rusqlite::Result<Reading> {
    let value: Option<f64> = r.get(8)?;
    let count = r.get::<_, Option<i64>>(9)?.map(|c| c.max(0) as f64);
    let sum: Option<f64> = r.get(10)?;
    let probe = match kind {
        MetricKind::Gauge | MetricKind::Sum => value,
        _ => count,
    };
    Ok(Reading {
        probe: probe.unwrap_or(0.0),
        value,
        count,
        sum,
    })
}

/// The columns [`reading`] and [`SummaryAcc::add`] read, by position.
const SUMMARY_COLS: &str = "name, unit, kind, description, temporality, monotonic, time_ns,
    start_ns, value, count, sum, min, max, attributes, resource";

/// One row per metric (name, unit, kind) in the filter's window. Points are read once, in
/// time order (the order they mostly arrived in, so the table is read nearly sequentially),
/// and summed here: cumulative series are followed from their first stored point, so a
/// window's first point counts only what it added.
pub fn metric_summary(
    conn: &Connection,
    f: &MetricFilter,
) -> Result<Vec<MetricSummary>, StoreError> {
    let mut c = f.series_conds();
    if let Some(to) = f.date_to {
        c.add("time_ns <= ?", [Value::Integer(ms_to_ns(to))]);
    }
    let from = f.date_from.map(ms_to_ns);
    let sql = format!(
        "SELECT {SUMMARY_COLS} FROM metrics {} ORDER BY time_ns, seq",
        c.where_sql()
    );
    // Per name (by its hash), one summary per unit and kind (usually one).
    let mut accs: HashedMap<Vec<SummaryAcc>> = HashedMap::default();
    let mut prev = Previous::default();
    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = st.query(params_from_iter(c.args.iter()))?;
    while let Some(r) = rows.next()? {
        let kind = metric_kind(str_at(r, 2)?.unwrap_or(""));
        let time: i64 = r.get(6)?;
        let now = reading(r, kind)?;
        let set = text_hash(r, &[13, 14])?;
        let name_key = text_hash(r, &[0])?;
        let series = hash_of((name_key, set, kind.as_str(), r.get::<_, Option<i64>>(7)?));
        let cumulative = str_at(r, 4)? == Some("cumulative") || kind == MetricKind::Summary;
        // Followed before the window too: the first point inside adds only its rise.
        let added = prev.added(series, cumulative, now);
        if from.is_some_and(|from| time < from) {
            continue;
        }
        let name = str_at(r, 0)?.unwrap_or("");
        let list = accs.entry(name_key).or_default();
        let unit = str_at(r, 1)?;
        let i = match list
            .iter()
            .position(|a| a.s.kind == kind && a.s.unit.as_deref() == unit)
        {
            Some(i) => i,
            None => {
                list.push(SummaryAcc {
                    s: MetricSummary {
                        name: name.to_owned(),
                        unit: unit.map(str::to_owned),
                        kind,
                        ..MetricSummary::default()
                    },
                    ..SummaryAcc::default()
                });
                list.len() - 1
            }
        };
        list[i].add(r, time, now.value, set, added)?;
    }
    let mut out: Vec<MetricSummary> = accs
        .into_values()
        .flatten()
        .map(SummaryAcc::finish)
        .collect();
    out.sort_by(|a, b| {
        (&a.name, &a.unit, a.kind.as_str()).cmp(&(&b.name, &b.unit, b.kind.as_str()))
    });
    Ok(out)
}

/// Values offered as metric filters.
#[derive(Debug, Clone, Default)]
pub struct MetricFacets {
    /// Name, unit and kind (of its newest point), points.
    pub names: Vec<(String, Option<String>, String, u64)>,
    pub services: Vec<Facet>,
    pub metric_types: Vec<Facet>,
}

pub fn metric_facets(conn: &Connection) -> Result<MetricFacets, StoreError> {
    // Names from the (name, time) index; services and kinds counted here in one pass rather
    // than by sorting every point.
    let counts: Vec<(String, u64)> = {
        let mut st = conn.prepare_cached("SELECT name, COUNT(*) FROM metrics GROUP BY name")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, count_at(r, 1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut names = Vec::with_capacity(counts.len());
    for (name, n) in counts {
        let (unit, kind) = conn
            .prepare_cached(
                "SELECT unit, kind FROM metrics WHERE name = ?1 ORDER BY time_ns DESC LIMIT 1",
            )?
            .query_row([&name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        names.push((name, unit, kind, n));
    }
    let (mut services, mut kinds) = (HashMap::new(), HashMap::new());
    let mut st = conn.prepare_cached("SELECT service_name, kind FROM metrics")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        for (i, counts) in [(0, &mut services), (1, &mut kinds)] {
            if let Some(v) = str_at(r, i)? {
                match counts.get_mut(v) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(v.to_owned(), 1);
                    }
                }
            }
        }
    }
    Ok(MetricFacets {
        names,
        services: sorted_facets(services),
        metric_types: sorted_facets(kinds),
    })
}

/// Most common first, then by value.
fn sorted_facets(counts: HashMap<String, u64>) -> Vec<Facet> {
    let mut v: Vec<Facet> = counts
        .into_iter()
        .map(|(value, count)| Facet { value, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    v
}

/// Token counters read by `/api/metrics/tokens`: Claude Code's and Gemini CLI's own (attribute
/// `type`, `model`), and the GenAI histogram (`gen_ai.token.type`, request/response model).
pub const TOKEN_METRICS: &[&str] = &[
    "claude_code.token.usage",
    "gemini_cli.token.usage",
    "gen_ai.client.token.usage",
];

/// Tokens of one metric, tool, token type and model over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub metric: String,
    pub tool: Option<String>,
    /// As sent (`input`, `cacheRead`, `thought`...).
    pub token_type: Option<String>,
    pub model: Option<String>,
    pub tokens: f64,
    pub points: u64,
}

/// Token totals from the token metrics, by the module's delta/cumulative rule (histograms:
/// their sums). A service that reports a CLI's own token counter is not counted again from
/// its GenAI histogram (Gemini CLI sends both).
pub fn token_metrics(conn: &Connection, f: &MetricFilter) -> Result<Vec<TokenRow>, StoreError> {
    let mut c = f.series_conds();
    if let Some(to) = f.date_to {
        c.add("time_ns <= ?", [Value::Integer(ms_to_ns(to))]);
    }
    let from = f.date_from.map(ms_to_ns);
    let attr = |paths: &[&str]| {
        let parts: Vec<String> = paths
            .iter()
            .map(|p| format!("json_extract(attributes, '$.{p}')"))
            .collect();
        format!(
            "CAST(CASE WHEN json_valid(attributes) THEN COALESCE({}) END AS TEXT)",
            parts.join(", ")
        )
    };
    // Columns 0-14 as `SUMMARY_COLS` reads them, then service, token type, model.
    let sql = format!(
        "SELECT {SUMMARY_COLS}, service_name, {token_type}, {model}
         FROM metrics
         WHERE name IN (?, ?, ?)
           AND NOT (name = ? AND COALESCE(service_name, '') IN (
               SELECT service_name FROM metrics
               WHERE name IN (?, ?) AND service_name IS NOT NULL))
           {series_and}
         ORDER BY time_ns, seq",
        token_type = attr(&["type", "\"gen_ai.token.type\""]),
        model = attr(&[
            "model",
            "\"gen_ai.response.model\"",
            "\"gen_ai.request.model\""
        ]),
        series_and = c.and_sql(),
    );
    let mut args: Vec<Value> = TOKEN_METRICS.iter().map(|n| text(n)).collect();
    args.push(text(TOKEN_METRICS[2]));
    args.push(text(TOKEN_METRICS[0]));
    args.push(text(TOKEN_METRICS[1]));
    args.extend(c.args);
    let mut index: HashedMap<usize> = HashedMap::default();
    let mut out: Vec<TokenRow> = Vec::new();
    let mut prev = Previous::default();
    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = st.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let kind = metric_kind(str_at(r, 2)?.unwrap_or(""));
        let now = reading(r, kind)?;
        let series = hash_of((
            text_hash(r, &[0, 13, 14])?,
            kind.as_str(),
            r.get::<_, Option<i64>>(7)?,
        ));
        let added = prev.added(series, str_at(r, 4)? == Some("cumulative"), now);
        // Histograms report tokens in their sums; counters in their values.
        let tokens = match kind {
            MetricKind::Gauge | MetricKind::Sum => added.value,
            _ => added.sum,
        };
        let Some(tokens) = tokens else { continue };
        if from.is_some_and(|from| r.get::<_, i64>(6).is_ok_and(|t| t < from)) {
            continue;
        }
        let (name, service) = (str_at(r, 0)?, str_at(r, 15)?);
        let (token_type, model) = (str_at(r, 16)?, str_at(r, 17)?);
        let tool = tool_name(service, false);
        let key = hash_of((name, &tool, token_type, model));
        let i = *index.entry(key).or_insert_with(|| {
            out.push(TokenRow {
                metric: name.unwrap_or("").to_owned(),
                tool,
                token_type: token_type.map(str::to_owned),
                model: model.map(str::to_owned),
                tokens: 0.0,
                points: 0,
            });
            out.len() - 1
        });
        out[i].tokens += tokens;
        out[i].points += 1;
    }
    out.sort_by(|a, b| {
        (&a.metric, &a.tool, &a.token_type, &a.model).cmp(&(
            &b.metric,
            &b.tool,
            &b.token_type,
            &b.model,
        ))
    });
    Ok(out)
}

// ---------------------------------------------------------------- sessions

/// Token and cost totals of a group of spans (or rollup rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageTotals {
    pub requests: u64,
    pub errors: u64,
    pub usage: Usage,
    pub cost: f64,
    /// Calls with tokens but no price.
    pub unpriced: u64,
}

impl UsageTotals {
    pub fn add(&mut self, o: &UsageTotals) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.usage.input += o.usage.input;
        self.usage.output += o.usage.output;
        self.usage.cache_read += o.usage.cache_read;
        self.usage.cache_write += o.usage.cache_write;
        self.usage.reasoning += o.usage.reasoning;
        self.cost += o.cost;
        self.unpriced += o.unpriced;
    }
}

/// `COUNT, errors, input, output, cache read, cache write, reasoning, cost, unpriced` over
/// spans; read back with [`totals_at`].
const SPAN_TOTALS_SQL: &str = "COUNT(*), SUM(is_error), SUM(input_tokens), SUM(output_tokens),
    SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost),
    SUM(cost IS NULL AND total_tokens > 0)";

/// The same over `rollup_hourly`.
const ROLLUP_TOTALS_SQL: &str = "SUM(requests), SUM(errors), SUM(input_tokens),
    SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens),
    SUM(cost), SUM(unpriced)";

fn totals_at(r: &Row, i: usize) -> rusqlite::Result<UsageTotals> {
    Ok(UsageTotals {
        requests: count_at(r, i)?,
        errors: count_at(r, i + 1)?,
        usage: Usage {
            input: count_at(r, i + 2)?,
            output: count_at(r, i + 3)?,
            cache_read: count_at(r, i + 4)?,
            cache_write: count_at(r, i + 5)?,
            reasoning: count_at(r, i + 6)?,
        },
        cost: r.get::<_, Option<f64>>(i + 7)?.unwrap_or(0.0),
        unpriced: count_at(r, i + 8)?,
    })
}

/// One session: spans sharing a `session_id`, and logs carrying it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSummary {
    pub session_id: String,
    pub first_ns: i64,
    /// The latest span start or log time.
    pub last_ns: i64,
    pub trace_count: u64,
    pub span_count: u64,
    pub log_count: u64,
    /// Over the session's spans (`requests` = spans).
    pub totals: UsageTotals,
    pub agent_name: Option<String>,
    pub service_name: Option<String>,
    pub tool: Option<String>,
}

/// Per provider/model usage within a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelUsage {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub totals: UsageTotals,
}

/// A session with its models, tools, newest spans and logs.
#[derive(Debug, Clone, Default)]
pub struct SessionDetail {
    pub summary: SessionSummary,
    pub models: Vec<ModelUsage>,
    /// Tool name and uses (tool spans, and the CLIs' tool events).
    pub tools: Vec<Facet>,
    /// Newest first.
    pub spans: Vec<Span>,
    /// Oldest first.
    pub logs: Vec<LogRecord>,
}

/// A page of sessions, newest activity first, and how many there are.
pub fn list_sessions(
    conn: &Connection,
    limit: u32,
    offset: u64,
) -> Result<(Vec<SessionSummary>, u64), StoreError> {
    // Both halves walk a (session_id, time) index only; the page's sessions are then summed
    // one by one through the same index.
    let total = count(
        conn,
        "SELECT COUNT(*) FROM (
            SELECT session_id FROM spans WHERE session_id IS NOT NULL
            UNION SELECT session_id FROM logs WHERE session_id IS NOT NULL)",
        &[],
    )?;
    let ids: Vec<String> = {
        let mut st = conn.prepare_cached(
            "SELECT session_id FROM (
                SELECT session_id, MAX(start_ns) AS t FROM spans
                WHERE session_id IS NOT NULL GROUP BY session_id
                UNION ALL
                SELECT session_id, MAX(time_ns) AS t FROM logs
                WHERE session_id IS NOT NULL GROUP BY session_id)
             GROUP BY session_id ORDER BY MAX(t) DESC, session_id LIMIT ?1 OFFSET ?2",
        )?;
        let rows = st.query_map([Value::Integer(limit.into()), int(offset)], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let sessions = ids
        .into_iter()
        .map(|id| session_summary(conn, id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((sessions, total))
}

fn session_summary(conn: &Connection, id: String) -> Result<SessionSummary, StoreError> {
    let (spans, first, last, traces, totals) = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*), MIN(start_ns), MAX(start_ns), COUNT(DISTINCT trace_id), {SPAN_TOTALS_SQL}
             FROM spans WHERE session_id = ?1"
        ))?
        .query_row([&id], |r| {
            Ok((
                count_at(r, 0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                count_at(r, 3)?,
                totals_at(r, 4)?,
            ))
        })?;
    let (logs, log_first, log_last) = conn
        .prepare_cached(
            "SELECT COUNT(*), MIN(time_ns), MAX(time_ns) FROM logs WHERE session_id = ?1",
        )?
        .query_row([&id], |r| {
            Ok((
                count_at(r, 0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
    let service: Option<String> = conn
        .prepare_cached(
            "SELECT service_name FROM spans WHERE session_id = ?1 AND service_name IS NOT NULL
             ORDER BY start_ns LIMIT 1",
        )?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    let service = match service {
        Some(s) => Some(s),
        None => conn
            .prepare_cached(
                "SELECT service_name FROM logs WHERE session_id = ?1 AND service_name IS NOT NULL
                 ORDER BY time_ns LIMIT 1",
            )?
            .query_row([&id], |r| r.get(0))
            .optional()?,
    };
    let proxied: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM spans WHERE session_id = ?1 AND method IS NOT NULL)",
        )?
        .query_row([&id], |r| r.get(0))?;
    let tool = tool_name(service.as_deref(), proxied && service.is_none());
    Ok(SessionSummary {
        first_ns: first.into_iter().chain(log_first).min().unwrap_or(0),
        last_ns: last.into_iter().chain(log_last).max().unwrap_or(0),
        trace_count: traces,
        span_count: spans,
        log_count: logs,
        totals,
        agent_name: agent_name(conn, &id)?,
        service_name: service,
        tool,
        session_id: id,
    })
}

/// The agent named on the session's agent spans, else on its first few spans. Proxied calls
/// are skipped: they name no agent, and their payload rows hold bodies that would be read
/// past to reach the attributes.
fn agent_name(conn: &Connection, session: &str) -> Result<Option<String>, StoreError> {
    let agent = format!(
        "CAST(CASE WHEN json_valid(p.attributes)
         THEN json_extract(p.attributes, '$.\"{}\"') END AS TEXT)",
        added::AGENT
    );
    let on_agents: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT {agent} AS a FROM spans s JOIN span_payloads p ON p.seq = s.seq
             WHERE s.session_id = ?1 AND s.span_type = 'agent' AND s.method IS NULL
               AND a IS NOT NULL
             ORDER BY s.start_ns LIMIT 1"
        ))?
        .query_row([session], |r| r.get(0))
        .optional()?;
    if on_agents.is_some() {
        return Ok(on_agents);
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {agent} AS a FROM (
                SELECT seq FROM spans WHERE session_id = ?1 AND method IS NULL
                ORDER BY start_ns LIMIT 20) s
             JOIN span_payloads p ON p.seq = s.seq WHERE a IS NOT NULL LIMIT 1"
        ))?
        .query_row([session], |r| r.get(0))
        .optional()?)
}

/// Events in which the AI coding CLIs report a tool's use, and the attribute naming it.
const TOOL_EVENTS: &[&str] = &[
    "tool_result",
    "claude_code.tool_result",
    "codex.tool_result",
    "gemini_cli.tool_call",
];

/// A session by id, with up to `limit` of its spans (newest) and logs (oldest first).
pub fn session_detail(
    conn: &Connection,
    id: &str,
    limit: u32,
) -> Result<SessionDetail, StoreError> {
    let summary = session_summary(conn, id.to_owned())?;
    if summary.span_count == 0 && summary.log_count == 0 {
        return Err(StoreError::NotFound);
    }
    let models = {
        let mut st = conn.prepare_cached(&format!(
            "SELECT provider, model, {SPAN_TOTALS_SQL} FROM spans
             WHERE session_id = ?1 AND (model IS NOT NULL OR total_tokens IS NOT NULL)
             GROUP BY provider, model ORDER BY SUM(cost) DESC, COUNT(*) DESC"
        ))?;
        let rows = st.query_map([id], |r| {
            Ok(ModelUsage {
                provider: r.get(0)?,
                model: r.get(1)?,
                totals: totals_at(r, 2)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut tools: HashMap<String, u64> = HashMap::new();
    {
        let mut st = conn.prepare_cached(
            "SELECT name, COUNT(*) FROM spans WHERE session_id = ?1 AND span_type = 'tool'
             GROUP BY name",
        )?;
        for row in st.query_map([id], |r| Ok((r.get::<_, String>(0)?, count_at(r, 1)?)))? {
            let (name, n) = row?;
            let name = name
                .strip_prefix("execute_tool ")
                .unwrap_or(&name)
                .to_owned();
            *tools.entry(name).or_default() += n;
        }
        let marks = vec!["?"; TOOL_EVENTS.len()].join(", ");
        let mut st = conn.prepare_cached(&format!(
            "SELECT CAST(CASE WHEN json_valid(attributes) THEN COALESCE(
                    json_extract(attributes, '$.tool_name'),
                    json_extract(attributes, '$.function_name'),
                    json_extract(attributes, '$.name')) END AS TEXT) AS t, COUNT(*)
             FROM logs WHERE session_id = ? AND event_name IN ({marks}) AND t IS NOT NULL
             GROUP BY t"
        ))?;
        let mut args = vec![text(id)];
        args.extend(TOOL_EVENTS.iter().map(|e| text(e)));
        for row in st.query_map(params_from_iter(args.iter()), |r| {
            Ok((r.get::<_, String>(0)?, count_at(r, 1)?))
        })? {
            let (name, n) = row?;
            *tools.entry(name).or_default() += n;
        }
    }
    let mut tools: Vec<Facet> = tools
        .into_iter()
        .map(|(value, count)| Facet { value, count })
        .collect();
    tools.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    let spans = query_spans(
        conn,
        &format!(
            "SELECT {SPAN_COLS} FROM spans WHERE spans.session_id = ?1
             ORDER BY spans.start_ns DESC, spans.seq DESC LIMIT ?2"
        ),
        &[text(id), Value::Integer(limit.into())],
    )?;
    let logs = query_logs(
        conn,
        &format!(
            "SELECT {LOG_COLS} FROM logs WHERE logs.session_id = ?1
             ORDER BY logs.time_ns, logs.seq LIMIT ?2"
        ),
        &[text(id), Value::Integer(limit.into())],
    )?;
    Ok(SessionDetail {
        summary,
        models,
        tools,
        spans,
        logs,
    })
}

// ---------------------------------------------------------------- timeline

/// Which record types the timeline merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineKinds {
    pub traces: bool,
    pub logs: bool,
    pub metrics: bool,
}

impl Default for TimelineKinds {
    /// Traces and logs; metric points (many, small) only when asked for.
    fn default() -> Self {
        Self {
            traces: true,
            logs: true,
            metrics: false,
        }
    }
}

impl TimelineKinds {
    /// `trace`, `log`, `metric` (plurals too), comma-separated, or `all`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut k = Self {
            traces: false,
            logs: false,
            metrics: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "trace" | "traces" | "span" | "spans" => k.traces = true,
                "log" | "logs" => k.logs = true,
                "metric" | "metrics" => k.metrics = true,
                "all" => {
                    k = Self {
                        traces: true,
                        logs: true,
                        metrics: true,
                    }
                }
                other => {
                    return Err(format!(
                        "type '{other}': expected trace, log, metric or all"
                    ))
                }
            }
        }
        Ok(if k.traces || k.logs || k.metrics {
            k
        } else {
            Self::default()
        })
    }
}

fn kinds_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TimelineKinds>, D::Error> {
    let s = String::deserialize(d)?;
    TimelineKinds::parse(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Filters of `/api/timeline`. Dates are Unix milliseconds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TimelineFilter {
    pub q: Option<String>,
    /// `claude-code`, `codex-cli`, `gemini-cli`, `aider`, `proxy`, or any service name.
    pub tool: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "kinds_opt")]
    pub kinds: Option<TimelineKinds>,
    pub session_id: Option<String>,
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
}

/// One merged timeline entry.
#[derive(Debug, Clone)]
pub enum TimelineItem {
    Span(Box<Span>),
    Log(LogRecord),
    Metric(MetricPoint),
}

impl TimelineItem {
    pub fn time_ns(&self) -> i64 {
        match self {
            TimelineItem::Span(s) => s.start_ns,
            TimelineItem::Log(l) => l.time_ns,
            TimelineItem::Metric(m) => m.time_ns,
        }
    }

    fn id(&self) -> &str {
        match self {
            TimelineItem::Span(s) => &s.id,
            TimelineItem::Log(l) => &l.id,
            TimelineItem::Metric(m) => &m.id,
        }
    }
}

/// The spans the timeline shows: trace roots and proxied calls (a call linked into an app's
/// trace still shows), not every inner span of an instrumented app. Written exactly as the
/// partial index `spans_timeline` is, so the planner can use it.
const TIMELINE_SPANS: &str = "(parent_id IS NULL OR method IS NOT NULL)";

/// A page of the merged timeline, newest first, and the total of every included type.
/// Each type reads at most `offset + limit` rows, so deep pages cost more.
pub fn timeline(
    conn: &Connection,
    f: &TimelineFilter,
    limit: u32,
    offset: u64,
) -> Result<(Vec<TimelineItem>, u64), StoreError> {
    let kinds = f.kinds.unwrap_or_default();
    let want = u64::from(limit).saturating_add(offset);
    let want = Value::Integer(i64::try_from(want).unwrap_or(i64::MAX));
    let mut items: Vec<TimelineItem> = Vec::new();
    let mut total = 0;
    if kinds.traces {
        let mut c = Conds::default();
        c.add(TIMELINE_SPANS, []);
        c.range("spans.start_ns", f.date_from, f.date_to);
        c.eq("spans.session_id", f.session_id.as_deref());
        tool_cond(
            &mut c,
            f.tool.as_deref(),
            "spans.service_name",
            Some("spans.method"),
        );
        if let Some(q) = f.q.as_deref().and_then(fts_query) {
            c.add(
                "spans.seq IN (SELECT rowid FROM spans_fts WHERE spans_fts MATCH ?)",
                [Value::Text(q)],
            );
        }
        let w = c.where_sql();
        total += count(conn, &format!("SELECT COUNT(*) FROM spans {w}"), &c.args)?;
        let mut args = c.args;
        args.push(want.clone());
        let sql = format!(
            "SELECT {SPAN_COLS} FROM spans {w} ORDER BY spans.start_ns DESC, spans.seq DESC LIMIT ?"
        );
        items.extend(
            query_spans(conn, &sql, &args)?
                .into_iter()
                .map(|s| TimelineItem::Span(Box::new(s))),
        );
    }
    if kinds.logs {
        let lf = LogFilter {
            session_id: f.session_id.clone(),
            q: f.q.clone(),
            tool: f.tool.clone(),
            date_from: f.date_from,
            date_to: f.date_to,
            ..LogFilter::default()
        };
        let c = lf.conds();
        let w = c.where_sql();
        total += count(conn, &format!("SELECT COUNT(*) FROM logs {w}"), &c.args)?;
        let mut args = c.args;
        args.push(want.clone());
        let sql = format!(
            "SELECT {LOG_COLS} FROM logs {w} ORDER BY logs.time_ns DESC, logs.seq DESC LIMIT ?"
        );
        items.extend(
            query_logs(conn, &sql, &args)?
                .into_iter()
                .map(TimelineItem::Log),
        );
    }
    if kinds.metrics {
        let mf = MetricFilter {
            session_id: f.session_id.clone(),
            q: f.q.clone(),
            tool: f.tool.clone(),
            date_from: f.date_from,
            date_to: f.date_to,
            ..MetricFilter::default()
        };
        let c = mf.conds();
        let w = c.where_sql();
        total += count(conn, &format!("SELECT COUNT(*) FROM metrics {w}"), &c.args)?;
        let mut args = c.args;
        args.push(want);
        let sql = format!(
            "SELECT {METRIC_COLS} FROM metrics {w} ORDER BY time_ns DESC, seq DESC LIMIT ?"
        );
        items.extend(
            query_metrics(conn, &sql, &args)?
                .into_iter()
                .map(TimelineItem::Metric),
        );
    }
    // Newest first; equal times in a fixed order (type, then id) so pages never overlap.
    let rank = |i: &TimelineItem| match i {
        TimelineItem::Span(_) => 0,
        TimelineItem::Log(_) => 1,
        TimelineItem::Metric(_) => 2,
    };
    items.sort_by(|a, b| {
        b.time_ns()
            .cmp(&a.time_ns())
            .then_with(|| rank(a).cmp(&rank(b)))
            .then_with(|| a.id().cmp(b.id()))
    });
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let items = items.into_iter().skip(skip).take(limit as usize).collect();
    Ok((items, total))
}

// ---------------------------------------------------------------- analytics

pub const HOUR_S: i64 = 3600;
pub const DAY_S: i64 = 86_400;

/// A half-open UTC window `[since_s, until_s)` cut into buckets of `width_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since_s: i64,
    pub until_s: i64,
    pub width_s: i64,
}

impl Window {
    /// The last `n` whole buckets of `width_s`, the current (partial) one included.
    pub fn last(n: i64, width_s: i64, now_s: i64) -> Self {
        let width_s = width_s.max(1);
        let current = now_s.div_euclid(width_s) * width_s;
        Self {
            since_s: current - (n.max(1) - 1) * width_s,
            until_s: current + width_s,
            width_s,
        }
    }

    pub fn buckets(&self) -> i64 {
        (self.until_s - self.since_s) / self.width_s
    }
}

/// Where usage is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSource<'a> {
    /// The hourly rollups: every call ever recorded (retention does not lower them), by
    /// provider and model only.
    Rollups,
    /// Stored spans (retention applies), which know the tool; optionally one tool's only.
    Spans { tool: Option<&'a str> },
}

/// How usage rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageGroupBy {
    pub bucket: bool,
    pub model: bool,
    /// Spans only.
    pub tool: bool,
}

/// One group of usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageGroup {
    /// Bucket start, Unix seconds (when grouped by bucket).
    pub bucket_s: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tool: Option<String>,
    pub totals: UsageTotals,
}

/// Usage in `w`, grouped as asked, most cost first (buckets in time order). With buckets
/// alone the result is zero-filled: one row per bucket of the window.
pub fn usage(
    conn: &Connection,
    src: UsageSource<'_>,
    w: Window,
    by: UsageGroupBy,
) -> Result<Vec<UsageGroup>, StoreError> {
    let mut groups = match src {
        UsageSource::Rollups => rollup_usage(conn, w, by)?,
        UsageSource::Spans { tool } => span_usage(conn, tool, w, by)?,
    };
    groups.sort_by(|a, b| {
        a.bucket_s
            .cmp(&b.bucket_s)
            .then_with(|| b.totals.cost.total_cmp(&a.totals.cost))
            .then_with(|| b.totals.requests.cmp(&a.totals.requests))
            .then_with(|| (&a.provider, &a.model, &a.tool).cmp(&(&b.provider, &b.model, &b.tool)))
    });
    if by.bucket && !by.model && !by.tool {
        return Ok(zero_fill(groups, w));
    }
    Ok(groups)
}

/// From the hourly rollups (few rows: grouped in SQL).
fn rollup_usage(
    conn: &Connection,
    w: Window,
    by: UsageGroupBy,
) -> Result<Vec<UsageGroup>, StoreError> {
    let bucket = if by.bucket {
        "?1 + ((hour - ?1) / ?3) * ?3"
    } else {
        "NULL"
    };
    let (provider, model) = if by.model {
        ("NULLIF(provider, '')", "NULLIF(model, '')")
    } else {
        ("NULL", "NULL")
    };
    let sql = format!(
        "SELECT {bucket}, {provider}, {model}, {ROLLUP_TOTALS_SQL} FROM rollup_hourly
         WHERE hour >= ?1 AND hour < ?2 GROUP BY 1, 2, 3"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let args = [w.since_s, w.until_s, w.width_s];
    let args = if by.bucket { &args[..] } else { &args[..2] };
    let rows = st.query_map(params_from_iter(args), |r| {
        Ok(UsageGroup {
            bucket_s: r.get(0)?,
            provider: r.get(1)?,
            model: r.get(2)?,
            tool: None,
            totals: totals_at(r, 3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// From stored spans: read from the covering index `spans_window` and summed here (a SQL
/// GROUP BY would sort every span of the window first).
fn span_usage(
    conn: &Connection,
    tool: Option<&str>,
    w: Window,
    by: UsageGroupBy,
) -> Result<Vec<UsageGroup>, StoreError> {
    let mut c = Conds::default();
    c.add(
        "start_ns >= ?",
        [Value::Integer(w.since_s.saturating_mul(NS_PER_S))],
    );
    c.add(
        "start_ns < ?",
        [Value::Integer(w.until_s.saturating_mul(NS_PER_S))],
    );
    tool_cond(&mut c, tool, "service_name", Some("method"));
    let (provider, model) = if by.model {
        ("provider", "model")
    } else {
        ("NULL", "NULL")
    };
    let service = if by.tool { "service_name" } else { "NULL" };
    let sql = format!(
        "SELECT start_ns, {service}, method IS NOT NULL, {provider}, {model}, is_error,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
            reasoning_tokens, cost, total_tokens
         FROM spans {}",
        c.where_sql()
    );
    // Rows are keyed by a hash of what they group by, so a span costs no allocation; the
    // few groups are merged by tool at the end (several service names are one tool).
    let mut index: HashedMap<usize> = HashedMap::default();
    let mut groups: Vec<UsageGroup> = Vec::new();
    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = st.query(params_from_iter(c.args.iter()))?;
    while let Some(r) = rows.next()? {
        let bucket = by.bucket.then(|| {
            let secs = r.get::<_, i64>(0).unwrap_or(0).div_euclid(NS_PER_S);
            w.since_s + (secs - w.since_s).div_euclid(w.width_s) * w.width_s
        });
        let proxied: bool = r.get(2)?;
        let (service, provider, model) = (str_at(r, 1)?, str_at(r, 3)?, str_at(r, 4)?);
        let key = hash_of((bucket, service, proxied, provider, model));
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(UsageGroup {
                bucket_s: bucket,
                provider: provider.map(str::to_owned),
                model: model.map(str::to_owned),
                tool: if by.tool {
                    tool_name(service, proxied)
                } else {
                    None
                },
                totals: UsageTotals::default(),
            });
            groups.len() - 1
        });
        let t = &mut groups[i].totals;
        let cost: Option<f64> = r.get(11)?;
        t.requests += 1;
        t.errors += u64::from(r.get::<_, bool>(5)?);
        t.usage.input += count_at(r, 6)?;
        t.usage.output += count_at(r, 7)?;
        t.usage.cache_read += count_at(r, 8)?;
        t.usage.cache_write += count_at(r, 9)?;
        t.usage.reasoning += count_at(r, 10)?;
        t.cost += cost.unwrap_or(0.0);
        t.unpriced += u64::from(cost.is_none() && count_at(r, 12)? > 0);
    }
    type Key = (Option<i64>, Option<String>, Option<String>, Option<String>);
    let mut merged: HashMap<Key, UsageTotals> = HashMap::new();
    for g in groups {
        merged
            .entry((g.bucket_s, g.provider, g.model, g.tool))
            .or_default()
            .add(&g.totals);
    }
    Ok(merged
        .into_iter()
        .map(|((bucket_s, provider, model, tool), totals)| UsageGroup {
            bucket_s,
            provider,
            model,
            tool,
            totals,
        })
        .collect())
}

/// One row per bucket of the window, empty buckets included.
fn zero_fill(groups: Vec<UsageGroup>, w: Window) -> Vec<UsageGroup> {
    let mut by_bucket: HashMap<i64, UsageGroup> = groups
        .into_iter()
        .filter_map(|g| Some((g.bucket_s?, g)))
        .collect();
    (0..w.buckets())
        .map(|i| {
            let start = w.since_s + i * w.width_s;
            by_bucket.remove(&start).unwrap_or(UsageGroup {
                bucket_s: Some(start),
                ..UsageGroup::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn severities_by_number_or_name() {
        assert_eq!(severity_floor("warn"), Some(13));
        assert_eq!(severity_floor(" 17 "), Some(17));
        assert_eq!(severity_floor("0"), None);
        assert_eq!(severity_floor("loud"), None);
    }

    #[test]
    fn tools_from_service_names() {
        assert_eq!(
            tool_name(Some("codex_cli_rs"), false).as_deref(),
            Some("codex-cli")
        );
        assert_eq!(tool_name(Some("my-app"), false).as_deref(), Some("my-app"));
        assert_eq!(tool_name(None, true).as_deref(), Some("proxy"));
        assert_eq!(tool_name(None, false), None);
    }

    #[test]
    fn timeline_kinds() {
        assert_eq!(TimelineKinds::parse("").unwrap(), TimelineKinds::default());
        let k = TimelineKinds::parse("metric,logs").unwrap();
        assert!(!k.traces && k.logs && k.metrics);
        assert!(TimelineKinds::parse("all").unwrap().metrics);
        assert!(TimelineKinds::parse("bogus").is_err());
    }

    #[test]
    fn windows_end_with_the_current_bucket() {
        let w = Window::last(3, DAY_S, 10 * DAY_S + 5);
        assert_eq!(
            (w.since_s, w.until_s, w.buckets()),
            (8 * DAY_S, 11 * DAY_S, 3)
        );
    }

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("o.db")).unwrap();
        super::super::schema::configure(&conn).unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        (dir, conn)
    }

    fn point(
        conn: &Connection,
        id: &str,
        attrs: &str,
        start: i64,
        t: i64,
        temporality: &str,
        v: f64,
    ) {
        conn.execute(
            "INSERT INTO metrics (id, time_ns, start_ns, name, kind, temporality, monotonic, value, attributes)
             VALUES (?1, ?2, ?3, 'c', 'sum', ?4, 1, ?5, ?6)",
            rusqlite::params![id, t, start, temporality, v, attrs],
        )
        .unwrap();
    }

    #[test]
    fn cumulative_resets_and_series_add_their_increments() {
        let (_d, conn) = db();
        // Series a: 10, 25, then a reset that kept its start time (5), then 12.
        for (i, v) in [10.0, 25.0, 5.0, 12.0].iter().enumerate() {
            point(
                &conn,
                &format!("a{i}"),
                "{\"k\":\"a\"}",
                1,
                10 + i as i64,
                "cumulative",
                *v,
            );
        }
        // Series b, restarted: 7 then (new start) 3.
        point(&conn, "b0", "{\"k\":\"b\"}", 1, 10, "cumulative", 7.0);
        point(&conn, "b1", "{\"k\":\"b\"}", 20, 21, "cumulative", 3.0);
        let s = metric_summary(&conn, &MetricFilter::default()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].total, Some(25.0 + 12.0 + 7.0 + 3.0));
        assert_eq!((s[0].points, s[0].series), (6, 2));
        // A window starting after the first point counts only what was added inside it.
        let f = MetricFilter {
            date_from: Some(0),
            ..MetricFilter::default()
        };
        assert_eq!(metric_summary(&conn, &f).unwrap()[0].total, Some(47.0));
        conn.execute("UPDATE metrics SET time_ns = time_ns * 1000000", [])
            .unwrap();
        let f = MetricFilter {
            date_from: Some(11),
            ..MetricFilter::default()
        };
        // a: 25-10 + 5 + 12-5 = 27; b: 3 (new start).
        assert_eq!(metric_summary(&conn, &f).unwrap()[0].total, Some(30.0));
    }
}
