//! The axum extractor for [`RequestId`].

use std::convert::Infallible;

use axum_core::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::{request::Parts, StatusCode};

use crate::RequestId;

/// Handlers take the id as an argument:
///
/// ```
/// use axum::{routing::get, Router};
/// use belfry_request_id::{RequestId, RequestIdLayer};
///
/// async fn handler(id: RequestId) -> String {
///     format!("your request is {id}")
/// }
///
/// let app: Router = Router::new().route("/", get(handler)).layer(RequestIdLayer::new());
/// ```
///
/// Without the layer the extraction fails with [`MissingRequestId`] (a 500); use
/// `Option<RequestId>` where the layer may be absent.
impl<S: Sync> FromRequestParts<S> for RequestId {
    type Rejection = MissingRequestId;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .ok_or(MissingRequestId)
    }
}

impl<S: Sync> OptionalFromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned())
    }
}

/// Rejection of the [`RequestId`] extractor: the request did not pass through
/// [`RequestIdLayer`](crate::RequestIdLayer). Answers `500 Internal Server Error`, because it is
/// a mistake in how the service was put together, not in the request.
///
/// ```
/// use axum_core::response::IntoResponse;
///
/// let response = belfry_request_id::MissingRequestId.into_response();
/// assert_eq!(response.status(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingRequestId;

impl std::fmt::Display for MissingRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no request id: the RequestIdLayer is not applied to this route")
    }
}

impl std::error::Error for MissingRequestId {}

impl IntoResponse for MissingRequestId {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}
