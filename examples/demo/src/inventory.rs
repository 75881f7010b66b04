//! A downstream call: `GET /inventory` asks the service at `DEMO_UPSTREAM_URL` (another demo, or
//! anything else), through belfry's reqwest middleware. The call carries this request's trace
//! (`traceparent` with a new span id, `tracestate`, `sentry-trace`, `baggage`) and its
//! `x-request-id`, writes one `belfry::client` log line, and is counted in
//! `http_client_request_duration_seconds`: run two demos, point one at the other, and watch one
//! trace id cross both.

use axum::{extract::State, http::StatusCode, Json};
use belfry::Belfry;
use serde_json::{json, Value};

use crate::routes::AppState;

/// The upstream the demo calls, and the client it calls it with.
#[derive(Clone)]
pub struct Inventory {
    client: reqwest_middleware::ClientWithMiddleware,
    url: Option<String>,
}

impl Inventory {
    /// Reads `DEMO_UPSTREAM_URL` (unset: `/inventory` answers 503).
    pub fn from_env(belfry: &Belfry) -> Self {
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(belfry.reqwest_middleware())
            .build();
        let url = std::env::var("DEMO_UPSTREAM_URL")
            .ok()
            .filter(|url| !url.trim().is_empty());
        Self { client, url }
    }
}

/// `GET /inventory`: the upstream's status and the first bytes of its answer.
pub async fn inventory(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let Some(url) = &state.inventory.url else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "DEMO_UPSTREAM_URL is not set" })),
        );
    };
    match state.inventory.client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            let preview: String = body.chars().take(200).collect();
            (
                StatusCode::OK,
                Json(json!({ "upstream_status": status, "upstream_body": preview })),
            )
        }
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": format!("the upstream call failed: {error}") })),
        ),
    }
}
