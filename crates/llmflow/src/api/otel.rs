//! The dashboard API over what the OTLP receiver stores (and the spans beside it): logs,
//! metrics and their aggregates, sessions, the merged timeline, token usage and analytics.
//! Queries live in `store::otel_query`; the JSON shapes in `api::types`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_query, types, ApiError, ApiState, Page};
use crate::store::otel_query::{
    self as oq, LogFilter, MetricFilter, TimelineFilter, UsageGroupBy, UsageSource, Window, DAY_S,
    HOUR_S,
};

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/logs", get(logs))
        .route("/api/logs/filters", get(log_filters))
        .route("/api/logs/{id}", get(log_detail))
        .route("/api/metrics", get(metrics))
        .route("/api/metrics/summary", get(metric_summary))
        .route("/api/metrics/filters", get(metric_filters))
        .route("/api/metrics/tokens", get(token_metrics))
        .route("/api/metrics/{id}", get(metric_detail))
        .route("/api/token-usage", get(token_usage))
        .route("/api/sessions", get(sessions))
        .route("/api/sessions/{id}", get(session_detail))
        .route("/api/timeline", get(timeline))
        .route("/api/analytics", get(analytics))
        .route("/api/analytics/daily", get(analytics_daily))
        .route("/api/analytics/cost-by-tool", get(cost_by_tool))
        .route("/api/analytics/cost-by-model", get(cost_by_model))
        .route("/api/analytics/token-trends", get(token_trends))
}

type ApiResult = Result<Json<Value>, ApiError>;

/// `limit` (default `default`, 1..=`max`) and `offset`.
fn page(uri: &http::Uri, default: u32, max: u32) -> Result<(u32, u64), ApiError> {
    let p: Page = parse_query(uri.query())?;
    Ok((
        p.limit.unwrap_or(default).clamp(1, max),
        p.offset.unwrap_or(0),
    ))
}

// ---------------------------------------------------------------- logs

async fn logs(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let f: LogFilter = parse_query(uri.query())?;
    let (limit, offset) = page(&uri, 50, 1000)?;
    let (logs, total) = st
        .store
        .read(move |c| oq::list_logs(c, &f, limit, offset))
        .await?;
    Ok(Json(json!({
        "logs": types::logs_json(&logs),
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

async fn log_filters(State(st): State<Arc<ApiState>>) -> ApiResult {
    let f = st.store.read(oq::log_facets).await?;
    Ok(Json(types::log_facets_json(&f)))
}

async fn log_detail(State(st): State<Arc<ApiState>>, Path(id): Path<String>) -> ApiResult {
    let l = st.store.read(move |c| oq::log_by_id(c, &id)).await?;
    Ok(Json(types::log_json(&l)))
}

// ---------------------------------------------------------------- metrics

#[derive(Debug, Deserialize)]
struct Aggregation {
    aggregation: Option<String>,
}

async fn metrics(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let agg: Aggregation = parse_query(uri.query())?;
    match agg.aggregation.as_deref() {
        None | Some("none" | "raw" | "points") => {}
        Some("summary") => return metric_summary(State(st), uri).await,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown aggregation '{other}': use summary, or none for points"
            )))
        }
    }
    let f: MetricFilter = parse_query(uri.query())?;
    let (limit, offset) = page(&uri, 50, 1000)?;
    let (points, total) = st
        .store
        .read(move |c| oq::list_metrics(c, &f, limit, offset))
        .await?;
    let items: Vec<Value> = points.iter().map(types::metric_json).collect();
    Ok(Json(json!({
        "metrics": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

/// `/api/metrics/summary` and `/api/metrics?aggregation=summary`: one row per metric (name,
/// unit, type) under the list's filters.
async fn metric_summary(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let f: MetricFilter = parse_query(uri.query())?;
    let rows = st.store.read(move |c| oq::metric_summary(c, &f)).await?;
    let items: Vec<Value> = rows.iter().map(types::metric_summary_json).collect();
    Ok(Json(json!({ "summary": items, "total": items.len() })))
}

async fn metric_filters(State(st): State<Arc<ApiState>>) -> ApiResult {
    let f = st.store.read(oq::metric_facets).await?;
    Ok(Json(types::metric_facets_json(&f)))
}

async fn token_metrics(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let f: MetricFilter = parse_query(uri.query())?;
    let rows = st.store.read(move |c| oq::token_metrics(c, &f)).await?;
    Ok(Json(types::token_metrics_json(&rows)))
}

async fn metric_detail(State(st): State<Arc<ApiState>>, Path(id): Path<String>) -> ApiResult {
    let m = st.store.read(move |c| oq::metric_by_id(c, &id)).await?;
    Ok(Json(types::metric_json(&m)))
}

// ---------------------------------------------------------------- sessions and timeline

async fn sessions(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let (limit, offset) = page(&uri, 50, 500)?;
    let (sessions, total) = st
        .store
        .read(move |c| oq::list_sessions(c, limit, offset))
        .await?;
    let items: Vec<Value> = sessions.iter().map(types::session_json).collect();
    Ok(Json(json!({
        "sessions": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

async fn session_detail(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    uri: http::Uri,
) -> ApiResult {
    let (limit, _) = page(&uri, 200, oq::ATTACHED_LOGS_MAX)?;
    let d = st
        .store
        .read(move |c| oq::session_detail(c, &id, limit))
        .await?;
    Ok(Json(types::session_detail_json(&d)))
}

/// Deepest timeline position served: every type reads `offset + limit` rows.
const TIMELINE_DEPTH: u64 = 20_000;

async fn timeline(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let f: TimelineFilter = parse_query(uri.query())?;
    let (limit, offset) = page(&uri, 50, 500)?;
    if offset + u64::from(limit) > TIMELINE_DEPTH {
        return Err(ApiError::BadRequest(format!(
            "offset + limit beyond {TIMELINE_DEPTH}: narrow the time range"
        )));
    }
    let (items, total) = st
        .store
        .read(move |c| oq::timeline(c, &f, limit, offset))
        .await?;
    let items: Vec<Value> = items.iter().map(types::timeline_item_json).collect();
    Ok(Json(json!({
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

// ---------------------------------------------------------------- usage and analytics

#[derive(Debug, Deserialize)]
struct UsageParams {
    days: Option<i64>,
    interval: Option<String>,
    /// Only this tool's calls (read from spans rather than the rollups).
    tool: Option<String>,
}

impl UsageParams {
    fn parse(uri: &http::Uri, default_days: i64) -> Result<(Self, i64), ApiError> {
        let p: Self = parse_query(uri.query())?;
        let days = p.days.unwrap_or(default_days);
        if !(1..=366).contains(&days) {
            return Err(ApiError::BadRequest(format!(
                "days {days}: expected 1 to 366"
            )));
        }
        Ok((p, days))
    }

    fn tool(&self) -> Option<&str> {
        self.tool
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Rollups (all history) unless one tool is asked for.
    fn source(&self) -> UsageSource<'_> {
        match self.tool() {
            Some(tool) => UsageSource::Spans { tool: Some(tool) },
            None => UsageSource::Rollups,
        }
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const BY_BUCKET: UsageGroupBy = UsageGroupBy {
    bucket: true,
    model: false,
    tool: false,
};
const BY_MODEL: UsageGroupBy = UsageGroupBy {
    bucket: false,
    model: true,
    tool: false,
};
const BY_TOOL: UsageGroupBy = UsageGroupBy {
    bucket: false,
    model: false,
    tool: true,
};
const BY_BUCKET_MODEL: UsageGroupBy = UsageGroupBy {
    bucket: true,
    model: true,
    tool: false,
};

/// Usage of `w` grouped each way in `by`, in one read.
async fn usage_views<const N: usize>(
    st: &ApiState,
    p: &UsageParams,
    w: Window,
    by: [UsageGroupBy; N],
) -> Result<[Vec<oq::UsageGroup>; N], ApiError> {
    let tool = p.tool().map(str::to_owned);
    let use_spans = tool.is_some();
    Ok(st
        .store
        .read(move |c| {
            let mut out: [Vec<oq::UsageGroup>; N] = std::array::from_fn(|_| Vec::new());
            for (slot, by) in out.iter_mut().zip(by) {
                // Tools are only known to spans; everything else reads the rollups unless
                // one tool was asked for.
                let src = if use_spans || by.tool {
                    UsageSource::Spans {
                        tool: tool.as_deref(),
                    }
                } else {
                    UsageSource::Rollups
                };
                *slot = oq::usage(c, src, w, by)?;
            }
            Ok(out)
        })
        .await?)
}

/// `GET /api/analytics?days=30[&tool=]`: daily rows (zero-filled), usage by tool and by model.
async fn analytics(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let (p, days) = UsageParams::parse(&uri, 30)?;
    let w = Window::last(days, DAY_S, now_s());
    let [daily, by_tool, by_model] =
        usage_views(&st, &p, w, [BY_BUCKET, BY_TOOL, BY_MODEL]).await?;
    Ok(Json(json!({
        "days": days,
        "source": source_name(p.source()),
        "daily": types::usage_groups_json(&daily, DAY_S),
        "by_tool": types::usage_groups_json(&by_tool, DAY_S),
        "by_model": types::usage_groups_json(&by_model, DAY_S),
        "totals": types::usage_total_json(&daily),
    })))
}

fn source_name(s: UsageSource<'_>) -> &'static str {
    match s {
        UsageSource::Rollups => "rollups",
        UsageSource::Spans { .. } => "spans",
    }
}

async fn analytics_daily(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let (p, days) = UsageParams::parse(&uri, 30)?;
    let w = Window::last(days, DAY_S, now_s());
    let [daily] = usage_views(&st, &p, w, [BY_BUCKET]).await?;
    Ok(Json(json!({
        "days": days,
        "daily": types::usage_groups_json(&daily, DAY_S),
        "totals": types::usage_total_json(&daily),
    })))
}

async fn cost_by_tool(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let (p, days) = UsageParams::parse(&uri, 30)?;
    let w = Window::last(days, DAY_S, now_s());
    let [rows] = usage_views(&st, &p, w, [BY_TOOL]).await?;
    Ok(Json(json!({
        "days": days,
        "by_tool": types::usage_groups_json(&rows, DAY_S),
        "totals": types::usage_total_json(&rows),
    })))
}

async fn cost_by_model(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let (p, days) = UsageParams::parse(&uri, 30)?;
    let w = Window::last(days, DAY_S, now_s());
    let [rows] = usage_views(&st, &p, w, [BY_MODEL]).await?;
    Ok(Json(json!({
        "days": days,
        "by_model": types::usage_groups_json(&rows, DAY_S),
        "totals": types::usage_total_json(&rows),
    })))
}

/// `GET /api/analytics/token-trends?interval=hour|day&days=7`: one bucket per hour or day of
/// the window, the current one last, empty ones zero.
async fn token_trends(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let (p, days) = UsageParams::parse(&uri, 7)?;
    let (width, buckets) = match p.interval.as_deref().unwrap_or("day") {
        "day" | "daily" => (DAY_S, days),
        "hour" | "hourly" if days <= 92 => (HOUR_S, days * 24),
        "hour" | "hourly" => {
            return Err(ApiError::BadRequest(
                "interval=hour covers at most 92 days".into(),
            ))
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "interval '{other}': use hour or day"
            )))
        }
    };
    let w = Window::last(buckets, width, now_s());
    let [rows] = usage_views(&st, &p, w, [BY_BUCKET]).await?;
    Ok(Json(json!({
        "interval": if width == DAY_S { "day" } else { "hour" },
        "days": days,
        "buckets": types::usage_groups_json(&rows, width),
        "totals": types::usage_total_json(&rows),
    })))
}

/// `GET /api/token-usage?days=30[&tool=]`: tokens and cost over the window, per day (zero-filled),
/// per model, per day and model, and per tool. Without `tool` every figure but `by_tool`
/// comes from the hourly rollups (all calls ever recorded, including the AI CLIs' usage
/// events); `by_tool` and any `tool=` view come from stored spans.
async fn token_usage(State(st): State<Arc<ApiState>>, uri: http::Uri) -> ApiResult {
    let (p, days) = UsageParams::parse(&uri, 30)?;
    let w = Window::last(days, DAY_S, now_s());
    let [daily, by_model, by_day_model, by_tool] =
        usage_views(&st, &p, w, [BY_BUCKET, BY_MODEL, BY_BUCKET_MODEL, BY_TOOL]).await?;
    Ok(Json(json!({
        "days": days,
        "from": w.since_s.saturating_mul(1000),
        "to": w.until_s.saturating_mul(1000),
        "source": source_name(p.source()),
        "totals": types::usage_total_json(&daily),
        "daily": types::usage_groups_json(&daily, DAY_S),
        "by_model": types::usage_groups_json(&by_model, DAY_S),
        "by_day_model": types::usage_groups_json(&by_day_model, DAY_S),
        "by_tool": types::usage_groups_json(&by_tool, DAY_S),
    })))
}
