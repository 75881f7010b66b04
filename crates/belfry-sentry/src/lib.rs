//! Sentry for Tower and axum services: the [`Reporter`](belfry_capture::Reporter) of
//! `belfry-capture` for Sentry, the client's set-up, and the `tracing` bridge.
//!
//! - [`SentryReporter`] gives each request its own hub, context and (for the sampled share)
//!   transaction, and makes each panic and each `5xx` exactly one event.
//! - [`ClientSettings`] holds the client's settings (one method each; the `belfry` facade's
//!   `Config` reads them from `SENTRY_*`), and [`init`](ClientSettings::init)
//!   starts the client with belfry's `before_send` chain — request context
//!   ([`prepare_client_options`]), request fields, sample rate and [budget] — and its
//!   [counting transport](drops), and sets the panic hook's [`SentryPanicReporter`]. The
//!   returned [`ClientGuard`] flushes on drop, within a bound.
//! - [`TracingBridge`] turns `tracing` ERROR events into Sentry events and INFO/WARN into
//!   breadcrumbs; [`sentry_event_filter`] and [`sentry_span_filter`] keep belfry's own events
//!   from reaching Sentry twice, for those who wire sentry-tracing's layers themselves.
//!
//! Without a client bound to the current hub (no DSN), every part stays out of the way: a
//! request costs one look at the hub. Nothing is ever flushed on the request path.
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use belfry_capture::CaptureLayer;
//! use belfry_sentry::SentryReporter;
//! use http::Request;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // No client bound: requests are served as without a reporter.
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(CaptureLayer::new().reporter(SentryReporter::new()));
//! let response = app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```
#![deny(missing_docs)]

pub mod budget;
mod context;
pub mod drops;
mod event;
mod filters;
mod guard;
mod panic_reporter;
mod reporter;
mod request_fields;
mod request_headers;
mod scrubbed_request;
mod settings;
mod tracing_bridge;
mod transaction;
mod transport;

pub use context::{enrich_event, prepare_client_options, with_request_span};
pub use filters::{sentry_event_filter, sentry_span_filter};
pub use guard::ClientGuard;
pub use panic_reporter::SentryPanicReporter;
pub use reporter::{SentryReporter, SentryRequest, SentryTask};
pub use settings::{
    ClientSettings, DEFAULT_SAMPLE_RATE, DEFAULT_SENTRY_FLUSH_TIMEOUT, DEFAULT_TRACES_SAMPLE_RATE,
};
pub use tracing_bridge::TracingBridge;
pub use transaction::{transaction_name, DEFAULT_MAX_TRACES_PER_SECOND};

/// The SDK, for what belfry does not wrap (`sentry::configure_scope`, `sentry::capture_error`).
pub use sentry;

#[cfg(test)]
mod tests;
