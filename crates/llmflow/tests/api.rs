//! The JSON API and the live WebSocket feed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{start_mock, Harness};
use futures_util::StreamExt;
use serde_json::{json, Value};

async fn post_span(h: &Harness, span: Value) -> Value {
    let r = h
        .http
        .post(format!("{}/api/spans", h.api))
        .json(&span)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_trace_filter_with_correct_totals() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let base = 1_700_000_000_000i64;
    let spans = [
        json!({"id":"s1","model":"gpt-4o","provider":"openai","status":200,"tags":["prod","chat"],"service_name":"web","session_id":"sess-1","conversation_id":"conv-1","span_type":"llm","estimated_cost":0.5,"start_time":base,"duration_ms":10,"input":"the quick brown fox","output":"jumps"}),
        json!({"id":"s2","model":"gpt-4o-mini","provider":"openai","status":500,"error":"boom","tags":["prod"],"service_name":"worker","session_id":"sess-1","span_type":"llm","estimated_cost":0.01,"start_time":base + 1000,"duration_ms":10,"input":"lazy dog"}),
        json!({"id":"s3","model":"claude-3-haiku","provider":"anthropic","status":200,"tags":["production"],"service_name":"web","session_id":"sess-2","conversation_id":"conv-2","span_type":"tool","estimated_cost":2.0,"start_time":base + 2000,"duration_ms":10,"output":"100% done_here"}),
        json!({"id":"s4","span_type":"chain","service_name":"web","start_time":base + 3000,"duration_ms":5}),
    ];
    for s in spans {
        post_span(&h, s).await;
    }
    h.wait_for_spans(4).await;
    let q = |query: &'static str| {
        let h = &h;
        async move { h.get_json(&format!("/api/traces?{query}")).await }
    };
    let cases: &[(&str, &[&str])] = &[
        ("", &["s1", "s2", "s3", "s4"]),
        ("model=gpt-4o", &["s1"]),
        ("provider=openai", &["s1", "s2"]),
        ("status=error", &["s2"]),
        ("status=success", &["s1", "s3", "s4"]),
        ("tag=prod", &["s1", "s2"]),
        ("tag=production", &["s3"]),
        ("service_name=web", &["s1", "s3", "s4"]),
        ("session_id=sess-1", &["s1", "s2"]),
        ("conversation_id=conv-2", &["s3"]),
        ("span_type=tool", &["s3"]),
        ("cost_min=0.4", &["s1", "s3"]),
        ("cost_max=0.5", &["s1", "s2"]),
        ("cost_min=0.02&cost_max=1", &["s1"]),
        ("date_from=1700000001000", &["s2", "s3", "s4"]),
        ("date_to=1700000001000", &["s1", "s2"]),
        (
            "date_from=1700000001000&date_to=1700000002000",
            &["s2", "s3"],
        ),
        ("q=quick", &["s1"]),
        ("q=qui", &["s1"]),
        ("q=dog", &["s2"]),
        ("q=claude", &["s3"]),
        ("q=100%25", &["s3"]),
        ("q=%22unbalanced", &[]),
        ("provider=openai&status=success", &["s1"]),
        ("model=", &["s1", "s2", "s3", "s4"]),
    ];
    for (query, expect) in cases {
        let v = q(query).await;
        let mut e: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
        e.sort();
        assert_eq!(ids(&v), e, "{query}");
        assert_eq!(
            v["total"].as_u64(),
            Some(expect.len() as u64),
            "total for {query}"
        );
    }
    // Paging keeps the total and walks newest first.
    let p1 = q("limit=2").await;
    let p2 = q("limit=2&offset=2").await;
    assert_eq!(p1["total"], 4);
    assert_eq!(p1["traces"][0]["id"], "s4");
    assert_eq!(p2["traces"][1]["id"], "s1");
    // A bad value is a clear 400.
    let bad = h
        .http
        .get(format!("{}/api/traces?cost_min=cheap", h.api))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("cost_min"));
}

#[tokio::test]
async fn stats_and_models_are_real_aggregates() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    for (model, p, c, d) in [
        ("gpt-4o", 100, 50, 200.0),
        ("gpt-4o", 300, 70, 400.0),
        ("mystery-model", 10, 5, 100.0),
    ] {
        post_span(&h, json!({"model": model, "provider": "openai", "prompt_tokens": p, "completion_tokens": c, "duration_ms": d})).await;
    }
    h.wait_for_spans(3).await;
    let models = h.get_json("/api/models").await;
    let gpt = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "gpt-4o")
        .unwrap();
    assert_eq!(gpt["requests"], 2);
    assert_eq!(gpt["prompt_tokens"], 400);
    assert_eq!(gpt["completion_tokens"], 120);
    assert_eq!(gpt["avg_latency_ms"], 300.0);
    assert!(
        gpt["total_cost"].as_f64().unwrap() > 0.0,
        "priced from the table"
    );
    let mystery = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "mystery-model")
        .unwrap();
    assert_eq!(mystery["unpriced_requests"], 1);
    assert_eq!(mystery["total_cost"], 0.0);
    let stats = h.get_json("/api/stats").await;
    assert_eq!(stats["total_requests"], 3);
    assert_eq!(stats["total_tokens"], 535);
    assert_eq!(stats["unpriced_requests"], 1);
}

#[tokio::test]
async fn detail_tree_and_export() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    post_span(&h, json!({"id":"root","trace_id":"t1","span_type":"agent","span_name":"plan","start_time":1000,"duration_ms":100})).await;
    post_span(&h, json!({"id":"child","trace_id":"t1","parent_id":"root","span_type":"llm","model":"gpt-4o","prompt_tokens":10,"completion_tokens":5,"start_time":1010,"duration_ms":50})).await;
    post_span(&h, json!({"id":"grandchild","trace_id":"t1","parent_id":"child","span_type":"tool","span_name":"search, \"web\"","start_time":1020,"duration_ms":10})).await;
    h.wait_for_spans(3).await;
    let tree = h.get_json("/api/traces/t1/tree").await;
    assert_eq!(tree["trace"]["span_count"], 3);
    assert_eq!(tree["trace"]["total_tokens"], 15);
    assert_eq!(tree["trace"]["duration_ms"], 100.0);
    assert_eq!(tree["spans"].as_array().unwrap().len(), 1);
    assert_eq!(tree["spans"][0]["id"], "root");
    assert_eq!(tree["spans"][0]["children"][0]["id"], "child");
    assert_eq!(
        tree["spans"][0]["children"][0]["children"][0]["id"],
        "grandchild"
    );
    // A span id finds its trace too.
    assert_eq!(
        h.get_json("/api/traces/child/tree").await["trace"]["trace_id"],
        "t1"
    );
    let missing = h
        .http
        .get(format!("{}/api/traces/nope", h.api))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let get = |q: &'static str| {
        let h = &h;
        async move {
            let r = h
                .http
                .get(format!("{}/api/traces/export?{q}", h.api))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{q}");
            (
                r.headers()["content-type"].to_str().unwrap().to_owned(),
                r.text().await.unwrap(),
            )
        }
    };
    let (ct, json_text) = get("format=json").await;
    assert_eq!(ct, "application/json");
    let all: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (_, jsonl) = get("format=jsonl&span_type=tool").await;
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["trace"]["id"], "grandchild");
    let (ct, csv) = get("format=csv").await;
    assert!(ct.starts_with("text/csv"));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4);
    assert!(rows[0].starts_with("id,trace_id,parent_id,timestamp"));
    assert!(csv.contains("\"search, \"\"web\"\"\""), "{csv}");
    let bad = h
        .http
        .get(format!("{}/api/traces/export?format=xml", h.api))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn post_span_rejects_malformed_json() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let r = h
        .http
        .post(format!("{}/api/spans", h.api))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid span JSON"));
}

#[tokio::test]
async fn retention_deletes_whole_oldest_traces() {
    let mock = start_mock().await;
    let h = Harness::start_with(&mock.url(), |c| c.max_traces = 3).await;
    for i in 0..30 {
        post_span(&h, json!({"id": format!("a{i:02}"), "trace_id": format!("t{i:02}"), "tags": ["keep"], "input": "needle"})).await;
        post_span(&h, json!({"id": format!("b{i:02}"), "trace_id": format!("t{i:02}"), "parent_id": format!("a{i:02}")})).await;
        if i % 5 == 4 {
            // Several commits, so retention runs between them.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut v = Value::Null;
    for _ in 0..200 {
        v = h.get_json("/api/traces?limit=1000").await;
        let pruned = h.get_json("/api/health").await["writer"]["pruned_traces"]
            .as_u64()
            .unwrap();
        if pruned + v["total"].as_u64().unwrap() / 2 == 30 && v["total"].as_u64().unwrap() <= 26 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut traces: Vec<String> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .collect();
    let spans = traces.len();
    traces.sort();
    traces.dedup();
    // Whole traces only, the newest ones, and no more than the limit plus its slack (10).
    assert_eq!(
        spans,
        traces.len() * 2,
        "a trace lost half its spans: {traces:?}"
    );
    assert!(traces.len() >= 3 && traces.len() <= 13, "{traces:?}");
    let expected: Vec<String> = (30 - traces.len()..30)
        .map(|i| format!("t{i:02}"))
        .collect();
    assert_eq!(traces, expected);
    // Pruned traces are gone from every table: their spans cannot be found or searched.
    let missing = h
        .http
        .get(format!("{}/api/traces/a00", h.api))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let conn = rusqlite::Connection::open(h.dir.path().join("data.db")).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize;
    assert_eq!(count("SELECT COUNT(*) FROM span_payloads"), spans);
    assert_eq!(count("SELECT COUNT(*) FROM span_tags"), traces.len());
    assert_eq!(
        count("SELECT COUNT(*) FROM spans_fts WHERE spans_fts MATCH 'needle'"),
        traces.len()
    );
    assert_eq!(count("SELECT COUNT(*) FROM traces"), traces.len());
    assert_eq!(
        h.get_json("/api/traces?q=needle").await["total"]
            .as_u64()
            .unwrap() as usize,
        traces.len()
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("no message")
        .unwrap()
        .unwrap();
    serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap()
}

#[tokio::test]
async fn websocket_announces_calls_and_stats() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let ws_url = format!("{}/ws", h.api.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert!(hello["time"].as_u64().unwrap() > 0);
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .header("content-type", "application/json")
        .body(r#"{"model":"gpt-4o-mini","messages":[]}"#)
        .send()
        .await
        .unwrap();
    r.bytes().await.unwrap();
    let mut kinds = Vec::new();
    while !kinds.contains(&"stats_update".to_owned()) {
        let m = next_json(&mut ws).await;
        let kind = m["type"].as_str().unwrap().to_owned();
        match kind.as_str() {
            "new_span" | "new_trace" => {
                assert_eq!(m["payload"]["model"], "gpt-4o-mini-2024-07-18");
                assert_eq!(m["payload"]["total_tokens"], 29);
            }
            "stats_update" => assert_eq!(m["payload"]["total_requests"], 1),
            other => panic!("unexpected {other}"),
        }
        kinds.push(kind);
    }
    assert!(kinds.contains(&"new_span".to_owned()));
    assert!(kinds.contains(&"new_trace".to_owned()));
    assert_eq!(h.get_json("/api/health").await["websocket_clients"], 1);
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn stats_updates_are_throttled_and_the_last_one_is_sent() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let ws_url = format!("{}/ws", h.api.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    ws.next().await.unwrap().unwrap(); // hello
                                       // Read while the burst is sent, so arrival times are send times.
    let reader = tokio::spawn(async move {
        let mut stats = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
            let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
            if v["type"] == "stats_update" {
                stats.push((
                    std::time::Instant::now(),
                    v["payload"]["total_requests"].as_u64().unwrap(),
                ));
            }
        }
        stats
    });
    // A burst of 30 spans over ~1.5 s.
    for i in 0..30 {
        post_span(&h, json!({"id": format!("b{i}")})).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = reader.await.unwrap();
    assert!(stats.len() >= 2, "{stats:?}");
    for pair in stats.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(900),
            "at most one a second: {gap:?}"
        );
    }
    assert_eq!(
        stats.last().map(|s| s.1),
        Some(30),
        "the burst's last update is sent"
    );
}

#[tokio::test]
async fn health_reports_the_writer() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let v = h.get_json("/api/health").await;
    assert_eq!(v["status"], "ok");
    assert_eq!(v["writer"]["dropped"], 0);
    assert!(v["database"]["path"].as_str().unwrap().ends_with("data.db"));
    assert!(v["pricing"]["models"].as_u64().unwrap() > 100);
    // The dashboard is served at /.
    let page = h.http.get(format!("{}/", h.api)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<title>llmflow</title>"));
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_but_never_blocks() {
    let mock = start_mock().await;
    // A tiny queue and a slow writer tick: some records must be dropped, every call answered.
    let h = Harness::start_with(&mock.url(), |c| {
        c.queue_capacity = 1;
        c.batch_size = 1;
        c.flush_interval = Duration::from_millis(300);
    })
    .await;
    let mut answered = 0;
    let calls = (0..20).map(|_| {
        h.http
            .post(format!("{}/v1/chat/completions", h.proxy))
            .header("content-type", "application/json")
            .body(r#"{"model":"gpt-4o-mini","messages":[]}"#)
            .send()
    });
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.unwrap().status(), 200);
        answered += 1;
    }
    assert_eq!(answered, 20);
    let v = h.get_json("/api/health").await;
    assert!(v["writer"]["dropped"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["dropped"], v["writer"]["dropped"]);
}
