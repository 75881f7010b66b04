//! What the access log remembers of a request until it ends, and the events it writes.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use axum::extract::{ConnectInfo, MatchedPath};
use belfry_scrub::ScrubPolicy;
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use tracing::{Level, Span};

use crate::{
    body_error::ERROR_TYPE_CANCELLED, client_address::client_address, layer::AccessLogConfig,
    ConnectionStatus,
};

/// What the lines about one request say of it: cheap clones (reference counts) taken at the
/// start, formatted only if an event is enabled. Lives in the request's slot of the hung-request
/// watch while the request runs (so the watcher can report it), or in the record when unwatched.
#[derive(Clone)]
pub(crate) struct RequestData {
    method: Method,
    route: Option<MatchedPath>,
    uri: Uri,
    user_agent: Option<HeaderValue>,
    peer: Option<IpAddr>,
    forwarded_for: Option<HeaderValue>,
    span: Span,
    /// Set by a server that tells when the connection goes (belfry's `serve`).
    connection: Option<ConnectionStatus>,
}

/// Where a request's data is while it runs.
enum Place {
    /// In this slot of the hung-request watch (the default): no allocation, and the record stays
    /// small, so the response future and body that carry it through every layer move little.
    Watched(usize),
    /// On the heap: the watch is off or was full.
    Inline(Box<RequestData>),
    /// Already logged.
    Done,
}

/// A request in flight, from the access log's point of view: when it started, and its data.
pub(crate) struct RequestRecord {
    pub(crate) start: Instant,
    pub(crate) config: Arc<AccessLogConfig>,
    /// A `HEAD` request: its body is never sent.
    pub(crate) head: bool,
    /// The span was handed over by the request-id layer
    /// ([`take_request_span`](belfry_request_id::take_request_span)): the access log enters it
    /// while it polls the inner future, and while it calls the inner service unless
    /// [`enter_span_in_call`](crate::AccessLogLayer::enter_span_in_call) is off.
    pub(crate) enters_span: bool,
    place: Place,
}

/// How a request ended, for the `request completed` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The response was sent to its end.
    Completed,
    /// The body (or the inner service) failed; `error.type` says how.
    Failed(&'static str),
    /// The response future or body was dropped before the end.
    Dropped,
}

impl RequestRecord {
    pub(crate) fn new<B>(request: &Request<B>, config: &Arc<AccessLogConfig>) -> Self {
        let start = Instant::now();
        let extensions = request.extensions();
        let headers = request.headers();
        // Handed over by the request-id layer directly outside (under `Belfry::wrap`): this
        // record then holds the only handle, and enters it while the request runs.
        let handed_over = belfry_request_id::take_request_span();
        let enters_span = handed_over.is_some();
        // In a `Cell`, so that `make` stays `Copy` (the watch may call it or leave it to us).
        let handed_over = std::cell::Cell::new(handed_over);
        let make = || RequestData {
            forwarded_for: if config.trusted_proxies.is_empty() {
                None
            } else {
                headers.get_all("x-forwarded-for").iter().next_back().cloned()
            },
            method: request.method().clone(),
            route: extensions.get::<MatchedPath>().cloned(),
            uri: request.uri().clone(),
            user_agent: headers.get(header::USER_AGENT).cloned(),
            peer: extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
            span: handed_over.take().unwrap_or_else(Span::current),
            connection: extensions.get::<ConnectionStatus>().cloned(),
        };
        // Made where it will stay: in its slot when watched.
        let place = match config.hung.as_ref() {
            Some(watch) => match watch.register(start, make) {
                Some(index) => Place::Watched(index),
                None => Place::Inline(Box::new(make())),
            },
            None => Place::Inline(Box::new(make())),
        };
        Self {
            start,
            config: config.clone(),
            head: request.method() == Method::HEAD,
            enters_span,
            place,
        }
    }

    /// The request's span, lent to the layers inside the access log while it runs (see
    /// [`request_span`](crate::request_span)); `None` once logged.
    #[inline]
    pub(crate) fn span(&self) -> Option<&Span> {
        match &self.place {
            Place::Watched(index) => {
                let watch = self.config.hung.as_ref()?;
                // SAFETY: this record registered the slot and frees it only in `complete` or on
                // drop, both of which take `self` mutably: not while the reference lives.
                unsafe { watch.data(*index) }.map(|data| &data.span)
            }
            Place::Inline(data) => Some(&data.span),
            Place::Done => None,
        }
    }

    /// Writes the `request completed` event: `status` is the status sent (if any), `bytes` the
    /// body bytes handed to the server. A watched request is logged from its slot, where its
    /// data lies, then the slot is freed.
    pub(crate) fn complete(mut self, status: Option<StatusCode>, ending: Ending, bytes: u64) {
        let duration = self.start.elapsed();
        let config = &*self.config;
        match std::mem::replace(&mut self.place, Place::Done) {
            Place::Watched(index) => {
                let watch = config.hung.as_ref().expect("a watched request has a watch");
                watch.finish(index, |data| {
                    data.completed(config, status, ending, bytes, duration)
                });
            }
            Place::Inline(data) => data.completed(config, status, ending, bytes, duration),
            Place::Done => {}
        }
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        // Frees the slot of a record never completed.
        if let Place::Watched(index) = self.place {
            if let Some(watch) = self.config.hung.as_ref() {
                watch.release(index);
            }
        }
    }
}

impl RequestData {
    fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    /// Logs `request still running`, from the hung-request watcher's thread: inside the
    /// request's span (so with its `request_id` and `trace_id`), through the span's own
    /// dispatcher.
    pub(crate) fn warn_still_running(&self, elapsed: Duration, threshold: Duration, scrub: &ScrubPolicy) {
        let emit = || {
            tracing::event!(
                target: crate::TARGET,
                parent: &self.span,
                Level::WARN,
                message = "request still running",
                http.request.method = self.method.as_str(),
                http.route = self.route(),
                url.path = &*scrub.path(self.uri.path(), self.route()).to_cow(),
                elapsed_ms = millis(elapsed),
                threshold_ms = threshold.as_millis() as u64,
            )
        };
        match self.span.with_subscriber(|(_, dispatch)| dispatch.clone()) {
            Some(dispatch) => tracing::dispatcher::with_default(&dispatch, emit),
            None => emit(),
        }
    }

    fn completed(
        &self,
        config: &AccessLogConfig,
        status: Option<StatusCode>,
        ending: Ending,
        bytes: u64,
        duration: Duration,
    ) {
        let route = self.route();
        let error_type = match ending {
            Ending::Completed => None,
            Ending::Failed(error_type) => Some(error_type),
            Ending::Dropped => Some(ERROR_TYPE_CANCELLED),
        };
        // Claimed only when the server saw the connection go.
        let disconnected =
            ending == Ending::Dropped && self.connection.as_ref().is_some_and(ConnectionStatus::is_closed);
        let level = if status.is_some_and(|status| status.is_server_error()) {
            // A probe answering 503 (draining, a dependency down) is a state, not a failure.
            if config.is_quiet(route) {
                Level::WARN
            } else {
                Level::ERROR
            }
        } else if matches!(ending, Ending::Failed(_)) {
            Level::ERROR
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
        if ending == Ending::Dropped && !disconnected {
            self.warn_once_if_dropped_by_an_outer_layer(config);
        }
        // Sampling (off unless configured): only a line that says nothing went wrong.
        if !config.sampling.is_off()
            && matches!(level, Level::INFO | Level::DEBUG)
            && ending == Ending::Completed
            && config.hung_threshold.is_none_or(|hung| duration < hung)
            && !config.sampling.writes(route, status)
        {
            return;
        }
        macro_rules! completed {
            ($level:expr) => {
                tracing::event!(
                    target: crate::TARGET,
                    parent: &self.span,
                    $level,
                    // A `&str`, not the trailing format string (`fmt::Arguments`, which tracing
                    // records through `record_debug`: a formatting pass per line, ~290
                    // instructions). First, where tracing puts a trailing message.
                    message = "request completed",
                    http.request.method = self.method.as_str(),
                    http.route = route,
                    url.path = &*config.scrub.path(self.uri.path(), route).to_cow(),
                    url.query = self.uri.query().map(|query| tracing::field::display(config.scrub.query(query))),
                    http.response.status_code = status.map(|status| status.as_u16()),
                    http.response.body.size = bytes,
                    duration_ms = millis(duration),
                    user_agent.original = self.user_agent.as_ref().and_then(|agent| agent.to_str().ok()),
                    client.address = client_address(
                        self.peer,
                        self.forwarded_for.as_ref().and_then(|value| value.to_str().ok()),
                        &config.trusted_proxies
                    )
                    .map(tracing::field::display),
                    client.disconnected = disconnected.then_some(true),
                    error.type = error_type,
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

    /// A request dropped before its end on a connection the server says is still open was
    /// dropped by a layer outside the access log — typically a timeout applied after
    /// `Belfry::wrap`, whose answer belfry then never sees. Said once, at WARN, naming the fix.
    /// Without a server that tells (`axum::serve`), a drop may be the client leaving, so nothing
    /// is said.
    fn warn_once_if_dropped_by_an_outer_layer(&self, config: &AccessLogConfig) {
        if self.connection.is_none() || config.warned_dropped.swap(true, Ordering::Relaxed) {
            return;
        }
        tracing::event!(
            target: crate::TARGET,
            parent: &self.span,
            Level::WARN,
            http.route = self.route(),
            "a request was dropped before its response while its connection stayed open: a layer \
             applied outside belfry's stack (e.g. `belfry.wrap(router).layer(TimeoutLayer::new(..))`) \
             answered instead, so its response (a 408, a 429, ...) is neither logged nor counted and \
             carries no request id. Give your layers to belfry instead: \
             `belfry.wrap_with(router, ServiceBuilder::new().layer(TimeoutLayer::new(..)))`. Said once."
        );
    }

    #[cfg(test)]
    pub(crate) fn route_for_test(&self) -> Option<&str> {
        self.route()
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
fn millis(duration: Duration) -> f64 {
    let micros = duration.as_micros();
    // The same value as `micros as f64` (both round correctly), without the `u128` conversion
    // call for every duration below 584,000 years.
    let micros = match u64::try_from(micros) {
        Ok(micros) => micros as f64,
        Err(_) => micros as f64,
    };
    micros / 1000.0
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Request data for a request to `path`, matched by `route`.
    pub(crate) fn data_for(route: &str, path: &str) -> RequestData {
        let mut request = Request::get(path).body(()).unwrap();
        request.extensions_mut().insert(matched_path(route));
        RequestData {
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            uri: request.uri().clone(),
            user_agent: None,
            peer: None,
            forwarded_for: None,
            span: Span::current(),
            connection: None,
        }
    }

    /// A `MatchedPath` for `route`, taken from a real router.
    pub(crate) fn matched_path(route: &str) -> MatchedPath {
        use axum::{body::Body, routing::get, Router};
        use tower::ServiceExt;

        let found = Arc::new(Mutex::new(None));
        let sink = found.clone();
        let router: Router = Router::new().route(
            route,
            get(move |path: MatchedPath| {
                *sink.lock().unwrap() = Some(path);
                async {}
            }),
        );
        let path = route.replace("{id}", "1");
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime
            .block_on(router.oneshot(Request::get(path).body(Body::empty()).unwrap()))
            .unwrap();
        let matched = found.lock().unwrap().take().expect("the route matched");
        matched
    }

    /// Runs `f` with a subscriber that records every event as `message field=value ...`.
    pub(crate) fn capture_events<R>(f: impl FnOnce() -> R) -> (Vec<String>, R) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Recorder(events.clone()));
        let result = tracing::subscriber::with_default(subscriber, f);
        let events = events.lock().unwrap().clone();
        (events, result)
    }

    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            struct Fields(String);
            impl tracing::field::Visit for Fields {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                    if field.name() == "message" {
                        self.0.insert_str(0, &format!("{value:?}"));
                    } else {
                        self.0.push_str(&format!(" {}={value:?}", field.name()));
                    }
                }
                // A `message` given as a `&str` field reads like a trailing format string.
                fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                    if field.name() == "message" {
                        self.0.insert_str(0, value);
                    } else {
                        self.record_debug(field, &value);
                    }
                }
            }
            let mut fields = Fields(format!(" level={}", event.metadata().level()));
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}
