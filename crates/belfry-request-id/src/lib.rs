//! Request ids for Tower and axum services.
//!
//! [`RequestIdLayer`] gives every request an id: a valid incoming `x-request-id` is kept,
//! anything else is replaced by a fresh UUID v7. The id is
//!
//! - in the request extensions before the handler runs, and available to axum handlers as the
//!   [`RequestId`] extractor;
//! - echoed in the response header;
//! - recorded as `request_id` on a `request` span that wraps the whole request, so every event
//!   logged while serving the request — the handler's own included — carries it.
//!
//! ```
//! use belfry_request_id::RequestIdLayer;
//! use http::Request;
//! use std::convert::Infallible;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(RequestIdLayer::new())
//!     .service(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) }));
//!
//! // No incoming id: a UUID v7 is generated.
//! let response = service.clone().oneshot(Request::new(())).await.unwrap();
//! let id = response.headers()["x-request-id"].to_str().unwrap();
//! assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
//!
//! // An invalid incoming id (here with a space) is replaced.
//! let request = Request::get("/").header("x-request-id", "not valid").body(()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_ne!(response.headers()["x-request-id"], "not valid");
//! # }
//! ```
//!
//! Ids are generated with tower-http's [`MakeRequestId`](tower_http::request_id::MakeRequestId)
//! trait, so any tower-http generator plugs in; [`RequestId`] converts into tower-http's
//! `RequestId` for code built on it.
#![deny(missing_docs)]

mod current;
mod extract;
mod future;
mod id;
mod layer;
mod service;
mod span_handover;

pub use extract::MissingRequestId;
pub use future::ResponseFuture;
pub use id::{is_valid_request_id, MakeRequestUuidV7, RequestId, MAX_REQUEST_ID_LEN};
pub use layer::{RequestIdLayer, X_REQUEST_ID};
pub use service::SetRequestId;
pub use span_handover::take_request_span;

/// Target of the `request` span that [`SetRequestId`] opens around each request; log formatters
/// look for it to print [`REQUEST_ID_FIELD`] on every line.
pub const REQUEST_SPAN_TARGET: &str = "belfry::request";

/// Name of the request span's field holding the [`RequestId`].
pub const REQUEST_ID_FIELD: &str = "request_id";

/// Name of the request span's field holding the request's W3C trace id (32 lowercase hex), when
/// the request carries a [`TraceContext`](belfry_trace_context::TraceContext).
pub const TRACE_ID_FIELD: &str = "trace_id";

/// Name of the request span's field holding the request's own span id (16 lowercase hex).
pub const SPAN_ID_FIELD: &str = "span_id";

#[cfg(test)]
mod tests;
