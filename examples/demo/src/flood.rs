//! Routes that flood telemetry, for the telemetry budget (docs/reliability.md):
//!
//! - `GET /flood/logs?ms=2000`: logs one INFO line per iteration of a tight loop for `ms`
//!   milliseconds (at most 10 s) and answers how many it logged. The callsite limit writes at most
//!   100 of them a second, and one summary line a second.
//! - `GET /flood/panic`: panics at its own location, so its Sentry events have a fingerprint of
//!   their own (`/panic` panics elsewhere).

use std::time::{Duration, Instant};

use axum::{extract::Query, Json};
use serde::Deserialize;
use serde_json::{json, Value};

/// The longest `/flood/logs` loops, in milliseconds.
const MAX_FLOOD_MS: u64 = 10_000;

/// `?ms=`: how long to log.
#[derive(Deserialize)]
pub struct FloodParams {
    ms: Option<u64>,
}

/// Logs in a loop for `ms` milliseconds, on a blocking thread; answers `{"logged": n}`.
pub async fn logs(Query(params): Query<FloodParams>) -> Json<Value> {
    let duration = Duration::from_millis(params.ms.unwrap_or(2000).min(MAX_FLOOD_MS));
    let span = tracing::Span::current();
    let logged = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let started = Instant::now();
        let mut logged: u64 = 0;
        while started.elapsed() < duration {
            logged += 1;
            tracing::info!(iteration = logged, "flood line");
        }
        logged
    })
    .await
    .unwrap_or(0);
    Json(json!({ "logged": logged }))
}

/// Panics, at a location of its own.
pub async fn panic() -> &'static str {
    panic!("the flood route panicked on purpose")
}
