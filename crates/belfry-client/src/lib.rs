//! Downstream HTTP calls that carry the context of the request being served: its trace (W3C
//! Trace Context and Sentry headers) and its request id, each call logged and measured.
//!
//! A request served through belfry has a [`TraceContext`](belfry_trace_context::TraceContext)
//! (its trace id, its own span id, the sampling decision, the incoming `tracestate` and
//! `baggage`) and a [`RequestId`](belfry_request_id::RequestId). A call made while serving it
//! should carry both, so that the downstream service continues the same trace:
//!
//! | header | value |
//! |---|---|
//! | `traceparent` | `00-{trace id}-{new span id}-{01 sampled / 00}`: same trace, a new span for this call, whose parent is the request's span |
//! | `tracestate` | as it came in (only with the `traceparent` added here) |
//! | `sentry-trace` | `{trace id}-{new span id}-{1 / 0}`: the same span, for Sentry SDKs |
//! | `baggage` | as it came in (Sentry's dynamic sampling context included) |
//! | `x-request-id` | the request's id |
//!
//! Three ways to send them, for every kind of client:
//!
//! - [`PropagateLayer`]: a tower layer for tower / hyper clients;
//! - `PropagateMiddleware` (feature `reqwest`): a `reqwest_middleware::Middleware`;
//! - [`outgoing_headers`] and [`headers_for`]: the bare [`HeaderMap`](http::HeaderMap), for
//!   any other client.
//!
//! Headers the caller set are never overwritten. A `traceparent` set by the caller means the
//! caller propagates the trace itself: then no trace header is added at all.
//!
//! ```
//! use belfry_client::PropagateLayer;
//! use belfry_request_id::RequestId;
//! use belfry_trace_context::TraceContext;
//! use http::{Request, Response};
//! use std::convert::Infallible;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A client that answers with the headers it was sent, standing in for hyper.
//! let client = PropagateLayer::new().layer(service_fn(|request: Request<()>| async move {
//!     Ok::<_, Infallible>(Response::new(request.headers().clone()))
//! }));
//!
//! // The request being served (in a handler: belfry's layers make it current).
//! let serving = TraceContext::new_root(true);
//! let request_id = RequestId::from_incoming(b"req-7").unwrap();
//!
//! let mut call = Request::get("http://inventory.internal/items").body(()).unwrap();
//! call.extensions_mut().insert(request_id); // in a handler, the current id is found alone
//! let sent = serving.clone().scope(client.oneshot(call)).await.unwrap().into_body();
//!
//! let traceparent = sent["traceparent"].to_str().unwrap();
//! assert!(traceparent.starts_with(&format!("00-{}-", serving.trace_id())));
//! assert!(!traceparent.contains(&serving.span_id().to_string()));
//! assert_eq!(sent["x-request-id"], "req-7");
//! # }
//! ```
//!
//! # Which context is sent
//!
//! The trace context is [`TraceContext::current`](belfry_trace_context::TraceContext::current):
//! belfry's trace-context layer makes the request's context current while the handler's future
//! is polled, so a call made from a handler finds it. A call made from a spawned task finds it
//! only if the task was spawned with `context.scope(future)` (belfry's task helper does that).
//! A [`TraceContext`](belfry_trace_context::TraceContext) in the outgoing request's extensions
//! (tower) or in the middleware's extensions (reqwest) takes precedence.
//!
//! The request id is [`RequestId::current`](belfry_request_id::RequestId::current), made current
//! the same way by belfry's request-id layer. A `RequestId` in the outgoing request's extensions
//! takes precedence; [`headers_for`] takes both as arguments.
//!
//! # One log line per call
//!
//! Each call writes one event at target [`TARGET`] (`belfry::client`), INFO for a response
//! below 500, WARN for a 5xx or a failure, with the OpenTelemetry HTTP client field names:
//!
//! | field | value |
//! |---|---|
//! | `http.request.method` | `GET` |
//! | `server.address` | the host (from the URI, or the `Host` header for origin-form URIs) |
//! | `server.port` | explicit, or the scheme's default |
//! | `url.full` | the URL, scrubbed with the layer's [`ScrubPolicy`](belfry_scrub::ScrubPolicy) (userinfo removed, secrets in the query redacted) |
//! | `http.response.status_code` | absent when the call failed |
//! | `duration_ms` | from the call to the response head (the body is the caller's to read) |
//! | `error.type` | the status code for a 4xx or 5xx response, the [`ErrorType`] of a failure, [`CANCELLED`] for a call dropped before it completed; absent otherwise |
//! | `call.span_id` | the call's own span id, sent in its `traceparent` (the downstream service's parent span); absent when the caller set `traceparent` itself |
//! | `call.parent_span_id` | the span the call was made from: the request's, or a task's |
//!
//! The event is written while the request is served, so belfry's JSON lines stamp it with the
//! request's `request_id`, `trace_id` and `span_id` like any other line. The URL is formatted
//! and scrubbed only if the event is enabled.
//!
//! # Metrics
//!
//! With the `metrics` feature, `PropagateLayer::metrics` and `PropagateMiddleware::metrics`
//! take belfry-metrics' `HttpClientMetrics` (`Metrics::http_client()`): every call is recorded in
//! `http_client_request_duration_seconds` by method, server address, status code and error type
//! (bounded labels, see belfry-metrics).
#![deny(missing_docs)]

mod call;
mod error_type;
mod headers;
mod propagate;
#[cfg(feature = "reqwest")]
mod reqwest_middleware;

pub use call::CANCELLED;
pub use error_type::{box_error_type, DefaultErrorType, ErrorType};
pub use headers::{headers_for, outgoing_headers};
pub use propagate::{Propagate, PropagateLayer, ResponseFuture};
#[cfg(feature = "reqwest")]
pub use reqwest_middleware::PropagateMiddleware;

/// Target of the one log event written per outgoing call.
///
/// ```
/// assert_eq!(belfry_client::TARGET, "belfry::client");
/// ```
pub const TARGET: &str = "belfry::client";

/// The field of the call's line holding the span id sent in its `traceparent`.
pub const CALL_SPAN_ID_FIELD: &str = "call.span_id";

/// The field of the call's line holding the span the call was made from.
pub const CALL_PARENT_SPAN_ID_FIELD: &str = "call.parent_span_id";
