//! The demo's routes.

use std::time::Duration;

use axum::{
    extract::{Path, Query, State},
    routing::{get, post},
    Json, Router,
};
use belfry::{task::Tasks, RequestId};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    accounts,
    error::{AppError, UpstreamError},
    jobs,
    metrics::DemoMetrics,
    tenants,
};

/// The longest `/slow` sleeps, in milliseconds.
const MAX_SLOW_MS: u64 = 60_000;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub metrics: DemoMetrics,
    pub tasks: Tasks,
    pub inventory: crate::inventory::Inventory,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/users/{id}", get(user))
        .route("/slow", get(slow))
        .route("/panic", get(panic))
        .route("/error", get(error))
        .route("/inventory", get(crate::inventory::inventory))
        .route("/login", post(accounts::login))
        .route("/jobs/reindex", post(jobs::reindex))
        .route("/jobs/explode", post(jobs::explode))
        .route("/tenants/{tenant}/report", get(tenants::report))
        .route("/reset-password/{token}", get(crate::password_reset::check))
        .route("/flood/logs", get(crate::flood::logs))
        .route("/flood/panic", get(crate::flood::panic))
        .merge(crate::lifecycle::routes())
        .with_state(state)
}

async fn index() -> Json<Value> {
    Json(json!({ "service": "belfry-demo", "status": "ok" }))
}

async fn user(State(state): State<AppState>, Path(id): Path<u64>, request_id: RequestId) -> Json<Value> {
    look_up_user(&state, id);
    Json(json!({ "id": id, "name": format!("user {id}"), "request_id": request_id.as_str() }))
}

/// A pretend lookup in a span of its own (exported as a child of the request's span when traces
/// go over OTLP); `skip_all`, so its lines carry no extra field.
#[tracing::instrument(skip_all)]
fn look_up_user(state: &AppState, id: u64) -> bool {
    // A pretend cache: even ids are cached.
    let cached = id.is_multiple_of(2);
    state.metrics.cache_lookup(cached);
    tracing::info!(user_id = id, cached, "user looked up");
    cached
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
