//! Predicates for the `sentry-tracing` layers, so that belfry's own events reach Sentry once.

use tracing::Metadata;

/// Targets of events that belfry reports to Sentry itself, or that must not become breadcrumbs:
/// the capture layer's (already captured as Sentry events) and the access log's (one per
/// request, written after the request's hub is gone, so they would land on the thread's hub and
/// leak into the next requests' events).
const NOT_FOR_SENTRY: [&str; 2] = [belfry_capture::TARGET, belfry_access_log::TARGET];

/// Whether the `sentry-tracing` event layers (`ErrorLayer`, `BreadcrumbLayer`) should see this
/// event: `false` for the events of the capture layer (target [`belfry_capture::TARGET`]) and of
/// the access log (`belfry::access`), `true` for everything else.
///
/// Without it, every panic and every `5xx` would reach Sentry twice: once from
/// [`Capture`](belfry_capture::Capture), once from the `ErrorLayer` turning the ERROR log line into an
/// event. Combine it with the level filters:
///
/// ```
/// use belfry_sentry::sentry_event_filter;
/// use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
/// use tracing::Level;
/// use tracing_subscriber::{filter::filter_fn, layer::SubscriberExt, Layer};
///
/// let subscriber = tracing_subscriber::registry()
///     .with(BreadcrumbLayer::new().with_filter(filter_fn(|metadata| {
///         matches!(*metadata.level(), Level::WARN | Level::INFO) && sentry_event_filter(metadata)
///     })))
///     .with(ErrorLayer::new().with_filter(filter_fn(|metadata| {
///         *metadata.level() == Level::ERROR && sentry_event_filter(metadata)
///     })));
///
/// tracing::subscriber::with_default(subscriber, || {
///     assert!(tracing::event_enabled!(target: "my_app::db", Level::ERROR));
///     assert!(!tracing::event_enabled!(target: "belfry::capture", Level::ERROR));
///     assert!(!tracing::event_enabled!(target: "belfry::access", Level::INFO));
/// });
/// ```
pub fn sentry_event_filter(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    !NOT_FOR_SENTRY.iter().any(|excluded| {
        target
            .strip_prefix(excluded)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Whether the `sentry-tracing` `SpanLayer` should turn this span into a Sentry span: `false`
/// for the request-id layer's `request` span (target
/// [`REQUEST_SPAN_TARGET`](belfry_request_id::REQUEST_SPAN_TARGET)), since
/// [`Capture`](belfry_capture::Capture) starts the request's transaction itself, named after the route.
///
/// ```
/// use belfry_sentry::sentry_span_filter;
/// use sentry::integrations::tracing::SpanLayer;
/// use tracing::Level;
/// use tracing_subscriber::{filter::filter_fn, layer::SubscriberExt, Layer};
///
/// let subscriber = tracing_subscriber::registry().with(SpanLayer::new().with_filter(filter_fn(|metadata| {
///     *metadata.level() <= Level::INFO && sentry_span_filter(metadata)
/// })));
///
/// tracing::subscriber::with_default(subscriber, || {
///     assert!(tracing::span_enabled!(target: "my_app::db", Level::INFO));
///     assert!(!tracing::span_enabled!(target: "belfry::request", Level::ERROR));
/// });
/// ```
pub fn sentry_span_filter(metadata: &Metadata<'_>) -> bool {
    metadata.target() != belfry_request_id::REQUEST_SPAN_TARGET
}
