//! [`CaptureLayer`]: the configuration, shared by every clone of the service.

use std::sync::Arc;

use belfry_scrub::ScrubPolicy;
use tower_layer::Layer;

use crate::Capture;

/// Catches panics, answering `500` with a problem document, and reports panics and `5xx`
/// responses to the logs and, when a Sentry client is bound, to Sentry.
///
/// - **A panic** in the inner service — in `call` or while its future is polled — is caught
///   and answered with `500 Internal Server Error`, `content-type: application/problem+json`
///   and `{"type":"about:blank","title":"Internal Server Error","status":500,"request_id":"…"}`
///   (`request_id` from the [`RequestId`](belfry_request_id::RequestId) extension, when
///   present). The panic message never reaches the client. One ERROR event `request panicked`
///   is logged with target [`TARGET`](crate::TARGET).
/// - **A `5xx` answered by the application** is sent as it is, and reported with one ERROR
///   event `request failed`, with the [`ErrorReport`](crate::ErrorReport) the application
///   attached, if any.
/// - **Sentry**, only when a client is bound to the current hub: each request runs in its own
///   hub (tag `request_id`, transaction `GET /route/{template}`, the request scrubbed by the
///   [`ScrubPolicy`]); each panic and each `5xx` becomes exactly one event; with traces
///   sampled, a `http.server` transaction covers the request. Without a client, none of this
///   costs more than one look at the current hub.
///
/// Apply it with axum's `Router::layer`, inside the request-id layer and the access log, so the
/// route template and the request id are known and the access log sees the `500`:
///
/// ```
/// use axum::{body::Body, routing::get, Router};
/// use belfry_capture::CaptureLayer;
/// use belfry_request_id::RequestIdLayer;
/// use http::Request;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// belfry_capture::install_panic_hook(); // once, at startup: adds the panic's location
///
/// async fn buggy() -> &'static str {
///     panic!("bug")
/// }
///
/// let app = Router::new()
///     .route("/panic", get(buggy))
///     .layer(CaptureLayer::new())
///     .layer(RequestIdLayer::new());
///
/// let request = Request::get("/panic").header("x-request-id", "req-1").body(Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 500);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// # }
/// ```
///
/// Panics are caught only with `panic = "unwind"` (the default): with `panic = "abort"` the
/// process ends.
#[derive(Clone, Debug)]
pub struct CaptureLayer {
    pub(crate) scrub: ScrubPolicy,
    pub(crate) probe_routes: Arc<[Box<str>]>,
}

/// Routes whose `5xx` answers are states, not failures: a readiness probe answering 503 while
/// the service drains or a dependency is down. Their 5xx responses are not reported (panics
/// still are).
pub const DEFAULT_PROBE_ROUTES: [&str; 3] = ["/health", "/health/live", "/health/ready"];

impl Default for CaptureLayer {
    fn default() -> Self {
        Self {
            scrub: ScrubPolicy::default(),
            probe_routes: DEFAULT_PROBE_ROUTES
                .iter()
                .map(|&route| Box::from(route))
                .collect(),
        }
    }
}

impl CaptureLayer {
    /// The defaults: the default [`ScrubPolicy`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The policy that scrubs the URL and headers of the request sent to Sentry.
    ///
    /// ```
    /// use belfry_capture::CaptureLayer;
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().redact_query_param("state").build();
    /// let layer = CaptureLayer::new().scrub_policy(policy);
    /// assert!(layer.scrub().is_sensitive_query_param("state"));
    /// ```
    pub fn scrub_policy(mut self, policy: ScrubPolicy) -> Self {
        self.scrub = policy;
        self
    }

    /// The policy that scrubs the request sent to Sentry.
    pub fn scrub(&self) -> &ScrubPolicy {
        &self.scrub
    }

    /// Route templates whose `5xx` answers are expected states, not failures — probes (default
    /// [`DEFAULT_PROBE_ROUTES`]). Their 5xx responses are neither logged at ERROR nor sent to
    /// Sentry; a panic on them still is. Replaces the list.
    ///
    /// ```
    /// let layer = belfry_capture::CaptureLayer::new().probe_routes(["/healthz", "/readyz"]);
    /// ```
    pub fn probe_routes<I, R>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: AsRef<str>,
    {
        self.probe_routes = routes
            .into_iter()
            .map(|route| Box::from(route.as_ref()))
            .collect();
        self
    }
}

impl<S> Layer<S> for CaptureLayer {
    type Service = Capture<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Capture {
            inner,
            scrub: self.scrub.clone(),
            probe_routes: self.probe_routes.clone(),
        }
    }
}
