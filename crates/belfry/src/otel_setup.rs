//! OpenTelemetry export over OTLP (feature `otel`): the facade's side of [`belfry_otel`].
//!
//! [`telemetry::init`](crate::telemetry::init) reads the `OTEL_*` variables, installs the
//! export layer when an endpoint is set, logs one INFO line saying what is exported where, and
//! keeps the exporters' guard in the [`TelemetryGuard`](crate::telemetry::TelemetryGuard)
//! (flushed first on drop, within the export timeout). [`Belfry::from_env`](crate::Belfry::from_env)
//! fails on an invalid `OTEL_*` value, naming it, and takes `OTEL_TRACES_SAMPLER` /
//! `OTEL_TRACES_SAMPLER_ARG` as the ratio of new traces when traces are exported: belfry's one
//! sampling decision per trace serves Sentry, OTLP and the `traceparent` sent downstream alike.

use belfry_otel::{OtelGuard, OtelLayer, OtelSettings};

use crate::{config::ConfigError, Belfry};

/// The layer and guard of what the environment turns on; problems go to `problems` (logged as
/// WARN once logging is up; `Belfry::from_env` then fails on them).
pub(crate) fn start(problems: &mut Vec<String>) -> Option<(OtelLayer, OtelGuard, String)> {
    let settings = match OtelSettings::from_env() {
        Ok(settings) => settings,
        Err(errors) => {
            problems.extend(
                errors
                    .into_iter()
                    .map(|error| format!("{error}; OpenTelemetry export is off")),
            );
            return None;
        }
    };
    match settings.start() {
        Ok(Some(otel)) => Some((otel.layer, otel.guard, settings.summary())),
        Ok(None) => None,
        Err(error) => {
            problems.push(error.to_string());
            None
        }
    }
}

/// `OTEL_*` problems as a startup error, and the OTel sampler's ratio for new traces.
pub(crate) fn from_env(belfry: Belfry) -> Result<Belfry, ConfigError> {
    let settings = OtelSettings::from_env().map_err(|errors| {
        let first = errors.into_iter().next().expect("at least one problem");
        ConfigError::new(first.variable(), first.value(), first.expected())
    })?;
    Ok(match settings.sampler().root_ratio() {
        Some(ratio) if settings.traces_endpoint().is_some() => belfry.traces_sample_rate(ratio),
        _ => belfry,
    })
}

/// Exports [`belfry_otel::dropped_spans`] as `belfry_otel_spans_dropped_total{reason}`.
pub(crate) fn export_metrics(metrics: &belfry_metrics::Metrics) {
    metrics.register_otel_spans_dropped(|| belfry_otel::dropped_spans().by_reason());
}
