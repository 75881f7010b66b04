//! `POST /jobs/reindex` and `POST /jobs/explode`: background work started by a request, answered
//! with 202 at once; the task's lines carry the request's id.

use std::time::Duration;

use axum::{extract::State, http::StatusCode, Json};
use belfry::RequestId;
use serde_json::{json, Value};

use crate::{metrics::DemoMetrics, routes::AppState};

/// A pretend reindex: a short pause, then success.
pub async fn reindex(State(state): State<AppState>, request_id: RequestId) -> (StatusCode, Json<Value>) {
    let metrics = state.metrics.clone();
    state.tasks.spawn("reindex", async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tracing::info!(documents = 1200, "reindex done");
        metrics.job_processed("succeeded");
        Ok::<_, std::io::Error>(())
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({ "job": "reindex", "request_id": request_id.as_str() })),
    )
}

/// A job that panics: reported with its name and the request id; the server carries on.
pub async fn explode(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    state.tasks.spawn("explode", blow_up(state.metrics.clone()));
    (StatusCode::ACCEPTED, Json(json!({ "job": "explode" })))
}

async fn blow_up(metrics: DemoMetrics) -> Result<(), std::io::Error> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    metrics.job_processed("failed");
    panic!("the explode job blew up on purpose")
}
