//! [`OtelSettings::start`]: the exporters, batch processors and `tracing` layers for what the
//! settings turn on.

use std::collections::HashMap;

use opentelemetry::{logs::LoggerProvider, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    logs::{BatchLogProcessor, SdkLoggerProvider},
    resource::{ResourceDetector, TelemetryResourceDetector},
    Resource,
};
use tracing::{span, Subscriber};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

use crate::{
    config::{Compression, SignalSettings},
    http_client::UreqClient,
    trace::SpanQueue,
    OtelGuard, OtelLogLayer, OtelSettings, OtelTraceLayer,
};
#[cfg(feature = "metrics")]
use crate::{metrics::MetricsThread, MetricsExporter};

/// The exporters could not be built (an endpoint the OTLP exporter refuses).
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenTelemetry export cannot start: {}", self.0)
    }
}

impl std::error::Error for StartError {}

/// What [`OtelSettings::start`] built: the layer to add to the subscriber and the guard to
/// hold until the end of `main`.
#[derive(Debug)]
pub struct Otel {
    /// Spans and log records, as the settings say.
    pub layer: OtelLayer,
    /// The metrics exporter, when metrics are on (`OTEL_METRICS_EXPORTER=otlp`): give it the
    /// registry to export with [`MetricsExporter::export`]. With the `metrics` feature.
    #[cfg(feature = "metrics")]
    pub metrics: Option<MetricsExporter>,
    /// Flushes and stops the exporters when dropped.
    pub guard: OtelGuard,
}

/// The `tracing` layer of everything exported: [`OtelTraceLayer`] when traces are on,
/// [`OtelLogLayer`] when logs are.
#[derive(Debug)]
pub struct OtelLayer {
    /// Spans, when traces are exported.
    pub traces: Option<OtelTraceLayer>,
    /// Log records, when logs are exported (`OTEL_LOGS_EXPORTER=otlp`).
    pub logs: Option<OtelLogLayer>,
}

impl<S> Layer<S> for OtelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(traces) = &self.traces {
            traces.on_new_span(attrs, id, ctx.clone());
        }
        if let Some(logs) = &self.logs {
            logs.on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(traces) = &self.traces {
            traces.on_record(id, values, ctx);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if let Some(traces) = &self.traces {
            traces.on_event(event, ctx.clone());
        }
        if let Some(logs) = &self.logs {
            logs.on_event(event, ctx);
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if let Some(traces) = &self.traces {
            traces.on_close(id, ctx);
        }
    }
}

impl OtelSettings {
    /// Builds the exporters (OTLP/HTTP protobuf, each with its own batch thread), the layers and
    /// the metrics exporter (its own thread too);
    /// `Ok(None)` when nothing is to be exported, and then nothing exists.
    ///
    /// No connection is made here: a collector that is not up yet costs nothing at start.
    ///
    /// ```
    /// use belfry_otel::{OtelSettings, SignalSettings};
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// assert!(OtelSettings::new().start().unwrap().is_none());
    ///
    /// let otel = OtelSettings::new()
    ///     .traces(SignalSettings::new("http://127.0.0.1:9/v1/traces"))
    ///     .start()
    ///     .unwrap()
    ///     .expect("traces are on");
    /// let subscriber = tracing_subscriber::registry().with(otel.layer);
    /// # drop(subscriber);
    /// drop(otel.guard); // nothing queued: returns at once
    /// ```
    pub fn start(&self) -> Result<Option<Otel>, StartError> {
        if !self.is_enabled() {
            return Ok(None);
        }
        let resource = self.resource();
        let traces = match &self.traces {
            Some(signal) => {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_signal(signal)
                    .build()
                    .map_err(|error| StartError(format!("traces: {error}")))?;
                Some(SpanQueue::new(exporter, &resource, self.max_queue_size))
            }
            None => None,
        };
        let logs = match &self.logs {
            Some(signal) => {
                let exporter = opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_signal(signal)
                    .build()
                    .map_err(|error| StartError(format!("logs: {error}")))?;
                let config = opentelemetry_sdk::logs::BatchConfigBuilder::default()
                    .with_max_queue_size(self.max_queue_size)
                    .build();
                let processor = BatchLogProcessor::builder(exporter)
                    .with_batch_config(config)
                    .build();
                Some(
                    SdkLoggerProvider::builder()
                        .with_resource(resource.clone())
                        .with_log_processor(processor)
                        .build(),
                )
            }
            None => None,
        };
        let scope = InstrumentationScope::builder("belfry")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        #[cfg(feature = "metrics")]
        let metrics = match &self.metrics {
            Some(signal) => {
                let exporter = MetricsExporter::default();
                let resource = opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes: opentelemetry_proto::transform::common::tonic::Attributes::from(
                        resource
                            .iter()
                            .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
                    )
                    .0,
                    ..Default::default()
                };
                let thread = MetricsThread::start(
                    exporter.clone(),
                    signal,
                    resource,
                    (&scope, None).into(),
                    self.metric_export_interval,
                )
                .map_err(StartError)?;
                Some((exporter, thread))
            }
            None => None,
        };
        #[cfg(feature = "metrics")]
        let (metrics, metrics_thread) = metrics.unzip();
        Ok(Some(Otel {
            layer: OtelLayer {
                traces: traces.clone().map(OtelTraceLayer::new),
                logs: logs
                    .as_ref()
                    .map(|provider| OtelLogLayer::new(provider.logger_with_scope(scope))),
            },
            #[cfg(feature = "metrics")]
            metrics,
            guard: OtelGuard {
                spans: traces,
                logs,
                #[cfg(feature = "metrics")]
                metrics: metrics_thread,
                timeout: self.flush_timeout(),
            },
        }))
    }

    /// `service.name`, the `OTEL_RESOURCE_ATTRIBUTES` and the SDK's `telemetry.sdk.*`.
    fn resource(&self) -> Resource {
        let telemetry = TelemetryResourceDetector.detect();
        Resource::builder_empty()
            .with_attributes(
                telemetry
                    .iter()
                    .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
            )
            .with_attributes(
                self.resource
                    .iter()
                    .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
            )
            .with_service_name(self.resolved_service_name().to_owned())
            .build()
    }
}

/// One signal's settings on an OTLP/HTTP exporter builder (spans and logs alike): belfry's
/// ureq client bounded by the signal's timeout, its endpoint, headers and compression.
trait WithSignal: Sized {
    fn with_signal(self, signal: &SignalSettings) -> Self;
}

impl<T: WithHttpConfig + WithExportConfig> WithSignal for T {
    fn with_signal(self, signal: &SignalSettings) -> Self {
        let headers: HashMap<String, String> = signal.headers.iter().cloned().collect();
        let builder = self
            .with_http_client(UreqClient::new(signal.timeout))
            .with_endpoint(signal.endpoint.clone())
            .with_timeout(signal.timeout)
            .with_headers(headers);
        match signal.compression {
            Some(Compression::Gzip) => builder.with_compression(opentelemetry_otlp::Compression::Gzip),
            None => builder,
        }
    }
}
