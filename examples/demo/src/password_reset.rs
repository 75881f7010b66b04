//! `GET /reset-password/{token}`: a password-reset link, whose token is a credential in the path.
//!
//! Nothing here hides the token: belfry does, because the route template names the segment
//! `{token}`. The access log writes `url.path` as `/reset-password/[REDACTED]` and Sentry's URL
//! the same, while `http.route` stays `/reset-password/{token}` (see
//! `belfry::scrub::ScrubPolicy::path`; `{password}`, `{secret}`, `{api_key}`, `{code}`, ... are
//! treated alike).

use axum::{
    extract::{Path, Query},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use belfry::ErrorReport;
use serde::Deserialize;
use serde_json::{json, Value};

/// `?identity=down` makes the pretend identity service fail (a 503 reported to Sentry).
#[derive(Deserialize)]
pub struct ResetParams {
    identity: Option<String>,
}

/// Checks a reset link with the (pretend) identity service. The token is never echoed.
pub async fn check(
    Path(token): Path<String>,
    Query(params): Query<ResetParams>,
) -> Result<(StatusCode, Json<Value>), IdentityUnavailable> {
    if params.identity.as_deref() == Some("down") {
        return Err(IdentityUnavailable);
    }
    let well_formed = token.len() >= 16 && token.bytes().all(|b| b.is_ascii_alphanumeric());
    tracing::info!(well_formed, "reset link checked");
    Ok(if well_formed {
        (StatusCode::OK, Json(json!({ "status": "reset link valid" })))
    } else {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "malformed reset link" })),
        )
    })
}

/// The identity service could not check the link.
#[derive(Debug)]
pub struct IdentityUnavailable;

impl std::fmt::Display for IdentityUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the identity service is unavailable")
    }
}

impl std::error::Error for IdentityUnavailable {}

impl IntoResponse for IdentityUnavailable {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.to_string() }));
        (StatusCode::SERVICE_UNAVAILABLE, ErrorReport::new(self), body).into_response()
    }
}
