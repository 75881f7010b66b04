//! OpenTelemetry export over OTLP for belfry: the spans of sampled requests, with belfry's own
//! trace ids, span ids and sampling decision, optionally every log event and belfry's HTTP
//! metrics (`MetricsExporter`, feature `metrics`), sent to an OpenTelemetry Collector (or any OTLP/HTTP
//! endpoint), configured by the standard `OTEL_*` variables.
//!
//! The `belfry` facade does all of this with its `otel` feature: `belfry::telemetry::init()`
//! reads the variables and installs the layers, `Belfry::from_env` takes the sampler. This
//! crate is the part to use without the facade:
//!
//! ```
//! use belfry_otel::{OtelSettings, SignalSettings};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! // From the environment: `OtelSettings::from_env()`. In code:
//! let settings = OtelSettings::new()
//!     .service_name("checkout")
//!     .traces(SignalSettings::new("http://127.0.0.1:4318/v1/traces"));
//! let otel = settings.start().expect("valid endpoints").expect("traces are on");
//! let subscriber = tracing_subscriber::registry().with(otel.layer);
//! # drop(subscriber);
//! // Keep `otel.guard` until the end of main: dropping it flushes, within the export timeout.
//! drop(otel.guard);
//! ```
//!
//! # What becomes a span
//!
//! Only requests whose trace is sampled ([`TraceContext::is_sampled`], the one decision belfry's
//! trace-context layer makes per trace) are exported, and their spans keep belfry's ids: the
//! `trace_id` and `span_id` on every JSON log line of a request are the exported server span's.
//!
//! - **The request** (the `request` span of belfry-request-id): a `SERVER` span named
//!   `METHOD /route/{template}`, with the access-log line's OpenTelemetry HTTP attributes
//!   (`http.request.method`, `http.route`, `url.path`, `http.response.status_code`,
//!   `client.address`, `user_agent.original`, `error.type`, ...), status `Error` for a 5xx (or
//!   no response at all), and the caller's span as remote parent when the trace came in with
//!   a `traceparent`. It ends with the access-log line, at the end of the response body.
//! - **A panic** (capture's `request panicked`) or a 5xx with an error attached (`request
//!   failed`): an `exception` event on the server span.
//! - **The application's own `tracing` spans** (`#[tracing::instrument]`) inside the request:
//!   `INTERNAL` child spans, their fields as attributes.
//! - **Calls through belfry-client**: `CLIENT` spans whose span id is the one sent in the call's
//!   `traceparent`, so the downstream service's server span is their child.
//! - **belfry tasks** (`belfry.tasks().spawn(..)`): an `INTERNAL` span per task, child of the
//!   request span, with the task's own span id (the parent of the calls it makes).
//!
//! # Cost
//!
//! With no endpoint set nothing is built: no layer, no thread. With traces on, a span of an
//! unsampled request costs one read of [`TraceContext::current`]'s sampled flag at creation and
//! one extension lookup at close. A sampled span is built in the `tracing` span's extensions and
//! handed, finished, to the SDK's `BatchSpanProcessor`, which exports from its own thread
//! through a bounded queue: a collector that is down, slow, never answers or answers 503 costs
//! that thread at most the export timeout per batch and never a request; spans that do not fit
//! are dropped and counted ([`dropped_spans`]), with one WARN when drops start. Measured
//! (docs/performance.md): +1,333 instructions per request on the request thread with traces at
//! a 0.1 ratio, +3,493 counting the batch thread; nothing with no endpoint set.
//!
//! # Metrics
//!
//! With the `metrics` feature and metrics on (`OTEL_METRICS_EXPORTER=otlp`), `Otel::metrics` is
//! a `MetricsExporter`: give it the belfry-metrics registry that serves `/metrics`, and a thread
//! of its own pushes that registry's HTTP series every `OTEL_METRIC_EXPORT_INTERVAL`, read from
//! the atomics the request path already writes (nothing is added to a request). Without the
//! feature, `OTEL_METRICS_EXPORTER=otlp` is refused naming it, and belfry-metrics (and
//! prometheus-client) is not compiled.
//!
//! # Versions
//!
//! The OpenTelemetry crates belfry builds on are re-exported ([`opentelemetry`],
//! [`opentelemetry_sdk`]), so code that adds its own processors or attributes uses the same
//! versions.
//!
//! [`TraceContext::is_sampled`]: belfry_trace_context::TraceContext::is_sampled
//! [`TraceContext::current`]: belfry_trace_context::TraceContext::current
#![deny(missing_docs)]

mod config;
mod guard;
mod http_client;
mod logs;
#[cfg(feature = "metrics")]
mod metrics;
mod start;
mod targets;
mod trace;

pub use config::{
    Compression, ConfigError, ConfigErrors, OtelSettings, SignalSettings, TracesSampler,
    DEFAULT_MAX_QUEUE_SIZE, DEFAULT_METRIC_EXPORT_INTERVAL, DEFAULT_TIMEOUT,
};
pub use guard::OtelGuard;
pub use logs::OtelLogLayer;
#[cfg(feature = "metrics")]
pub use metrics::{
    failed_metric_exports, FailedMetricExports, MetricsExporter, HTTP_CLIENT_REQUEST_DURATION,
    HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_DURATION,
};
pub use start::{Otel, OtelLayer, StartError};
pub use targets::TASK_TARGET;
pub use trace::{dropped_spans, DroppedSpans, OtelTraceLayer};

pub use opentelemetry;
pub use opentelemetry_sdk;

/// Target of belfry-otel's own log lines (the WARN when spans start being dropped).
pub const TARGET: &str = "belfry::otel";
