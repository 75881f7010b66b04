//! The axum extractor for [`TraceContext`] (feature `axum`, on by default; needs `axum-core`
//! only).

use std::convert::Infallible;

use axum_core::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::{request::Parts, StatusCode};

use crate::TraceContext;

/// Handlers take the context as an argument:
///
/// ```
/// use axum::{routing::get, Router};
/// use belfry_trace_context::{TraceContext, TraceContextLayer};
///
/// async fn handler(context: TraceContext) -> String {
///     format!("trace {}", context.trace_id())
/// }
///
/// let app: Router = Router::new().route("/", get(handler)).layer(TraceContextLayer::new());
/// ```
///
/// Without the layer the extraction fails with [`MissingTraceContext`] (a 500); use
/// `Option<TraceContext>` where the layer may be absent.
impl<S: Sync> FromRequestParts<S> for TraceContext {
    type Rejection = MissingTraceContext;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::current().ok_or(MissingTraceContext)
    }
}

impl<S: Sync> OptionalFromRequestParts<S> for TraceContext {
    type Rejection = Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::current())
    }
}

/// Rejection of the [`TraceContext`] extractor: the request did not pass through
/// [`TraceContextLayer`](crate::TraceContextLayer). Answers `500 Internal Server Error`: it is a
/// mistake in how the service was put together, not in the request.
///
/// ```
/// use axum_core::response::IntoResponse;
///
/// let response = belfry_trace_context::MissingTraceContext.into_response();
/// assert_eq!(response.status(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingTraceContext;

impl std::fmt::Display for MissingTraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no trace context: the TraceContextLayer is not applied to this route")
    }
}

impl std::error::Error for MissingTraceContext {}

impl IntoResponse for MissingTraceContext {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}
