//! [`CaptureLayer`]: the configuration, shared by every clone of the service.

use std::sync::Arc;

use tower_layer::Layer;

use crate::{Capture, ProblemJson};

/// Catches panics, answering `500` with a problem document, and reports panics and `5xx`
/// responses to the logs and to the [`Reporter`](crate::Reporter) `R` (none by default).
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
/// - **A reporter** (`belfry-sentry`'s `SentryReporter`, given with
///   [`reporter`](Self::reporter)) gets a state per request, entered around every poll of the
///   handler and the body, and is told of each panic and each reported `5xx`. Without one (`R =
///   ()`), none of this costs anything.
/// - **The panic response** is `P`, by default [`ProblemJson`]; any
///   [`ResponseForPanic`](crate::ResponseForPanic), closures included, with
///   [`panic_response`](Self::panic_response).
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
pub struct CaptureLayer<P = ProblemJson, R = ()> {
    pub(crate) probe_routes: Arc<[Box<str>]>,
    pub(crate) panic_response: P,
    pub(crate) reporter: R,
    pub(crate) borrow_request_span: bool,
    pub(crate) enter_reporter_in_call: bool,
}

impl Default for CaptureLayer {
    fn default() -> Self {
        Self {
            probe_routes: Arc::from([]),
            panic_response: ProblemJson,
            reporter: (),
            borrow_request_span: false,
            enter_reporter_in_call: true,
        }
    }
}

impl CaptureLayer {
    /// The defaults: a [`ProblemJson`] response for panics, no reporter, no probe routes
    /// (belfry's facade sets `belfry_health::PATHS`).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<P, R> CaptureLayer<P, R> {
    /// Answers panics with `panic_response` instead (a [`ResponseForPanic`](crate::ResponseForPanic),
    /// such as a closure `Fn(&RequestDetails, &Panic) -> Response<B>`; see its example).
    pub fn panic_response<T>(self, panic_response: T) -> CaptureLayer<T, R> {
        CaptureLayer {
            probe_routes: self.probe_routes,
            panic_response,
            reporter: self.reporter,
            borrow_request_span: self.borrow_request_span,
            enter_reporter_in_call: self.enter_reporter_in_call,
        }
    }

    /// Reports panics and `5xx` responses to `reporter` too (belfry's Sentry integration:
    /// `belfry_sentry::SentryReporter`).
    pub fn reporter<T: crate::Reporter>(self, reporter: T) -> CaptureLayer<P, T> {
        CaptureLayer {
            probe_routes: self.probe_routes,
            panic_response: self.panic_response,
            reporter,
            borrow_request_span: self.borrow_request_span,
            enter_reporter_in_call: self.enter_reporter_in_call,
        }
    }

    /// Changes the reporter with `f`, keeping the rest: for a stack that configures its
    /// reporter after the layer was made.
    ///
    /// ```
    /// let layer = belfry_capture::CaptureLayer::new().map_reporter(|()| ());
    /// ```
    pub fn map_reporter<T: crate::Reporter>(self, f: impl FnOnce(R) -> T) -> CaptureLayer<P, T> {
        CaptureLayer {
            probe_routes: self.probe_routes,
            panic_response: self.panic_response,
            reporter: f(self.reporter),
            borrow_request_span: self.borrow_request_span,
            enter_reporter_in_call: self.enter_reporter_in_call,
        }
    }

    /// Route templates whose `5xx` answers are expected states, not failures — probes (default
    /// none). Their 5xx responses are neither logged at ERROR nor reported;
    /// a panic on them still is. Replaces the list.
    ///
    /// ```
    /// let layer = belfry_capture::CaptureLayer::new().probe_routes(["/healthz", "/readyz"]);
    /// ```
    pub fn probe_routes<I, T>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.probe_routes = routes
            .into_iter()
            .map(|route| Box::from(route.as_ref()))
            .collect();
        self
    }

    /// Borrows the request span that [`belfry_access_log::AccessLogLayer`] lends
    /// ([`belfry_access_log::request_span`]) instead of keeping a handle on the current span, for
    /// a streaming body's panic line and the reporter (default off). Turn it on only when the
    /// access log runs right outside this layer with no layer between that enters a span of its
    /// own — then the two are the same span, and a request saves a handle (~850 instructions
    /// through `tracing`'s registry) per use. belfry's `wrap` does; `wrap_with` does not.
    ///
    /// ```
    /// let layer = belfry_capture::CaptureLayer::new().borrow_request_span(true);
    /// ```
    pub fn borrow_request_span(mut self, borrow: bool) -> Self {
        self.borrow_request_span = borrow;
        self
    }

    /// Whether the reporter's request state is entered (Sentry: the request's hub bound) while
    /// the inner service's `call` runs (default `true`); it is entered while the inner future
    /// and the response body are polled either way, and a panic in `call` is caught and
    /// reported either way.
    ///
    /// `false` saves a hub switch per request for an inner service whose `call` only builds its
    /// future and reports nothing — an axum route, whose handler runs when its future is
    /// polled; belfry's stack, where this layer sits right around the route, sets it.
    ///
    /// ```
    /// let layer = belfry_capture::CaptureLayer::new().enter_reporter_in_call(false);
    /// assert!(format!("{layer:?}").contains("enter_reporter_in_call: false"));
    /// ```
    pub fn enter_reporter_in_call(mut self, enter: bool) -> Self {
        self.enter_reporter_in_call = enter;
        self
    }
}

impl<S, P: Clone, R: Clone> Layer<S> for CaptureLayer<P, R> {
    type Service = Capture<S, P, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Capture {
            inner,
            probe_routes: self.probe_routes.clone(),
            panic_response: self.panic_response.clone(),
            reporter: self.reporter.clone(),
            borrow_request_span: self.borrow_request_span,
            enter_reporter_in_call: self.enter_reporter_in_call,
        }
    }
}
