//! llmflow: the proxy, API, live feed and store around `llmflow-core`. Every line that does
//! I/O lives in this crate; `main.rs` only parses the command line and calls [`app::run`].
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod config;
pub mod dashboard;
pub mod logging;
pub mod otlp;
pub mod pricing;
pub mod proxy;
pub mod store;
