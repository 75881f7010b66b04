//! [`SentryReporter`]: the capture layer's [`Reporter`] for Sentry — a hub per request, its
//! context, its transaction, and one event per panic and per `5xx`.

use std::{mem::ManuallyDrop, sync::Arc};

use belfry_capture::{ErrorReport, Outcome, Panic, Reporter, RequestDetails};
use belfry_scrub::ScrubPolicy;
use http::{Request, StatusCode};
use sentry::{protocol::SpanStatus, Hub, HubSwitchGuard, Level, Transaction};

use crate::{
    context::RequestContext,
    event::{failure_event, panic_event},
    transaction::{sampled_transaction, span_status, TraceBudget, DEFAULT_MAX_TRACES_PER_SECOND},
};

/// Reports each request's panics and `5xx` responses to Sentry, when a client is bound to the
/// current hub; plug it into [`CaptureLayer::reporter`](belfry_capture::CaptureLayer::reporter).
///
/// - **A hub per request**, made from the current one, bound around every poll of the handler
///   and of the response body: breadcrumbs and scope changes of one request stay its own, and
///   tasks it [spawns](belfry_capture::spawn) get a hub made from it.
/// - **Every event sent while serving the request** — the layer's own, a handler's `tracing`
///   ERROR through the [`TracingBridge`](crate::TracingBridge) — gets its `request_id` tag,
///   transaction name `METHOD /route`, trace and the request scrubbed by the
///   [`ScrubPolicy`] (from the client's `before_send`, installed by
///   [`prepare_client_options`](crate::prepare_client_options): nothing is formatted for
///   requests that send nothing).
/// - **Each panic** (handler or streaming body) is one event, exception type `panic`, level
///   error; **each `5xx`** the application answers is one event with its
///   [`ErrorReport`]'s chain, or a message `HTTP 503 GET /route`.
/// - **Sampled requests** get a `http.server` transaction, at most
///   [`max_traces_per_second`](Self::max_traces_per_second) a second.
///
/// Without a client (no DSN), a request costs one look at the current hub; nothing is ever
/// flushed on the request path.
///
/// ```
/// use axum::{body::Body, routing::get, Router};
/// use belfry_capture::CaptureLayer;
/// use belfry_sentry::SentryReporter;
/// use http::Request;
/// use sentry::SentryFutureExt;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let transport = sentry::test::TestTransport::new();
/// let mut options = sentry::ClientOptions::new();
/// options.dsn = Some("https://public@sentry.invalid/1".parse().unwrap());
/// options.transport = Some(std::sync::Arc::new(transport.clone()));
/// let client = sentry::Client::from(belfry_sentry::prepare_client_options(options));
/// let hub = std::sync::Arc::new(sentry::Hub::new(Some(std::sync::Arc::new(client)), Default::default()));
///
/// let app = Router::new()
///     .route("/panic", get(|| async { panic!("bug") as &'static str }))
///     .layer(CaptureLayer::new().reporter(SentryReporter::new()));
/// let response = app
///     .oneshot(Request::get("/panic").body(Body::empty()).unwrap())
///     .bind_hub(hub)
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 500);
/// let events = transport.fetch_and_clear_events();
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].exception[0].ty, "panic");
/// assert_eq!(events[0].transaction.as_deref(), Some("GET /panic"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SentryReporter {
    // One reference count per clone: axum clones the service stack for every request.
    config: Arc<ReporterConfig>,
}

#[derive(Debug)]
struct ReporterConfig {
    scrub: ScrubPolicy,
    traces: TraceBudget,
}

impl Default for SentryReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl SentryReporter {
    /// The defaults: the default [`ScrubPolicy`], at most [`DEFAULT_MAX_TRACES_PER_SECOND`]
    /// transactions a second.
    pub fn new() -> Self {
        Self::with(ScrubPolicy::default(), DEFAULT_MAX_TRACES_PER_SECOND)
    }

    fn with(scrub: ScrubPolicy, max_traces_per_second: u32) -> Self {
        Self {
            config: Arc::new(ReporterConfig {
                scrub,
                traces: TraceBudget::new(max_traces_per_second),
            }),
        }
    }

    /// The policy that scrubs the URL and headers of the request sent to Sentry.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().redact_query_param("state").build();
    /// let reporter = belfry_sentry::SentryReporter::new().scrub_policy(policy);
    /// assert!(reporter.scrub().is_sensitive_query_param("state"));
    /// ```
    pub fn scrub_policy(self, policy: ScrubPolicy) -> Self {
        Self::with(policy, self.config.traces.limit())
    }

    /// The policy that scrubs the request sent to Sentry.
    pub fn scrub(&self) -> &ScrubPolicy {
        &self.config.scrub
    }

    /// Caps the performance transactions started per second by this reporter and its clones
    /// (default [`DEFAULT_MAX_TRACES_PER_SECOND`]; 0 removes the cap). Past the cap, sampled
    /// requests are served without a transaction until the next second.
    ///
    /// The traces sample rate alone scales Sentry's work with traffic: at 30,000 requests per
    /// second and the default rate of 0.1, the SDK would build, serialise and send 3,000
    /// transactions a second on the same cores that serve requests — measured with
    /// `scripts/bench.sh`, it halved the throughput of a one-core server. The cap bounds that
    /// work whatever the traffic.
    ///
    /// ```
    /// let reporter = belfry_sentry::SentryReporter::new().max_traces_per_second(20);
    /// assert_eq!(reporter.traces_per_second_cap(), 20);
    /// ```
    pub fn max_traces_per_second(self, limit: u32) -> Self {
        Self::with(self.config.scrub.clone(), limit)
    }

    /// The cap on transactions per second (0: none).
    pub fn traces_per_second_cap(&self) -> u32 {
        self.config.traces.limit()
    }
}

/// One request's hub, its context, and its performance transaction if sampled: the
/// [`SentryReporter`]'s [`Reporter::Request`].
pub struct SentryRequest {
    hub: Arc<Hub>,
    /// Taken out only by `drop`, to [release](RequestContext::release) it.
    context: ManuallyDrop<Arc<RequestContext>>,
    transaction: Option<Transaction>,
}

impl Drop for SentryRequest {
    fn drop(&mut self) {
        // SAFETY: taken once, here; not used after.
        let context = unsafe { ManuallyDrop::take(&mut self.context) };
        RequestContext::release(context);
    }
}

impl SentryRequest {
    /// Captures `event` on this request's hub, completed with the request's context.
    fn capture(&self, mut event: sentry::protocol::Event<'static>) {
        self.context.apply(&mut event);
        <SentryReporter as Reporter>::enter(self, || self.hub.capture_event(event));
    }
}

/// What a task spawned with Sentry on takes along: a hub of its own, made from the spawning
/// one, and the context of the request it was spawned in, if any.
pub struct SentryTask {
    hub: Arc<Hub>,
    context: Option<Arc<RequestContext>>,
    /// The request span, when the context borrows it from the access log (which lends it only
    /// while the request runs): lent again while the task runs, for `with_request_span`.
    span: Option<tracing::Span>,
}

/// Whether a Sentry client is bound to the current hub (and has somewhere to send to).
pub(crate) fn client_bound() -> bool {
    Hub::current().client().is_some_and(|client| client.is_enabled())
}

impl Reporter for SentryReporter {
    type Request = SentryRequest;
    type Task = SentryTask;

    fn start<B>(&self, request: &Request<B>, details: &RequestDetails) -> Option<SentryRequest> {
        let parent = Hub::current();
        let client = parent.client().filter(|client| client.is_enabled())?;
        let hub = Arc::new(Hub::new_from_top(&parent));
        let context = RequestContext::new(request, details, &self.config.scrub);
        let transaction = sampled_transaction(
            &client.options().traces_sampling_strategy,
            &self.config.traces,
            &hub,
            &context,
            request.headers(),
        );
        Some(SentryRequest {
            hub,
            context: ManuallyDrop::new(context),
            transaction,
        })
    }

    fn enter<T>(request: &SentryRequest, f: impl FnOnce() -> T) -> T {
        // Guards rather than nested closures: `f`'s result (a response, on the last poll) is
        // not moved out of one frame per level. Dropped in reverse: the hub first, as
        // `Hub::run` inside the context's `enter` did.
        let _context = request.context.activate();
        let _hub = HubSwitchGuard::new(request.hub.clone());
        f()
    }

    fn panicked(request: &SentryRequest, panic: &Panic) {
        request.capture(panic_event(panic, Level::Error));
    }

    fn failed(request: &SentryRequest, status: StatusCode, report: Option<&ErrorReport>) {
        request.capture(failure_event(status, &request.context.details, report));
    }

    fn finish(request: &mut SentryRequest, outcome: Outcome) {
        let Some(transaction) = request.transaction.take() else {
            return;
        };
        match outcome {
            Outcome::Response(status) => {
                transaction.set_data("http.response.status_code", status.as_u16().into());
                transaction.set_status(span_status(status));
            }
            Outcome::Cancelled => transaction.set_status(SpanStatus::Cancelled),
            _ => transaction.set_status(SpanStatus::UnknownError),
        }
        Hub::run(request.hub.clone(), || transaction.finish());
    }

    fn task() -> Option<SentryTask> {
        client_bound().then(|| {
            let context = RequestContext::active();
            let span = context
                .as_ref()
                .filter(|context| context.span.is_none())
                .and_then(|_| belfry_access_log::request_span::with_current(tracing::Span::clone));
            SentryTask {
                hub: Arc::new(Hub::new_from_top(Hub::current())),
                context,
                span,
            }
        })
    }

    fn enter_task<T>(task: &SentryTask, f: impl FnOnce() -> T) -> T {
        match &task.context {
            Some(context) => belfry_access_log::request_span::in_scope(task.span.as_ref(), || {
                context.enter(|| Hub::run(task.hub.clone(), f))
            }),
            None => Hub::run(task.hub.clone(), f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_without_a_client() {
        let hub = Arc::new(Hub::new(None, Default::default()));
        Hub::run(hub, || {
            assert!(!client_bound());
            let request = Request::get("/").body(()).unwrap();
            let details = RequestDetails::new(&request);
            assert!(SentryReporter::new().start(&request, &details).is_none());
            assert!(SentryReporter::task().is_none());
        });
    }
}
