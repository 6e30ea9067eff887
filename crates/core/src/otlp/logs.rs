//! Log records kept whole, with an id stable across exporter retries; and the AI coding
//! CLIs' usage events (Claude Code, Codex, Gemini CLI) turned into LLM call records.

use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpLogRecord;
use serde_json::Value;

use super::conventions::{self as conv, added, claude, codex, gemini};
use super::values::{self, kv_to_map, kv_to_text, Attrs, ContentHash};
use super::Origin;
use crate::pricing::PriceTable;
use crate::record::{LogRecord, Span};
use crate::usage::Usage;

pub fn map_log(r: &OtlpLogRecord, origin: &Origin<'_>) -> LogRecord {
    let a = Attrs::new(&r.attributes);
    // OTel: a record without a time is placed at the time it was observed.
    let time = if r.time_unix_nano != 0 {
        r.time_unix_nano
    } else {
        r.observed_time_unix_nano
    };
    let severity_text = Some(r.severity_text.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or_else(|| severity_name(r.severity_number).map(str::to_owned));
    let body = r.body.as_ref().and_then(|b| match &b.value {
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
            (!s.is_empty()).then(|| s.clone())
        }
        Some(_) => Some(values::any_to_json(b).to_string()),
        None => None,
    });
    let event_name = a.text(conv::EVENT_NAME).or_else(|| {
        let n = r.event_name.trim();
        (!n.is_empty()).then(|| n.to_owned())
    });
    let attributes = kv_to_text(&r.attributes);
    let resource = kv_to_text(origin.resource_kvs);

    let mut h = ContentHash::new();
    h.num(values::ns(r.time_unix_nano))
        .num(values::ns(r.observed_time_unix_nano))
        .num(i64::from(r.severity_number))
        .field(r.severity_text.as_bytes())
        .opt(body.as_deref())
        .field(&r.trace_id)
        .field(&r.span_id)
        .field(r.event_name.as_bytes())
        .opt(attributes.as_deref())
        .opt(resource.as_deref());

    LogRecord {
        id: h.hex(),
        time_ns: values::ns(time),
        observed_ns: (r.observed_time_unix_nano != 0)
            .then(|| values::ns(r.observed_time_unix_nano)),
        severity_number: (r.severity_number != 0).then_some(r.severity_number),
        severity_text,
        body,
        trace_id: values::trace_id(&r.trace_id),
        span_id: values::span_id(&r.span_id),
        service_name: origin.service_name(),
        event_name,
        session_id: a
            .first_text(conv::LOG_SESSION)
            .or_else(|| origin.resource.first_text(conv::LOG_SESSION)),
        attributes,
        resource,
    }
}

/// OTel's severity ranges: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR,
/// 21-24 FATAL.
pub fn severity_name(n: i32) -> Option<&'static str> {
    Some(match n {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cli {
    Claude,
    Codex,
    Gemini,
}

/// The LLM call an AI coding CLI's usage event describes, or `None` for any other record.
/// Its ids derive from the log record's id, so a retried export yields the same call.
pub fn cli_span(
    r: &OtlpLogRecord,
    log: &LogRecord,
    origin: &Origin<'_>,
    prices: &PriceTable,
) -> Option<Span> {
    let a = Attrs::new(&r.attributes);
    let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
            Some(s.as_str())
        }
        _ => None,
    };
    let names = [a.str(conv::EVENT_NAME), Some(r.event_name.as_str()), body];
    let is = |n: &str| names.iter().flatten().any(|x| x.trim() == n);
    let has = |keys: &[&str]| keys.iter().any(|k| a.contains(k));

    // Claude Code's short names (`api_request`) are generic words: the full name, or the
    // short one with Claude Code's attributes.
    let (cli, failed) = if is(claude::API_REQUEST[0])
        || (is(claude::API_REQUEST[1]) && has(&[claude::INPUT, claude::OUTPUT, claude::COST_USD]))
    {
        (Cli::Claude, false)
    } else if is(claude::API_ERROR[0])
        || (is(claude::API_ERROR[1]) && has(&[conv::MODEL]) && has(&[conv::ERROR]))
    {
        (Cli::Claude, true)
    } else if is(codex::SSE_EVENT) && a.str(codex::EVENT_KIND) == Some(codex::COMPLETED) {
        (Cli::Codex, false)
    } else if is(gemini::API_RESPONSE) {
        let http_failed = a.u64(conv::STATUS_CODE).is_some_and(|c| c >= 400);
        (Cli::Gemini, http_failed || a.text(conv::ERROR).is_some())
    } else if is(gemini::API_ERROR) {
        (Cli::Gemini, true)
    } else {
        return None;
    };

    let (provider, service) = match cli {
        Cli::Claude => ("anthropic", claude::SERVICE),
        Cli::Codex => ("openai", codex::SERVICE),
        Cli::Gemini => ("gemini", gemini::SERVICE),
    };
    let model = a.text(conv::MODEL);
    let usage = cli_usage(cli, &a);
    let cost = match cli {
        Cli::Claude => a.f64(claude::COST_USD),
        _ => None,
    }
    .or_else(|| prices.cost(Some(provider), model.as_deref()?, usage.as_ref()?));

    let http = a.u64(conv::STATUS_CODE).and_then(|c| u16::try_from(c).ok());
    let (status, error) = if failed {
        let msg = a.text(conv::ERROR).unwrap_or_else(|| "error".to_owned());
        (Some(http.filter(|c| *c >= 400).unwrap_or(500)), Some(msg))
    } else {
        (http, None)
    };

    let duration_ms = a
        .f64(conv::DURATION_MS)
        .filter(|d| *d >= 0.0)
        .unwrap_or(0.0);
    let start_ns = log
        .time_ns
        .saturating_sub((duration_ms * 1_000_000.0) as i64)
        .max(0);
    let own_trace = log.trace_id.is_none();
    let id = ContentHash::new()
        .field(b"llmflow.cli.span")
        .field(log.id.as_bytes())
        .hex()[..16]
        .to_owned();
    let trace_id = log.trace_id.clone().unwrap_or_else(|| {
        ContentHash::new()
            .field(b"llmflow.cli.trace")
            .field(log.id.as_bytes())
            .hex()
    });

    let mut attributes = kv_to_map(&r.attributes);
    attributes.insert(added::LOG_ID.into(), Value::String(log.id.clone()));
    attributes.insert(added::OPERATION.into(), Value::String("chat".into()));
    attributes.insert(
        added::RESOURCE.into(),
        Value::Object(kv_to_map(origin.resource_kvs)),
    );

    Some(Span {
        id,
        trace_id,
        parent_id: if own_trace { None } else { log.span_id.clone() },
        start_ns,
        duration_ms,
        span_type: "llm".into(),
        name: match &model {
            Some(m) => format!("chat {m}"),
            None => "chat".into(),
        },
        provider: Some(provider.into()),
        model,
        status,
        error,
        usage,
        cost,
        service_name: Some(service.into()),
        session_id: log.session_id.clone(),
        conversation_id: a.first_text(conv::CONVERSATION),
        user_id: a
            .first_text(conv::LOG_USER)
            .or_else(|| origin.resource.first_text(conv::LOG_USER)),
        output: match cli {
            Cli::Gemini => a.text(gemini::RESPONSE_TEXT),
            _ => None,
        },
        attributes: Some(Value::Object(attributes).to_string()),
        ..Span::default()
    })
}

/// Each CLI's counts under [`Usage`]'s rules; `None` when the event has none.
fn cli_usage(cli: Cli, a: &Attrs) -> Option<Usage> {
    let n = |k: &str| a.u64(k);
    let u = match cli {
        // Anthropic: input excludes the cache.
        Cli::Claude => {
            if ![
                claude::INPUT,
                claude::OUTPUT,
                claude::CACHE_READ,
                claude::CACHE_WRITE,
            ]
            .iter()
            .any(|k| n(k).is_some())
            {
                return None;
            }
            let read = n(claude::CACHE_READ).unwrap_or(0);
            let write = n(claude::CACHE_WRITE).unwrap_or(0);
            Usage {
                input: n(claude::INPUT)
                    .unwrap_or(0)
                    .saturating_add(read)
                    .saturating_add(write),
                output: n(claude::OUTPUT).unwrap_or(0),
                cache_read: read,
                cache_write: write,
                reasoning: 0,
            }
        }
        // OpenAI Responses: input includes cached, output includes reasoning.
        Cli::Codex => {
            if n(codex::INPUT).is_none() && n(codex::OUTPUT).is_none() {
                return None;
            }
            let reasoning = n(codex::REASONING).unwrap_or(0);
            let output = n(codex::OUTPUT).unwrap_or(0);
            Usage {
                input: n(codex::INPUT).unwrap_or(0),
                output: if output < reasoning {
                    output.saturating_add(reasoning)
                } else {
                    output
                },
                cache_read: n(codex::CACHED).unwrap_or(0),
                cache_write: 0,
                reasoning,
            }
        }
        // Gemini: input includes cached content; thoughts and tool-use prompts are beside.
        Cli::Gemini => {
            if n(gemini::INPUT).is_none() && n(gemini::OUTPUT).is_none() {
                return None;
            }
            let thoughts = n(gemini::THOUGHTS).unwrap_or(0);
            Usage {
                input: n(gemini::INPUT)
                    .unwrap_or(0)
                    .saturating_add(n(gemini::TOOL).unwrap_or(0)),
                output: n(gemini::OUTPUT).unwrap_or(0).saturating_add(thoughts),
                cache_read: n(gemini::CACHED).unwrap_or(0),
                cache_write: 0,
                reasoning: thoughts,
            }
        }
    };
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::severity_name;

    #[test]
    fn severity_ranges() {
        let names: Vec<_> = [0, 1, 4, 5, 9, 13, 16, 17, 21, 24, 25]
            .iter()
            .map(|n| severity_name(*n))
            .collect();
        assert_eq!(
            names,
            [
                None,
                Some("TRACE"),
                Some("TRACE"),
                Some("DEBUG"),
                Some("INFO"),
                Some("WARN"),
                Some("WARN"),
                Some("ERROR"),
                Some("FATAL"),
                Some("FATAL"),
                None
            ]
        );
    }
}
