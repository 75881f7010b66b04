//! Metric names, label names and fixed label values: one constant per fact, shared by the code
//! that records, the code that encodes and the dashboards that query.

/// Histogram of HTTP server request durations in seconds, from the call into the service to the
/// end of the response body (OpenTelemetry `http.server.request.duration`).
///
/// ```
/// assert_eq!(belfry_metrics::HTTP_SERVER_REQUEST_DURATION, "http_server_request_duration_seconds");
/// ```
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http_server_request_duration_seconds";

/// Gauge of HTTP server requests in flight, body included (OpenTelemetry
/// `http.server.active_requests`).
///
/// ```
/// assert_eq!(belfry_metrics::HTTP_SERVER_ACTIVE_REQUESTS, "http_server_active_requests");
/// ```
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http_server_active_requests";

/// Label holding the request method: one of the nine standard methods or [`OTHER_METHOD`].
///
/// ```
/// assert_eq!(belfry_metrics::HTTP_REQUEST_METHOD, "http_request_method");
/// ```
pub const HTTP_REQUEST_METHOD: &str = "http_request_method";

/// Label holding the route template (`/users/{id}`), never the raw path; [`UNMATCHED_ROUTE`] when
/// no route matched.
///
/// ```
/// assert_eq!(belfry_metrics::HTTP_ROUTE, "http_route");
/// ```
pub const HTTP_ROUTE: &str = "http_route";

/// Label holding the numeric response status code; [`NO_RESPONSE_STATUS`] when the request ended
/// without a response.
///
/// ```
/// assert_eq!(belfry_metrics::HTTP_RESPONSE_STATUS_CODE, "http_response_status_code");
/// ```
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http_response_status_code";

/// Value of [`HTTP_REQUEST_METHOD`] for every method outside the nine standard ones, so made-up
/// methods cannot add series.
///
/// ```
/// assert_eq!(belfry_metrics::OTHER_METHOD, "_OTHER");
/// ```
pub const OTHER_METHOD: &str = "_OTHER";

/// Value of [`HTTP_ROUTE`] shared by all requests that matched no route (404 fallbacks, scanners).
///
/// OpenTelemetry says to omit the attribute; Prometheus needs one label set per series, and an
/// empty label value is what PromQL treats as an absent label, so this is the faithful mapping.
///
/// ```
/// assert_eq!(belfry_metrics::UNMATCHED_ROUTE, "");
/// ```
pub const UNMATCHED_ROUTE: &str = "";

/// Value of [`HTTP_RESPONSE_STATUS_CODE`] for requests that ended without a response: the inner
/// service failed, or the response future was dropped (client gone, timeout). Empty, i.e. absent,
/// for the same reason as [`UNMATCHED_ROUTE`].
///
/// ```
/// assert_eq!(belfry_metrics::NO_RESPONSE_STATUS, "");
/// ```
pub const NO_RESPONSE_STATUS: &str = "";

/// Upper bounds (seconds) of the [`HTTP_SERVER_REQUEST_DURATION`] buckets, as recommended by the
/// OpenTelemetry HTTP semantic conventions; `+Inf` is implied.
///
/// ```
/// assert_eq!(belfry_metrics::HTTP_DURATION_BUCKETS.len(), 14);
/// assert_eq!(belfry_metrics::HTTP_DURATION_BUCKETS[0], 0.005);
/// ```
pub const HTTP_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Label of the exemplars of [`HTTP_SERVER_REQUEST_DURATION`]: the trace id (32 lowercase hex) of
/// a sampled request, in OpenMetrics scrapes only.
///
/// ```
/// assert_eq!(belfry_metrics::EXEMPLAR_TRACE_ID_LABEL, "trace_id");
/// ```
pub const EXEMPLAR_TRACE_ID_LABEL: &str = "trace_id";

/// Histogram of outgoing HTTP request durations in seconds, recorded with
/// [`HttpClientMetrics::record`](crate::HttpClientMetrics::record) (OpenTelemetry
/// `http.client.request.duration`).
///
/// ```
/// assert_eq!(belfry_metrics::HTTP_CLIENT_REQUEST_DURATION, "http_client_request_duration_seconds");
/// ```
pub const HTTP_CLIENT_REQUEST_DURATION: &str = "http_client_request_duration_seconds";

/// Label holding the host an outgoing request went to (OpenTelemetry `server.address`): at most
/// [`MAX_SERVER_ADDRESSES`] distinct values, then [`OTHER_SERVER_ADDRESS`].
///
/// ```
/// assert_eq!(belfry_metrics::SERVER_ADDRESS, "server_address");
/// ```
pub const SERVER_ADDRESS: &str = "server_address";

/// Distinct [`SERVER_ADDRESS`] values kept per [`Metrics`](crate::Metrics); the first ones seen
/// win.
///
/// ```
/// assert_eq!(belfry_metrics::MAX_SERVER_ADDRESSES, 64);
/// ```
pub const MAX_SERVER_ADDRESSES: usize = 64;

/// Value of [`SERVER_ADDRESS`] for every address beyond the first [`MAX_SERVER_ADDRESSES`].
///
/// ```
/// assert_eq!(belfry_metrics::OTHER_SERVER_ADDRESS, "_OTHER");
/// ```
pub const OTHER_SERVER_ADDRESS: &str = "_OTHER";

/// Label saying why an outgoing request failed (OpenTelemetry `error.type`), such as `timeout`
/// or `connect`; [`NO_ERROR_TYPE`] when it did not. At most [`MAX_ERROR_TYPES`] distinct values,
/// then [`OTHER_ERROR_TYPE`].
///
/// ```
/// assert_eq!(belfry_metrics::ERROR_TYPE, "error_type");
/// ```
pub const ERROR_TYPE: &str = "error_type";

/// Value of [`ERROR_TYPE`] for requests that got a response and did not fail.
///
/// ```
/// assert_eq!(belfry_metrics::NO_ERROR_TYPE, "");
/// ```
pub const NO_ERROR_TYPE: &str = "";

/// Distinct [`ERROR_TYPE`] values kept per [`Metrics`](crate::Metrics); the first ones seen win.
///
/// ```
/// assert_eq!(belfry_metrics::MAX_ERROR_TYPES, 16);
/// ```
pub const MAX_ERROR_TYPES: usize = 16;

/// Value of [`ERROR_TYPE`] for every error type beyond the first [`MAX_ERROR_TYPES`].
///
/// ```
/// assert_eq!(belfry_metrics::OTHER_ERROR_TYPE, "_OTHER");
/// ```
pub const OTHER_ERROR_TYPE: &str = "_OTHER";

/// Resident set size in bytes.
///
/// ```
/// assert_eq!(belfry_metrics::PROCESS_RESIDENT_MEMORY, "process_resident_memory_bytes");
/// ```
pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// Virtual memory size in bytes.
///
/// ```
/// assert_eq!(belfry_metrics::PROCESS_VIRTUAL_MEMORY, "process_virtual_memory_bytes");
/// ```
pub const PROCESS_VIRTUAL_MEMORY: &str = "process_virtual_memory_bytes";

/// User plus system CPU time in seconds (a counter; this is the sample name, `_total` included).
///
/// ```
/// assert_eq!(belfry_metrics::PROCESS_CPU_SECONDS, "process_cpu_seconds_total");
/// ```
pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";

/// Number of open file descriptors.
///
/// ```
/// assert_eq!(belfry_metrics::PROCESS_OPEN_FDS, "process_open_fds");
/// ```
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";

/// Soft limit on open file descriptors (absent when unlimited).
///
/// ```
/// assert_eq!(belfry_metrics::PROCESS_MAX_FDS, "process_max_fds");
/// ```
pub const PROCESS_MAX_FDS: &str = "process_max_fds";

/// Start time of the process, in seconds since the Unix epoch.
///
/// ```
/// assert_eq!(belfry_metrics::PROCESS_START_TIME, "process_start_time_seconds");
/// ```
pub const PROCESS_START_TIME: &str = "process_start_time_seconds";

/// Gauge of each health check's last status: 1 pass, 0.5 warn, 0 fail.
///
/// ```
/// assert_eq!(belfry_metrics::HEALTH_CHECK_STATUS, "belfry_health_check_status");
/// ```
pub const HEALTH_CHECK_STATUS: &str = "belfry_health_check_status";

/// Gauge of each health check's last duration in seconds.
///
/// ```
/// assert_eq!(belfry_metrics::HEALTH_CHECK_DURATION, "belfry_health_check_duration_seconds");
/// ```
pub const HEALTH_CHECK_DURATION: &str = "belfry_health_check_duration_seconds";

/// Label holding the health check's name.
///
/// ```
/// assert_eq!(belfry_metrics::HEALTH_CHECK_LABEL, "check");
/// ```
pub const HEALTH_CHECK_LABEL: &str = "check";

/// Label of [`HEALTH_CHECK_STATUS`] saying whether the check is critical (`true`/`false`).
pub const HEALTH_CHECK_CRITICAL_LABEL: &str = "critical";

/// Path served by [`Metrics::router`](crate::Metrics::router).
///
/// ```
/// assert_eq!(belfry_metrics::METRICS_PATH, "/metrics");
/// ```
pub const METRICS_PATH: &str = "/metrics";

/// Content type of the exposition served at [`METRICS_PATH`]: OpenMetrics text 1.0.0, which ends
/// with `# EOF`.
///
/// ```
/// assert!(belfry_metrics::OPENMETRICS_CONTENT_TYPE.starts_with("application/openmetrics-text"));
/// ```
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Content type of the exposition served at [`METRICS_PATH`] to clients that do not ask for
/// OpenMetrics (curl, `promtool check metrics`, text-only scrapers): the Prometheus text format.
///
/// ```
/// assert!(belfry_metrics::PROMETHEUS_TEXT_CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
/// ```
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
