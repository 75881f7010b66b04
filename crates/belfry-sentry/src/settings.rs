//! [`ClientSettings`]: the Sentry client's settings, one method each, and
//! [`init`](ClientSettings::init), which starts the client belfry's way.

use std::{borrow::Cow, sync::Arc, time::Duration};

use sentry::types::Dsn;

use crate::{
    budget::{
        self, BudgetSettings, DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE, DEFAULT_MAX_EVENTS_PER_MINUTE,
    },
    drops,
    request_fields::with_request_fields,
    transport::CountingTransportFactory,
    ClientGuard, SentryPanicReporter,
};

/// How long dropping the [`ClientGuard`] waits for Sentry to send what is queued, unless
/// [`ClientSettings::flush_timeout`] (`BELFRY_SENTRY_FLUSH_TIMEOUT_MS`) says otherwise.
pub const DEFAULT_SENTRY_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Performance transactions sampled when `SENTRY_TRACES_SAMPLE_RATE` is unset: the share of
/// new traces belfry's trace context samples.
pub const DEFAULT_TRACES_SAMPLE_RATE: f32 = belfry_trace_context::RatioSampler::DEFAULT_RATIO as f32;

/// Error events sampled when `SENTRY_SAMPLE_RATE` is unset.
pub const DEFAULT_SAMPLE_RATE: f32 = 1.0;

/// The Sentry client's settings: a DSN, and one method per setting; [`init`](Self::init)
/// starts the client. This crate reads no environment variable: the `belfry` facade's `Config`
/// reads `SENTRY_*` and `BELFRY_SENTRY_*` and calls these methods.
///
/// ```
/// use std::time::Duration;
///
/// use belfry_sentry::ClientSettings;
///
/// let dsn = "https://public@sentry.example.com/1".parse().unwrap();
/// let settings = ClientSettings::new(dsn)
///     .environment("production")
///     .release("shop@1.4.2")
///     .traces_sample_rate(0.05)
///     .flush_timeout(Duration::from_secs(1))
///     .max_events_per_minute(50);
/// assert_eq!(settings.options().environment.as_deref(), Some("production"));
/// assert!(matches!(
///     settings.options().traces_sampling_strategy,
///     sentry::TracesSamplingStrategy::FixedRate(rate) if rate == 0.05
/// ));
/// assert_eq!(settings.options().shutdown_timeout, Duration::from_secs(1));
/// ```
#[derive(Clone, Debug)]
pub struct ClientSettings {
    options: sentry::ClientOptions,
    budget: BudgetSettings,
    panic_stack_traces: bool,
}

impl ClientSettings {
    /// Sends to `dsn`, with the defaults: every error event offered
    /// ([`DEFAULT_SAMPLE_RATE`]), within the budget per minute; [`DEFAULT_TRACES_SAMPLE_RATE`]
    /// of the traces; no personal data; a flush timeout of [`DEFAULT_SENTRY_FLUSH_TIMEOUT`]; no
    /// stack traces of panics.
    pub fn new(dsn: Dsn) -> Self {
        // Error events are sampled by belfry's budget, which counts what it leaves out; the
        // SDK's own sampling (after `before_send`, where nothing can count it) keeps them all.
        let mut options = sentry::ClientOptions::new()
            .sample_rate(1.0)
            .traces_sample_rate(DEFAULT_TRACES_SAMPLE_RATE);
        options.dsn = Some(dsn);
        options.shutdown_timeout = DEFAULT_SENTRY_FLUSH_TIMEOUT;
        Self {
            options,
            budget: BudgetSettings {
                per_fingerprint: DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE,
                overall: DEFAULT_MAX_EVENTS_PER_MINUTE,
                sample_rate: DEFAULT_SAMPLE_RATE,
            },
            panic_stack_traces: false,
        }
    }

    /// The environment every event is tagged with (`SENTRY_ENVIRONMENT`).
    pub fn environment(mut self, environment: impl Into<Cow<'static, str>>) -> Self {
        self.options.environment = Some(environment.into());
        self
    }

    /// The release every event is tagged with (`SENTRY_RELEASE`).
    pub fn release(mut self, release: impl Into<Cow<'static, str>>) -> Self {
        self.options.release = Some(release.into());
        self
    }

    /// The share of error events sent, clamped to 0..=1 (`SENTRY_SAMPLE_RATE`, default
    /// [`DEFAULT_SAMPLE_RATE`]). Applied by the [budget](crate::budget), which counts what it
    /// leaves out.
    pub fn sample_rate(mut self, rate: f32) -> Self {
        self.budget.sample_rate = clamp_rate(rate);
        self
    }

    /// The share of requests sent as performance transactions when no trace context decided,
    /// clamped to 0..=1 (`SENTRY_TRACES_SAMPLE_RATE`, default [`DEFAULT_TRACES_SAMPLE_RATE`]).
    /// Behind belfry's trace-context layer, the trace's one sampling decision wins.
    pub fn traces_sample_rate(mut self, rate: f32) -> Self {
        self.options = self.options.traces_sample_rate(clamp_rate(rate));
        self
    }

    /// Lets the SDK send personal data — user ids, IP addresses (`SENTRY_SEND_DEFAULT_PII`,
    /// default `false`). belfry's request field `user.id` becomes the event's user only then.
    pub fn send_default_pii(mut self, send: bool) -> Self {
        self.options.send_default_pii = send;
        self
    }

    /// How long dropping the [`ClientGuard`] waits for Sentry; also bounds each send
    /// (`BELFRY_SENTRY_FLUSH_TIMEOUT_MS`, default [`DEFAULT_SENTRY_FLUSH_TIMEOUT`]).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.options.shutdown_timeout = timeout;
        self
    }

    /// Sends a full stack trace with each panic event (`BELFRY_PANIC_STACKTRACES`, default
    /// `false`); see [`SentryPanicReporter::stack_traces`] for what it costs.
    pub fn panic_stack_traces(mut self, enabled: bool) -> Self {
        self.panic_stack_traces = enabled;
        self
    }

    /// Error events per minute overall, 0 for no cap
    /// (`BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE`, default
    /// [`DEFAULT_MAX_EVENTS_PER_MINUTE`](crate::budget::DEFAULT_MAX_EVENTS_PER_MINUTE)).
    pub fn max_events_per_minute(mut self, limit: u32) -> Self {
        self.budget.overall = limit;
        self
    }

    /// Error events per fingerprint per minute, 0 for no cap
    /// (`BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE`, default
    /// [`DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE`](crate::budget::DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE)).
    pub fn max_events_per_fingerprint_per_minute(mut self, limit: u32) -> Self {
        self.budget.per_fingerprint = limit;
        self
    }

    /// The SDK's options as set so far (before [`init`](Self::init) adds belfry's
    /// `before_send` and transport).
    pub fn options(&self) -> &sentry::ClientOptions {
        &self.options
    }

    /// What these settings turn on, for the start-up line: the host events go to (never the
    /// DSN's key), environment, release, sample rates and the budget.
    ///
    /// ```
    /// let dsn = "https://s3cr3t@sentry.example.com/7".parse().unwrap();
    /// let settings = belfry_sentry::ClientSettings::new(dsn).environment("prod").traces_sample_rate(0.25);
    /// let summary = settings.summary();
    /// assert_eq!(
    ///     summary,
    ///     "Sentry to sentry.example.com (project 7): environment prod, release none, error events 1 \
    ///      (at most 100 a minute, 10 per fingerprint), traces 0.25"
    /// );
    /// assert!(!summary.contains("s3cr3t"));
    /// ```
    pub fn summary(&self) -> String {
        let (host, project) = self
            .options
            .dsn
            .as_ref()
            .map_or(("none".into(), "none".into()), |dsn| {
                (dsn.host().to_owned(), dsn.project_id().to_string())
            });
        format!(
            "Sentry to {host} (project {project}): environment {}, release {}, error events {} \
             (at most {} a minute, {} per fingerprint), traces {}",
            self.options.environment.as_deref().unwrap_or("none"),
            self.options.release.as_deref().unwrap_or("none"),
            self.budget.sample_rate,
            self.budget.overall,
            self.budget.per_fingerprint,
            match &self.options.traces_sampling_strategy {
                sentry::TracesSamplingStrategy::FixedRate(rate) => rate.to_string(),
                sentry::TracesSamplingStrategy::Disabled => "off".to_owned(),
                _ => "by a sampler".to_owned(),
            },
        )
    }

    /// Starts the Sentry client, and sets the panic hook's [`SentryPanicReporter`] (once per
    /// process). Every event then goes through, in order: [`prepare_client_options`](crate::prepare_client_options)'s
    /// request context, the request fields (each a tag; `user.id` as the user only with
    /// [`send_default_pii`](Self::send_default_pii)), the sample rate and the
    /// [budget](crate::budget); and then belfry's transport, which counts every envelope it does
    /// not deliver ([`drops`](crate::drops)) and bounds each send by the flush timeout. The
    /// SDK's `panic` integration is not compiled in: belfry's own panic hook never flushes on
    /// the panicking thread.
    pub fn init(self) -> ClientGuard {
        let mut options = self.options;
        let flush_timeout = options.shutdown_timeout;
        // Every send is bounded by the flush timeout: the SDK's own agent has none, and a Sentry
        // that accepts connections and never answers kept its sending thread, and shutdown
        // (which joins it), waiting forever.
        options.transport = Some(Arc::new(CountingTransportFactory {
            send_timeout: flush_timeout,
        }));
        let options = budget::install(
            with_request_fields(crate::prepare_client_options(options)),
            self.budget,
        );
        let _ = belfry_capture::set_panic_reporter(
            SentryPanicReporter::new().stack_traces(self.panic_stack_traces),
        );
        drops::start_reporter();
        ClientGuard::new(sentry::init(options), flush_timeout)
    }
}

/// `rate` within 0..=1, where the SDK's setters do not panic (NaN counts as 0).
fn clamp_rate(rate: f32) -> f32 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}
