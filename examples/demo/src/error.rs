//! The demo's application error: one type, one place that turns it into a response.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use belfry::ErrorReport;

/// What can go wrong in the demo's handlers.
#[derive(Debug)]
pub enum AppError {
    /// A dependency failed; the source says why.
    Upstream(UpstreamError),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upstream(_) => f.write_str("the inventory service failed"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Upstream(error) => Some(error),
        }
    }
}

/// A simulated failure of an upstream service.
#[derive(Debug)]
pub struct UpstreamError {
    pub status: u16,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "inventory answered HTTP {}", self.status)
    }
}

impl std::error::Error for UpstreamError {}

impl IntoResponse for AppError {
    /// A 500 with the error's message; the error itself (with its chain of sources) rides along
    /// in an [`ErrorReport`] so belfry logs and reports the real cause, not just "500".
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        (StatusCode::INTERNAL_SERVER_ERROR, ErrorReport::new(self), body).into_response()
    }
}
