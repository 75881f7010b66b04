//! [`AccessLogLayer`]: configuration shared by every clone of the service.

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use belfry_scrub::ScrubPolicy;
use tower_layer::Layer;

use crate::{hung::HungRequestWatch, sampling::AccessLogSampling, AccessLog, TrustedProxy};

/// Requests slower than this are logged at WARN, unless a route has its own threshold.
pub const DEFAULT_SLOW_REQUEST_THRESHOLD: Duration = Duration::from_millis(1000);

/// A request still running after this long is reported once with `request still running`.
pub const DEFAULT_HUNG_REQUEST_THRESHOLD: Duration = Duration::from_millis(10_000);

/// How many requests in flight the hung-request watch can follow at once.
pub const DEFAULT_HUNG_WATCH_CAPACITY: usize = 4096;

/// Writes one `request completed` event per request, and warns about slow and hung requests.
///
/// The event is written when the response body has been sent (or the client went away), inside
/// the request's span, with these fields (OpenTelemetry HTTP names):
///
/// | field | value |
/// | --- | --- |
/// | `http.request.method` | `GET`, ... |
/// | `http.route` | the route template, `/users/{id}`; absent when no route matched |
/// | `url.path` | the path as requested, with segments bound to sensitive route parameters (`{token}`, `{password}`, ...) as `[REDACTED]` ([`ScrubPolicy::path`]) |
/// | `url.query` | the query, scrubbed by the [`ScrubPolicy`]; absent when empty |
/// | `http.response.status_code` | the status sent; absent when the request ended before a response |
/// | `http.response.body.size` | body bytes handed to the server (0 for `HEAD`, `204`, `304`) |
/// | `duration_ms` | milliseconds until the end of the body (a float) |
/// | `user_agent.original` | the `User-Agent` header |
/// | `client.address` | the peer address (axum's `ConnectInfo`), or the forwarded client behind [trusted proxies](Self::trusted_proxies) |
/// | `error.type` | absent when the response was sent to its end; `panic` (the body panicked while streaming, see [`BodyError`](crate::BodyError)), `body_error` (the body or the service failed), `cancelled` (the response future or body was dropped before the end) |
/// | `client.disconnected` | `true` when a cancelled request's connection was seen going by the server — only a server that tells, such as belfry's `serve` (see [`ConnectionStatus`](crate::ConnectionStatus)); with `axum::serve` belfry cannot know and says only `cancelled` |
///
/// Level: ERROR for a 5xx, WARN when the duration reaches the slow threshold, DEBUG for
/// [quiet routes](Self::quiet_routes), INFO otherwise. A 5xx on a quiet route (a readiness probe
/// answering 503 while draining) is a WARN: a state, not a failure.
///
/// **Apply it with axum's `Router::layer`** (belfry's `Belfry::wrap` does): it reads the route
/// template from `MatchedPath`, which only exists after routing. Around the whole router every
/// request would be logged without `http.route`.
///
/// ```
/// use axum::{routing::get, Router};
/// use belfry_access_log::AccessLogLayer;
/// use std::time::Duration;
///
/// let access_log = AccessLogLayer::new()
///     .slow_threshold(Duration::from_millis(500))
///     .slow_threshold_for_route("/export", Duration::from_secs(10));
/// let app: Router = Router::new()
///     .route("/export", get(|| async { "big file" }))
///     .layer(access_log);
/// ```
#[derive(Clone)]
pub struct AccessLogLayer {
    pub(crate) config: Arc<AccessLogConfig>,
}

pub(crate) struct AccessLogConfig {
    pub(crate) slow_threshold: Duration,
    pub(crate) route_slow_thresholds: Vec<(String, Duration)>,
    pub(crate) quiet_routes: Vec<String>,
    pub(crate) trusted_proxies: Vec<TrustedProxy>,
    pub(crate) scrub: ScrubPolicy,
    pub(crate) server_timing: bool,
    /// Whether a request span handed over by the request-id layer is entered while the inner
    /// service's `call` runs (see [`AccessLogLayer::enter_span_in_call`]).
    pub(crate) enter_span_in_call: bool,
    pub(crate) hung_threshold: Option<Duration>,
    pub(crate) hung_capacity: usize,
    pub(crate) hung: Option<Arc<HungRequestWatch>>,
    pub(crate) sampling: AccessLogSampling,
    /// Set once the "no route template" warning has been written.
    pub(crate) warned_unrouted: AtomicBool,
    /// Set once the "dropped by a layer outside" warning has been written.
    pub(crate) warned_dropped: AtomicBool,
}

impl AccessLogConfig {
    /// The slow threshold of `route`.
    pub(crate) fn slow_threshold(&self, route: Option<&str>) -> Duration {
        route
            .and_then(|route| self.route_slow_thresholds.iter().find(|(r, _)| r == route))
            .map_or(self.slow_threshold, |(_, threshold)| *threshold)
    }

    pub(crate) fn is_quiet(&self, route: Option<&str>) -> bool {
        route.is_some_and(|route| self.quiet_routes.iter().any(|quiet| quiet == route))
    }
}

impl std::fmt::Debug for AccessLogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = &self.config;
        f.debug_struct("AccessLogLayer")
            .field("slow_threshold", &config.slow_threshold)
            .field("route_slow_thresholds", &config.route_slow_thresholds)
            .field("quiet_routes", &config.quiet_routes)
            .field("trusted_proxies", &config.trusted_proxies)
            .field("server_timing", &config.server_timing)
            .field("enter_span_in_call", &config.enter_span_in_call)
            .field("hung_threshold", &config.hung_threshold)
            .field("sampling", &config.sampling)
            .finish_non_exhaustive()
    }
}

impl Default for AccessLogLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl AccessLogLayer {
    /// The defaults: slow at 1 s, hung at 10 s, no quiet routes (belfry's facade makes the
    /// routes of `belfry-health` and `/metrics` quiet), no trusted proxies, the default
    /// [`ScrubPolicy`], no `Server-Timing` header.
    pub fn new() -> Self {
        let config = AccessLogConfig {
            slow_threshold: DEFAULT_SLOW_REQUEST_THRESHOLD,
            route_slow_thresholds: Vec::new(),
            quiet_routes: Vec::new(),
            trusted_proxies: Vec::new(),
            scrub: ScrubPolicy::default(),
            server_timing: false,
            enter_span_in_call: true,
            hung_threshold: Some(DEFAULT_HUNG_REQUEST_THRESHOLD),
            hung_capacity: DEFAULT_HUNG_WATCH_CAPACITY,
            hung: None,
            sampling: AccessLogSampling::default(),
            warned_unrouted: AtomicBool::new(false),
            warned_dropped: AtomicBool::new(false),
        };
        Self {
            config: Arc::new(config).with_hung_watch(),
        }
    }

    fn update(mut self, change: impl FnOnce(&mut AccessLogConfig)) -> Self {
        let mut config = Arc::try_unwrap(self.config).unwrap_or_else(|shared| shared.duplicate());
        change(&mut config);
        self.config = Arc::new(config).with_hung_watch();
        self
    }

    /// The slow threshold of routes without one of their own.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let layer = belfry_access_log::AccessLogLayer::new().slow_threshold(Duration::from_millis(250));
    /// assert_eq!(layer.slow_threshold_in_force(), Duration::from_millis(250));
    /// assert_eq!(layer.hung_threshold_in_force(), Some(Duration::from_secs(10)));
    /// ```
    pub fn slow_threshold_in_force(&self) -> Duration {
        self.config.slow_threshold
    }

    /// The hung-request threshold; `None`: the watch is off.
    pub fn hung_threshold_in_force(&self) -> Option<Duration> {
        self.config.hung_threshold
    }

    /// Requests taking at least this long are logged at WARN (default 1 s).
    pub fn slow_threshold(self, threshold: Duration) -> Self {
        self.update(|config| config.slow_threshold = threshold)
    }

    /// Gives `route` (a route template such as `/export/{id}`) its own slow threshold.
    pub fn slow_threshold_for_route(self, route: impl Into<String>, threshold: Duration) -> Self {
        let route = route.into();
        self.update(|config| {
            config
                .route_slow_thresholds
                .retain(|(existing, _)| *existing != route);
            config.route_slow_thresholds.push((route, threshold));
        })
    }

    /// Reports a request still running after `threshold` once, at WARN (default 10 s);
    /// `None` turns the watch off.
    pub fn hung_threshold(self, threshold: Option<Duration>) -> Self {
        self.update(|config| config.hung_threshold = threshold)
    }

    /// How many requests in flight the hung-request watch follows (default 4096); beyond that,
    /// requests go unwatched rather than wait.
    pub fn hung_watch_capacity(self, capacity: usize) -> Self {
        self.update(|config| config.hung_capacity = capacity)
    }

    /// Routes logged at DEBUG instead of INFO when fast and successful — probes and scrapes
    /// (default none; belfry's facade sets `belfry_health::PATHS` and `/metrics`). Replaces the
    /// list.
    pub fn quiet_routes<I, R>(self, routes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        let routes = routes.into_iter().map(Into::into).collect();
        self.update(|config| config.quiet_routes = routes)
    }

    /// Proxies whose `X-Forwarded-For` is believed for `client.address` (default: none, so the
    /// peer address is logged).
    pub fn trusted_proxies(self, proxies: impl IntoIterator<Item = TrustedProxy>) -> Self {
        let proxies = proxies.into_iter().collect();
        self.update(|config| config.trusted_proxies = proxies)
    }

    /// The policy that scrubs the logged query string.
    pub fn scrub_policy(self, policy: ScrubPolicy) -> Self {
        self.update(|config| config.scrub = policy)
    }

    /// Requests the hung-request watch could not follow because more were in flight than
    /// [`hung_watch_capacity`](Self::hung_watch_capacity) allows.
    ///
    /// ```
    /// assert_eq!(belfry_access_log::AccessLogLayer::new().unwatched_requests(), 0);
    /// ```
    pub fn unwatched_requests(&self) -> u64 {
        self.config.hung.as_ref().map_or(0, |watch| watch.unwatched())
    }

    /// Writes the `request completed` line of only a share `ratio` (0 to 1) of `route`'s
    /// successful, fast requests (default: every line). 5xx, failed, cancelled, slow and hung
    /// requests are always written, 4xx too with
    /// [`always_log_client_errors`](Self::always_log_client_errors); metrics count every request
    /// whatever the ratio.
    ///
    /// ```
    /// let access_log = belfry_access_log::AccessLogLayer::new().sample_route("/users/{id}", 0.01);
    /// assert!(format!("{access_log:?}").contains(r#"("/users/{id}", 0.01)"#));
    /// ```
    pub fn sample_route(self, route: impl Into<String>, ratio: f64) -> Self {
        let route = route.into();
        self.update(|config| config.sampling.set(route, ratio))
    }

    /// Whether 4xx responses of [sampled routes](Self::sample_route) are always written (default
    /// `false`: sampled like successes).
    pub fn always_log_client_errors(self, always: bool) -> Self {
        self.update(|config| config.sampling.always_client_errors = always)
    }

    /// Adds `Server-Timing: app;dur=<ms>` to responses (default off): the time until the
    /// response headers, visible in browsers' developer tools.
    pub fn server_timing(self, enabled: bool) -> Self {
        self.update(|config| config.server_timing = enabled)
    }

    /// Whether the request span, when the request-id layer hands it over
    /// ([`RequestIdLayer::hand_over_span`](belfry_request_id::RequestIdLayer::hand_over_span)),
    /// is entered while the inner service's `call` runs (default `true`). It is entered while
    /// the inner future is polled either way, and lent to the layers inside
    /// ([`request_span`](crate::request_span)) in both.
    ///
    /// `false` saves one enter and exit of the span (a trip through the subscriber) per request,
    /// for an inner service whose `call` only builds its future and logs nothing — axum's
    /// routes, and belfry's own metrics and capture layers, do exactly that; `Belfry::wrap`
    /// sets it when no application layer sits in between. An event logged in such a `call`
    /// would be outside the request span (no `request_id` on its line).
    ///
    /// ```
    /// let layer = belfry_access_log::AccessLogLayer::new().enter_span_in_call(false);
    /// assert!(format!("{layer:?}").contains("enter_span_in_call: false"));
    /// ```
    pub fn enter_span_in_call(self, enter: bool) -> Self {
        self.update(|config| config.enter_span_in_call = enter)
    }
}

trait WithHungWatch {
    fn with_hung_watch(self) -> Self;
}

impl WithHungWatch for Arc<AccessLogConfig> {
    /// Creates the watch table for the configured threshold, once the configuration is final.
    fn with_hung_watch(mut self) -> Self {
        let config = Arc::get_mut(&mut self).expect("a fresh configuration");
        config.hung = config
            .hung_threshold
            .map(|threshold| HungRequestWatch::new(threshold, config.hung_capacity, config.scrub.clone()));
        self
    }
}

impl AccessLogConfig {
    fn duplicate(&self) -> Self {
        Self {
            slow_threshold: self.slow_threshold,
            route_slow_thresholds: self.route_slow_thresholds.clone(),
            quiet_routes: self.quiet_routes.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            scrub: self.scrub.clone(),
            server_timing: self.server_timing,
            enter_span_in_call: self.enter_span_in_call,
            hung_threshold: self.hung_threshold,
            hung_capacity: self.hung_capacity,
            hung: None,
            sampling: self.sampling.clone(),
            warned_unrouted: AtomicBool::new(false),
            warned_dropped: AtomicBool::new(false),
        }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog {
            inner,
            config: self.config.clone(),
        }
    }
}
