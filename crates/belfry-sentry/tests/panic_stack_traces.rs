//! With [`SentryPanicReporter::stack_traces`] on (`BELFRY_PANIC_STACKTRACES=true`), the panic
//! hook takes a `std` backtrace of a panic inside a request, and its Sentry event carries it as
//! a full stack trace. A binary of its own: the panic reporter is set once per process.

use std::sync::Arc;

use axum::{body::Body, routing::get, Router};
use belfry_capture::CaptureLayer;
use belfry_sentry::{SentryPanicReporter, SentryReporter};
use http::Request;
use sentry::SentryFutureExt;
use tower::ServiceExt;

#[inline(never)]
fn deep_in_the_handler() -> &'static str {
    panic!("traced")
}

#[tokio::test]
async fn a_panic_event_carries_the_whole_stack() {
    belfry_capture::install_panic_hook();
    assert!(belfry_capture::set_panic_reporter(
        SentryPanicReporter::new().stack_traces(true)
    ));
    let transport = sentry::test::TestTransport::new();
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some("https://public@sentry.invalid/1".parse().unwrap());
    options.transport = Some(Arc::new(transport.clone()));
    let client = sentry::Client::from(belfry_sentry::prepare_client_options(options));
    let hub = Arc::new(sentry::Hub::new(Some(Arc::new(client)), Default::default()));

    let app = Router::new()
        .route("/panic", get(|| async { deep_in_the_handler() }))
        .layer(CaptureLayer::new().reporter(SentryReporter::new()));
    let response = app
        .oneshot(Request::get("/panic").body(Body::empty()).unwrap())
        .bind_hub(hub)
        .await
        .unwrap();
    assert_eq!(response.status(), 500);

    let events = transport.fetch_and_clear_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let frames = &events[0].exception[0]
        .stacktrace
        .as_ref()
        .expect("a stack trace")
        .frames;
    assert!(
        frames.len() > 5,
        "a whole stack, not the one-frame location: {frames:#?}"
    );
    assert!(
        frames.iter().any(|frame| frame
            .function
            .as_deref()
            .is_some_and(|function| function.contains("deep_in_the_handler"))),
        "{frames:#?}"
    );
}
