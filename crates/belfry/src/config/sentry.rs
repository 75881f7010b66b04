//! The Sentry settings: `SENTRY_*` and `BELFRY_SENTRY_*`, `BELFRY_PANIC_STACKTRACES`.

use std::time::Duration;

use super::read::Reader;

/// What the environment says about Sentry; `None`: the default. `SENTRY_TRACES_SAMPLE_RATE` is
/// the stack's (one sampling decision per trace), in [`ServerConfig`](super::ServerConfig).
///
/// Read and checked without the `sentry` feature too (a typo is a typo), used only with it.
#[derive(Clone, Debug, Default)]
#[cfg_attr(not(feature = "sentry"), allow(dead_code))]
pub(crate) struct SentryConfig {
    /// Validated; `None`: no Sentry at all.
    pub(crate) dsn: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) release: Option<String>,
    pub(crate) sample_rate: Option<f64>,
    pub(crate) send_default_pii: Option<bool>,
    pub(crate) flush_timeout: Option<Duration>,
    pub(crate) max_traces_per_second: Option<u32>,
    pub(crate) panic_stacktraces: Option<bool>,
    pub(crate) max_events_per_fingerprint_per_minute: Option<u32>,
    pub(crate) max_events_per_minute: Option<u32>,
}

impl SentryConfig {
    pub(crate) fn read(read: &mut Reader<'_>) -> Self {
        const EVENTS: &str = "a whole number of events (0: no cap)";
        Self {
            dsn: read.secret("SENTRY_DSN", check_dsn),
            environment: read.text("SENTRY_ENVIRONMENT"),
            release: read.text("SENTRY_RELEASE"),
            sample_rate: read.ratio("SENTRY_SAMPLE_RATE"),
            send_default_pii: read.bool("SENTRY_SEND_DEFAULT_PII"),
            flush_timeout: read.millis("BELFRY_SENTRY_FLUSH_TIMEOUT_MS"),
            max_traces_per_second: read.parse(
                "BELFRY_SENTRY_MAX_TRACES_PER_SECOND",
                "a whole number of transactions (0: no cap)",
            ),
            panic_stacktraces: read.bool("BELFRY_PANIC_STACKTRACES"),
            max_events_per_fingerprint_per_minute: read
                .parse("BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE", EVENTS),
            max_events_per_minute: read.parse("BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE", EVENTS),
        }
    }
}

#[cfg(feature = "sentry")]
const DSN_EXPECTED: &str = "a Sentry DSN (https://<public key>@<host>/<project id>)";

/// A DSN the SDK accepts (checked by the SDK's own parser when Sentry is compiled in; without
/// the `sentry` feature it is kept to say, once logging is up, that it is not used).
fn check_dsn(dsn: &str) -> Result<String, String> {
    #[cfg(feature = "sentry")]
    if dsn.parse::<belfry_sentry::sentry::types::Dsn>().is_err() {
        return Err(DSN_EXPECTED.to_owned());
    }
    Ok(dsn.to_owned())
}

#[cfg(feature = "sentry")]
impl SentryConfig {
    /// The client's settings, with `traces_sample_rate` (the stack's one ratio); `None`
    /// without a DSN: no Sentry at all.
    pub(crate) fn client_settings(&self, traces_sample_rate: f64) -> Option<belfry_sentry::ClientSettings> {
        let dsn = self.dsn.as_deref()?.parse().ok()?;
        let mut settings = belfry_sentry::ClientSettings::new(dsn)
            .traces_sample_rate(traces_sample_rate as f32)
            .send_default_pii(self.send_default_pii.unwrap_or(false))
            .panic_stack_traces(self.panic_stacktraces.unwrap_or(false));
        if let Some(environment) = &self.environment {
            settings = settings.environment(environment.clone());
        }
        if let Some(release) = &self.release {
            settings = settings.release(release.clone());
        }
        if let Some(rate) = self.sample_rate {
            settings = settings.sample_rate(rate as f32);
        }
        if let Some(timeout) = self.flush_timeout {
            settings = settings.flush_timeout(timeout);
        }
        if let Some(limit) = self.max_events_per_minute {
            settings = settings.max_events_per_minute(limit);
        }
        if let Some(limit) = self.max_events_per_fingerprint_per_minute {
            settings = settings.max_events_per_fingerprint_per_minute(limit);
        }
        Some(settings)
    }
}
