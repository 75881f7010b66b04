//! Logging set-up: JSON lines on stdout (pretty on a terminal), filtered by `RUST_LOG`.
//!
//! Call [`init`] once at the start of `main` and keep the returned [`TelemetryGuard`] alive
//! until the end: dropping it flushes what is buffered.
//!
//! | variable | values | default |
//! | --- | --- | --- |
//! | `LOG_FORMAT` | `json`, `pretty` | `json` when stdout is not a terminal, `pretty` when it is |
//! | `RUST_LOG` | a [`tracing_subscriber::EnvFilter`] directive list | `info` |
//! | `SENTRY_DSN` | a Sentry DSN; unset or empty: no Sentry at all | unset |
//! | `SENTRY_ENVIRONMENT`, `SENTRY_RELEASE` | tags of every Sentry event | unset |
//! | `SENTRY_SAMPLE_RATE` | share of error events sent, 0 to 1 | `1.0` |
//! | `SENTRY_TRACES_SAMPLE_RATE` | share of requests sent as performance transactions, 0 to 1 | `0.1` |
//! | `SENTRY_SEND_DEFAULT_PII` | let the SDK send personal data (user ids, IPs) | `false` |
//! | `BELFRY_SENTRY_FLUSH_TIMEOUT_MS` | how long dropping the guard waits for Sentry; also bounds each send | `2000` |
//! | `BELFRY_PANIC_STACKTRACES` | send full stack traces with panic events (costly: symbolized on the panicking thread) | `false` |
//! | `BELFRY_AUDIT_LOG` | a file for [audit events](crate::audit) (JSON lines, appended), or `stdout` | `stdout` |
//! | `BELFRY_LOG_BLOCKING` | write log lines on the logging thread, waiting for stdout, instead of through the writer thread | `false` |
//! | `BELFRY_LOG_QUEUE_LINES` | lines the writer thread's queue holds before INFO and below are dropped (WARN and ERROR: twice as many) | `8192` |
//! | `BELFRY_LOG_FLUSH_TIMEOUT_MS` | how long dropping the guard waits for queued lines to be written | `2000` |
//! | `BELFRY_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND` | lines one callsite may log a second before the rest are suppressed and summarised (JSON output; 0: no limit; the access log, the capture layer's panic and 5xx lines and audit events exempt) | `100` |
//! | `BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE` | Sentry error events per fingerprint per minute (0: no cap); see `belfry::sentry::budget` | `10` |
//! | `BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE` | Sentry error events per minute overall (0: no cap) | `100` |
//!
//! The `SENTRY_*` and `BELFRY_SENTRY_*` variables and `BELFRY_PANIC_STACKTRACES` take effect
//! with the Cargo feature `sentry` (on by default) only; without it a set `SENTRY_DSN` is said
//! once at WARN. With Sentry on, `tracing` ERROR events become Sentry events and INFO/WARN events become
//! breadcrumbs of the request they happened in; panics and 5xx responses are reported by
//! [`belfry_capture`] through the Sentry reporter. Sentry Logs are not sent: stdout is the log pipeline, Sentry gets errors.
//! JSON lines are written by [`belfry_log::JsonLines`]: `timestamp` (RFC 3339, UTC), `level`,
//! `target`, `message`, the event's own fields, the fields of every span it happened in
//! (`#[instrument(fields(..))]` and later `Span::record` values included, innermost span first)
//! and, while serving a request, the request span's `request_id` (and `trace_id`, `span_id`)
//! and the [request fields](crate::request) — all at top level, no key twice (an event field
//! beats a span field of the same name; a field named like the line's own keys is written as
//! `fields.<name>`; see [`belfry_log`] for the rules):
//!
//! ```text
//! {"timestamp":"2026-11-23T15:04:05.123456Z","level":"INFO","target":"belfry_demo","message":"user looked up","user_id":42,"tenant_id":"acme","request_id":"0193…"}
//! ```
//!
//! Records of the `log` crate are bridged (tracing-log's `LogTracer`), with their own target,
//! through the same `RUST_LOG` filter.
//!
//! Lines go to stdout through a writer thread ([`belfry_log::NonBlocking`]): a stalled stdout
//! never stalls a request. When the queue is full, TRACE to INFO lines are dropped first, WARN
//! and ERROR kept up to twice the bound; drops are counted ([`dropped_log_lines`], exported as
//! `belfry_log_lines_dropped_total{level}` by [`export_log_metrics`]) and reported by one WARN
//! line once stdout catches up. Dropping the [`TelemetryGuard`] writes what is queued, waiting at
//! most `BELFRY_LOG_FLUSH_TIMEOUT_MS`; a SIGKILL loses what is queued.
//!
//! An invalid value of any of these variables stops start-up: [`init`] returns the
//! [`ConfigError`] naming every one (see [`Config`]); nothing is installed.
#![cfg_attr(
    not(feature = "metrics"),
    doc = "",
    doc = "[`export_log_metrics`]: ../index.html#cargo-features"
)]

use std::{
    fs::{File, OpenOptions},
    io::{self, IsTerminal, Write},
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use belfry_log::{DropReport, DroppedLines, JsonLines, NonBlocking, QueueBounds, WriterGuard};
#[cfg(feature = "metrics")]
use belfry_metrics::Metrics;

use crate::config::{Config, ConfigError};

use tracing_subscriber::{
    filter::{filter_fn, Targets},
    fmt::MakeWriter,
    layer::SubscriberExt,
    util::SubscriberInitExt,
    EnvFilter, Layer,
};

/// The target of telemetry's own log lines (what could not be set up, and why).
pub const TARGET: &str = "belfry::telemetry";

/// The filter used when `RUST_LOG` is unset or unreadable.
pub const DEFAULT_FILTER: &str = "info";

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors (`kubectl logs`, Loki, ...).
    Json,
    /// Human-readable, coloured lines, for a terminal.
    Pretty,
}

impl LogFormat {
    /// `json` when stdout is not a terminal, `pretty` when it is.
    ///
    /// ```
    /// // Under `cargo test` stdout is captured, so not a terminal.
    /// # if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
    /// assert_eq!(belfry::telemetry::LogFormat::detect(), belfry::telemetry::LogFormat::Json);
    /// # }
    /// ```
    pub fn detect() -> Self {
        if io::stdout().is_terminal() {
            Self::Pretty
        } else {
            Self::Json
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    /// ```
    /// use belfry::telemetry::LogFormat;
    ///
    /// assert_eq!("JSON".parse(), Ok(LogFormat::Json));
    /// assert_eq!("pretty".parse(), Ok(LogFormat::Pretty));
    /// assert!("xml".parse::<LogFormat>().is_err());
    /// ```
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            other => Err(format!("LOG_FORMAT must be `json` or `pretty`, not `{other}`")),
        }
    }
}

/// Logging configuration; [`Telemetry::from_env`] reads it from the environment, the builder
/// methods set it in code.
///
/// ```no_run
/// use belfry::telemetry::{LogFormat, Telemetry};
///
/// let _guard = Telemetry::from_env()?.log_format(LogFormat::Json).filter("info,my_app=debug").init();
/// # Ok::<(), belfry::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Telemetry {
    format: LogFormat,
    filter: String,
    audit_log: Option<PathBuf>,
    blocking: bool,
    queue_lines: usize,
    flush_timeout: Duration,
    callsite_limit: u32,
    /// Sentry's client settings, from [`Config`]; `None`: no Sentry.
    #[cfg(feature = "sentry")]
    sentry: Option<belfry_sentry::ClientSettings>,
    /// `SENTRY_DSN` was set, but Sentry is not compiled in: said once logging is up.
    #[cfg(not(feature = "sentry"))]
    unused_dsn: bool,
    /// What to export over OTLP, from [`Config`]; nothing by default.
    #[cfg(feature = "otel")]
    otel: belfry_otel::OtelSettings,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

/// Lines per second one callsite may log before the rest of that second's are suppressed (and
/// summarised by one line), unless `BELFRY_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND` says otherwise.
/// Generous for a loop (one logging on every iteration writes millions a second); a handler's
/// per-request line is cut above 100 requests a second, so a busy service that needs all of them
/// raises it.
pub const DEFAULT_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND: u32 = 100;

/// Lines the writer thread's queue holds before INFO and below are dropped, unless
/// `BELFRY_LOG_QUEUE_LINES` says otherwise; WARN and ERROR lines are kept up to twice as many.
pub const DEFAULT_LOG_QUEUE_LINES: usize = 8192;

/// How long dropping the [`TelemetryGuard`] waits for queued log lines, unless
/// `BELFRY_LOG_FLUSH_TIMEOUT_MS` says otherwise.
pub const DEFAULT_LOG_FLUSH_TIMEOUT: Duration = belfry_log::DEFAULT_FLUSH_TIMEOUT;

impl Telemetry {
    /// The defaults: JSON unless stdout is a terminal, `RUST_LOG` `info`, audit events on
    /// stdout, lines through the writer thread; see docs/configuration.md.
    pub fn new() -> Self {
        Self {
            format: LogFormat::detect(),
            filter: DEFAULT_FILTER.to_owned(),
            audit_log: None,
            blocking: false,
            queue_lines: DEFAULT_LOG_QUEUE_LINES,
            flush_timeout: DEFAULT_LOG_FLUSH_TIMEOUT,
            callsite_limit: DEFAULT_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND,
            #[cfg(feature = "sentry")]
            sentry: None,
            #[cfg(not(feature = "sentry"))]
            unused_dsn: false,
            #[cfg(feature = "otel")]
            otel: belfry_otel::OtelSettings::new(),
        }
    }

    /// The defaults, overridden by the environment: [`Config::from_env`]`()?.telemetry()`.
    ///
    /// # Errors
    ///
    /// Every invalid variable belfry reads, at once (see [`Config`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_env().map(|config| config.telemetry())
    }

    pub(crate) fn from_config(config: &Config) -> Self {
        let mut telemetry = config.logging.apply(Self::new());
        #[cfg(feature = "sentry")]
        {
            telemetry.sentry = config.sentry.client_settings(config.traces_sample_rate());
        }
        #[cfg(not(feature = "sentry"))]
        {
            telemetry.unused_dsn = config.sentry.dsn.is_some();
        }
        #[cfg(feature = "otel")]
        {
            telemetry.otel = config.otel.clone();
        }
        telemetry
    }

    /// How long dropping the [`TelemetryGuard`] waits for queued lines to be written (default
    /// [`DEFAULT_LOG_FLUSH_TIMEOUT`]). `BELFRY_LOG_FLUSH_TIMEOUT_MS` does the same.
    pub fn log_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Writes log lines on the logging thread, waiting for the output, instead of handing them
    /// to the writer thread (default `false`). `BELFRY_LOG_BLOCKING=true` does the same.
    pub fn blocking(mut self, blocking: bool) -> Self {
        self.blocking = blocking;
        self
    }

    /// How many lines the writer thread's queue holds before TRACE to INFO lines are dropped;
    /// WARN and ERROR are kept up to twice as many (default [`DEFAULT_LOG_QUEUE_LINES`]).
    /// `BELFRY_LOG_QUEUE_LINES` does the same.
    pub fn log_queue_lines(mut self, lines: usize) -> Self {
        self.queue_lines = lines;
        self
    }

    /// Lines per second one callsite may log (JSON output) before the rest of that second's are
    /// suppressed and summarised by one line (default
    /// [`DEFAULT_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND`]; 0: no limit). The access log, the
    /// capture layer's panic and 5xx lines (one per request) and audit events are never
    /// suppressed. `BELFRY_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND` does the same.
    pub fn max_lines_per_callsite_per_second(mut self, lines: u32) -> Self {
        self.callsite_limit = lines;
        self
    }

    /// Writes [audit events](crate::audit) as JSON lines to `path` (appended; rotation and
    /// retention are left to tools outside the process) instead of stdout.
    /// `BELFRY_AUDIT_LOG=<path>` does the same from the environment.
    pub fn audit_log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_log = Some(path.into());
        self
    }

    /// Sets the output format.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the filter, in `RUST_LOG` syntax.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = filter.into();
        self
    }

    /// Installs the global subscriber writing to stdout, and returns the guard that flushes it.
    ///
    /// # Panics
    ///
    /// If a global subscriber is already installed; use [`try_init`](Self::try_init) to get an
    /// error instead.
    pub fn init(self) -> TelemetryGuard {
        self.try_init()
            .expect("belfry telemetry: a global tracing subscriber is already set")
    }

    /// Installs the global subscriber writing to stdout, or says why it could not.
    pub fn try_init(self) -> Result<TelemetryGuard, tracing_subscriber::util::TryInitError> {
        self.try_init_with_writer(io::stdout)
    }

    /// Installs the global subscriber writing to `writer` (for tests and benchmarks).
    pub fn try_init_with_writer<W>(
        self,
        writer: W,
    ) -> Result<TelemetryGuard, tracing_subscriber::util::TryInitError>
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        let mut problems = Vec::new();
        let log_format = match self.format {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        };
        #[cfg(feature = "sentry")]
        let sentry_summary = self.sentry.as_ref().map(belfry_sentry::ClientSettings::summary);
        #[cfg(not(feature = "sentry"))]
        let sentry_summary: Option<String> = None;
        #[cfg(feature = "sentry")]
        let sentry = self.sentry.map(belfry_sentry::ClientSettings::init);
        #[cfg(not(feature = "sentry"))]
        if self.unused_dsn {
            problems.push("SENTRY_DSN is set, but belfry was built without its `sentry` feature: nothing is sent to Sentry".to_owned());
        }
        let audit_file = self.audit_log.and_then(|path| match AuditFile::open(&path) {
            Ok(file) => Some(file),
            Err(error) => {
                problems.push(format!(
                    "BELFRY_AUDIT_LOG {} cannot be opened ({error}); audit events go to stdout",
                    path.display()
                ));
                None
            }
        });
        let separate_audit = audit_file.is_some();
        // The audit file gets every audit event unless RUST_LOG says otherwise about `audit`.
        let filter_text = if separate_audit && !names_target(&self.filter, crate::audit::TARGET) {
            format!("{},{}=info", self.filter, crate::audit::TARGET)
        } else {
            self.filter.clone()
        };
        // One global filter, and no per-layer filters: those add bookkeeping to every span of
        // every request (measured with crates/belfry-bench). Layers pick events by target.
        let filter = RequestFilter::new(&filter_text).unwrap_or_else(|error| {
            problems.push(format!(
                "RUST_LOG `{}` is not a valid filter ({error}); using `{DEFAULT_FILTER}`",
                self.filter
            ));
            RequestFilter::new(DEFAULT_FILTER).expect("the default filter is valid")
        });
        let limit = belfry_log::CallsiteLimit::per_second(self.callsite_limit)
            // One line per request (the access log; the capture layer's panic and 5xx lines),
            // bounded by the request rate and needed in full; audit events are a record.
            .exempt(belfry_access_log::TARGET)
            .exempt(belfry_capture::TARGET)
            .exempt(crate::audit::TARGET);
        let (output, writer_guard) = if self.blocking {
            (output_layer(self.format, separate_audit, limit, writer), None)
        } else {
            let report = match self.format {
                LogFormat::Json => DropReport::Json,
                LogFormat::Pretty => DropReport::Text,
            };
            let (non_blocking, guard) = NonBlocking::builder()
                .bounds(QueueBounds::lines_then_double(self.queue_lines))
                .flush_timeout(self.flush_timeout)
                .drop_report(report)
                .finish(writer);
            let _ = WRITER.set(non_blocking.clone());
            (
                output_layer(self.format, separate_audit, limit, non_blocking),
                Some(guard),
            )
        };
        let audit_layer = audit_file.map(|file| JsonLines::new(file).only(crate::audit::TARGET));
        // Failed tasks are captured by `belfry::task` itself (with their error chain), once.
        #[cfg(feature = "sentry")]
        let sentry_layers = sentry
            .as_ref()
            .map(|_| belfry_sentry::TracingBridge::new().errors_reported_by(crate::task::TARGET));
        #[cfg(not(feature = "sentry"))]
        let sentry_layers: Option<tracing_subscriber::layer::Identity> = None;
        #[cfg(feature = "otel")]
        let (otel_layer, otel) = match crate::otel_setup::start(&self.otel, &mut problems) {
            Some((layer, guard, summary)) => (Some(layer), Some((guard, summary))),
            None => (None, None),
        };
        #[cfg(not(feature = "otel"))]
        let otel_layer = None::<tracing_subscriber::layer::Identity>;
        let filter: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> = match filter {
            RequestFilter::Static(targets) => Box::new(targets),
            RequestFilter::Dynamic(env_filter) => env_filter,
        };
        let max_level = filter.max_level_hint();
        tracing_subscriber::registry()
            .with(filter)
            .with(output)
            .with(audit_layer)
            .with(sentry_layers)
            .with(otel_layer)
            .try_init()?;
        // `log` records: the same filter decides (LogTracer asks the subscriber), and `log`'s own
        // max level skips the records the filter would drop anyway.
        let log_level = max_level.map_or(tracing_log::log::LevelFilter::Trace, |level| {
            tracing_log::AsLog::as_log(&level)
        });
        if let Err(error) = tracing_log::LogTracer::builder().with_max_level(log_level).init() {
            problems.push(format!(
                "records of the `log` crate are not bridged: another logger is set ({error})"
            ));
        }
        belfry_capture::install_panic_hook();
        for problem in problems {
            tracing::warn!(target: TARGET, "{problem}");
        }
        #[cfg(feature = "otel")]
        let (otel, otel_summary) = match otel {
            Some((guard, summary)) => (Some(guard), Some(summary)),
            None => (None, None),
        };
        #[cfg(not(feature = "otel"))]
        let otel_summary: Option<String> = None;
        let _ = STARTUP.set(StartupSummary {
            log_format,
            sentry: or_off(sentry_summary),
            otel: or_off(otel_summary),
        });
        Ok(TelemetryGuard {
            #[cfg(feature = "sentry")]
            sentry,
            writer: writer_guard,
            #[cfg(feature = "otel")]
            otel,
        })
    }
}

/// The output layer of `format`, leaving audit events out when they have their own file; JSON
/// lines with the callsite limit (the pretty output, for a terminal, has none).
fn output_layer<S, W>(
    format: LogFormat,
    separate_audit: bool,
    limit: belfry_log::CallsiteLimit,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let json = |writer| {
        let layer = JsonLines::new(writer).limit_callsites(limit);
        let _ = SUPPRESSED.set(layer.suppressed());
        layer
    };
    match (format, separate_audit) {
        (LogFormat::Json, false) => json(writer).boxed(),
        (LogFormat::Json, true) => json(writer).all_but(crate::audit::TARGET).boxed(),
        (LogFormat::Pretty, false) => crate::pretty::layer().with_writer(writer).boxed(),
        (LogFormat::Pretty, true) => crate::pretty::layer()
            .with_writer(writer)
            .with_filter(filter_fn(|metadata| metadata.target() != crate::audit::TARGET))
            .boxed(),
    }
}

/// What telemetry turned on, for the one start-up line (`listening`, written by
/// [`Belfry::serve`](crate::Belfry::serve)): never a DSN key or an exporter header.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "health"), allow(dead_code))]
pub(crate) struct StartupSummary {
    pub(crate) log_format: &'static str,
    pub(crate) sentry: String,
    pub(crate) otel: String,
}

/// `summary`, or `off` when that part is not on.
fn or_off(summary: Option<String>) -> String {
    summary.unwrap_or_else(|| "off".to_owned())
}

/// Set by [`Telemetry::try_init`].
static STARTUP: OnceLock<StartupSummary> = OnceLock::new();

/// What [`Telemetry::try_init`] turned on; `None` before (or when another subscriber is used).
#[cfg_attr(not(feature = "health"), allow(dead_code))]
pub(crate) fn startup_summary() -> Option<&'static StartupSummary> {
    STARTUP.get()
}

/// The writer thread's handle, once [`Telemetry::try_init`] has installed it.
static WRITER: OnceLock<NonBlocking> = OnceLock::new();

/// The JSON output's count of suppressed lines, once [`Telemetry::try_init`] has installed it.
static SUPPRESSED: OnceLock<belfry_log::SuppressedLines> = OnceLock::new();

/// Log lines suppressed since start by the callsite limit, per level (all zero before [`init`],
/// with the pretty output, or with `BELFRY_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND=0`).
///
/// ```
/// assert_eq!(belfry::telemetry::suppressed_log_lines().total(), 0);
/// ```
pub fn suppressed_log_lines() -> DroppedLines {
    SUPPRESSED
        .get()
        .map(|suppressed| suppressed.counts())
        .unwrap_or_default()
}

/// Log lines dropped since start because stdout could not keep up, per level (all zero with
/// `BELFRY_LOG_BLOCKING=true` or before [`init`]).
///
/// ```
/// assert_eq!(belfry::telemetry::dropped_log_lines().total(), 0);
/// ```
pub fn dropped_log_lines() -> DroppedLines {
    WRITER.get().map(NonBlocking::dropped).unwrap_or_default()
}

/// Exports what telemetry did not write or send on `metrics`: [`dropped_log_lines`] as
/// `belfry_log_lines_dropped_total{level}`, the callsite limiter's suppressed lines as
/// `belfry_log_lines_suppressed_total{level}`, and (feature `sentry`) the Sentry events and
/// transactions not delivered as `belfry_sentry_events_dropped_total{reason}` and
/// `belfry_sentry_transactions_dropped_total{reason}` (see docs/reliability.md). [`Belfry`](crate::Belfry)
/// calls it on its registry.
///
/// ```
/// let metrics = belfry::metrics::Metrics::new();
/// belfry::telemetry::export_log_metrics(&metrics);
/// let text = metrics.render();
/// assert!(text.contains("belfry_log_lines_dropped_total{level=\"info\"} 0"));
/// assert!(text.contains("belfry_log_lines_suppressed_total{level=\"info\"} 0"));
#[cfg_attr(
    feature = "sentry",
    doc = r#"assert!(text.contains("belfry_sentry_events_dropped_total{reason=\"budget\"} 0"));"#
)]
#[cfg_attr(
    feature = "sentry",
    doc = r#"assert!(text.contains("belfry_sentry_transactions_dropped_total{reason=\"send_failed\"} 0"));"#
)]
/// ```
#[cfg(feature = "metrics")]
pub fn export_log_metrics(metrics: &Metrics) {
    metrics.register_log_lines_dropped(|| dropped_log_lines().by_level());
    metrics.register_log_lines_suppressed(|| suppressed_log_lines().by_level());
    #[cfg(feature = "sentry")]
    metrics.register_sentry_dropped(
        belfry_sentry::drops::dropped_events,
        belfry_sentry::drops::dropped_transactions,
    );
    #[cfg(feature = "otel")]
    crate::otel_setup::export_metrics(metrics);
}

/// Whether the `RUST_LOG`-style `directives` say something about `target` itself (not a
/// target that merely contains it: `auditor=debug` is not about `audit`).
fn names_target(directives: &str, target: &str) -> bool {
    directives.split(',').any(|directive| {
        let name = directive.trim().split(['=', '[']).next().unwrap_or_default();
        name == target
            || name
                .strip_prefix(target)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

/// Checks `RUST_LOG`-style `directives`, for [`Config`]; the error says what was expected.
pub(crate) fn check_filter(directives: &str) -> Result<(), String> {
    RequestFilter::new(directives)
        .map(drop)
        .map_err(|error| format!("`tracing` filter directives such as `info,my_app=debug` ({error})"))
}

/// The `RUST_LOG` filter. Plain `target=level` directives (the usual case) become a static
/// [`Targets`] filter: no locks, decided once per callsite. Only directives that filter on spans
/// or fields (`[span{field=value}]=debug`) need [`EnvFilter`], whose span bookkeeping takes a
/// read lock on every span enter, exit and close — a global lock on every request.
enum RequestFilter {
    Static(Targets),
    Dynamic(Box<EnvFilter>),
}

impl RequestFilter {
    fn new(directives: &str) -> Result<Self, tracing_subscriber::filter::ParseError> {
        match directives.parse::<Targets>() {
            Ok(targets) if !directives.contains('[') => Ok(Self::Static(targets)),
            _ => EnvFilter::try_new(directives).map(|filter| Self::Dynamic(Box::new(filter))),
        }
    }
}

/// The audit log file: shared, appended to with one `write` per line.
#[derive(Clone)]
struct AuditFile(Arc<File>);

impl AuditFile {
    fn open(path: &Path) -> io::Result<Self> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|file| Self(Arc::new(file)))
    }
}

impl Write for AuditFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

impl<'a> MakeWriter<'a> for AuditFile {
    type Writer = AuditFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps logging (and Sentry) set up; dropping it flushes buffered output, waiting for Sentry
/// at most its flush timeout and for queued log lines at most `BELFRY_LOG_FLUSH_TIMEOUT_MS`.
/// Hold it in `main`:
///
/// ```no_run
/// let _telemetry = belfry::telemetry::init()?;
/// // ... run the service ...
/// # Ok::<(), belfry::ConfigError>(())
/// // `_telemetry` is dropped at the end of `main`: logs are flushed.
/// ```
#[must_use = "dropping the guard flushes telemetry: hold it until the end of main"]
pub struct TelemetryGuard {
    #[cfg(feature = "sentry")]
    sentry: Option<belfry_sentry::ClientGuard>,
    writer: Option<WriterGuard>,
    #[cfg(feature = "otel")]
    otel: Option<belfry_otel::OtelGuard>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("sentry_enabled", &self.sentry_enabled())
            .finish()
    }
}

impl TelemetryGuard {
    /// Whether Sentry is on (`SENTRY_DSN` was set to a valid DSN; always `false` without the
    /// `sentry` feature).
    pub fn sentry_enabled(&self) -> bool {
        #[cfg(feature = "sentry")]
        return self.sentry.is_some();
        #[cfg(not(feature = "sentry"))]
        false
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // OTLP export and Sentry first (each bounded by its timeout), so their own warnings
        // still reach stdout; then the log queue (bounded by BELFRY_LOG_FLUSH_TIMEOUT_MS).
        #[cfg(feature = "otel")]
        drop(self.otel.take());
        #[cfg(feature = "sentry")]
        drop(self.sentry.take());
        drop(self.writer.take());
        let _ = io::stdout().flush();
    }
}

/// Sets up logging (and Sentry) from the environment; see the [module docs](self).
///
/// # Errors
///
/// Every invalid variable belfry reads, at once (see [`Config`]): nothing is installed.
///
/// # Panics
///
/// If a global subscriber is already installed.
pub fn init() -> Result<TelemetryGuard, ConfigError> {
    Telemetry::from_env().map(Telemetry::init)
}

#[cfg(test)]
mod tests {
    use super::{names_target, RequestFilter};

    #[test]
    fn a_directive_names_a_target_exactly() {
        assert!(names_target("warn,audit=debug", "audit"));
        assert!(names_target("warn, audit", "audit"));
        assert!(names_target("audit::sub=trace", "audit"));
        assert!(names_target("audit[span]=info", "audit"));
        assert!(!names_target("warn,auditor=debug", "audit"));
        assert!(!names_target("warn,my_audit=debug", "audit"));
    }

    #[test]
    fn plain_directives_get_the_static_filter_and_span_directives_the_dynamic_one() {
        assert!(matches!(RequestFilter::new("info"), Ok(RequestFilter::Static(_))));
        assert!(matches!(
            RequestFilter::new("info,my_app=debug,audit=info"),
            Ok(RequestFilter::Static(_))
        ));
        assert!(matches!(
            RequestFilter::new("info,[request{user=7}]=trace"),
            Ok(RequestFilter::Dynamic(_))
        ));
        assert!(RequestFilter::new("info,=[").is_err());
    }
}
