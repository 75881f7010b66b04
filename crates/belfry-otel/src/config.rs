//! [`OtelSettings`]: what to export over OTLP, where and how, read from the standard `OTEL_*`
//! variables ([`OtelSettings::from_lookup`]) or set in code (the builder methods).
//!
//! ```
//! use belfry_otel::{OtelSettings, TracesSampler};
//!
//! let env = |name: &str| match name {
//!     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".to_owned()),
//!     "OTEL_SERVICE_NAME" => Some("checkout".to_owned()),
//!     "OTEL_TRACES_SAMPLER_ARG" => Some("0.25".to_owned()),
//!     _ => None,
//! };
//! let settings = OtelSettings::from_lookup(env).unwrap();
//! assert_eq!(settings.traces_endpoint(), Some("http://collector:4318/v1/traces"));
//! assert_eq!(settings.logs_endpoint(), None, "logs are opt-in: OTEL_LOGS_EXPORTER=otlp");
//! assert_eq!(settings.sampler(), TracesSampler::ParentBasedTraceIdRatio(Some(0.25)));
//! assert_eq!(settings.sampler().root_ratio(), Some(0.25));
//!
//! // Every problem is collected, each naming its variable, value and expected form.
//! let env = |name: &str| match name {
//!     "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_owned()),
//!     "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("soon".to_owned()),
//!     _ => None,
//! };
//! let errors = OtelSettings::from_lookup(env).unwrap_err();
//! assert_eq!(errors.len(), 2);
//! assert!(errors.to_string().contains("OTEL_EXPORTER_OTLP_TIMEOUT=`soon` is not valid"));
//!
//! // Nothing set: nothing is exported, nothing is installed.
//! assert!(!OtelSettings::from_lookup(|_| None).unwrap().is_enabled());
//! ```

use std::{fmt, time::Duration};

/// How long one export may take, and how long dropping the [`OtelGuard`](crate::OtelGuard)
/// waits for what is queued, unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise (the
/// specification's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often metrics are exported, unless `OTEL_METRIC_EXPORT_INTERVAL` says otherwise (the
/// specification's default).
pub const DEFAULT_METRIC_EXPORT_INTERVAL: Duration = Duration::from_secs(60);

/// The signal paths appended to `OTEL_EXPORTER_OTLP_ENDPOINT`.
const TRACES_PATH: &str = "/v1/traces";
const LOGS_PATH: &str = "/v1/logs";
const METRICS_PATH: &str = "/v1/metrics";

/// A setting that could not be read: the variable, its value and what was expected.
///
/// ```
/// let error = belfry_otel::ConfigError::new("OTEL_TRACES_SAMPLER", "sometimes", "always_on or ...");
/// assert_eq!(error.to_string(), "OTEL_TRACES_SAMPLER=`sometimes` is not valid: expected always_on or ...");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    expected: &'static str,
}

impl ConfigError {
    /// An error for `variable` holding `value`, which should have been `expected`.
    pub fn new(variable: &'static str, value: impl Into<String>, expected: &'static str) -> Self {
        Self {
            variable,
            value: value.into(),
            expected,
        }
    }

    /// The variable at fault.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// Its value as read (headers, which may hold credentials, are never shown).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What was expected.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}=`{}` is not valid: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in the `OTEL_*` variables, not just the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// The problems, in the order the variables were read.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// How many problems there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: there is at least one problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            fmt::Display::fmt(error, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`).
///
/// belfry makes one sampling decision per trace, in its trace-context layer, and every
/// exporter follows it: a trace continued from a caller keeps the caller's decision. So the
/// sampler here only sets the ratio of the traces that start in this service
/// ([`root_ratio`](Self::root_ratio)), and the non-parent-based names behave like their
/// `parentbased_` form (the caller's decision still wins).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TracesSampler {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio` with its ratio (default 1, as the specification says).
    TraceIdRatio(f64),
    /// `parentbased_always_on`.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`, the default: with `OTEL_TRACES_SAMPLER_ARG`, or `None` for
    /// belfry's own ratio (`SENTRY_TRACES_SAMPLE_RATE`, default 0.1).
    ParentBasedTraceIdRatio(Option<f64>),
}

impl Default for TracesSampler {
    fn default() -> Self {
        Self::ParentBasedTraceIdRatio(None)
    }
}

impl TracesSampler {
    /// The share of new traces to sample, for belfry's trace-context layer; `None`: keep
    /// belfry's own ratio.
    ///
    /// ```
    /// use belfry_otel::TracesSampler;
    ///
    /// assert_eq!(TracesSampler::AlwaysOff.root_ratio(), Some(0.0));
    /// assert_eq!(TracesSampler::ParentBasedAlwaysOn.root_ratio(), Some(1.0));
    /// assert_eq!(TracesSampler::default().root_ratio(), None);
    /// ```
    pub fn root_ratio(&self) -> Option<f64> {
        match *self {
            Self::AlwaysOn | Self::ParentBasedAlwaysOn => Some(1.0),
            Self::AlwaysOff | Self::ParentBasedAlwaysOff => Some(0.0),
            Self::TraceIdRatio(ratio) => Some(ratio),
            Self::ParentBasedTraceIdRatio(ratio) => ratio,
        }
    }

    /// The `OTEL_TRACES_SAMPLER` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AlwaysOn => "always_on",
            Self::AlwaysOff => "always_off",
            Self::TraceIdRatio(_) => "traceidratio",
            Self::ParentBasedAlwaysOn => "parentbased_always_on",
            Self::ParentBasedAlwaysOff => "parentbased_always_off",
            Self::ParentBasedTraceIdRatio(_) => "parentbased_traceidratio",
        }
    }
}

impl fmt::Display for TracesSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.root_ratio() {
            Some(ratio) => write!(f, "{}({ratio})", self.name()),
            None => write!(f, "{}(belfry's ratio)", self.name()),
        }
    }
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (the `gzip` feature).
    Gzip,
}

/// Where and how one signal is sent.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalSettings {
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) compression: Option<Compression>,
}

impl SignalSettings {
    /// Sending to `endpoint` (the full URL, `.../v1/traces`), no headers, the default timeout,
    /// no compression.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            compression: None,
        }
    }

    /// The full URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How long one export may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Adds a header sent with every export (an API key, say).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long one export may take (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Compresses exports.
    pub fn compression(mut self, compression: Option<Compression>) -> Self {
        self.compression = compression;
        self
    }
}

/// What belfry exports over OTLP/HTTP (protobuf); see [`from_lookup`](Self::from_lookup) for the variables.
///
/// [`new`](Self::new) exports nothing; the builder methods turn signals on.
///
/// ```
/// use belfry_otel::{OtelSettings, SignalSettings};
///
/// let settings = OtelSettings::new()
///     .service_name("checkout")
///     .traces(SignalSettings::new("http://127.0.0.1:4318/v1/traces"));
/// assert!(settings.is_enabled());
/// assert_eq!(
///     settings.summary(),
///     "OpenTelemetry export: traces to http://127.0.0.1:4318/v1/traces, logs off, metrics off; \
///      service.name checkout; sampler parentbased_traceidratio(belfry's ratio)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OtelSettings {
    pub(crate) service_name: Option<String>,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) traces: Option<SignalSettings>,
    pub(crate) logs: Option<SignalSettings>,
    pub(crate) metrics: Option<SignalSettings>,
    pub(crate) sampler: TracesSampler,
    pub(crate) max_queue_size: usize,
    pub(crate) metric_export_interval: Duration,
}

/// Spans (and log records) the batch queue holds before new ones are dropped and counted
/// (the SDK's default).
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 2048;

impl Default for OtelSettings {
    fn default() -> Self {
        Self::new()
    }
}

impl OtelSettings {
    /// Nothing exported.
    pub fn new() -> Self {
        Self {
            service_name: None,
            resource: Vec::new(),
            traces: None,
            logs: None,
            metrics: None,
            sampler: TracesSampler::default(),
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            metric_export_interval: DEFAULT_METRIC_EXPORT_INTERVAL,
        }
    }

    /// Reads the `OTEL_*` variables of the process environment; see [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the standard variables through `lookup` (blank values count as unset):
    ///
    /// | variable | meaning | default |
    /// | --- | --- | --- |
    /// | `OTEL_SDK_DISABLED` | `true`: export nothing | `false` |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; `/v1/traces`, `/v1/logs`, `/v1/metrics` appended | unset: no export |
    /// | `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_ENDPOINT` | one signal's full URL | the base URL's |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL` (and per signal) | `http/protobuf` | `http/protobuf` |
    /// | `OTEL_EXPORTER_OTLP_HEADERS` (and per signal) | `key=value` pairs, comma separated, values percent-encoded | none |
    /// | `OTEL_EXPORTER_OTLP_TIMEOUT` (and per signal) | milliseconds per export; also bounds the flush at shutdown | `10000` |
    /// | `OTEL_EXPORTER_OTLP_COMPRESSION` (and per signal) | `gzip` (feature `gzip`) or `none` | `none` |
    /// | `OTEL_SERVICE_NAME` | `service.name` | `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service` |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | `key=value` pairs, comma separated, values percent-encoded | none |
    /// | `OTEL_TRACES_EXPORTER` | `otlp` or `none` | `otlp` |
    /// | `OTEL_LOGS_EXPORTER` | `otlp` or `none` | `none` (opt-in) |
    /// | `OTEL_METRICS_EXPORTER` | `otlp` or `none` | `none` (opt-in) |
    /// | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between two metric exports (more than 0) | `60000` |
    /// | `OTEL_TRACES_SAMPLER` | `parentbased_traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `traceidratio`, `always_on`, `always_off` (see [`TracesSampler`]) | `parentbased_traceidratio` |
    /// | `OTEL_TRACES_SAMPLER_ARG` | the ratio, 0 to 1 | belfry's (`SENTRY_TRACES_SAMPLE_RATE`, 0.1) |
    ///
    /// A signal is exported only when it has an endpoint. Invalid values are all collected
    /// into the error, each naming the variable, the value and the expected form.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut reader = Reader {
            lookup: &|name| lookup(name).filter(|value| !value.trim().is_empty()),
            errors: Vec::new(),
        };
        let settings = reader.settings();
        if reader.errors.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigErrors(reader.errors))
        }
    }

    /// Sets `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Adds a resource attribute (`deployment.environment.name`, `service.version`, ...).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Exports spans (`None`: no traces).
    pub fn traces(mut self, signal: impl Into<Option<SignalSettings>>) -> Self {
        self.traces = signal.into();
        self
    }

    /// Exports log records (`None`: no logs).
    pub fn logs(mut self, signal: impl Into<Option<SignalSettings>>) -> Self {
        self.logs = signal.into();
        self
    }

    /// Exports belfry's HTTP metrics (`None`: no metrics), every
    /// [`export_metrics_every`](Self::export_metrics_every); see
    /// `MetricsExporter` (feature `metrics`).
    pub fn metrics(mut self, signal: impl Into<Option<SignalSettings>>) -> Self {
        self.metrics = signal.into();
        self
    }

    /// How often metrics are exported (default [`DEFAULT_METRIC_EXPORT_INTERVAL`]; at least 1 ms).
    pub fn export_metrics_every(mut self, interval: Duration) -> Self {
        self.metric_export_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How often metrics are exported.
    pub fn metric_export_interval(&self) -> Duration {
        self.metric_export_interval
    }

    /// Sets the sampler; see [`TracesSampler`].
    pub fn traces_sampler(mut self, sampler: TracesSampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Spans the batch queue holds before new ones are dropped (default
    /// [`DEFAULT_MAX_QUEUE_SIZE`]); log records likewise.
    pub fn max_queue_size(mut self, spans: usize) -> Self {
        self.max_queue_size = spans.max(1);
        self
    }

    /// Whether anything is exported.
    pub fn is_enabled(&self) -> bool {
        self.traces.is_some() || self.logs.is_some() || self.metrics.is_some()
    }

    /// Where spans go, when they are exported.
    pub fn traces_endpoint(&self) -> Option<&str> {
        self.traces.as_ref().map(SignalSettings::endpoint)
    }

    /// Where log records go, when they are exported.
    pub fn logs_endpoint(&self) -> Option<&str> {
        self.logs.as_ref().map(SignalSettings::endpoint)
    }

    /// Where metrics go, when they are exported (`OTEL_METRICS_EXPORTER=otlp`).
    pub fn metrics_endpoint(&self) -> Option<&str> {
        self.metrics.as_ref().map(SignalSettings::endpoint)
    }

    /// The sampler in force; its [`root_ratio`](TracesSampler::root_ratio) is for belfry's
    /// trace-context layer.
    pub fn sampler(&self) -> TracesSampler {
        self.sampler
    }

    /// How long dropping the guard may wait: the longest export timeout.
    pub fn flush_timeout(&self) -> Duration {
        [&self.traces, &self.logs, &self.metrics]
            .into_iter()
            .flatten()
            .map(SignalSettings::timeout)
            .max()
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The startup line: which signals are exported, where (URLs only, never headers), the
    /// `service.name` and the sampler.
    pub fn summary(&self) -> String {
        let signal = |name: &str, settings: &Option<SignalSettings>| match settings {
            Some(settings) => format!("{name} to {}", strip_userinfo(&settings.endpoint)),
            None => format!("{name} off"),
        };
        let metrics = match &self.metrics {
            Some(settings) => format!(
                "metrics to {} every {} ms",
                strip_userinfo(&settings.endpoint),
                self.metric_export_interval.as_millis()
            ),
            None => "metrics off".to_owned(),
        };
        format!(
            "OpenTelemetry export: {}, {}, {metrics}; service.name {}; sampler {}",
            signal("traces", &self.traces),
            signal("logs", &self.logs),
            self.resolved_service_name(),
            self.sampler
        )
    }

    pub(crate) fn resolved_service_name(&self) -> &str {
        self.service_name
            .as_deref()
            .or_else(|| {
                self.resource
                    .iter()
                    .find(|(key, _)| key == "service.name")
                    .map(|(_, value)| value.as_str())
            })
            .unwrap_or("unknown_service")
    }
}

/// `https://user:secret@host/...` without `user:secret@`.
fn strip_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// The variable names of one signal.
struct SignalNames {
    endpoint: &'static str,
    protocol: &'static str,
    headers: &'static str,
    timeout: &'static str,
    compression: &'static str,
    path: &'static str,
}

const GENERIC: SignalNames = SignalNames {
    endpoint: "OTEL_EXPORTER_OTLP_ENDPOINT",
    protocol: "OTEL_EXPORTER_OTLP_PROTOCOL",
    headers: "OTEL_EXPORTER_OTLP_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_TIMEOUT",
    compression: "OTEL_EXPORTER_OTLP_COMPRESSION",
    path: "",
};

const TRACES: SignalNames = SignalNames {
    endpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    protocol: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    headers: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    compression: "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    path: TRACES_PATH,
};

const LOGS: SignalNames = SignalNames {
    endpoint: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    protocol: "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    headers: "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    compression: "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    path: LOGS_PATH,
};

const METRICS: SignalNames = SignalNames {
    endpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    protocol: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    headers: "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    compression: "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    path: METRICS_PATH,
};

const EXPECTED_URL: &str = "an http:// or https:// URL";
#[cfg(feature = "gzip")]
const EXPECTED_COMPRESSION: &str = "gzip or none";
#[cfg(not(feature = "gzip"))]
const EXPECTED_COMPRESSION: &str = "none (gzip needs belfry-otel's `gzip` feature)";
const EXPECTED_PROTOCOL: &str = "http/protobuf (belfry exports OTLP over HTTP; point gRPC-only collectors' \
     otlp receiver at its HTTP port, 4318)";
const EXPECTED_PAIRS: &str = "key=value pairs separated by commas";
const HIDDEN: &str = "(not shown: headers may hold credentials)";

/// Reads the variables, collecting every problem.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn settings(&mut self) -> OtelSettings {
        let disabled = self.bool("OTEL_SDK_DISABLED").unwrap_or(false);
        let service_name = self.get("OTEL_SERVICE_NAME").map(|name| name.trim().to_owned());
        let resource = match self.get("OTEL_RESOURCE_ATTRIBUTES") {
            Some(value) => self.pairs("OTEL_RESOURCE_ATTRIBUTES", &value, false),
            None => Vec::new(),
        };
        let sampler = self.sampler();
        let metric_export_interval = self.interval("OTEL_METRIC_EXPORT_INTERVAL");
        let traces_on = self.exporter("OTEL_TRACES_EXPORTER", true);
        let logs_on = self.exporter("OTEL_LOGS_EXPORTER", false);
        let metrics_on = self.exporter("OTEL_METRICS_EXPORTER", false);
        #[cfg(not(feature = "metrics"))]
        let metrics_on = {
            if metrics_on {
                self.fail(
                    "OTEL_METRICS_EXPORTER",
                    "otlp",
                    "none: metrics over OTLP need belfry's `metrics` feature",
                );
            }
            false
        };
        let base = self
            .get(GENERIC.endpoint)
            .and_then(|url| self.url(GENERIC.endpoint, url));
        let generic_protocol_ok = self.protocol(GENERIC.protocol);
        let generic_headers = match self.get(GENERIC.headers) {
            Some(value) => self.pairs(GENERIC.headers, &value, true),
            None => Vec::new(),
        };
        let generic_timeout = self.timeout(GENERIC.timeout);
        let generic_compression = self.compression(GENERIC.compression);
        let signal = |reader: &mut Self, names: &SignalNames, on: bool, exporter_variable: &'static str| {
            let endpoint = match reader.get(names.endpoint) {
                Some(url) => reader.url(names.endpoint, url),
                None => base
                    .as_ref()
                    .map(|base| format!("{}{}", base.trim_end_matches('/'), names.path)),
            };
            let protocol_ok = reader.protocol(names.protocol);
            let headers = match reader.get(names.headers) {
                Some(value) => reader.pairs(names.headers, &value, true),
                None => generic_headers.clone(),
            };
            let timeout = reader.timeout(names.timeout).or(generic_timeout);
            let compression = match reader.get(names.compression) {
                Some(_) => reader.compression(names.compression),
                None => generic_compression,
            };
            if !on || disabled {
                return None;
            }
            let Some(endpoint) = endpoint else {
                if exporter_variable != "OTEL_TRACES_EXPORTER" {
                    reader.errors.push(ConfigError::new(
                        exporter_variable,
                        "otlp",
                        "an endpoint too: OTEL_EXPORTER_OTLP_ENDPOINT or the signal's own",
                    ));
                }
                return None;
            };
            (protocol_ok && generic_protocol_ok).then(|| SignalSettings {
                endpoint,
                headers,
                timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
                compression,
            })
        };
        let traces = signal(self, &TRACES, traces_on, "OTEL_TRACES_EXPORTER");
        let logs = signal(self, &LOGS, logs_on, "OTEL_LOGS_EXPORTER");
        let metrics = signal(self, &METRICS, metrics_on, "OTEL_METRICS_EXPORTER");
        OtelSettings {
            service_name,
            resource,
            traces,
            logs,
            metrics,
            sampler,
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            metric_export_interval: metric_export_interval.unwrap_or(DEFAULT_METRIC_EXPORT_INTERVAL),
        }
    }

    fn fail(&mut self, variable: &'static str, value: impl Into<String>, expected: &'static str) {
        self.errors.push(ConfigError::new(variable, value, expected));
    }

    fn bool(&mut self, variable: &'static str) -> Option<bool> {
        let value = self.get(variable)?;
        match value.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.fail(variable, value, "true or false");
                None
            }
        }
    }

    /// `otlp`, `none` (or a comma-separated list of them); `default` when unset.
    fn exporter(&mut self, variable: &'static str, default: bool) -> bool {
        let Some(value) = self.get(variable) else {
            return default;
        };
        let mut otlp = false;
        for entry in value.split(',').map(|entry| entry.trim().to_ascii_lowercase()) {
            match entry.as_str() {
                "otlp" => otlp = true,
                "none" | "" => {}
                _ => {
                    self.fail(variable, value, "otlp or none");
                    return false;
                }
            }
        }
        otlp
    }

    fn url(&mut self, variable: &'static str, value: String) -> Option<String> {
        let trimmed = value.trim();
        let valid = trimmed
            .parse::<http::Uri>()
            .ok()
            .filter(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some());
        match valid {
            Some(_) => Some(trimmed.to_owned()),
            None => {
                self.fail(variable, strip_userinfo(trimmed), EXPECTED_URL);
                None
            }
        }
    }

    fn protocol(&mut self, variable: &'static str) -> bool {
        match self.get(variable) {
            None => true,
            Some(value) if value.trim() == "http/protobuf" => true,
            Some(value) => {
                self.fail(variable, value, EXPECTED_PROTOCOL);
                false
            }
        }
    }

    fn timeout(&mut self, variable: &'static str) -> Option<Duration> {
        let value = self.get(variable)?;
        match value.trim().parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                self.fail(variable, value, "a whole number of milliseconds");
                None
            }
        }
    }

    fn interval(&mut self, variable: &'static str) -> Option<Duration> {
        let value = self.get(variable)?;
        match value.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => {
                self.fail(variable, value, "a whole number of milliseconds, more than 0");
                None
            }
        }
    }

    fn compression(&mut self, variable: &'static str) -> Option<Compression> {
        let value = self.get(variable)?;
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => None,
            #[cfg(feature = "gzip")]
            "gzip" => Some(Compression::Gzip),
            _ => {
                self.fail(variable, value, EXPECTED_COMPRESSION);
                None
            }
        }
    }

    fn sampler(&mut self) -> TracesSampler {
        const EXPECTED_SAMPLER: &str = "parentbased_traceidratio, parentbased_always_on, \
             parentbased_always_off, traceidratio, always_on or always_off";
        let ratio = self
            .get("OTEL_TRACES_SAMPLER_ARG")
            .and_then(|value| match value.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => Some(ratio),
                _ => {
                    self.fail("OTEL_TRACES_SAMPLER_ARG", value, "a number from 0 to 1");
                    None
                }
            });
        let Some(name) = self.get("OTEL_TRACES_SAMPLER") else {
            return TracesSampler::ParentBasedTraceIdRatio(ratio);
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "always_on" => TracesSampler::AlwaysOn,
            "always_off" => TracesSampler::AlwaysOff,
            "traceidratio" => TracesSampler::TraceIdRatio(ratio.unwrap_or(1.0)),
            "parentbased_always_on" => TracesSampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => TracesSampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => TracesSampler::ParentBasedTraceIdRatio(ratio),
            _ => {
                self.fail("OTEL_TRACES_SAMPLER", name, EXPECTED_SAMPLER);
                TracesSampler::default()
            }
        }
    }

    /// `key=value,key2=value2`, values percent-decoded. Header values are never echoed.
    fn pairs(&mut self, variable: &'static str, value: &str, secret: bool) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for entry in value.split(',').filter(|entry| !entry.trim().is_empty()) {
            match entry.split_once('=') {
                Some((key, val)) if !key.trim().is_empty() => match percent_decode(val.trim()) {
                    Some(decoded) => pairs.push((key.trim().to_owned(), decoded)),
                    None => {
                        self.fail(variable, if secret { HIDDEN } else { value }, EXPECTED_PAIRS);
                        return Vec::new();
                    }
                },
                _ => {
                    self.fail(variable, if secret { HIDDEN } else { value }, EXPECTED_PAIRS);
                    return Vec::new();
                }
            }
        }
        pairs
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape or invalid UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = value.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<OtelSettings, ConfigErrors> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        OtelSettings::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    }

    #[test]
    fn per_signal_endpoints_are_used_as_they_are_and_win_over_the_base() {
        let settings = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
        ])
        .unwrap();
        assert_eq!(settings.traces_endpoint(), Some("http://traces:9999/custom"));
        assert_eq!(settings.logs_endpoint(), Some("http://collector:4318/v1/logs"));
        assert_eq!(settings.metrics_endpoint(), None);
    }

    #[test]
    fn blank_is_unset_and_disabled_or_none_turns_export_off() {
        assert!(!read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")])
            .unwrap()
            .is_enabled());
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
        assert!(read(&on).unwrap().is_enabled());
        assert!(!read(&[on[0], ("OTEL_SDK_DISABLED", "true")])
            .unwrap()
            .is_enabled());
        assert!(!read(&[on[0], ("OTEL_TRACES_EXPORTER", "none")])
            .unwrap()
            .is_enabled());
    }

    #[test]
    fn headers_timeout_and_resource_attributes() {
        let settings = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret, x-tenant = acme"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment.name=prod",
            ),
        ])
        .unwrap();
        let traces = settings.traces.as_ref().unwrap();
        assert_eq!(
            traces.headers,
            [
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("x-tenant".to_owned(), "acme".to_owned())
            ]
        );
        assert_eq!(traces.timeout, Duration::from_millis(1500));
        assert_eq!(settings.flush_timeout(), Duration::from_millis(1500));
        assert_eq!(settings.resolved_service_name(), "from-attrs");
        assert!(!settings.summary().contains("cret"), "{}", settings.summary());
    }

    #[test]
    fn every_problem_is_reported_and_header_values_are_never_shown() {
        let errors = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ("OTEL_SDK_DISABLED", "maybe"),
            ("OTEL_LOGS_EXPORTER", "console"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "br"),
        ])
        .unwrap_err();
        let variables: Vec<_> = errors.iter().map(ConfigError::variable).collect();
        assert_eq!(
            variables,
            [
                "OTEL_SDK_DISABLED",
                "OTEL_TRACES_SAMPLER_ARG",
                "OTEL_TRACES_SAMPLER",
                "OTEL_LOGS_EXPORTER",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_EXPORTER_OTLP_HEADERS",
                "OTEL_EXPORTER_OTLP_COMPRESSION",
            ]
        );
        assert!(!errors.to_string().contains("api-key"), "{errors}");
    }

    #[test]
    fn grpc_is_refused_with_the_reason() {
        let errors = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap_err();
        assert!(
            errors.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL=`grpc`"),
            "{errors}"
        );
        assert!(errors.to_string().contains("4318"), "{errors}");
    }

    #[test]
    #[cfg(not(feature = "metrics"))]
    fn metrics_without_the_feature_are_refused_naming_it() {
        let errors = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ])
        .unwrap_err();
        let error = errors.iter().next().unwrap();
        assert_eq!(error.variable(), "OTEL_METRICS_EXPORTER");
        assert!(errors.to_string().contains("`metrics` feature"), "{errors}");
        let settings = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ])
        .unwrap();
        assert_eq!(settings.metrics_endpoint(), None);
    }

    #[test]
    #[cfg(feature = "metrics")]
    fn metrics_are_opt_in_with_their_interval() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let settings = read(&[base]).unwrap();
        assert_eq!(settings.metrics_endpoint(), None);
        assert_eq!(settings.metric_export_interval(), DEFAULT_METRIC_EXPORT_INTERVAL);
        let settings = read(&[
            base,
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "250"),
        ])
        .unwrap();
        assert_eq!(settings.metrics_endpoint(), Some("http://c:4318/v1/metrics"));
        assert_eq!(settings.metric_export_interval(), Duration::from_millis(250));
        assert!(
            settings
                .summary()
                .contains("metrics to http://c:4318/v1/metrics every 250 ms"),
            "{}",
            settings.summary()
        );
        for bad in ["0", "soon", "-5"] {
            let errors = read(&[base, ("OTEL_METRIC_EXPORT_INTERVAL", bad)]).unwrap_err();
            assert_eq!(
                errors.iter().next().unwrap().variable(),
                "OTEL_METRIC_EXPORT_INTERVAL"
            );
        }
    }

    #[test]
    fn logs_without_an_endpoint_is_an_error() {
        let errors = read(&[("OTEL_LOGS_EXPORTER", "otlp")]).unwrap_err();
        assert_eq!(errors.iter().next().unwrap().variable(), "OTEL_LOGS_EXPORTER");
    }

    #[test]
    fn samplers_feed_belfrys_ratio() {
        let sampler = |name: &str, arg: &str| {
            read(&[("OTEL_TRACES_SAMPLER", name), ("OTEL_TRACES_SAMPLER_ARG", arg)])
                .unwrap()
                .sampler()
        };
        assert_eq!(sampler("traceidratio", ""), TracesSampler::TraceIdRatio(1.0));
        assert_eq!(sampler("traceidratio", "0.5").root_ratio(), Some(0.5));
        assert_eq!(sampler("always_off", "").root_ratio(), Some(0.0));
        assert_eq!(sampler("parentbased_traceidratio", "").root_ratio(), None);
        assert_eq!(sampler("PARENTBASED_ALWAYS_ON", "").root_ratio(), Some(1.0));
    }

    #[test]
    fn userinfo_is_not_shown() {
        let settings = OtelSettings::new().traces(SignalSettings::new("https://u:p@c.example/v1/traces"));
        assert!(settings.summary().contains("https://c.example/v1/traces"));
    }
}
