//! Sentry set-up from the environment: `SENTRY_DSN` and friends.

use std::{sync::Arc, time::Duration};

use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
use tracing::Level;
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

/// How long dropping the [`TelemetryGuard`](crate::telemetry::TelemetryGuard) waits for Sentry
/// to send what is queued, unless `BELFRY_SENTRY_FLUSH_TIMEOUT_MS` says otherwise.
pub const DEFAULT_SENTRY_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Performance transactions sampled when `SENTRY_TRACES_SAMPLE_RATE` is unset.
pub const DEFAULT_TRACES_SAMPLE_RATE: f32 = 0.1;

/// Error events sampled when `SENTRY_SAMPLE_RATE` is unset.
pub const DEFAULT_SAMPLE_RATE: f32 = 1.0;

/// Sentry settings, read from the environment by [`SentrySettings::from_env`].
#[derive(Clone, Debug)]
pub(crate) struct SentrySettings {
    options: sentry::ClientOptions,
    budget: crate::sentry_budget::BudgetSettings,
}

impl SentrySettings {
    /// `None` when `SENTRY_DSN` is unset or empty: no Sentry at all.
    pub(crate) fn from_config(config: &crate::Config) -> Option<Self> {
        let sentry = &config.sentry;
        let dsn = sentry.dsn.as_deref()?.parse::<sentry::types::Dsn>().ok()?;
        let mut options = sentry::ClientOptions::new();
        options.dsn = Some(dsn);
        options.environment = sentry.environment.clone().map(Into::into);
        options.release = sentry.release.clone().map(Into::into);
        // Error events are sampled by belfry's budget, which counts what it leaves out; the
        // SDK's own sampling (after `before_send`, where nothing can count it) keeps them all.
        let budget = crate::sentry_budget::BudgetSettings {
            per_fingerprint: sentry
                .max_events_per_fingerprint_per_minute
                .unwrap_or(crate::sentry_budget::DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE),
            overall: sentry
                .max_events_per_minute
                .unwrap_or(crate::sentry_budget::DEFAULT_MAX_EVENTS_PER_MINUTE),
            sample_rate: sentry.sample_rate.map_or(DEFAULT_SAMPLE_RATE, |rate| rate as f32),
        };
        let traces_sample_rate = config
            .server
            .traces_sample_rate
            .map_or(DEFAULT_TRACES_SAMPLE_RATE, |rate| rate as f32);
        options = options.sample_rate(1.0).traces_sample_rate(traces_sample_rate);
        options.send_default_pii = sentry.send_default_pii.unwrap_or(false);
        options.shutdown_timeout = sentry.flush_timeout.unwrap_or(DEFAULT_SENTRY_FLUSH_TIMEOUT);
        if let Some(limit) = sentry.max_traces_per_second {
            belfry_capture::limit_traces_per_second(limit);
        }
        if sentry.panic_stacktraces == Some(true) {
            belfry_capture::capture_panic_stacktraces(true);
        }
        // The `panic` integration is not compiled in: belfry's own panic hook never flushes on
        // the panicking thread. Every send is bounded by the flush timeout: the SDK's own agent
        // has none, and a Sentry that accepts connections and never answers kept its sending
        // thread, and shutdown (which joins it), waiting forever.
        crate::sentry_transport::set_send_timeout(options.shutdown_timeout);
        options.transport = Some(Arc::new(crate::sentry_transport::CountingTransportFactory));
        Some(Self { options, budget })
    }

    /// Starts the Sentry client.
    pub(crate) fn init(self) -> SentryGuard {
        let flush_timeout = self.options.shutdown_timeout;
        // Events sent while serving a request get its id, transaction name and scrubbed request,
        // then its request fields; then the sampling and the budget decide whether they go.
        let options = crate::sentry_budget::install(
            with_request_fields(belfry_capture::prepare_client_options(self.options)),
            self.budget,
        );
        crate::sentry_drops::start_reporter();
        let guard = sentry::init(options);
        SentryGuard {
            guard: Some(guard),
            flush_timeout,
        }
    }
}

/// Adds the request fields (`belfry::request::record`) of the request an event is sent from:
/// each as a tag, and `user.id` as Sentry's user — that one only with `send_default_pii`, which
/// is off unless `SENTRY_SEND_DEFAULT_PII=true`: a user id is personal data. Runs after belfry's
/// own `before_send` (and any the application set), only for events actually sent.
fn with_request_fields(mut options: sentry::ClientOptions) -> sentry::ClientOptions {
    let send_user = options.send_default_pii;
    let next = options.before_send.take();
    options.before_send = Some(Arc::new(move |event| {
        let mut event = match &next {
            Some(next) => next(event)?,
            None => event,
        };
        // From the request's span as the capture layer saw it: `belfry::request::fields()` looks
        // up the current span, which a `tracing` layer's callback (the tracing bridge's) cannot.
        let fields = belfry_capture::with_request_span(crate::request::fields_of).unwrap_or_default();
        apply_request_fields(&mut event, &fields, send_user);
        Some(event)
    }));
    options
}

fn apply_request_fields(
    event: &mut sentry::protocol::Event<'static>,
    fields: &[crate::request::RequestField],
    send_user: bool,
) {
    for field in fields {
        if field.key == crate::request::USER_ID {
            if send_user && event.user.is_none() {
                event.user = Some(sentry::User {
                    id: Some(field.value.to_string()),
                    ..Default::default()
                });
            }
            continue;
        }
        event
            .tags
            .entry(field.key.to_string())
            .or_insert_with(|| field.value.to_string());
    }
}

/// Keeps the Sentry client up; dropping it flushes, and never takes much longer than the flush
/// timeout.
///
/// The SDK's own guard flushes for up to the flush timeout and then drops the transport, whose
/// thread ([`sentry_transport`](crate::sentry_transport)) stops after the send in progress, itself
/// bounded by the flush timeout. (The SDK's own transport thread first worked through every
/// envelope still queued, up to 30, each bounded only by the send timeout: half a minute with a
/// Sentry that accepts connections and never answers.) The SDK's guard is still dropped on a
/// thread of its own, and waited for at most the flush timeout plus one second; after that,
/// shutdown goes on and what is left is dropped with the process.
pub(crate) struct SentryGuard {
    guard: Option<sentry::ClientInitGuard>,
    flush_timeout: Duration,
}

impl Drop for SentryGuard {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let (done, finished) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("belfry-sentry-flush".to_owned())
            .spawn(move || {
                drop(guard);
                let _ = done.send(());
            });
        if spawned.is_ok() {
            let _ = finished.recv_timeout(self.flush_timeout + Duration::from_secs(1));
        }
    }
}

pub(crate) struct SentryEvents {
    errors: ErrorLayer,
    breadcrumbs: BreadcrumbLayer,
}

pub(crate) fn tracing_layers() -> SentryEvents {
    SentryEvents {
        errors: ErrorLayer::new(),
        breadcrumbs: BreadcrumbLayer::new(),
    }
}

impl<S> Layer<S> for SentryEvents
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, context: Context<'_, S>) {
        let metadata = event.metadata();
        if !belfry_capture::sentry_event_filter(metadata) {
            return;
        }
        match *metadata.level() {
            // Failed tasks are captured by `belfry::task` itself (with their error chain), once.
            Level::ERROR if metadata.target() != crate::task::TARGET => self.errors.on_event(event, context),
            Level::WARN | Level::INFO => self.breadcrumbs.on_event(event, context),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::apply_request_fields;
    use crate::request::RequestField;

    fn fields() -> Vec<RequestField> {
        vec![
            RequestField {
                key: "user.id".into(),
                value: "u-42".into(),
            },
            RequestField {
                key: "tenant_id".into(),
                value: "acme".into(),
            },
        ]
    }

    #[test]
    fn request_fields_become_tags_and_the_user_only_with_pii() {
        let mut event = sentry::protocol::Event::default();
        apply_request_fields(&mut event, &fields(), false);
        assert_eq!(event.tags["tenant_id"], "acme");
        assert!(event.user.is_none(), "a user id is personal data");
        assert!(!event.tags.contains_key("user.id"));

        let mut event = sentry::protocol::Event::default();
        apply_request_fields(&mut event, &fields(), true);
        assert_eq!(event.user.unwrap().id.as_deref(), Some("u-42"));
    }
}
