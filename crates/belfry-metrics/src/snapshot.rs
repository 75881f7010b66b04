//! [`HttpSnapshot`]: the HTTP series of a [`Metrics`] as values, read from the same atomics a
//! scrape reads, for exporters that push instead of being scraped (belfry-otel's OTLP metrics).
//!
//! Taking a snapshot costs what a scrape of these series costs and nothing on the request path:
//! the recording side does not know snapshots exist.

use std::{sync::Arc, time::SystemTime};

use crate::{histogram::AtomicHistogram, Metrics};

/// The HTTP metrics of one [`Metrics`] at one instant ([`Metrics::http_snapshot`]).
///
/// Values are cumulative since [`start_time`](Self::start_time); series appear with their
/// first request and never go away.
///
/// ```
/// use axum::{body::Body, routing::get, Router};
/// use belfry_metrics::Metrics;
/// use http::Request;
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::new();
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .layer(metrics.layer());
/// for id in 1..=3 {
///     let request = Request::get(format!("/users/{id}")).body(Body::empty()).unwrap();
///     app.clone().oneshot(request).await.unwrap().into_body().collect().await.unwrap();
/// }
///
/// let snapshot = metrics.http_snapshot();
/// let users = &snapshot.server_requests[0];
/// assert_eq!((users.method, &*users.route, users.status), ("GET", "/users/{id}", Some(200)));
/// assert_eq!(users.duration.count(), 3);
/// assert_eq!(users.duration.bounds.len() + 1, users.duration.counts.len()); // + the +Inf bucket
/// // All three have ended: none in flight.
/// assert_eq!(snapshot.active_requests[0].in_flight, 0);
/// assert!(snapshot.client_requests.is_empty());
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpSnapshot {
    /// When the counting started: the creation of the [`Metrics`].
    pub start_time: SystemTime,
    /// [`HTTP_SERVER_REQUEST_DURATION`](crate::HTTP_SERVER_REQUEST_DURATION), one entry per
    /// (method, route, status) seen; unmatched requests first, then by route.
    pub server_requests: Vec<ServerRequests>,
    /// [`HTTP_SERVER_ACTIVE_REQUESTS`](crate::HTTP_SERVER_ACTIVE_REQUESTS), one entry per
    /// method seen.
    pub active_requests: Vec<ActiveRequests>,
    /// [`HTTP_CLIENT_REQUEST_DURATION`](crate::HTTP_CLIENT_REQUEST_DURATION), one entry per
    /// (method, server address, status, error type) seen.
    pub client_requests: Vec<ClientRequests>,
}

impl HttpSnapshot {
    /// Whether no request has been recorded yet (nothing to export).
    pub fn is_empty(&self) -> bool {
        self.server_requests.is_empty() && self.active_requests.is_empty() && self.client_requests.is_empty()
    }
}

/// One series of the server duration histogram.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerRequests {
    /// `http_request_method`: a standard method or [`OTHER_METHOD`](crate::OTHER_METHOD).
    pub method: &'static str,
    /// `http_route`: the route template, or [`UNMATCHED_ROUTE`](crate::UNMATCHED_ROUTE).
    pub route: Arc<str>,
    /// `http_response_status_code`; `None` when the request ended without a response.
    pub status: Option<u16>,
    /// The durations, in seconds.
    pub duration: HistogramSnapshot,
}

/// One series of the in-flight gauge.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ActiveRequests {
    /// `http_request_method`.
    pub method: &'static str,
    /// Requests in flight, response bodies included.
    pub in_flight: i64,
}

/// One series of the client duration histogram.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientRequests {
    /// `http_request_method`.
    pub method: &'static str,
    /// `server_address`, or [`OTHER_SERVER_ADDRESS`](crate::OTHER_SERVER_ADDRESS).
    pub server_address: String,
    /// `http_response_status_code`; `None` when the call got no response.
    pub status: Option<u16>,
    /// `error_type`; `None` for a call that did not fail.
    pub error_type: Option<String>,
    /// The durations, in seconds.
    pub duration: HistogramSnapshot,
}

/// An [`AtomicHistogram`] read at one instant ([`AtomicHistogram::snapshot`]).
///
/// ```
/// use belfry_metrics::AtomicHistogram;
///
/// let histogram = AtomicHistogram::new([0.1, 1.0]);
/// histogram.observe(0.05);
/// histogram.observe(0.5);
/// histogram.observe(7.0);
/// let snapshot = histogram.snapshot();
/// assert_eq!(&*snapshot.bounds, &[0.1, 1.0]);
/// // Per bucket, not cumulative (as OTLP wants them); the last one is +Inf.
/// assert_eq!(snapshot.counts, vec![1, 1, 1]);
/// assert_eq!((snapshot.count(), snapshot.sum), (3, 7.55));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HistogramSnapshot {
    /// The finite upper bounds (`le`), sorted; `+Inf` is implied.
    pub bounds: Arc<[f64]>,
    /// Observations per bucket (not cumulative): one per bound, then the `+Inf` bucket.
    pub counts: Vec<u64>,
    /// Sum of the observations.
    pub sum: f64,
    /// The exemplars of the buckets that have one (sampled requests' trace ids).
    pub exemplars: Vec<HistogramExemplar>,
}

impl HistogramSnapshot {
    /// Number of observations: the total of the buckets.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The last sampled observation of one bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct HistogramExemplar {
    /// The trace id of the request.
    pub trace_id: [u8; 16],
    /// The observed value.
    pub value: f64,
    /// When it was observed, in nanoseconds since the Unix epoch.
    pub time_unix_nanos: u64,
}

impl AtomicHistogram {
    /// The buckets, sum and exemplars as values; see [`HistogramSnapshot`].
    pub fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.per_bucket().map(|(_, count)| count).collect();
        let exemplars = self
            .exemplars()
            .into_iter()
            .flatten()
            .map(|sample| HistogramExemplar {
                trace_id: sample.trace_id,
                value: sample.value,
                time_unix_nanos: sample.timestamp_nanos,
            })
            .collect();
        HistogramSnapshot {
            bounds: self.bounds(),
            counts,
            sum: self.sum(),
            exemplars,
        }
    }
}

impl Metrics {
    /// The HTTP series (server durations, in-flight requests, client durations) as values, for
    /// exporters that push; see [`HttpSnapshot`]. Takes no lock the request path takes.
    pub fn http_snapshot(&self) -> HttpSnapshot {
        let server_requests = self
            .http()
            .routes()
            .iter()
            .flat_map(|route| {
                let name: Arc<str> = Arc::from(route.route());
                route.series().into_iter().map(move |series| ServerRequests {
                    method: series.method.as_str(),
                    route: Arc::clone(&name),
                    status: series.status,
                    duration: series.histogram.snapshot(),
                })
            })
            .collect();
        let active_requests = self
            .http()
            .active()
            .snapshot()
            .map(|(method, in_flight)| ActiveRequests {
                method: method.as_str(),
                in_flight,
            })
            .collect();
        let client_requests = self
            .http_client_series()
            .series()
            .into_iter()
            .map(|series| ClientRequests {
                method: series.method.as_str(),
                server_address: series.server_address.to_owned(),
                status: series.status,
                error_type: series.error_type.map(str::to_owned),
                duration: series.histogram.snapshot(),
            })
            .collect();
        HttpSnapshot {
            start_time: self.created(),
            server_requests,
            active_requests,
            client_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};
    use std::time::Duration;

    #[test]
    fn client_series_and_exemplars_are_in_the_snapshot() {
        let metrics = Metrics::new();
        let client = metrics.http_client();
        client.record(
            &Method::GET,
            "api",
            Some(StatusCode::OK),
            None,
            Duration::from_millis(3),
        );
        client.record(&Method::GET, "api", None, Some("timeout"), Duration::from_secs(2));
        let snapshot = metrics.http_snapshot();
        assert!(snapshot.server_requests.is_empty());
        assert!(!snapshot.is_empty());
        let calls = &snapshot.client_requests;
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (
                calls[0].server_address.as_str(),
                calls[0].status,
                calls[0].error_type.as_deref()
            ),
            ("api", Some(200), None)
        );
        assert_eq!(calls[1].error_type.as_deref(), Some("timeout"));
        assert!(snapshot.start_time <= SystemTime::now());

        let histogram = AtomicHistogram::new([1.0]);
        histogram.observe_with_exemplar(0.5, &[7; 16]);
        let exemplars = histogram.snapshot().exemplars;
        assert_eq!(exemplars.len(), 1);
        assert_eq!((exemplars[0].trace_id, exemplars[0].value), ([7; 16], 0.5));
    }

    #[test]
    fn a_fresh_registry_has_nothing_to_export() {
        assert!(Metrics::new().http_snapshot().is_empty());
    }
}
