//! Tests driving the capture layer with the Sentry reporter through `oneshot`, with the SDK's
//! test transport, on belfry-capture's test harness (`belfry_capture::test_support`), whose
//! global subscriber here also carries the [`TracingBridge`](crate::TracingBridge) as belfry's
//! telemetry wires it. Each test uses its own request ids and reads only its own events.

mod events;

use std::sync::Arc;

pub(crate) use axum::{body::Body, http::Request};
pub(crate) use belfry_capture::{test_support::*, CaptureLayer};
pub(crate) use tower::ServiceExt;

use crate::{SentryPanicReporter, SentryReporter, TracingBridge};

/// Installs the subscriber (with the tracing bridge), the panic hook and its Sentry reporter,
/// once.
pub(crate) fn setup() {
    install(TracingBridge::new());
    let _ = belfry_capture::set_panic_reporter(SentryPanicReporter::new());
}

/// The capture layer with the Sentry reporter.
pub(crate) fn capture() -> CaptureLayer<belfry_capture::ProblemJson, SentryReporter> {
    CaptureLayer::new().reporter(SentryReporter::new())
}

/// A hub with a client sending to a test transport.
pub(crate) fn sentry_hub(
    options: sentry::ClientOptions,
) -> (Arc<sentry::Hub>, Arc<sentry::test::TestTransport>) {
    let transport = sentry::test::TestTransport::new();
    let mut options = options;
    options.dsn = Some("https://public@sentry.invalid/1".parse().unwrap());
    options.transport = Some(Arc::new(transport.clone()));
    let client = Arc::new(sentry::Client::from(crate::prepare_client_options(options)));
    let hub = Arc::new(sentry::Hub::new(Some(client), Default::default()));
    (hub, transport)
}
