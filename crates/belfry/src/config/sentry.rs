//! The Sentry settings: `SENTRY_*` and `BELFRY_SENTRY_*`, `BELFRY_PANIC_STACKTRACES`.

use std::time::Duration;

use super::read::Reader;

/// What the environment says about Sentry; `None`: the default. `SENTRY_TRACES_SAMPLE_RATE` is
/// the stack's (one sampling decision per trace), in [`ServerConfig`](super::ServerConfig).
#[derive(Clone, Debug, Default)]
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

const DSN_EXPECTED: &str = "a Sentry DSN (https://<public key>@<host>/<project id>)";

/// A DSN the SDK accepts (checked by the SDK's own parser when Sentry is compiled in).
fn check_dsn(dsn: &str) -> Result<String, String> {
    match dsn.parse::<::sentry::types::Dsn>() {
        Ok(_) => Ok(dsn.to_owned()),
        Err(_) => Err(DSN_EXPECTED.to_owned()),
    }
}
