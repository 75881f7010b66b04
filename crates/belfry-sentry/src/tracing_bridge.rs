//! [`TracingBridge`]: `tracing` events to Sentry — ERROR as events, INFO and WARN as breadcrumbs.

use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
use tracing::Level;
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

/// The `tracing` → Sentry bridge, a `tracing-subscriber` layer: ERROR events become Sentry
/// events, INFO and WARN become breadcrumbs of the request they happened in (the
/// [`SentryReporter`](crate::SentryReporter) gives each request its own hub). belfry's own
/// access-log and capture events are left out ([`sentry_event_filter`](crate::sentry_event_filter)):
/// the capture layer reports each panic and 5xx itself, once; so are the ERROR events of the
/// targets given to [`errors_reported_by`](Self::errors_reported_by).
///
/// One layer that looks at the event's level and forwards it to sentry-tracing's
/// [`ErrorLayer`] or [`BreadcrumbLayer`]: per-layer filters would also cost bookkeeping on every
/// span of every request, and these layers only care about events.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let bridge = belfry_sentry::TracingBridge::new().errors_reported_by("my_app::jobs");
/// let subscriber = tracing_subscriber::registry().with(bridge);
/// tracing::subscriber::with_default(subscriber, || tracing::error!("sent to Sentry, when a client is bound"));
/// ```
pub struct TracingBridge {
    errors: ErrorLayer,
    breadcrumbs: BreadcrumbLayer,
    reported_elsewhere: Vec<&'static str>,
}

impl Default for TracingBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TracingBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingBridge")
            .field("reported_elsewhere", &self.reported_elsewhere)
            .finish_non_exhaustive()
    }
}

impl TracingBridge {
    /// ERROR events to Sentry events, INFO and WARN to breadcrumbs.
    pub fn new() -> Self {
        Self {
            errors: ErrorLayer::new(),
            breadcrumbs: BreadcrumbLayer::new(),
            reported_elsewhere: Vec::new(),
        }
    }

    /// Leaves out the ERROR events of `target` (exactly): code that captures its failures to
    /// Sentry itself — belfry's task runner, with the error chain — logs them too, and they
    /// would be sent twice. They stay breadcrumbs at INFO and WARN.
    pub fn errors_reported_by(mut self, target: &'static str) -> Self {
        self.reported_elsewhere.push(target);
        self
    }
}

impl<S> Layer<S> for TracingBridge
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, context: Context<'_, S>) {
        let metadata = event.metadata();
        if !crate::sentry_event_filter(metadata) {
            return;
        }
        match *metadata.level() {
            Level::ERROR if !self.reported_elsewhere.contains(&metadata.target()) => {
                self.errors.on_event(event, context)
            }
            Level::WARN | Level::INFO => self.breadcrumbs.on_event(event, context),
            _ => {}
        }
    }
}
