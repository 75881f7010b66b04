//! What the layer keeps of a request to report it, and the events it logs.

use axum::extract::MatchedPath;
use belfry_request_id::RequestId;
use belfry_trace_context::TraceContext;
use http::{Method, Request, StatusCode};

use crate::{panic::CaughtPanic, ErrorReport};

/// `GET /users/{id}`, or `GET <unmatched>` when no route matched: how a request is named in
/// Sentry (transactions and events alike). The route template keeps the number of distinct
/// names small.
pub(crate) fn transaction_name(method: &Method, route: Option<&MatchedPath>) -> String {
    format!("{method} {}", route.map_or("<unmatched>", MatchedPath::as_str))
}

/// Cheap clones (reference counts) taken before the request is handed to the inner service.
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    pub(crate) route: Option<MatchedPath>,
    pub(crate) request_id: Option<RequestId>,
    /// The request's trace, when a `TraceContextLayer` runs further out.
    pub(crate) trace: Option<TraceContext>,
    /// A probe route: its 5xx answers are states, not failures.
    pub(crate) probe: bool,
}

impl RequestInfo {
    pub(crate) fn new<B>(request: &Request<B>) -> Self {
        let extensions = request.extensions();
        Self {
            method: request.method().clone(),
            route: extensions.get::<MatchedPath>().cloned(),
            request_id: extensions.get::<RequestId>().cloned(),
            trace: TraceContext::current(),
            probe: false,
        }
    }

    pub(crate) fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    /// `GET /users/{id}`, or `GET <unmatched>` when no route matched: the route template keeps
    /// the number of distinct names small.
    pub(crate) fn transaction_name(&self) -> String {
        transaction_name(&self.method, self.route.as_ref())
    }

    /// Logs `request panicked`; `status` is the status the client got: the `500` answered for
    /// a handler's panic, or the status already sent when the body panicked while streaming.
    pub(crate) fn log_panic(&self, panic: &CaughtPanic, status: StatusCode) {
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

/// Logs `request panicked` for a request to `route` with `method`; see [`RequestInfo::log_panic`].
pub(crate) fn log_panic(method: &Method, route: Option<&str>, panic: &CaughtPanic, status: StatusCode) {
    let location = panic.location.as_ref();
    tracing::event!(
        target: crate::TARGET,
        tracing::Level::ERROR,
        http.request.method = method.as_str(),
        http.route = route,
        http.response.status_code = status.as_u16(),
        panic.message = panic.message.as_str(),
        code.filepath = location.map(|location| location.file.as_str()),
        code.lineno = location.map(|location| location.line),
        code.column = location.map(|location| location.column),
        "request panicked"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_names() {
        let request = Request::post("/users/7").body(()).unwrap();
        assert_eq!(RequestInfo::new(&request).transaction_name(), "POST <unmatched>");
    }
}
