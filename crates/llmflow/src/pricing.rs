//! The live price table: the on-disk cache or the embedded snapshot at start, refreshed daily
//! from `PRICING_URL`. A failed refresh keeps the current table.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use http_body_util::BodyExt;
use llmflow_core::pricing::PriceTable;
use llmflow_core::Usage;

use crate::proxy::HttpClient;

const REFRESH_EVERY: Duration = Duration::from_secs(24 * 3600);
const MAX_PRICING_BYTES: usize = 64 * 1024 * 1024;

pub struct Pricing {
    table: RwLock<Arc<PriceTable>>,
    cache_path: PathBuf,
}

impl Pricing {
    /// The cached download if it is readable, else the embedded snapshot.
    pub fn load(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let cache_path = data_dir.join("pricing.json");
        let cached = std::fs::read(&cache_path).ok().and_then(|b| {
            let source = format!("{} (cached download)", cache_path.display());
            PriceTable::from_json(&b, &source)
                .map_err(|e| tracing::warn!(error = %e, "ignoring unreadable pricing cache"))
                .ok()
        });
        let table = match cached {
            Some(t) => t,
            None => PriceTable::embedded().context("embedded price table")?,
        };
        Ok(Self {
            table: RwLock::new(Arc::new(table)),
            cache_path,
        })
    }

    pub fn current(&self) -> Arc<PriceTable> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn cost(&self, provider: Option<&str>, model: &str, usage: &Usage) -> Option<f64> {
        self.current().cost(provider, model, usage)
    }

    fn cache_age(&self) -> Option<Duration> {
        let modified = std::fs::metadata(&self.cache_path).ok()?.modified().ok()?;
        SystemTime::now().duration_since(modified).ok()
    }

    /// Downloads the table once; on success swaps it in and writes the cache.
    pub async fn refresh(&self, client: &HttpClient, url: &str) -> anyhow::Result<usize> {
        let uri: http::Uri = url.parse().context("PRICING_URL is not a URL")?;
        let req = http::Request::get(uri)
            .header(
                http::header::USER_AGENT,
                concat!("llmflow/", env!("CARGO_PKG_VERSION")),
            )
            .body(axum::body::Body::empty())
            .context("building pricing request")?;
        let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
            .await
            .context("pricing download timed out")?
            .context("pricing download failed")?;
        if !resp.status().is_success() {
            anyhow::bail!("pricing download answered {}", resp.status());
        }
        let body = http_body_util::Limited::new(resp.into_body(), MAX_PRICING_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading pricing download: {e}"))?
            .to_bytes();
        let table = PriceTable::from_json(&body, url)?;
        let n = table.len();
        if let Ok(mut t) = self.table.write() {
            *t = Arc::new(table);
        }
        let tmp = self.cache_path.with_extension("json.tmp");
        if let Err(e) = tokio::fs::write(&tmp, &body).await {
            tracing::warn!(error = %e, "could not write pricing cache");
        } else if let Err(e) = tokio::fs::rename(&tmp, &self.cache_path).await {
            tracing::warn!(error = %e, "could not write pricing cache");
        }
        Ok(n)
    }

    /// Refreshes now if the cache is older than a day, then daily, until shutdown.
    pub async fn refresh_loop(
        self: Arc<Self>,
        client: HttpClient,
        url: String,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut wait = match self.cache_age() {
            Some(age) if age < REFRESH_EVERY => REFRESH_EVERY - age,
            _ => Duration::from_secs(2),
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            match self.refresh(&client, &url).await {
                Ok(n) => tracing::info!(models = n, "price table refreshed"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "price table refresh failed; keeping the current table")
                }
            }
            wait = REFRESH_EVERY;
        }
    }
}
