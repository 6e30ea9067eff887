//! Metric data points, one record each, for every kind (sum, gauge, histogram, exponential
//! histogram, summary), with temporality and monotonicity kept so that cumulative series are
//! never summed as if they were deltas.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, Metric, NumberDataPoint,
};
use serde_json::{json, Value};

use super::conventions as conv;
use super::values::{self, f64_to_json, kv_to_text, Attrs, ContentHash};
use super::Origin;
use crate::record::{MetricKind, MetricPoint};

/// What one metric mapped to: its points, and the reasons points were rejected.
#[derive(Debug, Default)]
pub struct MetricOut {
    pub points: Vec<MetricPoint>,
    pub rejected: Vec<String>,
}

pub fn map_metric(m: &Metric, origin: &Origin<'_>, out: &mut MetricOut) {
    let name = m.name.trim();
    let Some(data) = &m.data else {
        out.rejected.push(format!("metric {name:?}: no data"));
        return;
    };
    if name.is_empty() {
        let n = match data {
            Data::Gauge(g) => g.data_points.len(),
            Data::Sum(s) => s.data_points.len(),
            Data::Histogram(h) => h.data_points.len(),
            Data::ExponentialHistogram(h) => h.data_points.len(),
            Data::Summary(s) => s.data_points.len(),
        };
        for _ in 0..n.max(1) {
            out.rejected.push("metric without a name".into());
        }
        return;
    }
    let base = Base { m, origin };
    match data {
        Data::Gauge(g) => {
            for p in &g.data_points {
                base.number(p, MetricKind::Gauge, None, None, out);
            }
        }
        Data::Sum(s) => {
            let t = temporality(s.aggregation_temporality);
            for p in &s.data_points {
                base.number(p, MetricKind::Sum, t, Some(s.is_monotonic), out);
            }
        }
        Data::Histogram(h) => {
            let t = temporality(h.aggregation_temporality);
            for p in &h.data_points {
                let mut point = base.point(
                    MetricKind::Histogram,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                point.temporality = t.map(str::to_owned);
                point.count = Some(p.count);
                point.sum = p.sum.filter(|v| v.is_finite());
                point.min = p.min.filter(|v| v.is_finite());
                point.max = p.max.filter(|v| v.is_finite());
                let bounds: Vec<Value> =
                    p.explicit_bounds.iter().map(|b| f64_to_json(*b)).collect();
                point.buckets =
                    Some(json!({ "bounds": bounds, "counts": p.bucket_counts }).to_string());
                out.points.push(point);
            }
        }
        Data::ExponentialHistogram(h) => {
            let t = temporality(h.aggregation_temporality);
            for p in &h.data_points {
                let mut point = base.point(
                    MetricKind::ExponentialHistogram,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                point.temporality = t.map(str::to_owned);
                point.count = Some(p.count);
                point.sum = p.sum.filter(|v| v.is_finite());
                point.min = p.min.filter(|v| v.is_finite());
                point.max = p.max.filter(|v| v.is_finite());
                let side = |b: &Option<_>| {
                    match b {
                    Some(opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets {
                        offset,
                        bucket_counts,
                    }) => json!({ "offset": offset, "counts": bucket_counts }),
                    None => json!({ "offset": 0, "counts": [] }),
                }
                };
                point.buckets = Some(
                    json!({
                        "scale": p.scale,
                        "zero_count": p.zero_count,
                        "zero_threshold": f64_to_json(p.zero_threshold),
                        "positive": side(&p.positive),
                        "negative": side(&p.negative),
                    })
                    .to_string(),
                );
                out.points.push(point);
            }
        }
        Data::Summary(s) => {
            for p in &s.data_points {
                let mut point = base.point(
                    MetricKind::Summary,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                point.count = Some(p.count);
                point.sum = Some(p.sum).filter(|v| v.is_finite());
                let quantiles: Vec<Value> = p
                    .quantile_values
                    .iter()
                    .map(|q| json!({ "quantile": f64_to_json(q.quantile), "value": f64_to_json(q.value) }))
                    .collect();
                point.buckets = Some(json!({ "quantiles": quantiles }).to_string());
                out.points.push(point);
            }
        }
    }
}

fn temporality(t: i32) -> Option<&'static str> {
    match AggregationTemporality::try_from(t) {
        Ok(AggregationTemporality::Delta) => Some("delta"),
        Ok(AggregationTemporality::Cumulative) => Some("cumulative"),
        _ => None,
    }
}

struct Base<'a> {
    m: &'a Metric,
    origin: &'a Origin<'a>,
}

impl Base<'_> {
    fn number(
        &self,
        p: &NumberDataPoint,
        kind: MetricKind,
        temporality: Option<&str>,
        monotonic: Option<bool>,
        out: &mut MetricOut,
    ) {
        // A point flagged "no recorded value" is a staleness marker: valid, nothing to store.
        if p.flags & DataPointFlags::NoRecordedValueMask as u32 != 0 {
            return;
        }
        let value = match p.value {
            Some(NumberValue::AsDouble(d)) => d,
            Some(NumberValue::AsInt(i)) => i as f64,
            None => {
                out.rejected.push(format!(
                    "metric {:?}: data point without a value",
                    self.m.name
                ));
                return;
            }
        };
        if !value.is_finite() {
            out.rejected.push(format!(
                "metric {:?}: data point value is {value}",
                self.m.name
            ));
            return;
        }
        let mut point = self.point(
            kind,
            &p.attributes,
            p.start_time_unix_nano,
            p.time_unix_nano,
        );
        point.temporality = temporality.map(str::to_owned);
        point.monotonic = monotonic;
        point.value = Some(value);
        out.points.push(point);
    }

    /// The fields every kind shares; the id hashes what identifies the point (name, kind,
    /// attributes, resource, scope, start and time), so a retried export is stored once.
    fn point(&self, kind: MetricKind, attrs: &[KeyValue], start: u64, time: u64) -> MetricPoint {
        let a = Attrs::new(attrs);
        let attributes = kv_to_text(attrs);
        let resource = kv_to_text(self.origin.resource_kvs);
        let name = self.m.name.trim();
        let id = ContentHash::new()
            .field(name.as_bytes())
            .field(kind.as_str().as_bytes())
            .opt(attributes.as_deref())
            .opt(resource.as_deref())
            .opt(self.origin.scope.map(|s| s.name.as_str()))
            .num(values::ns(start))
            .num(values::ns(time))
            .hex();
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        MetricPoint {
            id,
            time_ns: values::ns(time),
            start_ns: (start != 0).then(|| values::ns(start)),
            name: name.to_owned(),
            description: text(&self.m.description),
            unit: text(&self.m.unit),
            kind,
            service_name: self.origin.service_name(),
            session_id: a
                .text(conv::SESSION[0])
                .or_else(|| self.origin.resource.text(conv::SESSION[0])),
            attributes,
            resource,
            ..MetricPoint::default()
        }
    }
}
