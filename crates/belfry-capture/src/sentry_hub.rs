//! The Sentry side of a request: its hub, its context, its transaction and its events.
//!
//! Nothing here runs unless a Sentry client is bound to the current hub: [`SentryRequest::start`]
//! returns `None` after one look at the hub, without allocating.
//!
//! With Sentry on, a request costs one hub (so its breadcrumbs and any scope changes the handler
//! makes stay its own), one [`RequestContext`] (an `Arc`, with clones of the method, route, URI
//! and headers — reference counts and one header-map copy) and, for the sampled share of
//! requests only, a performance transaction. Nothing is formatted unless an event is sent:
//! [`enrich_event`], installed as the client's `before_send` by [`prepare_client_options`],
//! builds the Sentry request (scrubbed URL and headers), the `request_id` tag and the
//! transaction name from the [`RequestContext`] of the request being polled on the current
//! thread. An earlier version set all of that on the request's scope up front; measured with
//! `crates/belfry-bench` under callgrind it cost ~20,000 instructions per request, most of it for
//! requests that never send an event.

use std::{
    cell::RefCell,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::{Instant, SystemTime},
};

use axum::extract::MatchedPath;
use belfry_request_id::RequestId;
use belfry_scrub::ScrubPolicy;
use belfry_trace_context::TraceContext;
use http::{header, HeaderMap, Method, Request, StatusCode, Uri};
use sentry::{
    protocol::{self, Event, Exception, Frame, Mechanism, SpanStatus, Stacktrace},
    ClientOptions, Hub, Level, TracesSamplingStrategy, Transaction, TransactionContext,
};

use crate::{panic::CaughtPanic, request::RequestInfo, ErrorReport};

/// Whether a Sentry client is bound to the current hub (and has somewhere to send to).
pub(crate) fn client_bound() -> bool {
    Hub::current().client().is_some_and(|client| client.is_enabled())
}

thread_local! {
    /// The context of the request (or request-bound task) being polled on this thread.
    static ACTIVE_CONTEXT: RefCell<Option<Arc<RequestContext>>> = const { RefCell::new(None) };
}

/// What an event sent while serving a request is told about it; see the [module docs](self).
pub(crate) struct RequestContext {
    method: Method,
    route: Option<MatchedPath>,
    request_id: Option<RequestId>,
    trace: Option<TraceContext>,
    uri: Uri,
    headers: HeaderMap,
    scrub: ScrubPolicy,
    started: SystemTime,
    /// The span the request is served in (belfry's `request` span), for what `before_send`
    /// hooks read from it: inside a `tracing` layer's callback, as when the tracing bridge sends
    /// an event, the current span cannot be looked up.
    span: tracing::Span,
}

impl RequestContext {
    fn new<B>(request: &Request<B>, info: &RequestInfo, scrub: &ScrubPolicy) -> Self {
        Self {
            method: info.method.clone(),
            route: info.route.clone(),
            request_id: info.request_id.clone(),
            trace: info.trace.clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            scrub: scrub.clone(),
            started: SystemTime::now(),
            span: tracing::Span::current(),
        }
    }

    /// `GET /users/{id}`, or `GET <unmatched>`.
    fn transaction_name(&self) -> String {
        crate::request::transaction_name(&self.method, self.route.as_ref())
    }

    /// Tags the event with the request id, names its transaction, attaches the scrubbed request,
    /// and drops breadcrumbs older than the request (left on the thread's hub before it began).
    fn apply(&self, event: &mut Event<'static>) {
        if let Some(id) = &self.request_id {
            event
                .tags
                .entry("request_id".into())
                .or_insert_with(|| id.as_str().to_owned());
        }
        if event.transaction.is_none() {
            event.transaction = Some(self.transaction_name());
        }
        if let Some(trace) = &self.trace {
            link_to_trace(event, trace);
        }
        if event.request.is_none() {
            event.request = Some(sentry_request(
                &self.method,
                &self.uri,
                &self.headers,
                self.route.as_ref().map(MatchedPath::as_str),
                &self.scrub,
            ));
        }
        event
            .breadcrumbs
            .values
            .retain(|breadcrumb| breadcrumb.timestamp >= self.started);
    }

    /// Runs `f` with this context active on the current thread.
    pub(crate) fn enter<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        let previous = ACTIVE_CONTEXT.with(|active| active.replace(Some(self.clone())));
        let _restore = RestoreContext(previous);
        f()
    }

    /// The context of the request being polled on this thread, if any.
    pub(crate) fn active() -> Option<Arc<Self>> {
        ACTIVE_CONTEXT.with(|active| active.borrow().clone())
    }
}

/// Puts the event in the request's trace: the SDK gives an event without a transaction a trace
/// of its own, so Sentry would not show it inside the caller's trace. The trace context becomes
/// the request's (trace id, its own span id, the caller's span id as parent), sampled for
/// performance or not; an event of the request's own transaction already has it and is kept.
fn link_to_trace(event: &mut Event<'static>, trace: &TraceContext) {
    let trace_id = protocol::TraceId::from(trace.trace_id().to_bytes());
    if let Some(protocol::Context::Trace(existing)) = event.contexts.get("trace") {
        if existing.trace_id == trace_id {
            return;
        }
    }
    let context = protocol::TraceContext {
        trace_id,
        span_id: protocol::SpanId::from(trace.span_id().to_bytes()),
        parent_span_id: trace.parent_span_id().map(|parent| parent.to_bytes().into()),
        op: Some("http.server".into()),
        ..Default::default()
    };
    event.contexts.insert("trace".into(), context.into());
}

/// Puts the previous context back, also when `f` unwinds.
struct RestoreContext(Option<Arc<RequestContext>>);

impl Drop for RestoreContext {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = ACTIVE_CONTEXT.try_with(|active| active.replace(previous));
    }
}

/// Calls `f` with the span of the request being served on this thread (the span current when
/// the capture layer was called: belfry's `request` span), when Sentry is on and a request is
/// being served. For `before_send` hooks that read the request's span — its
/// [request fields](https://docs.rs/belfry) — where `tracing::Span::current()` is not available
/// (inside a `tracing` layer's callback, such as the tracing bridge's).
///
/// ```
/// assert!(belfry_capture::with_request_span(|_| ()).is_none()); // not serving a request
/// ```
pub fn with_request_span<R>(f: impl FnOnce(&tracing::Span) -> R) -> Option<R> {
    RequestContext::active().map(|context| f(&context.span))
}

/// Completes an event sent while serving a request with that request's context: the
/// `request_id` tag, the transaction name `METHOD /route`, the scrubbed request, and no
/// breadcrumbs older than the request. Events sent outside requests pass unchanged. Installed as the client's
/// `before_send` by [`prepare_client_options`].
///
/// ```
/// let event = sentry::protocol::Event::default();
/// let event = belfry_capture::enrich_event(event).unwrap();
/// assert!(event.request.is_none()); // not inside a request
/// ```
pub fn enrich_event(mut event: Event<'static>) -> Option<Event<'static>> {
    if let Some(context) = RequestContext::active() {
        context.apply(&mut event);
    }
    Some(event)
}

/// Installs [`enrich_event`] as the `before_send` of `options` (before any `before_send` already
/// there), so every event sent while serving a request — a handler's `tracing` ERROR included —
/// carries its `request_id`, transaction name and scrubbed request. belfry's telemetry does this;
/// call it yourself only when you set up the Sentry client on your own.
///
/// ```
/// let options = belfry_capture::prepare_client_options(sentry::ClientOptions::new());
/// assert!(options.before_send.is_some());
/// ```
pub fn prepare_client_options(mut options: ClientOptions) -> ClientOptions {
    let next = options.before_send.take();
    options.before_send = Some(Arc::new(move |event| {
        let event = enrich_event(event)?;
        match &next {
            Some(next) => next(event),
            None => Some(event),
        }
    }));
    options
}

/// One request's hub, its context, and its performance transaction if sampled.
pub(crate) struct SentryRequest {
    pub(crate) hub: Arc<Hub>,
    pub(crate) context: Arc<RequestContext>,
    transaction: Option<Transaction>,
}

impl SentryRequest {
    /// A hub and a context for this request, or `None` when Sentry is disabled.
    pub(crate) fn start<B>(request: &Request<B>, info: &RequestInfo, scrub: &ScrubPolicy) -> Option<Self> {
        let parent = Hub::current();
        let client = parent.client().filter(|client| client.is_enabled())?;
        let hub = Arc::new(Hub::new_from_top(&parent));
        let context = Arc::new(RequestContext::new(request, info, scrub));
        let transaction = sampled_transaction(&client.options().traces_sampling_strategy, &hub, &context);
        Some(Self {
            hub,
            context,
            transaction,
        })
    }

    /// Runs `f` with this request's hub bound and its context active.
    pub(crate) fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        self.context.enter(|| Hub::run(self.hub.clone(), f))
    }

    /// Finishes the transaction (if any) with the response's status, on this request's hub.
    pub(crate) fn finish(&mut self, status: Result<StatusCode, SpanStatus>) {
        let Some(transaction) = self.transaction.take() else {
            return;
        };
        match status {
            Ok(status) => {
                transaction.set_data("http.response.status_code", status.as_u16().into());
                transaction.set_status(span_status(status));
            }
            Err(status) => transaction.set_status(status),
        }
        Hub::run(self.hub.clone(), || transaction.finish());
    }

    /// Captures `event` on this request's hub, completed with the request's context.
    pub(crate) fn capture(&self, mut event: Event<'static>) {
        self.context.apply(&mut event);
        self.enter(|| self.hub.capture_event(event));
    }
}

impl Drop for SentryRequest {
    fn drop(&mut self) {
        // Dropped before the response: the client went away.
        self.finish(Err(SpanStatus::Cancelled));
    }
}

/// A performance transaction for the sampled share of requests, bound to the request's hub so
/// that its errors link to it. Decided before anything is built: unsampled requests (90 % at the
/// default rate) cost one branch.
///
/// With a [`TraceContext`] (belfry's stack puts one on every request), the trace's one sampling
/// decision is Sentry's too, and the transaction continues the trace: the request's trace id,
/// its own span id, the caller's span id as parent — whether the caller sent `traceparent` or
/// `sentry-trace`. Without one, a coin is tossed at the client's rate, and a request carrying
/// `sentry-trace` leaves the decision to the SDK. A custom `traces_sampler` always decides.
fn sampled_transaction(
    strategy: &TracesSamplingStrategy,
    hub: &Arc<Hub>,
    context: &RequestContext,
) -> Option<Transaction> {
    let decided = match (strategy, &context.trace) {
        (TracesSamplingStrategy::Disabled, _) => return None,
        (TracesSamplingStrategy::FixedRate(_), Some(trace)) => Some(trace.is_sampled()),
        (TracesSamplingStrategy::FixedRate(rate), None) if !context.headers.contains_key("sentry-trace") => {
            Some(sample(*rate))
        }
        _ => None,
    };
    if decided == Some(false) || (decided == Some(true) && !take_trace_budget()) {
        return None;
    }
    let name = context.transaction_name();
    let mut transaction_context = match &context.trace {
        Some(trace) => TransactionContext::new_with_details(
            &name,
            "http.server",
            trace.trace_id().to_bytes().into(),
            Some(trace.span_id().to_bytes().into()),
            trace.parent_span_id().map(|parent| parent.to_bytes().into()),
        ),
        None => {
            let headers = context
                .headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
            TransactionContext::continue_from_headers(&name, "http.server", headers)
        }
    };
    if decided.is_some() {
        transaction_context.set_sampled(decided);
    }
    let transaction = hub.start_transaction(transaction_context);
    transaction.set_origin("auto.http.belfry");
    transaction.set_request(sentry_request(
        &context.method,
        &context.uri,
        &context.headers,
        context.route.as_ref().map(MatchedPath::as_str),
        &context.scrub,
    ));
    if let Some(id) = &context.request_id {
        transaction.set_tag("request_id", id.as_str());
    }
    hub.configure_scope(|scope| scope.set_span(Some(transaction.clone().into())));
    Some(transaction)
}

/// Sampled transactions allowed per second and process; 0 means no cap.
static MAX_TRACES_PER_SECOND: AtomicU32 = AtomicU32::new(DEFAULT_MAX_TRACES_PER_SECOND);

/// The cap on sampled transactions per second unless [`limit_traces_per_second`] sets another.
pub const DEFAULT_MAX_TRACES_PER_SECOND: u32 = 100;

/// This second (since the process's first sampled request) and how many transactions it has
/// started: `second << 32 | count`.
static TRACE_WINDOW: AtomicU64 = AtomicU64::new(0);

/// Caps the performance transactions started per second (default
/// [`DEFAULT_MAX_TRACES_PER_SECOND`]; 0 removes the cap). Past the cap, sampled requests are
/// served without a transaction until the next second.
///
/// The traces sample rate alone scales Sentry's work with traffic: at 30,000 requests per second
/// and the default rate of 0.1, the SDK would build, serialise and send 3,000 transactions a
/// second on the same cores that serve requests — measured with `scripts/bench.sh`, it halved
/// the throughput of a one-core server. The cap bounds that work whatever the traffic.
///
/// ```
/// belfry_capture::limit_traces_per_second(20);
/// # belfry_capture::limit_traces_per_second(belfry_capture::DEFAULT_MAX_TRACES_PER_SECOND);
/// ```
pub fn limit_traces_per_second(limit: u32) {
    MAX_TRACES_PER_SECOND.store(limit, Ordering::Relaxed);
}

/// Takes one transaction from this second's budget; `false` when it is spent.
fn take_trace_budget() -> bool {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let limit = MAX_TRACES_PER_SECOND.load(Ordering::Relaxed);
    limit == 0
        || take_from_window(
            &TRACE_WINDOW,
            EPOCH.get_or_init(Instant::now).elapsed().as_secs(),
            limit,
        )
}

/// One lock-free step of the per-second budget kept in `window` (`second << 32 | count`).
fn take_from_window(window: &AtomicU64, second: u64, limit: u32) -> bool {
    let mut current = window.load(Ordering::Relaxed);
    loop {
        let (window_second, count) = (current >> 32, current & u64::from(u32::MAX));
        let count = if window_second == second { count } else { 0 };
        if count >= u64::from(limit) {
            return false;
        }
        let next = (second << 32) | (count + 1);
        match window.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => current = actual,
        }
    }
}

/// `true` with probability `rate`.
fn sample(rate: f32) -> bool {
    belfry_trace_context::random_chance(f64::from(rate))
}

/// The request as Sentry shows it: method, URL and headers scrubbed by `scrub`, no cookies, no
/// body. The URL's path has the segments bound to sensitive parameters of `route` (the route
/// template) redacted; its userinfo is removed and its query scrubbed. Headers follow the
/// policy's [`HeaderMode`](belfry_scrub::HeaderMode), by default the allow-list: credentials keep
/// their name with the value `[REDACTED]`, headers off the list `[Filtered]`.
fn sentry_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    route: Option<&str>,
    scrub: &ScrubPolicy,
) -> protocol::Request {
    let authority = uri
        .authority()
        .map(|authority| authority.as_str())
        .or_else(|| headers.get(header::HOST)?.to_str().ok());
    let url = authority.and_then(|authority| {
        let scheme = uri.scheme_str().unwrap_or("http");
        let path = scrub.path(uri.path(), route);
        let url = match uri.query() {
            Some(query) => format!("{scheme}://{authority}{path}?{query}"),
            None => format!("{scheme}://{authority}{path}"),
        };
        scrub.url(&url).to_string().parse().ok()
    });
    let mut scrubbed = protocol::Map::new();
    for (name, value) in scrub.headers(headers) {
        scrubbed
            .entry(name.as_str().to_owned())
            .and_modify(|joined: &mut String| {
                joined.push_str(", ");
                joined.push_str(&value.to_cow());
            })
            .or_insert_with(|| value.to_string());
    }
    protocol::Request {
        url,
        method: Some(method.as_str().to_owned()),
        query_string: uri.query().map(|query| scrub.query(query).to_string()),
        headers: scrubbed,
        ..Default::default()
    }
}

/// Sentry's span status for an HTTP status, as sentry-tower maps it.
fn span_status(status: StatusCode) -> SpanStatus {
    match status {
        StatusCode::UNAUTHORIZED => SpanStatus::Unauthenticated,
        StatusCode::FORBIDDEN => SpanStatus::PermissionDenied,
        StatusCode::NOT_FOUND => SpanStatus::NotFound,
        StatusCode::TOO_MANY_REQUESTS => SpanStatus::ResourceExhausted,
        StatusCode::CONFLICT => SpanStatus::AlreadyExists,
        status if status.is_client_error() => SpanStatus::InvalidArgument,
        StatusCode::NOT_IMPLEMENTED => SpanStatus::Unimplemented,
        StatusCode::SERVICE_UNAVAILABLE => SpanStatus::Unavailable,
        StatusCode::GATEWAY_TIMEOUT => SpanStatus::DeadlineExceeded,
        status if status.is_server_error() => SpanStatus::InternalError,
        status if status.is_success() || status.is_redirection() => SpanStatus::Ok,
        _ => SpanStatus::UnknownError,
    }
}

/// A panic as a Sentry event: exception type `panic`, value the message, with the stack trace
/// recorded by the hook or, failing that, a single frame at the panic's location.
pub(crate) fn panic_event(panic: &CaughtPanic, level: Level) -> Event<'static> {
    let stacktrace = panic.stacktrace.clone().or_else(|| {
        let location = panic.location.as_ref()?;
        Some(Stacktrace {
            frames: vec![Frame {
                filename: Some(location.file.clone()),
                abs_path: Some(location.file.clone()),
                lineno: Some(location.line.into()),
                colno: Some(location.column.into()),
                in_app: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        })
    });
    let mut event = Event {
        exception: vec![Exception {
            ty: "panic".into(),
            value: Some(panic.message.clone()),
            mechanism: Some(Mechanism {
                ty: "panic".into(),
                handled: Some(false),
                ..Default::default()
            }),
            stacktrace,
            ..Default::default()
        }]
        .into(),
        level,
        ..Default::default()
    };
    if let Some(location) = &panic.location {
        event
            .extra
            .insert("panic.location".into(), location.to_string().into());
    }
    event
}

/// A 5xx answered by the application as a Sentry event: the attached error's chain (root cause
/// first, as Sentry expects) with the concrete type of the outermost error, or a message event
/// `HTTP 503 GET /route`.
pub(crate) fn failure_event(
    status: StatusCode,
    info: &RequestInfo,
    report: Option<&ErrorReport>,
) -> Event<'static> {
    let mut event = match report {
        Some(report) => {
            let mut event = sentry::event_from_error(report.error());
            if let (Some(outermost), Some(type_name)) = (event.exception.last_mut(), report.type_name()) {
                outermost.ty = type_name.to_owned();
            }
            event
        }
        None => Event {
            message: Some(format!("HTTP {} {}", status.as_u16(), info.transaction_name())),
            level: Level::Error,
            ..Default::default()
        },
    };
    event
        .tags
        .insert("http.response.status_code".into(), status.as_u16().to_string());
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_scrubbed() {
        let request = Request::get("/cb?access_token=s3cr3t&page=2")
            .header("host", "api.example.com")
            .header("authorization", "Bearer s3cr3t")
            .header("cookie", "sid=s3cr3t")
            .header("accept", "text/html")
            .header("accept", "application/json")
            .body(())
            .unwrap();
        let sentry_request = sentry_request(
            request.method(),
            request.uri(),
            request.headers(),
            Some("/cb"),
            &ScrubPolicy::default(),
        );
        assert_eq!(
            sentry_request.url.unwrap().as_str(),
            "http://api.example.com/cb?access_token=[REDACTED]&page=2"
        );
        assert_eq!(
            sentry_request.query_string.as_deref(),
            Some("access_token=[REDACTED]&page=2")
        );
        assert_eq!(sentry_request.method.as_deref(), Some("GET"));
        assert_eq!(sentry_request.headers["authorization"], "[REDACTED]");
        assert_eq!(sentry_request.headers["cookie"], "[REDACTED]");
        assert_eq!(sentry_request.headers["accept"], "text/html, application/json");
        assert!(sentry_request.cookies.is_none() && sentry_request.data.is_none());
    }

    #[test]
    fn absolute_uri_and_missing_host() {
        let request = Request::get("https://user:pw@example.com/a?q=1")
            .body(())
            .unwrap();
        let url = sentry_request(
            request.method(),
            request.uri(),
            request.headers(),
            None,
            &ScrubPolicy::default(),
        )
        .url
        .unwrap();
        assert_eq!(url.as_str(), "https://example.com/a?q=1");
        let request = Request::get("/no-host").body(()).unwrap();
        assert!(sentry_request(
            request.method(),
            request.uri(),
            request.headers(),
            None,
            &ScrubPolicy::default()
        )
        .url
        .is_none());
    }

    #[test]
    fn path_parameters_and_headers_off_the_allow_list_are_hidden() {
        let request = Request::get("/reset-password/S3CR3T?page=2&redirect=%2Fcb%3Fjwt%3DS3CR3T")
            .header("host", "alice:S3CR3T@api.example.com")
            .header("user-agent", "curl/8")
            .header("x-tenant", "acme")
            .header("x-goog-iap-jwt-assertion", "S3CR3T")
            .header("x-original-uri", "/reset-password/S3CR3T?token=S3CR3T")
            .header("forwarded", "for=192.0.2.1;host=\"u:S3CR3T@api.example.com\"")
            .body(())
            .unwrap();
        let route = Some("/reset-password/{token}");
        let default = sentry_request(
            request.method(),
            request.uri(),
            request.headers(),
            route,
            &ScrubPolicy::default(),
        );
        assert_eq!(
            default.url.as_ref().unwrap().as_str(),
            "http://api.example.com/reset-password/[REDACTED]?page=2&redirect=%2Fcb%3Fjwt%3D[REDACTED]"
        );
        assert_eq!(default.headers["user-agent"], "curl/8");
        assert_eq!(default.headers["host"], "api.example.com");
        assert_eq!(default.headers["x-tenant"], "[Filtered]");
        assert_eq!(default.headers["x-original-uri"], "[Filtered]");
        assert_eq!(default.headers["forwarded"], "[Filtered]");
        assert_eq!(default.headers["x-goog-iap-jwt-assertion"], "[REDACTED]");

        let deny_list = ScrubPolicy::builder()
            .header_mode(belfry_scrub::HeaderMode::DenyList)
            .build();
        let shown = sentry_request(
            request.method(),
            request.uri(),
            request.headers(),
            route,
            &deny_list,
        );
        assert_eq!(shown.headers["x-tenant"], "acme");
        assert_eq!(
            shown.headers["x-original-uri"],
            "/reset-password/S3CR3T?token=[REDACTED]"
        );
        assert_eq!(
            shown.headers["forwarded"],
            "for=192.0.2.1;host=\"api.example.com\""
        );
        assert_eq!(shown.headers["x-goog-iap-jwt-assertion"], "[REDACTED]");
        let text = |request: &protocol::Request| {
            format!(
                "{:?} {:?} {:?}",
                request.url, request.query_string, request.headers
            )
        };
        assert!(!text(&default).contains("S3CR3T"), "{}", text(&default));
        // In the deny-list mode, the one left is the path of X-Original-URI: no route template
        // says which of its segments are parameters.
        assert_eq!(text(&shown).matches("S3CR3T").count(), 1, "{}", text(&shown));
    }

    #[test]
    fn span_statuses() {
        assert_eq!(span_status(StatusCode::OK), SpanStatus::Ok);
        assert_eq!(span_status(StatusCode::NOT_FOUND), SpanStatus::NotFound);
        assert_eq!(span_status(StatusCode::BAD_REQUEST), SpanStatus::InvalidArgument);
        assert_eq!(
            span_status(StatusCode::SERVICE_UNAVAILABLE),
            SpanStatus::Unavailable
        );
        assert_eq!(
            span_status(StatusCode::INTERNAL_SERVER_ERROR),
            SpanStatus::InternalError
        );
    }

    #[test]
    fn disabled_without_a_client() {
        let hub = Arc::new(Hub::new(None, Default::default()));
        Hub::run(hub, || {
            assert!(!client_bound());
            let request = Request::get("/").body(()).unwrap();
            let info = RequestInfo::new(&request);
            assert!(SentryRequest::start(&request, &info, &ScrubPolicy::default()).is_none());
        });
    }
}

#[cfg(test)]
mod sampling_tests {
    use std::sync::atomic::AtomicU64;

    use super::take_from_window;

    #[test]
    fn the_trace_budget_caps_each_second() {
        let window = AtomicU64::new(0);
        assert_eq!((0..10).filter(|_| take_from_window(&window, 7, 3)).count(), 3);
        assert_eq!(
            (0..10).filter(|_| take_from_window(&window, 8, 3)).count(),
            3,
            "a new second"
        );
        assert!(!take_from_window(&window, 8, 3));
    }
}
