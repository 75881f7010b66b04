//! Metrics over OTLP (`OTEL_METRICS_EXPORTER=otlp`): belfry's HTTP metrics, read from the
//! registry that serves `/metrics` and pushed every `OTEL_METRIC_EXPORT_INTERVAL` from a thread
//! of their own ([`MetricsExporter`]).

mod request;

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::{self, RecvTimeoutError},
        Arc, Mutex, PoisonError,
    },
    thread::JoinHandle,
    time::{Duration, SystemTime},
};

use belfry_metrics::Metrics;
use http::{header, HeaderMap, HeaderValue, Request};
use opentelemetry_proto::tonic::{common::v1::InstrumentationScope, resource::v1::Resource};
use prost::Message;

pub use request::{HTTP_CLIENT_REQUEST_DURATION, HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_DURATION};

use crate::{config::Compression, http_client::UreqClient, SignalSettings};

/// Exports that got no answer in time (collector down, unreachable or too slow).
static UNREACHABLE: AtomicU64 = AtomicU64::new(0);
/// Exports the collector answered with an error status.
static REJECTED: AtomicU64 = AtomicU64::new(0);

/// Metric exports that failed, by reason; see [`failed_metric_exports`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailedMetricExports {
    /// No answer within the export timeout: collector down, unreachable or too slow.
    pub unreachable: u64,
    /// The collector answered with an error status (a 4xx or 5xx).
    pub rejected: u64,
}

impl FailedMetricExports {
    /// Both reasons added up.
    pub fn total(&self) -> u64 {
        self.unreachable + self.rejected
    }

    /// `(reason, count)` pairs, for a metric labelled by `reason` (`unreachable`, `rejected`).
    pub fn by_reason(&self) -> [(&'static str, u64); 2] {
        [("unreachable", self.unreachable), ("rejected", self.rejected)]
    }
}

/// Metric exports that failed since the process started (all zero when metrics are not
/// exported). Nothing is lost with a failed export: the values are cumulative, and the next
/// export carries them.
///
/// ```
/// assert_eq!(belfry_otel::failed_metric_exports().by_reason(), [("unreachable", 0), ("rejected", 0)]);
/// ```
pub fn failed_metric_exports() -> FailedMetricExports {
    FailedMetricExports {
        unreachable: UNREACHABLE.load(Ordering::Relaxed),
        rejected: REJECTED.load(Ordering::Relaxed),
    }
}

/// Pushes the HTTP metrics of the registries it is given over OTLP, every
/// [`metric_export_interval`](crate::OtelSettings::metric_export_interval), from its own thread,
/// and once more when the [`OtelGuard`](crate::OtelGuard) is dropped (within its bound).
/// Built by [`OtelSettings::start`](crate::OtelSettings::start) when metrics are on; a cheap
/// handle (clones export the same registries).
///
/// What is sent, with cumulative temporality, named as the OpenTelemetry HTTP semantic
/// conventions name them (the `/metrics` names are the Prometheus spelling of the same):
///
/// | OTLP | `/metrics` | kind | attributes |
/// |---|---|---|---|
/// | [`http.server.request.duration`](HTTP_SERVER_REQUEST_DURATION) (`s`) | `http_server_request_duration_seconds` | histogram, belfry's buckets, exemplars of sampled requests | `http.request.method`, `http.route` (left out for unmatched requests), `http.response.status_code` (int; left out when there was no response) |
/// | [`http.server.active_requests`](HTTP_SERVER_ACTIVE_REQUESTS) (`{request}`) | `http_server_active_requests` | up-down counter (non-monotonic sum) | `http.request.method` |
/// | [`http.client.request.duration`](HTTP_CLIENT_REQUEST_DURATION) (`s`) | `http_client_request_duration_seconds` | histogram | `http.request.method`, `server.address`, `http.response.status_code`, `error.type` |
///
/// The values are read on the exporter's thread with [`Metrics::http_snapshot`], from the
/// atomics the request path already writes for `/metrics`: exporting adds nothing to a request.
/// `/metrics` keeps serving them. The process, health-check and telemetry-drop series stay on
/// `/metrics` only.
///
/// An export is one POST bounded by the export timeout (`OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`)
/// and is not retried: the next one carries the same cumulative values. Failures are counted
/// ([`failed_metric_exports`], `belfry_otel_metric_exports_failed_total{reason}` through the
/// facade), and the first one logs one WARN.
///
/// ```
/// use belfry_metrics::Metrics;
/// use belfry_otel::{failed_metric_exports, OtelSettings, SignalSettings};
/// use std::time::Duration;
///
/// let metrics = Metrics::new(); // the registry serving /metrics
/// let otel = OtelSettings::new()
///     // Nothing listens on port 9: every export fails, and is counted.
///     .metrics(SignalSettings::new("http://127.0.0.1:9/v1/metrics").with_timeout(Duration::from_secs(1)))
///     .export_metrics_every(Duration::from_secs(60))
///     .start()
///     .unwrap()
///     .expect("metrics are on");
/// otel.metrics.as_ref().expect("the exporter").export(&metrics);
/// metrics.http_client().record(&http::Method::GET, "api", None, Some("timeout"), Duration::from_secs(1));
///
/// drop(otel.guard); // exports once more, within the timeout
/// assert_eq!(failed_metric_exports().unreachable, 1);
/// ```
#[derive(Clone, Default)]
pub struct MetricsExporter {
    sources: Arc<Mutex<Vec<Metrics>>>,
}

impl MetricsExporter {
    /// Exports `metrics`' HTTP series from the next export on. A registry given twice is
    /// exported once; several registries are sent side by side (give each its own routes).
    pub fn export(&self, metrics: &Metrics) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if !sources.iter().any(|known| known.same_registry(metrics)) {
            sources.push(metrics.clone());
        }
    }

    fn sources(&self) -> Vec<Metrics> {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for MetricsExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsExporter")
            .field("registries", &self.sources().len())
            .finish()
    }
}

/// The exporter's thread, as the guard holds it: dropping `stop` makes it export once more and
/// end.
#[derive(Debug)]
pub(crate) struct MetricsThread {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl MetricsThread {
    /// Starts the thread exporting `exporter`'s registries to `signal` every `interval`.
    pub(crate) fn start(
        exporter: MetricsExporter,
        signal: &SignalSettings,
        resource: Resource,
        scope: InstrumentationScope,
        interval: Duration,
    ) -> Result<Self, String> {
        let destination = Destination::new(signal)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("belfry-otel-metrics".into())
            .spawn(move || {
                let export = || destination.send(&exporter, &resource, &scope);
                loop {
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => export(),
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                            export();
                            return;
                        }
                    }
                }
            })
            .map_err(|error| format!("metrics: cannot start the exporter thread: {error}"))?;
        Ok(Self { stop, thread })
    }

    /// Exports once more and waits for the thread to end: the caller bounds the wait.
    pub(crate) fn shutdown(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// Where and how exports are sent.
struct Destination {
    client: UreqClient,
    endpoint: String,
    headers: HeaderMap,
    compression: Option<Compression>,
}

impl Destination {
    fn new(signal: &SignalSettings) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &signal.headers {
            let name = header::HeaderName::try_from(name.as_str())
                .map_err(|_| format!("metrics: `{name}` is not a valid header name"))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("metrics: the value of header `{name}` is not valid"))?;
            headers.append(name, value);
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        if signal.compression == Some(Compression::Gzip) {
            if cfg!(not(feature = "gzip")) {
                return Err("metrics: gzip compression needs belfry-otel's `gzip` feature".into());
            }
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Request::post(signal.endpoint.as_str())
            .body(())
            .map_err(|error| format!("metrics: {error}"))?;
        Ok(Self {
            client: UreqClient::new(signal.timeout),
            endpoint: signal.endpoint.clone(),
            headers,
            compression: signal.compression,
        })
    }

    /// One export of every registry that has something to say; failures counted, the first
    /// one logged.
    fn send(&self, exporter: &MetricsExporter, resource: &Resource, scope: &InstrumentationScope) {
        let snapshots: Vec<_> = exporter
            .sources()
            .iter()
            .map(Metrics::http_snapshot)
            .filter(|snapshot| !snapshot.is_empty())
            .collect();
        if snapshots.is_empty() {
            return;
        }
        let body = request::export_request(resource, scope, &snapshots, SystemTime::now()).encode_to_vec();
        let body = match self.compression {
            Some(Compression::Gzip) => gzip(body),
            None => body,
        };
        // The URL was checked by `new`.
        let Ok(mut request) = Request::post(self.endpoint.as_str()).body(body) else {
            return;
        };
        *request.headers_mut() = self.headers.clone();
        let failure = match self.client.send_blocking(request) {
            Ok(status) if status.is_success() => return,
            Ok(status) => (&REJECTED, format!("the collector answered {status}")),
            Err(error) => (&UNREACHABLE, error.to_string()),
        };
        let (counter, reason) = failure;
        counter.fetch_add(1, Ordering::Relaxed);
        if UNREACHABLE.load(Ordering::Relaxed) + REJECTED.load(Ordering::Relaxed) == 1 {
            tracing::warn!(
                target: crate::TARGET,
                endpoint = self.endpoint.as_str(),
                "OpenTelemetry metrics export failed ({reason}); the next export sends the same \
                 cumulative values; counted in belfry_otel_metric_exports_failed_total. Said once."
            );
        }
    }
}

#[cfg(feature = "gzip")]
fn gzip(body: Vec<u8>) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a `Vec` cannot fail.
    let _ = encoder.write_all(&body);
    encoder.finish().unwrap_or_default()
}

#[cfg(not(feature = "gzip"))]
fn gzip(body: Vec<u8>) -> Vec<u8> {
    body // not reached: `Destination::new` refuses gzip without the feature
}

#[cfg(test)]
mod tests;
