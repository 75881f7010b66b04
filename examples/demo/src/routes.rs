//! The demo's routes.

use std::time::Duration;

use axum::{
    extract::{Path, Query},
    routing::get,
    Json, Router,
};
use belfry::RequestId;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{AppError, UpstreamError};

/// The longest `/slow` sleeps, in milliseconds.
const MAX_SLOW_MS: u64 = 60_000;

pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/users/{id}", get(user))
        .route("/slow", get(slow))
        .route("/panic", get(panic))
        .route("/error", get(error))
}

async fn index() -> Json<Value> {
    Json(json!({ "service": "belfry-demo", "status": "ok" }))
}

async fn user(Path(id): Path<u64>, request_id: RequestId) -> Json<Value> {
    tracing::info!(user_id = id, "user looked up");
    Json(json!({ "id": id, "name": format!("user {id}"), "request_id": request_id.as_str() }))
}

#[derive(Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

async fn slow(Query(params): Query<SlowParams>) -> Json<Value> {
    let ms = params.ms.unwrap_or(1000).min(MAX_SLOW_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "slept_ms": ms }))
}

async fn panic() -> &'static str {
    panic!("the demo panicked on purpose")
}

async fn error() -> Result<&'static str, AppError> {
    Err(AppError::Upstream(UpstreamError { status: 503 }))
}
