//! Without [`belfry_capture::install_panic_hook`] (this test binary never installs it), panics
//! are still caught, answered and reported — only without their location.

use axum::{body::Body, http::StatusCode, routing::get, Router};
use belfry_capture::{CaptureLayer, Panic, ProblemJson, RequestDetails, ResponseForPanic};
use belfry_request_id::RequestIdLayer;
use http::Request;
use tower::ServiceExt;

#[tokio::test]
async fn panics_are_caught_and_answered_without_their_location() {
    let answer = |request: &RequestDetails, panic: &Panic| {
        assert_eq!(panic.message(), "no hook installed");
        assert!(panic.location().is_none() && panic.backtrace().is_none());
        ProblemJson.response_for_panic(request, panic)
    };
    let app = Router::new()
        .route(
            "/panic",
            get(|| async { panic!("no hook installed") as &'static str }),
        )
        .layer(CaptureLayer::new().panic_response(answer))
        .layer(RequestIdLayer::new());
    let request = Request::get("/panic")
        .header("x-request-id", "no-hook-1")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}
