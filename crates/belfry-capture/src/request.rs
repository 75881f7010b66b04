//! [`RequestDetails`]: what the layer keeps of a request to report it, and the events it logs.

use axum::extract::MatchedPath;
use belfry_request_id::RequestId;
use belfry_trace_context::TraceContext;
use http::{Method, Request, StatusCode};

use crate::{ErrorReport, Panic};

/// What the capture layer keeps of a request to report it: its method, route template,
/// request id and trace — cheap clones (reference counts) taken before the inner service gets
/// the request. Given to [`Reporter::start`](crate::Reporter::start) and to the
/// [panic response](crate::ResponseForPanic).
///
/// ```
/// use belfry_capture::RequestDetails;
///
/// let request = http::Request::post("/users/7").body(()).unwrap();
/// let details = RequestDetails::new(&request);
/// assert_eq!(details.method(), "POST");
/// assert_eq!(details.route(), None); // no router matched it
/// assert!(details.request_id().is_none() && details.trace().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct RequestDetails {
    method: Method,
    route: Option<MatchedPath>,
    request_id: Option<RequestId>,
    /// The request's trace, when a `TraceContextLayer` runs further out.
    trace: Option<TraceContext>,
    /// A probe route: its 5xx answers are states, not failures.
    pub(crate) probe: bool,
    /// The access log right outside lends the request span (see
    /// [`CaptureLayer::borrow_request_span`](crate::CaptureLayer::borrow_request_span)).
    pub(crate) borrows_span: bool,
}

impl RequestDetails {
    /// The details of `request`, from its extensions and the current trace context.
    pub fn new<B>(request: &Request<B>) -> Self {
        let extensions = request.extensions();
        Self {
            method: request.method().clone(),
            route: extensions.get::<MatchedPath>().cloned(),
            request_id: extensions.get::<RequestId>().cloned(),
            trace: TraceContext::current(),
            probe: false,
            borrows_span: false,
        }
    }

    /// Whether the request span is lent by the access log right outside the capture layer
    /// ([`belfry_access_log::request_span`]; see
    /// [`CaptureLayer::borrow_request_span`](crate::CaptureLayer::borrow_request_span)): a
    /// [`Reporter`](crate::Reporter) can then borrow it while the request runs instead of
    /// keeping a handle on the current span.
    pub fn borrows_request_span(&self) -> bool {
        self.borrows_span
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The route template that matched (`/users/{id}`), when the layer runs inside a router.
    pub fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    /// The request id, when the request-id layer runs further out.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }

    /// The request's trace, when the trace-context layer runs further out.
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// The method and route, for the body (which keeps only what it needs to log a panic).
    pub(crate) fn into_method_and_route(self) -> (Method, Option<MatchedPath>) {
        (self.method, self.route)
    }

    /// Logs `request panicked`; `status` is the status the client got: the `500` answered for
    /// a handler's panic, or the status already sent when the body panicked while streaming.
    pub(crate) fn log_panic(&self, panic: &Panic, status: StatusCode) {
        log_panic(&self.method, self.route(), panic, status);
    }

    /// Logs `request failed` for a 5xx answered by the application.
    pub(crate) fn log_failure(&self, status: StatusCode, report: Option<&ErrorReport>) {
        tracing::event!(
            target: crate::TARGET,
            tracing::Level::ERROR,
            http.request.method = self.method.as_str(),
            http.route = self.route(),
            http.response.status_code = status.as_u16(),
            error.message = report.map(|report| tracing::field::display(report.error())),
            error.chain = report.map(tracing::field::display),
            error.type = report.and_then(ErrorReport::type_name),
            "request failed"
        );
    }
}

/// Logs `request panicked` for a request to `route` with `method`; see
/// [`RequestDetails::log_panic`].
pub(crate) fn log_panic(method: &Method, route: Option<&str>, panic: &Panic, status: StatusCode) {
    let location = panic.location();
    tracing::event!(
        target: crate::TARGET,
        tracing::Level::ERROR,
        http.request.method = method.as_str(),
        http.route = route,
        http.response.status_code = status.as_u16(),
        panic.message = panic.message(),
        code.filepath = location.map(|location| location.file()),
        code.lineno = location.map(|location| location.line()),
        code.column = location.map(|location| location.column()),
        "request panicked"
    );
}
