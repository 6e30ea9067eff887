//! Versioned migrations from an empty file (`PRAGMA user_version` is the version).
//!
//! Shape: `spans` is narrow (what lists and filters need) with an integer rowid that follows
//! arrival order, so "newest first" is a backwards walk of the primary key; bodies, headers
//! and attributes live in `span_payloads`; `traces` has one row per trace for retention and
//! trees; `rollup_hourly` keeps per provider/model totals so stats never scan spans.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: spans, payloads, tags, full-text search, traces, rollups, logs, metrics.
    r#"
    CREATE TABLE spans (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        trace_id TEXT NOT NULL,
        parent_id TEXT,
        start_ns INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        ttft_ms REAL,
        span_type TEXT NOT NULL,
        name TEXT NOT NULL,
        provider TEXT,
        model TEXT,
        status INTEGER,
        is_error INTEGER NOT NULL,
        error_kind TEXT,
        error TEXT,
        cancelled INTEGER NOT NULL,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cache_read_tokens INTEGER,
        cache_write_tokens INTEGER,
        reasoning_tokens INTEGER,
        total_tokens INTEGER,
        cost REAL,
        streamed INTEGER NOT NULL,
        chunks INTEGER NOT NULL,
        method TEXT,
        path TEXT,
        tags TEXT,
        service_name TEXT,
        session_id TEXT,
        conversation_id TEXT,
        user_id TEXT
    );
    CREATE INDEX spans_trace ON spans(trace_id);
    CREATE INDEX spans_start ON spans(start_ns);
    CREATE INDEX spans_session ON spans(session_id) WHERE session_id IS NOT NULL;

    CREATE TABLE span_payloads (
        seq INTEGER PRIMARY KEY,
        request_headers TEXT,
        request_body BLOB,
        request_body_size INTEGER,
        request_truncated INTEGER,
        response_headers TEXT,
        response_body BLOB,
        response_body_size INTEGER,
        response_truncated INTEGER,
        input TEXT,
        output TEXT,
        attributes TEXT
    );

    CREATE TABLE span_tags (
        seq INTEGER NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (seq, tag)
    ) WITHOUT ROWID;
    CREATE INDEX span_tags_tag ON span_tags(tag, seq);

    CREATE VIRTUAL TABLE spans_fts USING fts5(
        name, model, input, output,
        content = '', contentless_delete = 1
    );

    CREATE TABLE traces (
        trace_id TEXT PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        start_ns INTEGER NOT NULL,
        span_count INTEGER NOT NULL
    );
    CREATE INDEX traces_first_seq ON traces(first_seq);

    CREATE TABLE rollup_hourly (
        hour INTEGER NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost REAL NOT NULL,
        unpriced INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        ttft_ms REAL NOT NULL,
        ttft_count INTEGER NOT NULL,
        PRIMARY KEY (hour, provider, model)
    ) WITHOUT ROWID;

    CREATE TABLE logs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        time_ns INTEGER NOT NULL,
        observed_ns INTEGER,
        severity_number INTEGER,
        severity_text TEXT,
        body TEXT,
        trace_id TEXT,
        span_id TEXT,
        service_name TEXT,
        event_name TEXT,
        session_id TEXT,
        attributes TEXT,
        resource TEXT
    );
    CREATE INDEX logs_time ON logs(time_ns);
    CREATE INDEX logs_session ON logs(session_id) WHERE session_id IS NOT NULL;
    CREATE INDEX logs_trace ON logs(trace_id) WHERE trace_id IS NOT NULL;

    CREATE TABLE metrics (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        time_ns INTEGER NOT NULL,
        start_ns INTEGER,
        name TEXT NOT NULL,
        description TEXT,
        unit TEXT,
        kind TEXT NOT NULL,
        temporality TEXT,
        monotonic INTEGER,
        value REAL,
        count INTEGER,
        sum REAL,
        min REAL,
        max REAL,
        buckets TEXT,
        service_name TEXT,
        session_id TEXT,
        attributes TEXT,
        resource TEXT
    );
    CREATE INDEX metrics_name_time ON metrics(name, time_ns);

    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    "#,
    // 2: indexes for sessions, the timeline, metric lists and windowed usage (otel_query).
    // - spans_window replaces spans_start (same leading column): it covers the columns that
    //   usage by tool, day and model sums, so a window is summed from the index alone.
    // - sessions: (session_id, time) lets the session list find each session's latest
    //   activity from the indexes alone. spans_session stays (span lists by session walk it
    //   in arrival order); logs_session is replaced.
    // - spans_timeline: trace roots and proxied calls by time, with what the tool filter reads
    //   (its WHERE is the timeline's, so the planner can use it).
    r#"
    DROP INDEX spans_start;
    CREATE INDEX spans_window ON spans(start_ns, service_name, method, provider, model,
        is_error, cost, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
        reasoning_tokens, total_tokens);
    CREATE INDEX spans_session_time ON spans(session_id, start_ns) WHERE session_id IS NOT NULL;
    DROP INDEX logs_session;
    CREATE INDEX logs_session ON logs(session_id, time_ns) WHERE session_id IS NOT NULL;
    CREATE INDEX spans_timeline ON spans(start_ns, service_name, method)
        WHERE (parent_id IS NULL OR method IS NOT NULL);
    CREATE INDEX metrics_time ON metrics(time_ns);
    CREATE INDEX metrics_session ON metrics(session_id, time_ns) WHERE session_id IS NOT NULL;
    "#,
];

/// Settings every connection gets.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Brings the file to the newest version, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(MIGRATIONS.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_file_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        configure(&conn).unwrap();
        let n = MIGRATIONS.len() as u32;
        assert_eq!(migrate(&mut conn).unwrap(), n);
        assert_eq!(migrate(&mut conn).unwrap(), n);
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, n);
    }
}
