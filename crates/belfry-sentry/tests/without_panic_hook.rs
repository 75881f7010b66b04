//! Without [`belfry_capture::install_panic_hook`] (this test binary never installs it), panics
//! are still caught, answered and reported — only without their location.

use std::sync::Arc;

use axum::{body::Body, http::StatusCode, routing::get, Router};
use belfry_capture::CaptureLayer;
use belfry_request_id::RequestIdLayer;
use belfry_sentry::SentryReporter;
use http::Request;
use sentry::SentryFutureExt;
use tower::ServiceExt;

#[tokio::test]
async fn panics_are_caught_and_reported_without_their_location() {
    let transport = sentry::test::TestTransport::new();
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some("https://public@sentry.invalid/1".parse().unwrap());
    options.transport = Some(Arc::new(transport.clone()));
    let hub = Arc::new(sentry::Hub::new(
        Some(Arc::new(belfry_sentry::prepare_client_options(options).into())),
        Default::default(),
    ));

    let app = Router::new()
        .route(
            "/panic",
            get(|| async { panic!("no hook installed") as &'static str }),
        )
        .layer(CaptureLayer::new().reporter(SentryReporter::new()))
        .layer(RequestIdLayer::new());
    let request = Request::get("/panic")
        .header("x-request-id", "no-hook-1")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).bind_hub(hub).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["content-type"], "application/problem+json");

    let events = transport.fetch_and_clear_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let exception = &events[0].exception[0];
    assert_eq!(exception.ty, "panic");
    assert_eq!(exception.value.as_deref(), Some("no hook installed"));
    assert!(exception.stacktrace.is_none() && !events[0].extra.contains_key("panic.location"));
    assert_eq!(events[0].tags["request_id"], "no-hook-1");
}
