//! Production observability for axum services in a few lines.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use belfry::Belfry;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _telemetry = belfry::telemetry::init()?; // JSON logs on stdout; flushed on drop
//!     let router = Router::new().route("/", get(|| async { "hello" }));
//!     let belfry = Belfry::from_env()?;
//!     let app = belfry.wrap(router); // request ids, access log, ...
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     belfry.serve(listener, app).await?; // with connection errors counted
//!     Ok(())
//! }
//! ```
//!
//! Every request gets an id (a valid incoming `x-request-id` or a new UUID v7), echoed in the
//! response and stamped on every log line written while serving it. The layers live in their
//! own crates, re-exported here: [`request_id`], [`access_log`] (access log, slow and hung
//! requests), [`scrub`] (what never reaches a log line), [`health`] (liveness, readiness,
//! detailed health, graceful shutdown), [`metrics`] (Prometheus RED metrics by route template), [`capture`] (panics and 5xx
//! become clean problem+json responses and ERROR logs) and, with the Cargo feature `sentry` (on
//! by default), `sentry` (a hub per request, one event per panic and 5xx, the client set up
//! from `SENTRY_*` by [`telemetry::init`]).
//!
//! # Cargo features
//!
//! `sentry`, `metrics` and `health` are on by default; `reqwest` and `otel` are off:
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `sentry` | `belfry::sentry`: a hub per request, events for panics, 5xx and failed tasks (the Sentry SDK, rustls, ureq) |
//! | `metrics` | `belfry::metrics`: Prometheus RED metrics, `/metrics`, task and connection-error metrics (prometheus-client) |
//! | `health` | `belfry::health` and [`serve`][Belfry::serve]: health checks and routes, readiness, graceful shutdown |
//! | `reqwest` | [`Belfry::reqwest_middleware`] |
//! | `otel` | `belfry::otel`: OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set |
//!
//! With `default-features = false`, belfry is the trace context, request ids, the access log,
//! panic capture (reported to the logs only) and JSON logs.
// What a feature left out would link to: its row in the table above (a blank line first: a
// link definition does not continue a paragraph).
#![cfg_attr(
    any(not(feature = "health"), not(feature = "metrics"), not(feature = "reqwest")),
    doc = ""
)]
#![cfg_attr(
    not(feature = "health"),
    doc = "[`health`]: index.html#cargo-features",
    doc = "[Belfry::serve]: index.html#cargo-features"
)]
#![cfg_attr(not(feature = "metrics"), doc = "[`metrics`]: index.html#cargo-features")]
#![cfg_attr(
    not(feature = "reqwest"),
    doc = "[`Belfry::reqwest_middleware`]: index.html#cargo-features"
)]
#![deny(missing_docs)]

pub mod audit;
pub mod config;
#[cfg(feature = "otel")]
mod otel_setup;
mod pretty;
#[cfg(feature = "health")]
pub mod serve;
mod stack;
pub mod task;
pub mod telemetry;

pub use belfry_access_log as access_log;
pub use belfry_capture as capture;
pub use belfry_capture::{ErrorReport, WithErrorReport};
pub use belfry_client as client;
#[cfg(feature = "health")]
pub use belfry_health as health;
pub use belfry_log as log;
pub use belfry_log::request;
#[cfg(feature = "metrics")]
pub use belfry_metrics as metrics;
/// OpenTelemetry export over OTLP (feature `otel`); see [`belfry_otel`].
#[cfg(feature = "otel")]
pub use belfry_otel as otel;
pub use belfry_request_id as request_id;
pub use belfry_request_id::RequestId;
pub use belfry_scrub as scrub;
/// Sentry: the per-request [`SentryReporter`](sentry::SentryReporter) the stack uses, the
/// client's [`ClientSettings`](sentry::ClientSettings), the [budget](sentry::budget) and the
/// [drop counters](sentry::drops), the tracing bridge; the SDK itself as `belfry::sentry::sentry`.
#[cfg(feature = "sentry")]
pub use belfry_sentry as sentry;
#[cfg(feature = "sentry")]
pub use belfry_sentry::{DEFAULT_SAMPLE_RATE, DEFAULT_SENTRY_FLUSH_TIMEOUT};
pub use belfry_trace_context as trace_context;
pub use belfry_trace_context::TraceContext;
pub use config::{Config, ConfigError, InvalidVariable, DEFAULT_TRACES_SAMPLE_RATE};
#[cfg(feature = "health")]
pub use serve::{ConnectionErrorKind, Serve};
pub use stack::{Belfry, CaptureService};
