//! Prometheus metrics for Tower and axum services: HTTP RED metrics, process metrics, health-check
//! results and the application's own metrics, on one registry served at `/metrics`.
//!
//! [`Metrics`] holds a prometheus-client registry. [`Metrics::layer`] records every request,
//! [`Metrics::router`] serves the OpenMetrics exposition, and [`Metrics::register`] adds business
//! metrics:
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use belfry_metrics::Metrics;
//! use http::Request;
//! use http_body_util::BodyExt;
//! use prometheus_client::metrics::{counter::Counter, family::Family};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let metrics = Metrics::new();
//! // Jobs processed, by outcome.
//! let jobs = metrics.register(
//!     "jobs_processed",
//!     "Jobs processed by status",
//!     Family::<[(&'static str, &'static str); 1], Counter>::default(),
//! );
//! let jobs_done = jobs.get_or_create(&[("status", "done")]).clone();
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(move || async move {
//!         jobs_done.inc();
//!         "user"
//!     }))
//!     .merge(metrics.router()) // GET /metrics
//!     .layer(metrics.layer()); // after the routes: the route template is known
//!
//! for id in 1..=3 {
//!     let request = Request::get(format!("/users/{id}")).body(Body::empty()).unwrap();
//!     app.clone().oneshot(request).await.unwrap().into_body().collect().await.unwrap();
//! }
//!
//! let scrape = Request::get("/metrics").body(Body::empty()).unwrap();
//! let body = app.oneshot(scrape).await.unwrap().into_body().collect().await.unwrap().to_bytes();
//! let text = String::from_utf8(body.to_vec()).unwrap();
//! let labels = r#"http_request_method="GET",http_route="/users/{id}",http_response_status_code="200""#;
//! assert!(text.contains(&format!("http_server_request_duration_seconds_count{{{labels}}} 3\n")));
//! assert!(text.contains(r#"jobs_processed_total{status="done"} 3"#));
//! assert!(text.ends_with("# EOF\n"));
//! # }
//! ```
//!
//! # What is exported
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`http_server_request_duration_seconds`](HTTP_SERVER_REQUEST_DURATION) | histogram, [`HTTP_DURATION_BUCKETS`] | [`http_request_method`](HTTP_REQUEST_METHOD), [`http_route`](HTTP_ROUTE), [`http_response_status_code`](HTTP_RESPONSE_STATUS_CODE) |
//! | [`http_server_active_requests`](HTTP_SERVER_ACTIVE_REQUESTS) | gauge | `http_request_method` |
//! | [`http_client_request_duration_seconds`](HTTP_CLIENT_REQUEST_DURATION) | histogram, [`HTTP_DURATION_BUCKETS`], recorded with [`Metrics::http_client`] | `http_request_method`, [`server_address`](SERVER_ADDRESS), `http_response_status_code`, [`error_type`](ERROR_TYPE) |
//! | [`process_cpu_seconds_total`](PROCESS_CPU_SECONDS), [`process_resident_memory_bytes`](PROCESS_RESIDENT_MEMORY), [`process_virtual_memory_bytes`](PROCESS_VIRTUAL_MEMORY), [`process_open_fds`](PROCESS_OPEN_FDS), [`process_max_fds`](PROCESS_MAX_FDS), [`process_start_time_seconds`](PROCESS_START_TIME) | counter / gauges, Linux only, read from `/proc/self` at scrape time | — |
//! | [`belfry_health_check_status`](HEALTH_CHECK_STATUS) (1 pass, 0.5 warn, 0 fail), [`belfry_health_check_duration_seconds`](HEALTH_CHECK_DURATION) | gauges, once [`Metrics::register_health_checks`] is called | [`check`](HEALTH_CHECK_LABEL) |
//! | [`belfry_sentry_events_dropped_total`](SENTRY_EVENTS_DROPPED), [`belfry_sentry_transactions_dropped_total`](SENTRY_TRANSACTIONS_DROPPED) | counters, once [`Metrics::register_sentry_dropped`] is called | [`reason`](SENTRY_DROP_REASON_LABEL) |
//! | [`belfry_otel_spans_dropped_total`](OTEL_SPANS_DROPPED), [`belfry_otel_metric_exports_failed_total`](OTEL_METRIC_EXPORTS_FAILED) | counters, once registered (belfry's `otel` feature) | [`reason`](OTEL_REASON_LABEL) |
//! | [`belfry_log_lines_dropped_total`](LOG_LINES_DROPPED), [`belfry_log_lines_suppressed_total`](LOG_LINES_SUPPRESSED) | counters, once registered | [`level`](LOG_LEVEL_LABEL) |
//!
//! The HTTP names and labels follow the OpenTelemetry HTTP semantic conventions as Prometheus
//! spells them. A request lasts from the call into the service to the end of its response body,
//! so streamed responses are timed in full; a body or future dropped early (client gone) ends the
//! request there.
//!
//! # Exemplars
//!
//! A request whose [`TraceContext`](belfry_trace_context::TraceContext) (in the request
//! extensions, put there by belfry's trace-context layer) is sampled leaves its trace id as the
//! OpenMetrics exemplar of the duration bucket it falls in: one per bucket and series, the last
//! sampled request wins. OpenMetrics scrapes and [`Metrics::render`] write them after the bucket
//! lines (`… 3 # {trace_id="4bf9…"} 0.042 1733052000.123`, label [`EXEMPLAR_TRACE_ID_LABEL`]);
//! the Prometheus text format has none.
//!
//! ```
//! use belfry_metrics::Metrics;
//! use belfry_trace_context::TraceContext;
//! use http::{Request, Response};
//! use std::convert::Infallible;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let metrics = Metrics::new();
//! let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
//!     Ok::<_, Infallible>(Response::new(String::new()))
//! }));
//! let sampled = TraceContext::new_root(true);
//! // belfry's trace-context layer makes the request's context current; here by hand:
//! drop(sampled.clone().scope(service.clone().oneshot(Request::new(()))).await.unwrap());
//! let unsampled = TraceContext::new_root(false);
//! drop(unsampled.clone().scope(service.oneshot(Request::new(()))).await.unwrap());
//!
//! let text = metrics.render();
//! assert!(text.contains(&format!(r#" # {{trace_id="{}"}} "#, sampled.trace_id())));
//! assert!(!text.contains(&unsampled.trace_id().to_string()));
//! # }
//! ```
//!
//! # Bounded cardinality
//!
//! Series are bounded by construction; no request content can add one:
//!
//! - `http_route` is the route template from axum's [`MatchedPath`](axum::extract::MatchedPath),
//!   never the raw path. Requests without one (404 fallbacks, scanners) all share
//!   `http_route=""` ([`UNMATCHED_ROUTE`]): a million random paths add no series.
//! - `http_request_method` is one of the nine standard methods or `_OTHER` ([`OTHER_METHOD`]).
//! - `http_response_status_code` is the numeric code, or `""` ([`NO_RESPONSE_STATUS`]) when the
//!   request ended without a response.
//! - On the client histogram, `server_address` keeps the first [`MAX_SERVER_ADDRESSES`] hosts
//!   (then [`OTHER_SERVER_ADDRESS`]) and `error_type` the first [`MAX_ERROR_TYPES`] values (then
//!   [`OTHER_ERROR_TYPE`]); see [`HttpClientMetrics`].
//!
//! # Cost per request
//!
//! Recording a request whose (method, route, status) was seen before takes no lock and allocates
//! nothing (a test under `tests/` counts allocations to hold that). The path:
//!
//! 1. `call`: the method becomes an index (a few string comparisons against the nine standard
//!    names); the in-flight gauge of that method, a fixed array of atomics, gets one `fetch_add`.
//!    axum's `Router::layer` applies the layer to each route separately, so each service instance
//!    caches the series of the route it serves: finding them is one comparison of the
//!    `MatchedPath` string with the cached template, and an `Arc` clone. The request's
//!    `TraceContext` is looked up in the extensions; if it is sampled, its trace id is copied
//!    for the exemplar. `Instant::now()`.
//! 2. Response: the status is stamped on the in-flight request, which moves into the body.
//! 3. End or drop of the body: the route's (method, status) slots are scanned (a few atomic loads
//!    in an append-only array, no hashing), then [`AtomicHistogram::observe`]: a binary search over
//!    14 bounds, one `fetch_add` on the bucket, one compare-and-swap on the sum (a sampled
//!    request also writes its exemplar: a sequence-locked slot, no waiting, one clock read);
//!    one `fetch_sub` on the gauge; the `Arc` is released.
//!
//! That is about five uncontended atomic read-modify-writes and one clock read per request, on
//! top of what the inner service costs. Allocation and locks happen only the first time: a new
//! route (a write lock on the route table, once per template, plus a read lock the first time
//! each service instance sees it) and a new (method, status) on a route (one histogram). A service
//! instance that serves several templates (the layer applied outside axum's routing with
//! `MatchedPath` set by other means) takes the route table's read lock for templates other than
//! its first one. Scrapes read the atomics; they never block requests.
//!
//! prometheus-client's `Family::get_or_create` would take a read lock and hash the label set on
//! every request, and its `Histogram::observe` a per-series write lock; this crate uses neither on
//! the request path. For the application's own hot counters, do the same: fetch a `Family`'s
//! handle once (`family.get_or_create(&labels).clone()`), then `inc()` is one atomic add.
//!
//! # The `/metrics` endpoint
//!
//! [`Metrics::router`] serves OpenMetrics text to scrapers that ask for it (Prometheus does) and
//! the Prometheus text format to the others, so `curl -s …/metrics | promtool check metrics`
//! passes; both end with `# EOF`. Merge it before applying the layer (scrapes are then measured
//! under `http_route="/metrics"`): merging a router after `Router::layer` replaces the layered
//! 404 fallback, and unmatched requests would go unmeasured.
//!
//! # Pushing instead of scraping
//!
//! [`Metrics::http_snapshot`] reads the HTTP series (server and client durations, in-flight
//! requests) as plain values ([`HttpSnapshot`]: labels, per-bucket counts, sums, exemplars), for
//! an exporter that pushes them somewhere — belfry-otel sends them over OTLP every
//! `OTEL_METRIC_EXPORT_INTERVAL`. A snapshot reads the same atomics a scrape does: the request
//! path neither knows nor pays for it, and `/metrics` keeps serving the same values.
//!
//! # Health checks
//!
//! [`Metrics::register_health_checks`] takes a closure called at scrape time that returns
//! [`HealthCheckSample`]s, so a health-check library can be exported without either crate
//! depending on the other.
#![deny(missing_docs)]

mod endpoint;
mod exemplar;
mod health;
mod histogram;
mod http_client;
mod http_metrics;
mod log_lines;
mod metrics;
mod names;
#[cfg(target_os = "linux")]
mod process;
mod snapshot;
mod telemetry_drops;

pub use health::{HealthCheckSample, HealthCheckStatus};
pub use histogram::AtomicHistogram;
pub use http_client::HttpClientMetrics;
pub use http_metrics::{HttpMetrics, HttpMetricsLayer, MetricsBody, ResponseFuture};
pub use log_lines::{LOG_LEVEL_LABEL, LOG_LINES_DROPPED};
pub use metrics::Metrics;
pub use names::*;
/// The metrics library, re-exported so applications can define their own metrics without a
/// second dependency to keep in step.
pub use prometheus_client;
pub use snapshot::{
    ActiveRequests, ClientRequests, HistogramExemplar, HistogramSnapshot, HttpSnapshot, ServerRequests,
};
pub use telemetry_drops::{
    LOG_LINES_SUPPRESSED, OTEL_METRIC_EXPORTS_FAILED, OTEL_REASON_LABEL, OTEL_SPANS_DROPPED,
    SENTRY_DROP_REASON_LABEL, SENTRY_EVENTS_DROPPED, SENTRY_TRANSACTIONS_DROPPED,
};
