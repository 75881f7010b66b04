//! Routes and settings that show how belfry tells each kind of request ending: bodies that
//! stream, stall or panic, handlers that block their thread, answers without a body, and where
//! the application's own layers (here a request timeout) go.

use std::{convert::Infallible, io::Write as _, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::Query,
    http::StatusCode,
    routing::get,
    Router,
};
use belfry::Belfry;
use futures_util::StreamExt as _;
use serde::Deserialize;
use tower_http::timeout::TimeoutLayer;

/// The longest any of these routes waits, in milliseconds.
const MAX_MS: u64 = 60_000;

/// The most chunks `/lifecycle/stream` sends.
const MAX_CHUNKS: u64 = 10_000;

/// How long a request may take before the timeout answers `408` (`DEMO_REQUEST_TIMEOUT_MS`).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
pub struct Params {
    ms: Option<u64>,
    chunks: Option<u64>,
}

impl Params {
    fn wait(&self, default_ms: u64) -> Duration {
        Duration::from_millis(self.ms.unwrap_or(default_ms).min(MAX_MS))
    }
}

/// Two chunks, then a panic inside the body's `poll_frame`, after the `200` was sent.
pub async fn stream_panic() -> Body {
    let chunks = futures_util::stream::iter(0..3).map(|index| {
        if index == 2 {
            panic!("the report stream broke after two chunks");
        }
        Ok::<_, Infallible>(Bytes::from_static(b"chunk\n"))
    });
    Body::from_stream(chunks)
}

/// Blocks its worker thread for `ms` (as a CPU-bound loop or a blocking call would).
pub async fn block(Query(params): Query<Params>) -> &'static str {
    std::thread::sleep(params.wait(1000));
    "blocked"
}

/// One chunk, a stall of `ms`, another chunk.
pub async fn stall(Query(params): Query<Params>) -> Body {
    let wait = params.wait(1000);
    let chunks = futures_util::stream::iter(0..2).then(move |index| async move {
        if index == 1 {
            tokio::time::sleep(wait).await;
        }
        Ok::<_, Infallible>(Bytes::from_static(b"part\n"))
    });
    Body::from_stream(chunks)
}

/// `chunks` chunks of 1 KiB, `ms` apart: a long response a client can leave in the middle of.
pub async fn stream(Query(params): Query<Params>) -> Body {
    let wait = params.wait(10);
    let chunks = params.chunks.unwrap_or(100).min(MAX_CHUNKS);
    let body = futures_util::stream::iter(0..chunks).then(move |_| async move {
        tokio::time::sleep(wait).await;
        Ok::<_, Infallible>(Bytes::from(vec![b'x'; 1024]))
    });
    Body::from_stream(body)
}

/// The routes, registered by `routes::router`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/lifecycle/stream-panic", get(stream_panic))
        .route("/lifecycle/block", get(block))
        .route("/lifecycle/stall", get(stall))
        .route("/lifecycle/stream", get(stream))
        .route("/lifecycle/no-content", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/lifecycle/not-modified",
            get(|| async { StatusCode::NOT_MODIFIED }),
        )
}

/// Applies belfry's stack with the demo's own layer, a request timeout
/// (`DEMO_REQUEST_TIMEOUT_MS`, default 30 s) answering `408`, in the documented place:
/// [`Belfry::wrap_with`], so the `408` is logged, counted and carries the request id.
///
/// `DEMO_TIMEOUT_OUTSIDE=true` applies it after `wrap` instead — the mistake belfry warns about —
/// for the tests.
pub fn apply_stack(belfry: &Belfry, router: Router) -> Result<Router, Box<dyn std::error::Error>> {
    let timeout = match std::env::var("DEMO_REQUEST_TIMEOUT_MS") {
        Ok(ms) => Duration::from_millis(
            ms.parse()
                .map_err(|_| "DEMO_REQUEST_TIMEOUT_MS is not a number")?,
        ),
        Err(_) => DEFAULT_REQUEST_TIMEOUT,
    };
    let timeout = TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout);
    if std::env::var("DEMO_TIMEOUT_OUTSIDE").is_ok_and(|value| value == "true") {
        return Ok(belfry.wrap(router).layer(timeout));
    }
    Ok(belfry.wrap_with(router, timeout))
}

/// With `DEMO_PANIC_HOOK_FILE` set, installs a panic hook of the application's own — before
/// belfry's telemetry, which chains to it — appending each panic's message to that file.
pub fn install_application_panic_hook() {
    let Some(path) = std::env::var_os("DEMO_PANIC_HOOK_FILE") else {
        return;
    };
    std::panic::set_hook(Box::new(move |info| {
        let message = belfry::capture::panic_message(info.payload());
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let _ = writeln!(file, "application hook saw: {message}");
        }
    }));
}
