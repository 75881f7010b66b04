//! `POST /login`: the demo's pretend authentication, with audit events and a brute-force metric.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::StatusCode,
    Json,
};
use belfry::audit;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::routes::AppState;

/// The one password the demo accepts.
const DEMO_PASSWORD: &str = "correct-horse";

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(login): Json<Login>,
) -> (StatusCode, Json<Value>) {
    if login.password == DEMO_PASSWORD {
        audit::login_succeeded(&login.username)
            .client_address(peer.ip())
            .emit();
        (StatusCode::OK, Json(json!({ "user": login.username })))
    } else {
        audit::login_failed(&login.username)
            .reason("bad_credentials")
            .client_address(peer.ip())
            .emit();
        state.metrics.login_failed();
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid username or password" })),
        )
    }
}
