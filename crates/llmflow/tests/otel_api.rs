//! The API over OTLP data: logs, metrics (delta and cumulative sums counted right), token
//! metrics, sessions, the merged timeline, trace detail with its logs, usage analytics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{start_mock, Harness};
use serde_json::{json, Value};

const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
const DAY: i64 = 86_400 * S;
/// 2023-11-14T22:13:20Z, for tests that need no time window.
const BASE: i64 = 1_700_000_000 * S;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn ms(ns: i64) -> i64 {
    ns / 1_000_000
}

// ---------------------------------------------------------------- OTLP/JSON builders

fn any(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n.as_f64() }),
        other => json!({ "stringValue": other.to_string() }),
    }
}

fn attrs(pairs: &[(&str, Value)]) -> Value {
    pairs
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": any(v) }))
        .collect()
}

fn resource(service: &str) -> Value {
    json!({ "attributes": attrs(&[("service.name", json!(service))]) })
}

fn log(t: i64, severity: i32, body: &str, a: &[(&str, Value)]) -> Value {
    json!({
        "timeUnixNano": t.to_string(),
        "severityNumber": severity,
        "body": { "stringValue": body },
        "attributes": attrs(a),
    })
}

fn logs_req(service: &str, records: Vec<Value>) -> Value {
    json!({ "resourceLogs": [{
        "resource": resource(service),
        "scopeLogs": [{ "scope": { "name": "test" }, "logRecords": records }],
    }]})
}

fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    start: i64,
    dur_ms: i64,
    a: &[(&str, Value)],
) -> Value {
    let mut s = json!({
        "traceId": trace,
        "spanId": id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + dur_ms * 1_000_000).to_string(),
        "attributes": attrs(a),
    });
    if let Some(p) = parent {
        s["parentSpanId"] = json!(p);
    }
    s
}

fn traces_req(service: &str, spans: Vec<Value>) -> Value {
    json!({ "resourceSpans": [{
        "resource": resource(service),
        "scopeSpans": [{ "scope": { "name": "test" }, "spans": spans }],
    }]})
}

/// A chat call in the current GenAI conventions, with its own cost.
fn chat(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    start: i64,
    tokens: (i64, i64),
    cost: f64,
    extra: &[(&str, Value)],
) -> Value {
    let mut a = vec![
        ("gen_ai.operation.name", json!("chat")),
        ("gen_ai.provider.name", json!("openai")),
        ("gen_ai.request.model", json!("gpt-4o-mini")),
        ("gen_ai.usage.input_tokens", json!(tokens.0)),
        ("gen_ai.usage.output_tokens", json!(tokens.1)),
        ("gen_ai.usage.cost", json!(cost)),
    ];
    a.extend(extra.iter().cloned());
    span(trace, id, parent, "chat gpt-4o-mini", start, 800, &a)
}

fn point(a: &[(&str, Value)], start: Option<i64>, t: i64, v: f64) -> Value {
    let mut p = json!({
        "attributes": attrs(a),
        "timeUnixNano": t.to_string(),
        "asDouble": v,
    });
    if let Some(s) = start {
        p["startTimeUnixNano"] = json!(s.to_string());
    }
    p
}

fn hist_point(a: &[(&str, Value)], start: i64, t: i64, count: u64, sum: f64) -> Value {
    json!({
        "attributes": attrs(a),
        "startTimeUnixNano": start.to_string(),
        "timeUnixNano": t.to_string(),
        "count": count.to_string(),
        "sum": sum,
        "bucketCounts": [count.to_string()],
        "explicitBounds": [],
    })
}

const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;

fn sum(name: &str, temporality: i32, points: Vec<Value>) -> Value {
    json!({ "name": name, "unit": "1", "sum": {
        "aggregationTemporality": temporality, "isMonotonic": true, "dataPoints": points,
    }})
}

fn gauge(name: &str, points: Vec<Value>) -> Value {
    json!({ "name": name, "unit": "Cel", "gauge": { "dataPoints": points } })
}

fn hist(name: &str, temporality: i32, points: Vec<Value>) -> Value {
    json!({ "name": name, "unit": "{token}", "histogram": {
        "aggregationTemporality": temporality, "dataPoints": points,
    }})
}

fn metrics_req(service: &str, metrics: Vec<Value>) -> Value {
    json!({ "resourceMetrics": [{
        "resource": resource(service),
        "scopeMetrics": [{ "scope": { "name": "test" }, "metrics": metrics }],
    }]})
}

/// Posts an OTLP/JSON request; a 200 means committed.
async fn post(h: &Harness, signal: &str, body: Value) {
    let r = h
        .http
        .post(format!("{}/v1/{signal}", h.otlp_http))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "{signal}: {}", r.text().await.unwrap());
}

async fn status(h: &Harness, path: &str) -> u16 {
    h.http
        .get(format!("{}{path}", h.api))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn field<'a>(v: &'a Value, list: &str, key: &str, value: &str) -> &'a Value {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x[key] == value)
        .unwrap_or_else(|| panic!("no {key}={value} in {list}: {v:#}"))
}

fn strs(v: &Value, list: &str, key: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap_or("").to_owned())
        .collect()
}

fn trace_hex(n: u8) -> String {
    format!("{n:02x}").repeat(16)
}

fn span_hex(n: u8) -> String {
    format!("{n:02x}").repeat(8)
}

// ---------------------------------------------------------------- logs

#[tokio::test]
async fn logs_filters_search_totals_and_detail() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let t1 = trace_hex(0xa1);
    let mut l4 = log(
        BASE + 4 * S,
        0,
        "under_score",
        &[("event.name", json!("error"))],
    );
    l4["severityText"] = json!("ERROR");
    post(
        &h,
        "logs",
        logs_req(
            "svc-a",
            vec![
                {
                    let mut l = log(
                        BASE + S,
                        9,
                        "user asked for 50%_off",
                        &[("event.name", json!("prompt")), ("session.id", json!("s1"))],
                    );
                    l["traceId"] = json!(t1);
                    l["spanId"] = json!(span_hex(1));
                    l
                },
                log(
                    BASE + 2 * S,
                    13,
                    "50x off and more",
                    &[("event.name", json!("prompt")), ("session.id", json!("s1"))],
                ),
                {
                    let mut l = log(
                        BASE + 3 * S,
                        17,
                        "failed",
                        &[("event.name", json!("error")), ("session.id", json!("s2"))],
                    );
                    l["traceId"] = json!(t1);
                    l
                },
            ],
        ),
    )
    .await;
    post(
        &h,
        "logs",
        logs_req("svc-b", vec![l4, log(BASE + 5 * S, 5, "debug", &[])]),
    )
    .await;

    let all = h.get_json("/api/logs").await;
    assert_eq!(all["total"], 5);
    assert_eq!(
        strs(&all, "logs", "body"),
        [
            "debug",
            "under_score",
            "failed",
            "50x off and more",
            "user asked for 50%_off"
        ],
        "newest first"
    );
    let totals = [
        ("limit=2", 5, 2),
        ("offset=4", 5, 1),
        ("service_name=svc-b", 2, 2),
        ("event_name=error", 2, 2),
        (&format!("trace_id={t1}"), 2, 2),
        ("session_id=s1", 2, 2),
        // The text-only ERROR counts as 17.
        ("severity_min=warn", 3, 3),
        ("severity_min=17", 2, 2),
        ("severity_min=ERROR&service_name=svc-a", 1, 1),
        // `%` and `_` are literal: "50x off" does not match "50%", "_" is not any character.
        ("q=50%25", 1, 1),
        ("q=_", 2, 2),
        ("q=PROMPT", 2, 2),
        (
            &format!(
                "date_from={}&date_to={}",
                ms(BASE + 2 * S),
                ms(BASE + 4 * S)
            ),
            3,
            3,
        ),
        ("service_name=svc-a&limit=1&offset=1", 3, 1),
        ("tool=svc-b", 2, 2),
    ];
    for (q, total, len) in totals {
        let v = h.get_json(&format!("/api/logs?{q}")).await;
        assert_eq!(v["total"], total, "{q}");
        assert_eq!(v["logs"].as_array().unwrap().len(), len, "{q}");
    }
    let first = &h.get_json("/api/logs?q=50%25").await["logs"][0];
    assert_eq!(first["trace_id"], t1);
    assert_eq!(first["session_id"], "s1");
    assert_eq!(first["attributes"]["event.name"], "prompt");
    assert_eq!(first["resource"]["service.name"], "svc-a");

    let f = h.get_json("/api/logs/filters").await;
    assert_eq!(field(&f, "services", "value", "svc-a")["count"], 3);
    assert_eq!(field(&f, "event_names", "value", "error")["count"], 2);
    assert_eq!(field(&f, "severities", "value", "ERROR")["count"], 2);
    assert_eq!(
        strs(&f, "severities", "value"),
        ["DEBUG", "INFO", "WARN", "ERROR"],
        "level order"
    );

    let id = first["id"].as_str().unwrap();
    assert_eq!(&h.get_json(&format!("/api/logs/{id}")).await, first);
    assert_eq!(status(&h, "/api/logs/nope").await, 404);
    assert_eq!(status(&h, "/api/logs?severity_min=loud").await, 400);
    assert_eq!(status(&h, "/api/logs?date_from=yesterday").await, 400);
}

// ---------------------------------------------------------------- metrics

/// Step `i` (1..=3) of a metrics exporter, as it would send it every minute.
fn metrics_step(i: i64) -> Value {
    let t0 = BASE;
    let t = t0 + i * MIN;
    let q = [("queue", json!("a"))];
    let at = |v: [f64; 3]| v[(i - 1) as usize];
    let mut metrics = vec![
        sum(
            "jobs.cumulative",
            CUMULATIVE,
            vec![point(&q, Some(t0), t, at([10.0, 25.0, 40.0]))],
        ),
        sum(
            "jobs.delta",
            DELTA,
            vec![point(&q, Some(t - MIN), t, at([10.0, 15.0, 15.0]))],
        ),
        sum(
            "tokens.cumulative",
            CUMULATIVE,
            vec![
                point(
                    &[("type", json!("input"))],
                    Some(t0),
                    t,
                    at([10.0, 25.0, 40.0]),
                ),
                point(
                    &[("type", json!("output"))],
                    Some(t0),
                    t,
                    at([5.0, 6.0, 7.0]),
                ),
            ],
        ),
        // The process restarted before step 3: a new start time, counting from zero.
        sum(
            "restarts.cumulative",
            CUMULATIVE,
            vec![point(
                &q,
                Some(if i == 3 { t0 + 150 * S } else { t0 }),
                t,
                at([10.0, 25.0, 5.0]),
            )],
        ),
        gauge("temp.gauge", vec![point(&[], None, t, at([1.0, 5.0, 3.0]))]),
    ];
    if i <= 2 {
        let (c, s) = if i == 1 { (2, 10.0) } else { (5, 30.0) };
        metrics.push(hist(
            "latency.hist",
            CUMULATIVE,
            vec![hist_point(&q, t0, t, c, s)],
        ));
        let (c, s) = if i == 1 { (2, 10.0) } else { (3, 20.0) };
        metrics.push(hist(
            "latency.delta_hist",
            DELTA,
            vec![hist_point(&q, t - MIN, t, c, s)],
        ));
    }
    metrics_req("metrics-app", metrics)
}

fn summary<'a>(v: &'a Value, name: &str) -> &'a Value {
    field(v, "summary", "name", name)
}

#[tokio::test]
async fn delta_and_cumulative_sums_give_the_same_total() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    for i in 1..=3 {
        post(&h, "metrics", metrics_step(i)).await;
    }

    let s = h.get_json("/api/metrics/summary").await;
    assert_eq!(s["total"], 7);
    let cum = summary(&s, "jobs.cumulative");
    assert_eq!(cum["total"], 40.0, "cumulative 10, 25, 40 is 40, not 75");
    assert_eq!(cum["temporality"], "cumulative");
    assert_eq!(
        (cum["points"].as_u64(), cum["series"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(cum["latest_value"], 40.0);
    assert_eq!(summary(&s, "jobs.delta")["total"], 40.0, "delta 10+15+15");
    let tok = summary(&s, "tokens.cumulative");
    assert_eq!(
        (tok["total"].as_f64(), tok["series"].as_u64()),
        (Some(47.0), Some(2))
    );
    assert_eq!(
        summary(&s, "restarts.cumulative")["total"],
        30.0,
        "25 before the restart, 5 after"
    );
    let g = summary(&s, "temp.gauge");
    assert_eq!(g["metric_type"], "gauge");
    assert_eq!(g["total"], Value::Null);
    assert_eq!(
        (&g["latest_value"], &g["min"], &g["max"], &g["avg"]),
        (&json!(3.0), &json!(1.0), &json!(5.0), &json!(3.0))
    );
    for name in ["latency.hist", "latency.delta_hist"] {
        let hs = summary(&s, name);
        assert_eq!(
            (hs["count"].as_u64(), hs["sum"].as_f64()),
            (Some(5), Some(30.0)),
            "{name}"
        );
        assert_eq!(hs["avg"], 6.0);
    }
    assert_eq!(
        h.get_json("/api/metrics?aggregation=summary").await,
        s,
        "the list's summary is the same"
    );

    // Inside a window, a cumulative series counts what it added there.
    let from = ms(BASE + 2 * MIN);
    let w = h
        .get_json(&format!("/api/metrics/summary?date_from={from}"))
        .await;
    assert_eq!(summary(&w, "jobs.cumulative")["total"], 30.0);
    assert_eq!(summary(&w, "jobs.delta")["total"], 30.0);
    let w = h
        .get_json("/api/metrics/summary?name=jobs.delta&service_name=metrics-app")
        .await;
    assert_eq!(w["total"], 1);

    // Points.
    let all = h.get_json("/api/metrics?limit=5").await;
    assert_eq!(all["total"], 22);
    assert_eq!(all["metrics"].as_array().unwrap().len(), 5);
    assert_eq!(
        all["metrics"][0]["timestamp"],
        ms(BASE + 3 * MIN),
        "newest first"
    );
    for (q, total) in [
        ("name=jobs.delta", 3),
        ("metric_type=gauge", 3),
        ("metric_type=histogram", 4),
        ("service_name=metrics-app", 22),
        ("service_name=other", 0),
        ("q=cumulative", 12),
        (&format!("date_from={from}") as &str, 14),
        (
            &format!("date_from={from}&metric_type=sum&name=jobs.cumulative"),
            2,
        ),
    ] {
        assert_eq!(
            h.get_json(&format!("/api/metrics?{q}")).await["total"],
            total,
            "{q}"
        );
    }
    let p = &h.get_json("/api/metrics?name=temp.gauge&limit=1").await["metrics"][0];
    assert_eq!(p["value"], 3.0);
    let id = p["id"].as_str().unwrap();
    assert_eq!(&h.get_json(&format!("/api/metrics/{id}")).await, p);
    assert_eq!(status(&h, "/api/metrics/nope").await, 404);
    assert_eq!(status(&h, "/api/metrics?aggregation=median").await, 400);

    let f = h.get_json("/api/metrics/filters").await;
    assert_eq!(field(&f, "names", "name", "jobs.delta")["count"], 3);
    assert_eq!(field(&f, "metric_types", "value", "sum")["count"], 15);
    assert_eq!(field(&f, "services", "value", "metrics-app")["count"], 22);
}

#[tokio::test]
async fn token_metrics_by_type_model_and_tool() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let claude = |t: i64, ty: &str, v: f64| {
        point(
            &[
                ("type", json!(ty)),
                ("model", json!("claude-sonnet-4")),
                ("session.id", json!("cc-1")),
            ],
            Some(t - MIN),
            t,
            v,
        )
    };
    // Claude Code: delta, two exports.
    post(
        &h,
        "metrics",
        metrics_req(
            "claude-code",
            vec![sum(
                "claude_code.token.usage",
                DELTA,
                vec![
                    claude(BASE + MIN, "input", 100.0),
                    claude(BASE + MIN, "output", 30.0),
                    claude(BASE + MIN, "cacheRead", 1000.0),
                ],
            )],
        ),
    )
    .await;
    post(
        &h,
        "metrics",
        metrics_req(
            "claude-code",
            vec![sum(
                "claude_code.token.usage",
                DELTA,
                vec![claude(BASE + 2 * MIN, "input", 50.0)],
            )],
        ),
    )
    .await;
    // Gemini CLI: its own cumulative counter, and the GenAI histogram (not counted again).
    let gem = [("type", json!("input")), ("model", json!("gemini-2.5-pro"))];
    let gen_ai = [
        ("gen_ai.token.type", json!("input")),
        ("gen_ai.request.model", json!("gemini-2.5-pro")),
    ];
    for (i, v) in [(1, 10.0), (2, 40.0)] {
        post(
            &h,
            "metrics",
            metrics_req(
                "gemini-cli",
                vec![
                    sum(
                        "gemini_cli.token.usage",
                        CUMULATIVE,
                        vec![point(&gem, Some(BASE), BASE + i * MIN, v)],
                    ),
                    hist(
                        "gen_ai.client.token.usage",
                        CUMULATIVE,
                        vec![hist_point(&gen_ai, BASE, BASE + i * MIN, 1, 999.0)],
                    ),
                ],
            ),
        )
        .await;
    }
    // An instrumented app: the GenAI histogram, cumulative.
    let app = |ty: &str| {
        [
            ("gen_ai.token.type", json!(ty)),
            ("gen_ai.request.model", json!("gpt-4o")),
        ]
    };
    for (i, (c, input)) in [(1, (1, 200.0)), (2, (2, 500.0))] {
        post(
            &h,
            "metrics",
            metrics_req(
                "my-app",
                vec![hist(
                    "gen_ai.client.token.usage",
                    CUMULATIVE,
                    vec![
                        hist_point(&app("input"), BASE, BASE + i * MIN, c, input),
                        hist_point(&app("output"), BASE, BASE + i * MIN, c, 20.0),
                    ],
                )],
            ),
        )
        .await;
    }

    let v = h.get_json("/api/metrics/tokens").await;
    assert_eq!(v["total"], 1740.0, "{v:#}");
    assert_eq!(
        v["by_type"],
        json!({ "input": 690.0, "output": 50.0, "cache_read": 1000.0 })
    );
    let m = field(&v, "by_model", "model", "claude-sonnet-4");
    assert_eq!(
        (&m["total"], &m["input"], &m["cache_read"]),
        (&json!(1180.0), &json!(150.0), &json!(1000.0))
    );
    assert_eq!(field(&v, "by_model", "model", "gpt-4o")["total"], 520.0);
    assert_eq!(
        field(&v, "by_model", "model", "gemini-2.5-pro")["total"],
        40.0
    );
    assert_eq!(field(&v, "by_tool", "tool", "gemini-cli")["total"], 40.0);
    assert_eq!(field(&v, "by_tool", "tool", "my-app")["total"], 520.0);
    assert_eq!(v["by_tool"][0]["tool"], "claude-code", "most tokens first");

    let v = h.get_json("/api/metrics/tokens?tool=claude-code").await;
    assert_eq!(v["total"], 1180.0);
    let v = h
        .get_json(&format!(
            "/api/metrics/tokens?date_from={}",
            ms(BASE + 2 * MIN)
        ))
        .await;
    // Inside the window: Claude's second export (50), Gemini's rise (30), the app's (300).
    assert_eq!(v["total"], 380.0);
}

// ---------------------------------------------------------------- sessions

#[tokio::test]
async fn sessions_from_spans_and_logs() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let sa = [("session.id", json!("sess-a"))];
    let (a1, a2) = (trace_hex(1), trace_hex(2));
    post(
        &h,
        "traces",
        traces_req(
            "agent-app",
            vec![
                span(
                    &a1,
                    &span_hex(1),
                    None,
                    "invoke_agent planner",
                    BASE + 10 * S,
                    2000,
                    &[
                        ("gen_ai.operation.name", json!("invoke_agent")),
                        ("gen_ai.agent.name", json!("planner")),
                        ("session.id", json!("sess-a")),
                    ],
                ),
                chat(
                    &a1,
                    &span_hex(2),
                    Some(&span_hex(1)),
                    BASE + 11 * S,
                    (100, 20),
                    0.01,
                    &sa,
                ),
                {
                    let mut s = chat(&a2, &span_hex(3), None, BASE + 20 * S, (50, 5), 0.002, &sa);
                    s["status"] = json!({ "code": 2, "message": "rate limited" });
                    s
                },
            ],
        ),
    )
    .await;
    let cli = [("session.id", json!("sess-cli"))];
    post(
        &h,
        "logs",
        logs_req(
            "claude-code",
            vec![
                log(
                    BASE + 30 * S,
                    9,
                    "claude_code.user_prompt",
                    &[("event.name", json!("user_prompt")), cli[0].clone()],
                ),
                log(
                    BASE + 35 * S,
                    9,
                    "claude_code.api_request",
                    &[
                        ("event.name", json!("api_request")),
                        cli[0].clone(),
                        ("model", json!("claude-sonnet-4-20250514")),
                        ("cost_usd", json!("0.5")),
                        ("duration_ms", json!("2000")),
                        ("input_tokens", json!("10")),
                        ("output_tokens", json!("5")),
                    ],
                ),
                log(
                    BASE + 36 * S,
                    9,
                    "claude_code.tool_result",
                    &[
                        ("event.name", json!("tool_result")),
                        cli[0].clone(),
                        ("tool_name", json!("Bash")),
                    ],
                ),
            ],
        ),
    )
    .await;
    post(
        &h,
        "logs",
        logs_req(
            "some-app",
            vec![log(
                BASE + 5 * S,
                9,
                "hello",
                &[("session.id", json!("sess-logs"))],
            )],
        ),
    )
    .await;

    let v = h.get_json("/api/sessions").await;
    assert_eq!(v["total"], 3);
    assert_eq!(
        strs(&v, "sessions", "session_id"),
        ["sess-cli", "sess-a", "sess-logs"],
        "newest activity first"
    );
    let a = field(&v, "sessions", "session_id", "sess-a");
    assert_eq!(
        (
            &a["trace_count"],
            &a["span_count"],
            &a["total_tokens"],
            &a["errors"],
            &a["log_count"]
        ),
        (&json!(2), &json!(3), &json!(175), &json!(1), &json!(0))
    );
    assert!(close(a["total_cost"].as_f64().unwrap(), 0.012));
    assert_eq!(a["first_seen"], ms(BASE + 10 * S));
    assert_eq!(a["last_seen"], ms(BASE + 20 * S));
    assert_eq!(a["service_name"], "agent-app");
    assert_eq!(a["agent_name"], "planner");
    let c = field(&v, "sessions", "session_id", "sess-cli");
    assert_eq!((&c["span_count"], &c["log_count"]), (&json!(1), &json!(3)));
    assert_eq!(
        (&c["tool"], &c["total_cost"]),
        (&json!("claude-code"), &json!(0.5))
    );
    assert_eq!(c["first_seen"], ms(BASE + 30 * S));
    let l = field(&v, "sessions", "session_id", "sess-logs");
    assert_eq!(
        (&l["span_count"], &l["log_count"], &l["total_cost"]),
        (&json!(0), &json!(1), &json!(0.0))
    );

    let page = h.get_json("/api/sessions?limit=1&offset=1").await;
    assert_eq!(page["total"], 3);
    assert_eq!(strs(&page, "sessions", "session_id"), ["sess-a"]);

    let d = h.get_json("/api/sessions/sess-a").await;
    assert_eq!(d["session"]["span_count"], 3);
    let m = &d["session"]["models"];
    assert_eq!(m.as_array().unwrap().len(), 1, "{m:#}");
    assert_eq!(
        (
            &m[0]["model"],
            &m[0]["requests"],
            &m[0]["prompt_tokens"],
            &m[0]["completion_tokens"]
        ),
        (&json!("gpt-4o-mini"), &json!(2), &json!(150), &json!(25))
    );
    assert!(close(m[0]["cost"].as_f64().unwrap(), 0.012));
    let spans = d["traces"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0]["id"], span_hex(3), "newest first");
    assert_eq!(d["logs"], json!([]));

    let d = h.get_json("/api/sessions/sess-cli").await;
    assert_eq!(
        strs(&d, "logs", "event_name"),
        ["user_prompt", "api_request", "tool_result"]
    );
    assert_eq!(d["traces"][0]["service_name"], "claude-code");
    assert_eq!(d["traces"][0]["estimated_cost"], 0.5);
    assert_eq!(
        d["session"]["tools"],
        json!([{ "name": "Bash", "count": 1 }])
    );
    assert_eq!(
        d["session"]["models"][0]["model"],
        "claude-sonnet-4-20250514"
    );
    assert_eq!(status(&h, "/api/sessions/nope").await, 404);
}

// ---------------------------------------------------------------- timeline

#[tokio::test]
async fn timeline_merges_newest_first_and_filters_by_tool() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let now = now_ns();
    let app = trace_hex(7);
    post(
        &h,
        "traces",
        traces_req(
            "my-app",
            vec![
                span(
                    &app,
                    &span_hex(1),
                    None,
                    "workflow run",
                    now - 50 * MIN,
                    5000,
                    &[],
                ),
                // An inner span: in the trace, not on the timeline.
                chat(
                    &app,
                    &span_hex(2),
                    Some(&span_hex(1)),
                    now - 50 * MIN + S,
                    (10, 1),
                    0.001,
                    &[],
                ),
            ],
        ),
    )
    .await;
    post(
        &h,
        "logs",
        logs_req(
            "claude-code",
            vec![
                log(
                    now - 40 * MIN,
                    9,
                    "claude_code.user_prompt",
                    &[("event.name", json!("user_prompt"))],
                ),
                log(
                    now - 39 * MIN,
                    9,
                    "claude_code.api_request",
                    &[
                        ("event.name", json!("api_request")),
                        ("model", json!("claude-sonnet-4-20250514")),
                        ("cost_usd", json!("0.25")),
                        ("duration_ms", json!("1000")),
                        ("input_tokens", json!("10")),
                        ("output_tokens", json!("5")),
                    ],
                ),
            ],
        ),
    )
    .await;
    post(
        &h,
        "logs",
        logs_req(
            "codex_cli_rs",
            vec![log(
                now - 30 * MIN,
                9,
                "codex.conversation_starts",
                &[("event.name", json!("codex.conversation_starts"))],
            )],
        ),
    )
    .await;
    post(
        &h,
        "metrics",
        metrics_req(
            "claude-code",
            vec![sum(
                "claude_code.cost.usage",
                DELTA,
                vec![point(&[], Some(now - 21 * MIN), now - 20 * MIN, 0.25)],
            )],
        ),
    )
    .await;
    // A proxied call, newest of all.
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.proxy))
        .json(&json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.wait_for_spans(4).await;

    let v = h.get_json("/api/timeline").await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(v["total"], 6, "{v:#}");
    let shape: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_owned(),
                i["tool"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expect = [
        ("trace", "proxy"),
        ("log", "codex-cli"),
        ("log", "claude-code"),
        ("trace", "claude-code"),
        ("log", "claude-code"),
        ("trace", "my-app"),
    ];
    assert_eq!(
        shape,
        expect.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{v:#}"
    );
    let times: Vec<i64> = items
        .iter()
        .map(|i| i["timestamp"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(items[1]["title"], "codex.conversation_starts");
    assert_eq!(items[5]["title"], "workflow run");
    assert_eq!(items[3]["estimated_cost"], 0.25, "the record's own fields");

    for (q, total, len) in [
        ("tool=claude-code", 3, 3),
        ("tool=codex-cli", 1, 1),
        ("tool=codex_cli_rs", 1, 1),
        ("tool=proxy", 1, 1),
        ("tool=my-app", 1, 1),
        ("type=log", 3, 3),
        ("type=trace&tool=claude-code", 1, 1),
        ("type=metric", 1, 1),
        ("type=metric&tool=proxy", 0, 0),
        ("type=all", 7, 7),
        ("type=log,metric", 4, 4),
        ("q=conversation", 1, 1),
        ("limit=2&offset=1", 6, 2),
        (&format!("date_from={}", ms(now - 45 * MIN)), 5, 5),
        (&format!("date_to={}", ms(now - 35 * MIN)), 4, 4),
    ] {
        let t = h.get_json(&format!("/api/timeline?{q}")).await;
        assert_eq!(t["total"], total, "{q}: {t:#}");
        assert_eq!(t["items"].as_array().unwrap().len(), len, "{q}");
    }
    let page = h.get_json("/api/timeline?limit=2&offset=1").await;
    assert_eq!(page["items"][0], items[1]);
    assert_eq!(page["items"][1], items[2]);
    let m = &h.get_json("/api/timeline?type=metric").await["items"][0];
    assert_eq!(
        (&m["type"], &m["tool"]),
        (&json!("metric"), &json!("claude-code"))
    );
    assert_eq!(m["title"], "claude_code.cost.usage = 0.2500");
    assert_eq!(status(&h, "/api/timeline?type=bogus").await, 400);
}

// ---------------------------------------------------------------- trace detail

#[tokio::test]
async fn trace_detail_lists_its_logs() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let t = trace_hex(9);
    post(
        &h,
        "traces",
        traces_req(
            "my-app",
            vec![chat(&t, &span_hex(9), None, BASE, (1, 1), 0.0, &[])],
        ),
    )
    .await;
    let with_trace = |at: i64, body: &str| {
        let mut l = log(at, 9, body, &[]);
        l["traceId"] = json!(t);
        l["spanId"] = json!(span_hex(9));
        l
    };
    post(
        &h,
        "logs",
        logs_req(
            "my-app",
            vec![
                with_trace(BASE + 2 * S, "second"),
                with_trace(BASE + S, "first"),
                log(BASE, 9, "unrelated", &[]),
            ],
        ),
    )
    .await;
    let d = h.get_json(&format!("/api/traces/{}", span_hex(9))).await;
    assert_eq!(strs(&d, "logs", "body"), ["first", "second"]);
    assert_eq!(d["trace"]["id"], span_hex(9));

    // A call made from a CLI's usage event lists that event.
    post(
        &h,
        "logs",
        logs_req(
            "claude-code",
            vec![log(
                BASE + 10 * S,
                9,
                "claude_code.api_request",
                &[
                    ("event.name", json!("api_request")),
                    ("model", json!("claude-sonnet-4-20250514")),
                    ("input_tokens", json!("3")),
                    ("output_tokens", json!("4")),
                ],
            )],
        ),
    )
    .await;
    let list = h.get_json("/api/traces?service_name=claude-code").await;
    let id = list["traces"][0]["id"].as_str().unwrap();
    let d = h.get_json(&format!("/api/traces/{id}")).await;
    assert_eq!(strs(&d, "logs", "body"), ["claude_code.api_request"]);
}

// ---------------------------------------------------------------- analytics

#[tokio::test]
async fn analytics_token_trends_and_token_usage() {
    let mock = start_mock().await;
    let h = Harness::start(&mock.url()).await;
    let now = now_ns();
    let old = now - 3 * DAY;
    post(
        &h,
        "traces",
        traces_req(
            "my-app",
            vec![
                chat(
                    &trace_hex(1),
                    &span_hex(1),
                    None,
                    now - 10 * MIN,
                    (100, 10),
                    0.01,
                    &[],
                ),
                chat(&trace_hex(2), &span_hex(2), None, old, (200, 20), 0.02, &[]),
            ],
        ),
    )
    .await;
    post(
        &h,
        "logs",
        logs_req(
            "claude-code",
            vec![log(
                now - 5 * MIN,
                9,
                "claude_code.api_request",
                &[
                    ("event.name", json!("api_request")),
                    ("model", json!("claude-sonnet-4-20250514")),
                    ("cost_usd", json!("0.5")),
                    ("input_tokens", json!("10")),
                    ("output_tokens", json!("5")),
                ],
            )],
        ),
    )
    .await;

    let sum_of = |rows: &Value, k: &str| -> f64 {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r[k].as_f64().unwrap())
            .sum()
    };
    let consecutive = |rows: &Value, step_ms: i64| {
        let ts: Vec<i64> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["timestamp"].as_i64().unwrap())
            .collect();
        assert!(ts.windows(2).all(|w| w[1] - w[0] == step_ms), "{ts:?}");
        ts
    };

    let a = h.get_json("/api/analytics?days=7").await;
    assert_eq!(a["days"], 7);
    assert_eq!(a["daily"].as_array().unwrap().len(), 7, "zero-filled");
    let ts = consecutive(&a["daily"], 86_400_000);
    assert_eq!(sum_of(&a["daily"], "requests"), 3.0);
    assert_eq!(sum_of(&a["daily"], "prompt_tokens"), 310.0);
    assert!(close(sum_of(&a["daily"], "cost"), 0.53));
    let old_day = ms(old) / 86_400_000 * 86_400_000;
    let i = ts.iter().position(|t| *t == old_day).unwrap();
    assert_eq!(a["daily"][i]["prompt_tokens"], 200);
    assert_eq!(a["daily"][i]["date"].as_str().unwrap().len(), 10);
    let zero_days = a["daily"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["requests"] == 0)
        .count();
    assert!(zero_days >= 4, "{a:#}");
    assert_eq!(a["by_tool"][0]["tool"], "claude-code", "most cost first");
    let app = field(&a, "by_tool", "tool", "my-app");
    assert_eq!(
        (&app["requests"], &app["prompt_tokens"]),
        (&json!(2), &json!(300))
    );
    assert!(close(app["cost"].as_f64().unwrap(), 0.03));
    let m = field(&a, "by_model", "model", "gpt-4o-mini");
    assert_eq!(
        (&m["provider"], &m["requests"]),
        (&json!("openai"), &json!(2))
    );
    assert_eq!(a["totals"]["requests"], 3);

    let a2 = h.get_json("/api/analytics?days=2").await;
    assert_eq!(a2["daily"].as_array().unwrap().len(), 2);
    assert_eq!(field(&a2, "by_tool", "tool", "my-app")["requests"], 1);
    let a3 = h.get_json("/api/analytics?days=7&tool=my-app").await;
    assert_eq!(
        (&a3["source"], &a3["totals"]["requests"]),
        (&json!("spans"), &json!(2))
    );

    let t = h
        .get_json("/api/analytics/token-trends?interval=hour&days=1")
        .await;
    assert_eq!(t["interval"], "hour");
    assert_eq!(t["buckets"].as_array().unwrap().len(), 24);
    consecutive(&t["buckets"], 3_600_000);
    assert_eq!(sum_of(&t["buckets"], "prompt_tokens"), 110.0);
    let busy = t["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["requests"] != 0)
        .count();
    assert!((1..=2).contains(&busy), "{t:#}");
    assert!(t["buckets"][0]["hour"].as_str().unwrap().ends_with(":00Z"));
    let t = h.get_json("/api/analytics/token-trends").await;
    assert_eq!((&t["interval"], &t["days"]), (&json!("day"), &json!(7)));
    assert_eq!(t["buckets"].as_array().unwrap().len(), 7);
    assert_eq!(sum_of(&t["buckets"], "total_tokens"), 345.0);
    for bad in [
        "/api/analytics/token-trends?interval=week",
        "/api/analytics?days=0",
        "/api/analytics/daily?days=many",
    ] {
        assert_eq!(status(&h, bad).await, 400, "{bad}");
    }

    let d = h.get_json("/api/analytics/daily?days=3").await;
    assert_eq!(d["daily"].as_array().unwrap().len(), 3);
    let c = h.get_json("/api/analytics/cost-by-tool").await;
    assert_eq!(strs(&c, "by_tool", "tool"), ["claude-code", "my-app"]);
    let c = h.get_json("/api/analytics/cost-by-model").await;
    assert_eq!(
        strs(&c, "by_model", "model"),
        ["claude-sonnet-4-20250514", "gpt-4o-mini"]
    );
    assert!(close(c["totals"]["cost"].as_f64().unwrap(), 0.53));

    let u = h.get_json("/api/token-usage").await;
    assert_eq!(u["days"], 30);
    assert_eq!(u["daily"].as_array().unwrap().len(), 30);
    assert_eq!(
        (
            &u["totals"]["prompt_tokens"],
            &u["totals"]["completion_tokens"]
        ),
        (&json!(310), &json!(35))
    );
    assert_eq!(sum_of(&u["by_day_model"], "requests"), 3.0);
    assert_eq!(
        field(&u, "by_model", "model", "gpt-4o-mini")["prompt_tokens"],
        300
    );
    assert_eq!(field(&u, "by_tool", "tool", "claude-code")["cost"], 0.5);
    let u = h.get_json("/api/token-usage?tool=claude-code").await;
    assert_eq!(
        (&u["source"], &u["totals"]["requests"], &u["totals"]["cost"]),
        (&json!("spans"), &json!(1), &json!(0.5))
    );
}
