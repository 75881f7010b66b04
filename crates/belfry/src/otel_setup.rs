//! OpenTelemetry export over OTLP (feature `otel`): the facade's side of [`belfry_otel`].
//!
//! [`Config`](crate::Config) reads the `OTEL_*` variables; [`telemetry::init`](crate::telemetry::init) installs the
//! export layer when an endpoint is set, logs one INFO line saying what is exported where, and
//! keeps the exporters' guard in the [`TelemetryGuard`](crate::telemetry::TelemetryGuard)
//! (flushed first on drop, within the export timeout). An invalid `OTEL_*` value stops start-up
//! like any other; [`Config::belfry`](crate::Config::belfry) takes `OTEL_TRACES_SAMPLER` /
//! `OTEL_TRACES_SAMPLER_ARG` as the ratio of new traces when traces are exported: belfry's one
//! sampling decision per trace serves Sentry, OTLP and the `traceparent` sent downstream alike.
//! With `OTEL_METRICS_EXPORTER=otlp` (and the `metrics` feature), every [`Belfry`](crate::Belfry) built after `init` has its registry's
//! HTTP metrics pushed too (through [`telemetry::export_log_metrics`](crate::telemetry::export_log_metrics)),
//! while `/metrics` keeps serving them.

#[cfg(feature = "metrics")]
use std::sync::OnceLock;

#[cfg(feature = "metrics")]
use belfry_otel::MetricsExporter;
use belfry_otel::{OtelGuard, OtelLayer, OtelSettings};

use crate::config::InvalidVariable;

/// The `OTEL_*` settings read through `lookup`; their problems join `problems` (a header value,
/// which may hold credentials, is never shown).
pub(crate) fn read(
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<InvalidVariable>,
) -> OtelSettings {
    OtelSettings::from_lookup(lookup).unwrap_or_else(|errors| {
        problems.extend(errors.iter().map(|error| {
            if error.variable().ends_with("_HEADERS") {
                InvalidVariable::secret(error.variable(), error.expected())
            } else {
                InvalidVariable::new(error.variable(), error.value(), error.expected())
            }
        }));
        OtelSettings::new()
    })
}

/// The layer and guard of what `settings` turn on, and the line that says so; a failure to
/// start (an endpoint URL the HTTP client rejects) goes to `problems`, logged as WARN once
/// logging is up: the service runs without export rather than not at all.
pub(crate) fn start(
    settings: &OtelSettings,
    problems: &mut Vec<String>,
) -> Option<(OtelLayer, OtelGuard, String)> {
    match settings.start() {
        Ok(Some(otel)) => {
            #[cfg(feature = "metrics")]
            if let Some(exporter) = otel.metrics {
                let _ = METRICS_EXPORTER.set(exporter);
            }
            Some((otel.layer, otel.guard, settings.summary()))
        }
        Ok(None) => None,
        Err(error) => {
            problems.push(format!("{error}; OpenTelemetry export is off"));
            None
        }
    }
}

/// The metrics exporter started by [`start`], when metrics are exported over OTLP.
#[cfg(feature = "metrics")]
static METRICS_EXPORTER: OnceLock<MetricsExporter> = OnceLock::new();

/// Exports [`belfry_otel::dropped_spans`] as `belfry_otel_spans_dropped_total{reason}` and
/// [`belfry_otel::failed_metric_exports`] as `belfry_otel_metric_exports_failed_total{reason}`,
/// and, when metrics go over OTLP, hands `metrics` to the exporter.
#[cfg(feature = "metrics")]
pub(crate) fn export_metrics(metrics: &belfry_metrics::Metrics) {
    metrics.register_otel_spans_dropped(|| belfry_otel::dropped_spans().by_reason());
    metrics.register_otel_metric_exports_failed(|| belfry_otel::failed_metric_exports().by_reason());
    if let Some(exporter) = METRICS_EXPORTER.get() {
        exporter.export(metrics);
    }
}
