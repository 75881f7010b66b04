//! What the access log remembers of a request until it ends, and the events it writes.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{atomic::Ordering, Arc},
    time::Instant,
};

use axum::extract::{ConnectInfo, MatchedPath};
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use tracing::{Level, Span};

use crate::{client_address::client_address, layer::AccessLogConfig};

/// Everything needed to log one request: cheap clones (reference counts) taken at the start,
/// formatted only if the event is enabled.
pub(crate) struct RequestRecord {
    pub(crate) start: Instant,
    method: Method,
    route: Option<MatchedPath>,
    uri: Uri,
    user_agent: Option<HeaderValue>,
    peer: Option<IpAddr>,
    forwarded_for: Option<HeaderValue>,
    span: Span,
    pub(crate) config: Arc<AccessLogConfig>,
    /// The slot of this request in the hung-request watch, if it has one.
    pub(crate) hung_slot: Option<usize>,
}

impl RequestRecord {
    pub(crate) fn new<B>(request: &Request<B>, config: &Arc<AccessLogConfig>) -> Self {
        let start = Instant::now();
        let extensions = request.extensions();
        let headers = request.headers();
        let forwarded_for = if config.trusted_proxies.is_empty() {
            None
        } else {
            headers.get_all("x-forwarded-for").iter().next_back().cloned()
        };
        let hung_slot = config.hung.as_ref().and_then(|watch| watch.register(start));
        Self {
            start,
            method: request.method().clone(),
            route: extensions.get::<MatchedPath>().cloned(),
            uri: request.uri().clone(),
            user_agent: headers.get(header::USER_AGENT).cloned(),
            peer: extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
            forwarded_for,
            span: Span::current(),
            config: config.clone(),
            hung_slot,
        }
    }

    fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    /// Frees the hung-request slot; idempotent.
    pub(crate) fn finish_watch(&mut self) {
        if let (Some(index), Some(watch)) = (self.hung_slot.take(), self.config.hung.as_ref()) {
            watch.release(index);
        }
    }

    /// Logs `request still running` once, if the watch found this request due.
    pub(crate) fn warn_if_hung(&mut self) {
        let (Some(index), Some(watch)) = (self.hung_slot, self.config.hung.as_ref()) else {
            return;
        };
        if !watch.is_due(index) {
            return;
        }
        let elapsed_ms = millis(self.start.elapsed());
        tracing::event!(
            target: crate::TARGET,
            parent: &self.span,
            Level::WARN,
            http.request.method = self.method.as_str(),
            http.route = self.route(),
            url.path = self.uri.path(),
            elapsed_ms,
            threshold_ms = watch.threshold().as_millis() as u64,
            "request still running"
        );
        // Reported once: the slot stays claimed (and due) until the request ends.
        self.hung_slot = None;
        watch.release(index);
    }

    /// Writes the `request completed` event.
    pub(crate) fn complete(mut self, status: Option<StatusCode>, disconnected: bool) {
        self.finish_watch();
        let duration = self.start.elapsed();
        let config = &*self.config;
        let route = self.route();
        let level = if status.is_some_and(|status| status.is_server_error()) {
            // A probe answering 503 (draining, a dependency down) is a state, not a failure.
            if config.is_quiet(route) {
                Level::WARN
            } else {
                Level::ERROR
            }
        } else if duration >= config.slow_threshold(route) {
            Level::WARN
        } else if config.is_quiet(route) {
            Level::DEBUG
        } else {
            Level::INFO
        };
        if route.is_none() {
            warn_once_if_applied_outside_the_router(config, status);
        }
        macro_rules! completed {
            ($level:expr) => {
                tracing::event!(
                    target: crate::TARGET,
                    parent: &self.span,
                    $level,
                    http.request.method = self.method.as_str(),
                    http.route = route,
                    url.path = self.uri.path(),
                    url.query = self.uri.query().map(|query| tracing::field::display(config.scrub.query(query))),
                    http.response.status_code = status.map(|status| status.as_u16()),
                    duration_ms = millis(duration),
                    user_agent.original = self.user_agent.as_ref().and_then(|agent| agent.to_str().ok()),
                    client.address = client_address(
                        self.peer,
                        self.forwarded_for.as_ref().and_then(|value| value.to_str().ok()),
                        &config.trusted_proxies
                    )
                    .map(tracing::field::display),
                    client.disconnected = disconnected.then_some(true),
                    "request completed"
                )
            };
        }
        match level {
            Level::ERROR => completed!(Level::ERROR),
            Level::WARN => completed!(Level::WARN),
            Level::INFO => completed!(Level::INFO),
            _ => completed!(Level::DEBUG),
        }
    }
}

/// A request that got an answer other than 404/405 without a route template most likely passed
/// through a layer applied around the router instead of with `Router::layer`: `http.route` is
/// then missing from every line. Said once, at WARN, so the mistake is not silent. (A fallback
/// handler that answers 200 triggers it too; the message says how to tell.)
fn warn_once_if_applied_outside_the_router(config: &AccessLogConfig, status: Option<StatusCode>) {
    let routed_miss = matches!(
        status,
        Some(StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) | None
    );
    if routed_miss || config.warned_unrouted.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::warn!(
        target: crate::TARGET,
        "a request completed without a route template (axum's MatchedPath): if it was for one of \
         your routes, the access log is applied around the router; apply it with Router::layer \
         (belfry's Belfry::wrap does) so `http.route` is logged. Said once; a fallback handler \
         answering without a route also triggers it."
    );
}

/// Milliseconds with microsecond precision: three decimals at most, which log formatters can
/// write without a float formatter.
fn millis(duration: std::time::Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        self.finish_watch();
    }
}
