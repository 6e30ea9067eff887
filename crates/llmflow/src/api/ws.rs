//! The live feed: `hello`, `new_span`, `new_trace` and `stats_update` (at most once a second,
//! the last update of a burst always sent). Each browser reads from a bounded broadcast; one
//! that falls behind is disconnected, never buffered without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use super::types::{log_json, metric_json, stats_json, TraceJson};
use super::ApiState;
use crate::store::{self, Event, Store};

const STATS_EVERY: Duration = Duration::from_secs(1);
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Clone)]
pub struct Hub {
    clients: Arc<AtomicUsize>,
    stats: watch::Receiver<Option<Arc<str>>>,
}

impl Hub {
    /// Starts the stats task; it ends when `shutdown` flips.
    pub fn start(store: Arc<Store>, mut shutdown: watch::Receiver<bool>) -> Self {
        let (tx, rx) = watch::channel(None);
        let mut events = store.subscribe();
        tokio::spawn(async move {
            let mut last = Instant::now() - STATS_EVERY;
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = shutdown.changed() => return,
                }
                let since = last.elapsed();
                if since < STATS_EVERY {
                    tokio::time::sleep(STATS_EVERY - since).await;
                }
                // Everything that arrived while waiting is covered by this one update.
                while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv()
                {
                }
                last = Instant::now();
                match store.read(store::stats).await {
                    Ok(s) => {
                        let msg = json!({ "type": "stats_update", "payload": stats_json(&s) });
                        let _ = tx.send(Some(Arc::from(msg.to_string())));
                    }
                    Err(e) => tracing::warn!(error = %e, "stats for the live feed failed"),
                }
            }
        });
        Self {
            clients: Arc::new(AtomicUsize::new(0)),
            stats: rx,
        }
    }

    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}

pub async fn upgrade(State(st): State<Arc<ApiState>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(socket, st))
}

fn event_messages(e: &Event) -> Vec<String> {
    match e {
        Event::Span { span, .. } => {
            let row = serde_json::to_value(TraceJson::new(span)).unwrap_or(Value::Null);
            let mut out = vec![json!({ "type": "new_span", "payload": row }).to_string()];
            if span.parent_id.is_none() {
                out.push(json!({ "type": "new_trace", "payload": row }).to_string());
            }
            out
        }
        Event::Log(log) => {
            let row = log_json(log);
            let mut out = vec![json!({ "type": "new_log", "payload": row }).to_string()];
            if let Some(trace_id) = &log.trace_id {
                out.push(
                    json!({ "type": "trace_log_added", "payload": { "trace_id": trace_id, "log": row } })
                        .to_string(),
                );
            }
            out
        }
        Event::Metric(m) => {
            vec![json!({ "type": "new_metric", "payload": metric_json(m) }).to_string()]
        }
    }
}

async fn serve(mut socket: WebSocket, st: Arc<ApiState>) {
    let hub = st.hub.clone();
    hub.clients.fetch_add(1, Ordering::Relaxed);
    let mut events = st.store.subscribe();
    let mut stats = hub.stats.clone();
    stats.mark_unchanged();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let hello = json!({ "type": "hello", "time": now_ms, "version": env!("CARGO_PKG_VERSION") });
    let mut ok = socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok();
    while ok {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(c) => {
                    for m in event_messages(&c) {
                        if !send(&mut socket, m).await {
                            ok = false;
                            break;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::info!(missed = n, "WebSocket client too slow: disconnecting it");
                    let _ = socket.send(Message::Close(None)).await;
                    ok = false;
                }
                Err(broadcast::error::RecvError::Closed) => ok = false,
            },
            changed = stats.changed() => {
                if changed.is_err() {
                    ok = false;
                } else {
                    let msg = stats.borrow_and_update().clone();
                    if let Some(m) = msg {
                        ok = send(&mut socket, m.to_string()).await;
                    }
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => ok = false,
                Some(Ok(_)) => {}
            },
        }
    }
    hub.clients.fetch_sub(1, Ordering::Relaxed);
}

/// Sends with a deadline: a browser that does not read for 10 s is dropped.
async fn send(socket: &mut WebSocket, text: String) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(10),
            socket.send(Message::Text(text.into()))
        )
        .await,
        Ok(Ok(()))
    )
}
