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
    /// `None` when `SENTRY_DSN` is unset or empty: no Sentry at all. Unreadable values are
    /// reported in `problems` and replaced by their defaults (an unreadable DSN turns Sentry off).
    pub(crate) fn from_env(problems: &mut Vec<String>) -> Option<Self> {
        let dsn = std::env::var("SENTRY_DSN")
            .ok()
            .filter(|dsn| !dsn.trim().is_empty())?;
        let dsn = match dsn.trim().parse::<sentry::types::Dsn>() {
            Ok(dsn) => dsn,
            Err(error) => {
                problems.push(format!("SENTRY_DSN is not a valid DSN ({error}); Sentry is off"));
                return None;
            }
        };
        let mut options = sentry::ClientOptions::new();
        options.dsn = Some(dsn);
        options.environment = non_empty("SENTRY_ENVIRONMENT").map(Into::into);
        options.release = non_empty("SENTRY_RELEASE").map(Into::into);
        // `rate` keeps both within 0..=1, where these setters do not panic. Error events are
        // sampled by belfry's budget, which counts what it leaves out; the SDK's own sampling
        // (after `before_send`, where nothing can count it) keeps them all.
        let budget = crate::sentry_budget::BudgetSettings::from_env(
            rate("SENTRY_SAMPLE_RATE", DEFAULT_SAMPLE_RATE, problems),
            problems,
        );
        options = options.sample_rate(1.0).traces_sample_rate(rate(
            crate::config::TRACES_SAMPLE_RATE,
            DEFAULT_TRACES_SAMPLE_RATE,
            problems,
        ));
        options.send_default_pii = match non_empty("SENTRY_SEND_DEFAULT_PII").as_deref() {
            None => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                problems.push(format!(
                    "SENTRY_SEND_DEFAULT_PII=`{other}` is not true or false; using false"
                ));
                false
            }
        };
        options.shutdown_timeout =
            match non_empty("BELFRY_SENTRY_FLUSH_TIMEOUT_MS").map(|ms| ms.parse::<u64>()) {
                None => DEFAULT_SENTRY_FLUSH_TIMEOUT,
                Some(Ok(ms)) => Duration::from_millis(ms),
                Some(Err(_)) => {
                    problems.push(format!(
                        "BELFRY_SENTRY_FLUSH_TIMEOUT_MS is not a whole number of milliseconds; using {} ms",
                        DEFAULT_SENTRY_FLUSH_TIMEOUT.as_millis()
                    ));
                    DEFAULT_SENTRY_FLUSH_TIMEOUT
                }
            };
        match non_empty("BELFRY_SENTRY_MAX_TRACES_PER_SECOND").map(|limit| limit.parse::<u32>()) {
            None => {}
            Some(Ok(limit)) => belfry_capture::limit_traces_per_second(limit),
            Some(Err(_)) => problems.push(format!(
                "BELFRY_SENTRY_MAX_TRACES_PER_SECOND is not a whole number; using {}",
                belfry_capture::DEFAULT_MAX_TRACES_PER_SECOND
            )),
        }
        match non_empty("BELFRY_PANIC_STACKTRACES").as_deref() {
            None | Some("0" | "false" | "no" | "off") => {}
            Some("1" | "true" | "yes" | "on") => belfry_capture::capture_panic_stacktraces(true),
            Some(other) => problems.push(format!(
                "BELFRY_PANIC_STACKTRACES=`{other}` is not true or false; using false"
            )),
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

fn non_empty(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn rate(variable: &'static str, default: f32, problems: &mut Vec<String>) -> f32 {
    match crate::config::env_ratio(variable) {
        Ok(rate) => rate.map_or(default, |rate| rate as f32),
        Err(error) => {
            problems.push(format!("{error}; using {default}"));
            default
        }
    }
}

/// The `tracing` → Sentry bridge: ERROR events become Sentry events, INFO and WARN become
/// breadcrumbs of the request they happened in (belfry's capture layer gives each request its
/// own hub). belfry's own access-log, capture and task events are left out: the capture layer
/// and the task runner report each panic, 5xx and failed task themselves, once.
///
/// One layer that looks at the event's level and forwards it to sentry-tracing's
/// [`ErrorLayer`] or [`BreadcrumbLayer`]: per-layer filters would also cost bookkeeping on every
/// span of every request, and these layers only care about events.
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
