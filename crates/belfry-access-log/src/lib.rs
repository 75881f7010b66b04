//! Access logs for Tower and axum: one structured event per request, and warnings for slow and
//! hung requests.
//!
//! [`AccessLogLayer`] writes `request completed` when a response body has been sent — or when
//! the client went away — inside the request's span, so it carries the `request_id` of
//! belfry's request-id layer. Fields use the OpenTelemetry HTTP names (`http.request.method`,
//! `http.route`, `url.path`, `url.query`, `http.response.status_code`, ...), the query string is
//! scrubbed by a [`belfry_scrub::ScrubPolicy`], and the level says what needs attention: ERROR for
//! a 5xx, WARN for a slow request, INFO otherwise.
//!
//! A request still running after the hung threshold (10 s by default) is reported while it
//! runs, once, with `request still running` — without a timer per request, from a watcher
//! thread of its own, so a handler blocking its thread or a body stalled between chunks is
//! reported too: see [`hung`'s design](AccessLogLayer::hung_threshold) in the crate's `hung`
//! module docs.
//!
//! The line tells only what the access log knows: a response to `HEAD`, a `1xx`, `204` or `304`
//! is complete with its headers; a body that panics while streaming ends with `error.type:
//! "panic"` (see [`BodyError`]); a request dropped before its end is `error.type: "cancelled"`,
//! and `client.disconnected: true` only when the server saw the connection go
//! ([`ConnectionStatus`]).
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use belfry_access_log::AccessLogLayer;
//! use http::Request;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "hi" }))
//!     .layer(AccessLogLayer::new()); // `Router::layer`: after routing, so `http.route` is known
//!
//! let response = app.oneshot(Request::get("/users/7").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 200);
//! // logged: request completed http.route="/users/{id}" url.path="/users/7" ...
//! # }
//! ```
#![deny(missing_docs)]

mod body;
mod body_error;
mod client_address;
mod connection;
mod future;
mod hung;
mod layer;
mod record;
pub mod request_span;
mod sampling;
mod service;

pub use body::AccessLogBody;
pub use body_error::{BodyError, ERROR_TYPE_BODY, ERROR_TYPE_CANCELLED, ERROR_TYPE_PANIC};
pub use client_address::{InvalidTrustedProxy, TrustedProxy};
pub use connection::ConnectionStatus;
pub use future::ResponseFuture;
pub use layer::{
    AccessLogLayer, DEFAULT_HUNG_REQUEST_THRESHOLD, DEFAULT_HUNG_WATCH_CAPACITY,
    DEFAULT_SLOW_REQUEST_THRESHOLD,
};
pub use service::AccessLog;

/// The target of the access-log events (`request completed`, `request still running`), for
/// filters: `RUST_LOG=info,belfry::access=warn` keeps only slow and failed requests.
pub const TARGET: &str = "belfry::access";

#[cfg(test)]
mod tests;
