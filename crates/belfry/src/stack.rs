//! [`Belfry`]: the one builder that composes belfry's layers in the order they need.

use std::{convert::Infallible, time::Duration};

use axum::{body::Body, routing::Route, Router};
use belfry_access_log::{AccessLogLayer, TrustedProxy};
use belfry_capture::{CaptureLayer, ProblemJson};
#[cfg(all(feature = "health", feature = "metrics"))]
use belfry_health::{Health, Status};
#[cfg(all(feature = "health", feature = "metrics"))]
use belfry_metrics::{HealthCheckSample, HealthCheckStatus};
#[cfg(feature = "metrics")]
use belfry_metrics::{HttpMetricsLayer, Metrics};
use belfry_request_id::RequestIdLayer;
use belfry_scrub::ScrubPolicy;
use belfry_trace_context::{RatioSampler, TraceContextLayer, TrustIncoming};
use bytes::Bytes;
use http::{HeaderName, Request, Response};
use tower_layer::{Identity, Layer};
use tower_service::Service;

use crate::{
    config::{Config, ConfigError},
    task::Tasks,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The capture layer's reporter: Sentry with the `sentry` feature, none without.
#[cfg(feature = "sentry")]
pub(crate) type StackReporter = belfry_sentry::SentryReporter;
/// The capture layer's reporter: Sentry with the `sentry` feature, none without.
#[cfg(not(feature = "sentry"))]
pub(crate) type StackReporter = ();

/// The capture layer of the stack.
type StackCapture = CaptureLayer<ProblemJson, StackReporter>;

#[cfg(feature = "sentry")]
fn new_capture() -> StackCapture {
    CaptureLayer::new()
        .probe_routes(probe_routes())
        .reporter(belfry_sentry::SentryReporter::new())
}

#[cfg(not(feature = "sentry"))]
fn new_capture() -> StackCapture {
    CaptureLayer::new().probe_routes(probe_routes())
}

/// Routes whose 5xx answers are states, not failures: the health routes (feature `health`).
fn probe_routes() -> &'static [&'static str] {
    #[cfg(feature = "health")]
    return &belfry_health::PATHS;
    #[cfg(not(feature = "health"))]
    return &[];
}

/// Routes logged at DEBUG when fast and successful: the health routes and the metrics scrape.
fn quiet_routes() -> impl Iterator<Item = &'static str> {
    #[cfg(feature = "metrics")]
    let scrape = Some(belfry_metrics::METRICS_PATH);
    #[cfg(not(feature = "metrics"))]
    let scrape = None;
    probe_routes().iter().copied().chain(scrape)
}

/// The metrics layer of the stack (feature `metrics`), or nothing.
#[cfg(feature = "metrics")]
type StackMetrics = HttpMetricsLayer;
#[cfg(not(feature = "metrics"))]
type StackMetrics = Identity;
/// What [`StackMetrics`] makes of `S`.
#[cfg(feature = "metrics")]
type Metered<S> = belfry_metrics::HttpMetrics<S>;
#[cfg(not(feature = "metrics"))]
type Metered<S> = S;

/// The service the capture layer makes of `S`, the innermost of belfry's stack: what the
/// application's own layers given to [`Belfry::wrap_with`] wrap.
pub type CaptureService<S> = belfry_capture::Capture<S, ProblemJson, StackReporter>;

/// Belfry's whole middleware stack, configured once and applied to a [`Router`] with
/// [`wrap`](Self::wrap).
///
/// The layers, outermost first — the order is encoded here and nowhere else:
///
/// 1. **Trace context** ([`TraceContextLayer`]): continues the caller's W3C (`traceparent`,
///    `tracestate`) or Sentry (`sentry-trace`, `baggage`) trace, or starts one, and makes the
///    one sampling decision of the trace. Outermost, so the request span below carries the
///    trace, and everything inside — Sentry, metrics exemplars, downstream calls — sees it.
/// 2. **Request id** ([`RequestIdLayer`]): picks the id and opens the `request` span (with
///    `request_id`, `trace_id` and `span_id`), so everything below logs with them, and stamps
///    the id on the final response.
/// 3. **Access log** ([`AccessLogLayer`]): times the request to the end of its body and writes
///    `request completed` inside the request span; warns about slow and hung requests. It sits
///    below the request id (to log inside its span) and above everything that can change the
///    response, so it logs the status the client really got.
/// 4. **Metrics** ([`HttpMetricsLayer`]): RED metrics by route template, measured to the end of
///    the body. Above panic capture, so a panic counts as the 500 the client got.
/// 5. **The application's layers**, given to [`wrap_with`](Self::wrap_with) (none with
///    [`wrap`](Self::wrap)): below the request id, access log and metrics, so their own answers
///    are logged, counted and carry the request id.
/// 6. **Capture** ([`CaptureLayer`]): turns a panic into a `problem+json` 500 with the request
///    id, reports panics and 5xx responses (ERROR log; with the `sentry` feature, a Sentry
///    event, with a hub per request when a client is bound). Innermost, so it catches panics
///    from the handler and everything below.
///
/// `wrap` applies the stack with [`Router::layer`], so it runs after routing, for every route
/// and the fallback: the route template (`MatchedPath`) is known to every layer.
///
/// **The application's own layers** (a timeout, CORS, authentication, compression, rate limits)
/// go between metrics and capture, with [`wrap_with`](Self::wrap_with): inside the request id,
/// the access log and the metrics, so what they answer themselves — a timeout's `408`, a rate
/// limiter's `429`, an authentication layer's `401`, a CORS preflight — is logged with its
/// status and request id, counted under its status, and carries `x-request-id`; outside
/// capture, whose problem document needs the router's own body type. A layer applied after
/// `wrap` (`belfry.wrap(router).layer(TimeoutLayer::new(..))`) sits outside belfry, which then
/// sees only a dropped request: the access log says `error.type: "cancelled"` and, when the
/// server is belfry's [`serve`][crate::serve], warns once naming `wrap_with`.
///
/// ```
/// use axum::{routing::get, Router};
/// use belfry::Belfry;
///
/// let app: Router = Belfry::new().wrap(Router::new().route("/", get(|| async { "hello" })));
/// ```
// What a feature left out would link to: its row in the crate's feature table.
#[cfg_attr(any(not(feature = "metrics"), not(feature = "health")), doc = "")]
#[cfg_attr(
    not(feature = "metrics"),
    doc = "[`HttpMetricsLayer`]: index.html#cargo-features"
)]
#[cfg_attr(not(feature = "health"), doc = "[crate::serve]: index.html#cargo-features")]
#[derive(Clone, Debug)]
pub struct Belfry {
    pub(crate) trace_context: TraceContextLayer,
    request_id: RequestIdLayer,
    pub(crate) access_log: AccessLogLayer,
    capture: StackCapture,
    #[cfg(feature = "metrics")]
    metrics: Metrics,
    tasks: Tasks,
    scrub: ScrubPolicy,
    #[cfg(feature = "health")]
    pub(crate) drain_delay: Duration,
    #[cfg(feature = "health")]
    pub(crate) shutdown_timeout: Duration,
}

impl Default for Belfry {
    fn default() -> Self {
        Self::new()
    }
}

impl Belfry {
    /// The defaults: see docs/configuration.md.
    pub fn new() -> Self {
        #[cfg(feature = "metrics")]
        let metrics = Metrics::new();
        #[cfg(feature = "metrics")]
        let tasks = Tasks::register(&metrics);
        #[cfg(not(feature = "metrics"))]
        let tasks = Tasks::default();
        #[cfg(feature = "metrics")]
        crate::telemetry::export_log_metrics(&metrics);
        Self {
            trace_context: TraceContextLayer::new().sampler(RatioSampler::new(RatioSampler::DEFAULT_RATIO)),
            request_id: RequestIdLayer::new(),
            access_log: AccessLogLayer::new().quiet_routes(quiet_routes()),
            capture: new_capture(),
            #[cfg(feature = "metrics")]
            metrics,
            tasks,
            scrub: ScrubPolicy::default(),
            #[cfg(feature = "health")]
            drain_delay: belfry_health::DEFAULT_DRAIN_DELAY,
            #[cfg(feature = "health")]
            shutdown_timeout: belfry_health::DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// The defaults, overridden by the environment variables of the stack (`BELFRY_*` and
    /// `SENTRY_TRACES_SAMPLE_RATE`; see docs/configuration.md): [`Config::from_env`]`()?.belfry()`.
    ///
    /// # Errors
    ///
    /// Every invalid variable belfry reads, logging and Sentry's included, at once: a
    /// deployment with a typo does not start.
    ///
    /// ```
    /// let belfry = belfry::Belfry::from_env().expect("valid settings");
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_env().map(|config| config.belfry())
    }

    /// Reads and writes the request id in `header` (default `x-request-id`).
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        self.request_id = self.request_id.header_name(header);
        self
    }

    /// Whether valid incoming request ids are kept (default `true`).
    pub fn trust_incoming_request_id(mut self, trust: bool) -> Self {
        self.request_id = self.request_id.trust_incoming(trust);
        self
    }

    /// Whether an incoming trace context (`traceparent`, `sentry-trace`) is continued (default
    /// `true`). A public edge service sets `false`: every request starts a new trace, and the
    /// caller's trace id is kept only as [`TraceContext::incoming_trace_id`](crate::TraceContext::incoming_trace_id).
    pub fn trust_incoming_trace_context(mut self, trust: bool) -> Self {
        let trust = if trust {
            TrustIncoming::Continue
        } else {
            TrustIncoming::Restart
        };
        self.trace_context = self.trace_context.trust_incoming(trust);
        self
    }

    /// The share of new traces that are sampled (default 0.1): the one decision that Sentry
    /// transactions follow and that is sent downstream in `traceparent`. A continued trace keeps
    /// its caller's decision. Decided from the trace id, so every service using the same ratio
    /// decides alike. Values outside 0..=1 are clamped.
    ///
    /// ```
    /// let belfry = belfry::Belfry::new().traces_sample_rate(0.25);
    /// ```
    pub fn traces_sample_rate(mut self, ratio: f64) -> Self {
        self.trace_context = self.trace_context.sampler(RatioSampler::new(ratio));
        self
    }

    /// Caps the Sentry performance transactions started per second (default
    /// [`DEFAULT_MAX_TRACES_PER_SECOND`](crate::sentry::DEFAULT_MAX_TRACES_PER_SECOND); 0 removes
    /// the cap); see [`SentryReporter::max_traces_per_second`](crate::sentry::SentryReporter::max_traces_per_second).
    ///
    /// ```
    /// let belfry = belfry::Belfry::new().max_traces_per_second(20);
    /// ```
    #[cfg(feature = "sentry")]
    pub fn max_traces_per_second(mut self, limit: u32) -> Self {
        self.capture = self
            .capture
            .map_reporter(|reporter| reporter.max_traces_per_second(limit));
        self
    }

    /// Requests taking at least `threshold` are logged at WARN (default 1 s).
    pub fn slow_request_threshold(mut self, threshold: Duration) -> Self {
        self.access_log = self.access_log.slow_threshold(threshold);
        self
    }

    /// Gives one route (a template such as `/export/{id}`) its own slow threshold.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let belfry = belfry::Belfry::new().slow_request_threshold_for_route("/export", Duration::from_secs(10));
    /// ```
    pub fn slow_request_threshold_for_route(mut self, route: impl Into<String>, threshold: Duration) -> Self {
        self.access_log = self.access_log.slow_threshold_for_route(route, threshold);
        self
    }

    /// Writes the access-log line of only a share `ratio` of `route`'s successful, fast requests
    /// (default: all); 5xx, failed, cancelled, slow and hung requests are always written, and
    /// the metrics count every request. See [`AccessLogLayer::sample_route`](crate::access_log::AccessLogLayer::sample_route).
    ///
    /// ```
    /// let belfry = belfry::Belfry::new().access_log_sample_route("/users/{id}", 0.01);
    /// assert!(format!("{belfry:?}").contains(r#"("/users/{id}", 0.01)"#));
    /// ```
    pub fn access_log_sample_route(mut self, route: impl Into<String>, ratio: f64) -> Self {
        self.access_log = self.access_log.sample_route(route, ratio);
        self
    }

    /// Whether every 4xx of [sampled routes](Self::access_log_sample_route) is written (default
    /// `false`: sampled like successes).
    pub fn access_log_keep_client_errors(mut self, keep: bool) -> Self {
        self.access_log = self.access_log.always_log_client_errors(keep);
        self
    }

    /// On shutdown, how long readiness answers `503` before the server stops accepting
    /// connections, so load balancers stop sending new requests first (default 5 s); see
    /// [`serve`](Self::serve).
    #[cfg(feature = "health")]
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// On shutdown, how long in-flight requests get to finish before the server stops anyway
    /// (default 30 s); see [`serve`](Self::serve).
    #[cfg(feature = "health")]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Reports requests still running after `threshold` (default 10 s); `None` turns it off.
    pub fn hung_request_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.access_log = self.access_log.hung_threshold(threshold);
        self
    }

    /// Proxies whose `X-Forwarded-For` is believed for `client.address` (default none).
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = TrustedProxy>) -> Self {
        self.access_log = self.access_log.trusted_proxies(proxies);
        self
    }

    /// Adds `Server-Timing: app;dur=<ms>` to responses (default off).
    pub fn server_timing(mut self, enabled: bool) -> Self {
        self.access_log = self.access_log.server_timing(enabled);
        self
    }

    /// Routes logged at DEBUG when fast and successful (default: [`belfry_health::PATHS`] and
    /// `/metrics`). Replaces the list.
    #[cfg_attr(
        not(feature = "health"),
        doc = "",
        doc = "[`belfry_health::PATHS`]: index.html#cargo-features"
    )]
    pub fn quiet_routes<I, R>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.access_log = self.access_log.quiet_routes(routes);
        self
    }

    /// Routes whose 5xx answers are states, not failures — readiness probes answering 503 while
    /// draining (default: the three health routes). Their 5xx responses are neither logged at
    /// ERROR nor sent to Sentry; a panic on them still is. Replaces the list; set it with
    /// [`quiet_routes`](Self::quiet_routes) when the health routes live elsewhere.
    ///
    /// ```
    /// let belfry = belfry::Belfry::new()
    ///     .probe_routes(["/healthz", "/readyz"])
    ///     .quiet_routes(["/healthz", "/readyz", "/metrics"]);
    /// ```
    pub fn probe_routes<I, R>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: AsRef<str>,
    {
        self.capture = self.capture.probe_routes(routes);
        self
    }

    /// The one scrubbing policy for everything belfry prints or sends: the access log's query
    /// strings, and (with Sentry) request URLs and headers.
    pub fn scrub_policy(mut self, policy: ScrubPolicy) -> Self {
        self.access_log = self.access_log.scrub_policy(policy.clone());
        #[cfg(feature = "sentry")]
        {
            let sentry = policy.clone();
            self.capture = self
                .capture
                .map_reporter(|reporter| reporter.scrub_policy(sentry));
        }
        self.scrub = policy;
        self
    }

    /// Records HTTP metrics into `metrics` (default: a registry of belfry's own, with the
    /// process metrics), for applications that already have one.
    #[cfg(feature = "metrics")]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.tasks = Tasks::register(&metrics);
        crate::telemetry::export_log_metrics(&metrics);
        self.metrics = metrics;
        self
    }

    /// Spawns instrumented background tasks (see [`task`](crate::task)), recording their
    /// metrics in [`metrics`][Self::metrics].
    #[cfg_attr(
        not(feature = "metrics"),
        doc = "",
        doc = "[Self::metrics]: index.html#cargo-features"
    )]
    pub fn tasks(&self) -> Tasks {
        self.tasks.clone()
    }

    /// The metrics registry: serve it with `router.merge(belfry.metrics().router())` (before
    /// [`wrap`](Self::wrap)), and register the application's own metrics on it.
    ///
    /// ```
    /// use belfry::metrics::prometheus_client::metrics::counter::Counter;
    ///
    /// let belfry = belfry::Belfry::new();
    /// let signups = belfry.metrics().register("signups", "Accounts created", Counter::<u64>::default());
    /// signups.inc();
    /// assert!(belfry.metrics().render().contains("signups_total 1"));
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Exports the latest results of `health`'s checks as `belfry_health_check_status` (1 pass,
    /// 0.5 warn, 0 fail) and `belfry_health_check_duration_seconds`, labelled by check.
    #[cfg(all(feature = "health", feature = "metrics"))]
    pub fn export_health_checks(&self, health: &Health) {
        let health = health.clone();
        self.metrics.register_health_checks(move || {
            health
                .last_report()
                .map(|report| {
                    report
                        .checks()
                        .iter()
                        .map(|check| {
                            let status = match check.status() {
                                Status::Pass => HealthCheckStatus::Pass,
                                Status::Warn => HealthCheckStatus::Warn,
                                Status::Fail => HealthCheckStatus::Fail,
                            };
                            HealthCheckSample::new(check.name(), status, check.duration())
                                .critical(check.critical())
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
    }

    /// A tower layer for the application's own HTTP clients (hyper, tower-based): every call made
    /// while serving a request carries its trace (`traceparent`, `tracestate`, `sentry-trace`,
    /// `baggage`) and its `x-request-id`, writes one `belfry::client` log line and is counted in
    /// `http_client_request_duration_seconds` — with this stack's scrubbing policy and metrics.
    /// See [`client`](crate::client).
    ///
    /// ```
    /// let belfry = belfry::Belfry::new();
    /// let layer = belfry.client_layer(); // ServiceBuilder::new().layer(layer).service(hyper_client)
    /// # let _ = layer;
    /// ```
    pub fn client_layer(&self) -> belfry_client::PropagateLayer {
        let layer = belfry_client::PropagateLayer::new().scrub_policy(self.scrub.clone());
        #[cfg(feature = "metrics")]
        let layer = layer.metrics(self.metrics.http_client());
        layer
    }

    /// The same as [`client_layer`](Self::client_layer), for `reqwest` (through
    /// `reqwest-middleware`; Cargo feature `reqwest`):
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// let belfry = belfry::Belfry::new();
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(belfry.reqwest_middleware())
    ///     .build(); // once; clone it into the router state
    /// let inventory = client.get("http://inventory.internal/items").send().await?;
    /// # let _ = inventory;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "reqwest")]
    pub fn reqwest_middleware(&self) -> belfry_client::PropagateMiddleware {
        let middleware = belfry_client::PropagateMiddleware::new().scrub_policy(self.scrub.clone());
        #[cfg(feature = "metrics")]
        let middleware = middleware.metrics(self.metrics.http_client());
        middleware
    }

    /// The stack as one tower layer, for [`wrap`](Self::wrap) and [`wrap_with`](Self::wrap_with) only: applied around the router
    /// instead of with [`Router::layer`], it would run before routing, where the route template
    /// is unknown — so it is not public, and `wrap` is the one way to apply the stack.
    /// `adjacent`: no application layer between the access log and capture, so capture borrows
    /// the request span the access log lends (see `CaptureLayer::borrow_request_span`). The
    /// access log is always directly inside the request-id layer, so it takes the request span
    /// over (`RequestIdLayer::hand_over_span`): one handle on it per request.
    fn layer<L>(&self, application: L, adjacent: bool) -> BelfryLayer<L> {
        BelfryLayer {
            trace_context: self.trace_context.clone(),
            request_id: self.request_id.clone().hand_over_span(true),
            // With no application layer inside, nothing between the access log and the route
            // logs in `call` (metrics and capture only set up, a route only builds its future).
            access_log: self.access_log.clone().enter_span_in_call(!adjacent),
            #[cfg(feature = "metrics")]
            metrics: self.metrics.layer(),
            #[cfg(not(feature = "metrics"))]
            metrics: Identity::new(),
            application,
            // Right around the route, whose `call` only builds its future: the hub need not be
            // bound for it.
            capture: self
                .capture
                .clone()
                .borrow_request_span(adjacent)
                .enter_reporter_in_call(false),
        }
    }

    /// Applies the stack to every route of `router` and to its fallback. Call it last, after
    /// every route, `nest` and `merge`: routes added afterwards are not covered. The
    /// application's own layers go in [`wrap_with`](Self::wrap_with), not after `wrap`.
    pub fn wrap<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(self.layer(Identity::new(), true))
    }

    /// Applies the stack with the application's own tower `layers` at the depth where belfry
    /// sees what they answer: inside the request id, the access log and the metrics, outside
    /// capture (see [`Belfry`]'s order). Several layers go in one
    /// [`ServiceBuilder`](https://docs.rs/tower/latest/tower/struct.ServiceBuilder.html), outermost first. Call it last, like
    /// [`wrap`](Self::wrap).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use axum::{body::Body, routing::get, Router};
    /// use http::{Request, StatusCode};
    /// use tower::ServiceExt;
    /// use tower_http::timeout::TimeoutLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let belfry = belfry::Belfry::new();
    /// let router = Router::new().route(
    ///     "/slow",
    ///     get(|| async {
    ///         tokio::time::sleep(Duration::from_secs(60)).await;
    ///         "late"
    ///     }),
    /// );
    /// let timeout = TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_millis(10));
    /// let app = belfry.wrap_with(router, timeout);
    ///
    /// let response = app.oneshot(Request::get("/slow").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    /// assert!(response.headers().contains_key("x-request-id"), "the timeout's answer carries the id");
    /// let metrics = belfry.metrics().render();
    /// assert!(metrics.contains(r#"http_route="/slow",http_response_status_code="408"} 1"#), "{metrics}");
    /// # }
    /// ```
    pub fn wrap_with<S, L, B>(&self, router: Router<S>, layers: L) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
        L: Layer<CaptureService<Route>> + Clone + Send + Sync + 'static,
        L::Service: Service<Request<Body>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<Request<Body>>>::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError> + 'static,
    {
        router.layer(self.layer(layers, false))
    }
}

/// [`Belfry`]'s stack as a tower layer, with the application's layers `L`; see `Belfry::layer`.
#[derive(Clone, Debug)]
struct BelfryLayer<L> {
    trace_context: TraceContextLayer,
    request_id: RequestIdLayer,
    access_log: AccessLogLayer,
    metrics: StackMetrics,
    application: L,
    capture: StackCapture,
}

/// The service [`BelfryLayer`] wraps a route in.
type BelfryService<S> = belfry_trace_context::SetTraceContext<
    belfry_request_id::SetRequestId<
        belfry_access_log::AccessLog<Metered<S>>,
        belfry_request_id::MakeRequestUuidV7,
    >,
    RatioSampler,
>;

impl<S, L> Layer<S> for BelfryLayer<L>
where
    L: Layer<CaptureService<S>>,
{
    type Service = BelfryService<L::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        let inner = self.application.layer(self.capture.layer(inner));
        let inner = self
            .request_id
            .layer(self.access_log.layer(self.metrics.layer(inner)));
        self.trace_context.layer(inner)
    }
}
