//! Exception capture for Tower and axum: a panic never drops the connection, and every panic
//! and every `5xx` is reported once — to the logs and, with a [`Reporter`], to an error tracker.
//!
//! [`CaptureLayer`] wraps the application (inside belfry's request-id layer and access log):
//!
//! - A panic in a handler is caught and answered with `500 Internal Server Error` and an RFC 9457
//!   problem document carrying the request id, never the panic message ([`ProblemJson`]; any
//!   [`ResponseForPanic`], closures included, can answer instead). It is logged as
//!   `request panicked` with its message and — with [`install_panic_hook`] — its location.
//! - A panic in the response body while it streams (after the headers were sent) is caught by
//!   [`CaptureBody`]: the body ends with an error (the server ends the response as failed), and
//!   the panic is logged and reported in the request's context like a handler's.
//! - A `5xx` built by the application is sent untouched and logged as `request failed`, with
//!   the error the application attached as an [`ErrorReport`].
//! - A [`Reporter`] (Sentry's lives in `belfry-sentry`) gets a state of its own per request,
//!   entered around every poll of the handler and of the body, and each panic and each `5xx`.
//!   Without one — the default — the layer knows no error tracker and pays nothing for one.
//!
//! Background work started with [`spawn`] keeps the request's span and its reporter's context,
//! so its failures are attributed to the request. Panics outside requests go, through belfry's
//! panic hook, to the process-wide [`PanicReporter`].
//!
//! ```
//! use axum::{body::Body, http::StatusCode, routing::get, Router};
//! use belfry_capture::{CaptureLayer, ErrorReport};
//! use belfry_request_id::RequestIdLayer;
//! use http::Request;
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! belfry_capture::install_panic_hook();
//!
//! async fn buggy() -> &'static str {
//!     panic!("secret internals")
//! }
//!
//! let app = Router::new()
//!     .route("/panic", get(buggy))
//!     .route(
//!         "/down",
//!         get(|| async {
//!             let error = std::io::Error::other("connection refused");
//!             (StatusCode::SERVICE_UNAVAILABLE, ErrorReport::new(error), "try again later")
//!         }),
//!     )
//!     .layer(CaptureLayer::new())
//!     .layer(RequestIdLayer::new());
//!
//! let request = Request::get("/panic").header("x-request-id", "req-7").body(Body::empty()).unwrap();
//! let response = app.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 500);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(
//!     body,
//!     r#"{"type":"about:blank","title":"Internal Server Error","status":500,"request_id":"req-7"}"#
//! );
//!
//! // The application's own 5xx is sent as built (and reported with its error).
//! let response = app.oneshot(Request::get("/down").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 503);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "try again later");
//! # }
//! ```
#![deny(missing_docs)]

mod body;
mod future;
mod layer;
mod panic;
mod panic_response;
mod problem;
mod report;
mod reporter;
mod request;
mod service;
mod spawn;

pub use body::CaptureBody;
pub use future::ResponseFuture;
pub use layer::CaptureLayer;
pub use panic::{
    install_panic_hook, panic_message, replace_panic_hook, set_panic_reporter, Panic, PanicLocation,
    PanicReporter,
};
pub use panic_response::{ProblemJson, ResponseForPanic};
pub use report::{ErrorReport, WithErrorReport};
pub use reporter::{Outcome, Reporter};
pub use request::RequestDetails;
pub use service::Capture;
pub use spawn::{bind_reporter_context, bind_request_context, spawn, WithRequestContext};

/// The target of the events this crate logs (`request panicked`, `request failed`,
/// `thread panicked`), for filters.
///
/// ```
/// assert_eq!(belfry_capture::TARGET, "belfry::capture");
/// ```
pub const TARGET: &str = "belfry::capture";

#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_support;
#[cfg(test)]
mod tests;
