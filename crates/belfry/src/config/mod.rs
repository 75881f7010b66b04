//! [`Config`]: every environment variable belfry reads, read in one place with one policy.
//!
//! - **Blank is unset**, for every variable: `BELFRY_SLOW_REQUEST_MS=` keeps the default.
//! - **An invalid value stops start-up**, and every invalid value is named at once: the
//!   [`ConfigError`] lists each variable with its value and the form it expects (a secret's
//!   value — `SENTRY_DSN` — is never printed). A configuration mistake is fixed where the
//!   deployment is written, not discovered later from a default that silently replaced it.
//! - Nothing is set while reading: the values are applied by [`Config::belfry`] and
//!   [`Config::telemetry`], through the same builder methods code can call.
//!
//! ```
//! let config = belfry::Config::from_lookup(|name| match name {
//!     "BELFRY_SLOW_REQUEST_MS" => Some("250".into()),
//!     "BELFRY_SERVER_TIMING" => Some("  ".into()), // blank: unset
//!     _ => None,
//! })
//! .expect("valid settings");
//! let belfry = config.belfry();
//! let _telemetry = config.telemetry(); // `.init()` installs logging
//! # let _ = belfry;
//! ```
//!
//! docs/configuration.md describes each variable; [`VARIABLES`] lists them.

mod error;
mod logging;
mod read;
mod sentry;
mod server;

pub use error::{ConfigError, InvalidVariable};
pub(crate) use logging::LoggingConfig;
pub(crate) use read::parse_ratio;
pub(crate) use sentry::SentryConfig;
pub(crate) use server::ServerConfig;

use read::Reader;

/// Every environment variable belfry reads, in the order it reads them.
///
/// ```
/// assert!(belfry::config::VARIABLES.contains(&"SENTRY_DSN"));
/// assert!(belfry::config::VARIABLES.contains(&"BELFRY_DRAIN_DELAY_MS"));
/// ```
pub const VARIABLES: &[&str] = &[
    // Logging.
    "LOG_FORMAT",
    "RUST_LOG",
    "BELFRY_AUDIT_LOG",
    "BELFRY_LOG_BLOCKING",
    "BELFRY_LOG_QUEUE_LINES",
    "BELFRY_LOG_FLUSH_TIMEOUT_MS",
    "BELFRY_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND",
    // The middleware stack and the server.
    "BELFRY_REQUEST_ID_HEADER",
    "BELFRY_TRUST_REQUEST_ID",
    "BELFRY_SLOW_REQUEST_MS",
    "BELFRY_HUNG_REQUEST_MS",
    "BELFRY_TRUSTED_PROXIES",
    "BELFRY_SERVER_TIMING",
    "BELFRY_TRUST_TRACE_CONTEXT",
    TRACES_SAMPLE_RATE,
    "BELFRY_ACCESS_LOG_SAMPLE",
    "BELFRY_ACCESS_LOG_KEEP_CLIENT_ERRORS",
    "BELFRY_DRAIN_DELAY_MS",
    "BELFRY_SHUTDOWN_TIMEOUT_MS",
    // Sentry.
    "SENTRY_DSN",
    "SENTRY_ENVIRONMENT",
    "SENTRY_RELEASE",
    "SENTRY_SAMPLE_RATE",
    "SENTRY_SEND_DEFAULT_PII",
    "BELFRY_SENTRY_FLUSH_TIMEOUT_MS",
    "BELFRY_SENTRY_MAX_TRACES_PER_SECOND",
    "BELFRY_PANIC_STACKTRACES",
    "BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE",
    "BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE",
    // OpenTelemetry (feature `otel`; read by belfry-otel's `OtelSettings::from_lookup`).
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
];

/// The variable that sets the share of new traces sampled, for Sentry transactions and the
/// sampled flag sent downstream alike: one decision per trace.
pub(crate) const TRACES_SAMPLE_RATE: &str = "SENTRY_TRACES_SAMPLE_RATE";

/// The share of new traces sampled when `SENTRY_TRACES_SAMPLE_RATE` is unset: Sentry
/// transactions and the sampled flag sent downstream follow the one decision.
///
/// ```
/// assert_eq!(belfry::DEFAULT_TRACES_SAMPLE_RATE, 0.1);
/// ```
pub const DEFAULT_TRACES_SAMPLE_RATE: f32 = belfry_trace_context::RatioSampler::DEFAULT_RATIO as f32;

/// Every setting belfry reads from the environment; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) logging: LoggingConfig,
    pub(crate) server: ServerConfig,
    pub(crate) sentry: SentryConfig,
    #[cfg(feature = "otel")]
    pub(crate) otel: belfry_otel::OtelSettings,
}

impl Config {
    /// Reads every variable of [`VARIABLES`] from the environment.
    ///
    /// # Errors
    ///
    /// Every variable holding an invalid value, at once.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every variable of [`VARIABLES`] through `lookup` (a map, in tests).
    ///
    /// # Errors
    ///
    /// Every variable holding an invalid value, at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let lookup = |name: &str| {
            debug_assert!(
                VARIABLES.contains(&name),
                "{name} is read but not listed in VARIABLES"
            );
            lookup(name)
        };
        let mut read = Reader::new(&lookup);
        let config = Self {
            logging: LoggingConfig::read(&mut read),
            server: ServerConfig::read(&mut read),
            sentry: SentryConfig::read(&mut read),
            #[cfg(feature = "otel")]
            otel: crate::otel_setup::read(&lookup, &mut read.problems),
        };
        match ConfigError::from_problems(read.problems) {
            Some(error) => Err(error),
            None => Ok(config),
        }
    }

    /// The middleware stack with these settings.
    pub fn belfry(&self) -> crate::Belfry {
        let belfry = self.server.apply(crate::Belfry::new());
        #[cfg(feature = "sentry")]
        let belfry = match self.sentry.max_traces_per_second {
            Some(limit) => belfry.max_traces_per_second(limit),
            None => belfry,
        };
        // One ratio for Sentry, OTLP and the flag sent downstream.
        belfry.traces_sample_rate(self.traces_sample_rate())
    }

    /// The share of new traces sampled: `SENTRY_TRACES_SAMPLE_RATE`, else the default (with
    /// OTLP traces exported, `OTEL_TRACES_SAMPLER_ARG` replaces it).
    pub(crate) fn traces_sample_rate(&self) -> f64 {
        #[cfg(feature = "otel")]
        if let (Some(ratio), Some(_)) = (self.otel.sampler().root_ratio(), self.otel.traces_endpoint()) {
            return ratio;
        }
        self.server
            .traces_sample_rate
            .unwrap_or(belfry_trace_context::RatioSampler::DEFAULT_RATIO)
    }

    /// Logging (and Sentry) with these settings; [`init`](crate::telemetry::Telemetry::init) it.
    pub fn telemetry(&self) -> crate::telemetry::Telemetry {
        crate::telemetry::Telemetry::from_config(self)
    }
}

#[cfg(test)]
mod tests;
