//! The HTTP client histogram: [`HttpClientMetrics`], recording outgoing calls into
//! [`HTTP_CLIENT_REQUEST_DURATION`](crate::HTTP_CLIENT_REQUEST_DURATION).

mod bounded_labels;
mod collector;
mod series;

use std::{fmt, sync::Arc, time::Duration};

use http::{Method, StatusCode};

pub(crate) use collector::HttpClientCollector;
pub(crate) use series::ClientSeries;

/// Records outgoing HTTP calls into
/// [`http_client_request_duration_seconds`](crate::HTTP_CLIENT_REQUEST_DURATION), labelled by
/// method, server address, status code and error type. Get it with
/// [`Metrics::http_client`](crate::Metrics::http_client); HTTP client middleware (belfry-client's
/// `PropagateLayer`) calls [`record`](Self::record) once per call.
///
/// A cheap handle (one `Arc`): clone it into every client. Labels are bounded whatever the
/// callers pass:
///
/// - `http_request_method`: normalised as on the server side, the nine standard methods or
///   [`OTHER_METHOD`](crate::OTHER_METHOD);
/// - `server_address`: the first [`MAX_SERVER_ADDRESSES`](crate::MAX_SERVER_ADDRESSES) distinct
///   hosts, then [`OTHER_SERVER_ADDRESS`](crate::OTHER_SERVER_ADDRESS);
/// - `http_response_status_code`: the code, or `""` when the call got no response;
/// - `error_type`: `""` ([`NO_ERROR_TYPE`](crate::NO_ERROR_TYPE)) for a call that did not fail,
///   otherwise the first [`MAX_ERROR_TYPES`](crate::MAX_ERROR_TYPES) distinct values, then
///   [`OTHER_ERROR_TYPE`](crate::OTHER_ERROR_TYPE).
///
/// Recording a label set seen before takes no lock and allocates nothing: a scan of the known
/// addresses (string comparisons), a scan of that address's claimed slots (atomic loads), then
/// the histogram's atomics.
///
/// ```
/// use belfry_metrics::Metrics;
/// use http::{Method, StatusCode};
/// use std::time::Duration;
///
/// let metrics = Metrics::new();
/// let client = metrics.http_client();
/// client.record(&Method::GET, "api.internal", Some(StatusCode::OK), None, Duration::from_millis(12));
/// client.record(&Method::GET, "api.internal", None, Some("timeout"), Duration::from_secs(5));
///
/// let text = metrics.render();
/// assert!(text.contains(
///     r#"http_client_request_duration_seconds_count{http_request_method="GET",server_address="api.internal",http_response_status_code="200",error_type=""} 1"#
/// ));
/// assert!(text.contains(
///     r#"http_client_request_duration_seconds_bucket{le="5.0",http_request_method="GET",server_address="api.internal",http_response_status_code="",error_type="timeout"} 1"#
/// ));
/// ```
#[derive(Clone)]
pub struct HttpClientMetrics {
    series: Arc<ClientSeries>,
}

impl HttpClientMetrics {
    pub(crate) fn new(series: Arc<ClientSeries>) -> Self {
        Self { series }
    }

    /// Records one outgoing call: its method, the host it went to (`server.address`, without
    /// port), the response status if there was a response, why it failed if it did (`timeout`,
    /// `connect`, or the status code for a call the client counts as failed), and how long it
    /// took.
    ///
    /// ```
    /// use belfry_metrics::Metrics;
    /// use http::{Method, StatusCode};
    /// use std::time::Duration;
    ///
    /// let metrics = Metrics::new();
    /// let client = metrics.http_client();
    /// client.record(&Method::POST, "payments", Some(StatusCode::BAD_GATEWAY), Some("502"), Duration::from_millis(80));
    /// assert!(metrics.render().contains(
    ///     r#"{le="0.1",http_request_method="POST",server_address="payments",http_response_status_code="502",error_type="502"} 1"#
    /// ));
    /// ```
    #[inline]
    pub fn record(
        &self,
        method: &Method,
        server_address: &str,
        status: Option<StatusCode>,
        error_type: Option<&str>,
        duration: Duration,
    ) {
        self.series
            .record(method, server_address, status, error_type, duration);
    }
}

impl fmt::Debug for HttpClientMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientMetrics").finish_non_exhaustive()
    }
}
