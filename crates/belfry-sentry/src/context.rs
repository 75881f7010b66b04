//! The request's context for the events sent while it is served: [`enrich_event`] reads it
//! from the thread-local slot the reporter fills while it polls the request.
//!
//! Nothing is formatted unless an event is sent: [`enrich_event`], installed as the client's
//! `before_send` by [`prepare_client_options`], builds the Sentry request (scrubbed URL and
//! headers), the `request_id` tag and the transaction name from the [`RequestContext`] of the
//! request being polled on the current thread. An earlier version set all of that on the
//! request's scope up front; measured with `crates/belfry-bench` under callgrind it cost
//! ~20,000 instructions per request, most of it for requests that never send an event.

use std::{
    cell::{Cell, RefCell},
    ptr,
    sync::Arc,
    time::SystemTime,
};

use belfry_capture::RequestDetails;
use belfry_scrub::ScrubPolicy;
use belfry_trace_context::TraceContext;
use http::Request;
use sentry::{
    protocol::{self, Event},
    ClientOptions,
};

use crate::{request_headers::RequestHeaders, scrubbed_request::sentry_request};

thread_local! {
    /// The context of the request (or request-bound task) being polled on this thread: a pointer
    /// into the `Arc` that [`RequestContext::enter`] borrows for as long as it is set (null:
    /// none). No reference count is taken per poll.
    static ACTIVE_CONTEXT: Cell<*const RequestContext> = const { Cell::new(ptr::null()) };

    /// Contexts of requests that ended on this thread, nobody else holding them: reused by the
    /// next requests, allocation and header buffer included (at most [`SPARE_CONTEXTS`]).
    static SPARE: RefCell<Vec<Arc<RequestContext>>> = const { RefCell::new(Vec::new()) };
}

/// Contexts kept for reuse per thread.
const SPARE_CONTEXTS: usize = 16;

/// A context whose header buffer grew past this is not kept for reuse.
const SPARE_HEADER_BYTES: usize = 16 * 1024;

/// What an event sent while serving a request is told about it; see the [module docs](self).
pub(crate) struct RequestContext {
    pub(crate) details: RequestDetails,
    /// The URI and headers, in one buffer.
    headers: RequestHeaders,
    pub(crate) scrub: ScrubPolicy,
    started: SystemTime,
    /// The span the request is served in (belfry's `request` span), for what `before_send`
    /// hooks read from it: inside a `tracing` layer's callback, as when the tracing bridge sends
    /// an event, the current span cannot be looked up. `None` under an access log, which lends
    /// the request span while the request runs ([`belfry_access_log::request_span`]): one handle
    /// on the span fewer per request.
    pub(crate) span: Option<tracing::Span>,
}

impl RequestContext {
    /// The context of `request`: one of this thread's [spare](Self::release) contexts refilled,
    /// or a new one.
    pub(crate) fn new<B>(request: &Request<B>, details: &RequestDetails, scrub: &ScrubPolicy) -> Arc<Self> {
        let span = (!details.borrows_request_span()).then(tracing::Span::current);
        let spare = SPARE.try_with(|spare| spare.borrow_mut().pop()).ok().flatten();
        if let Some(mut spare) = spare {
            // Released only when nobody else held it, and not handed out since.
            if let Some(context) = Arc::get_mut(&mut spare) {
                context.details = details.clone();
                context.headers.fill(request.uri(), request.headers());
                context.scrub = scrub.clone();
                context.started = SystemTime::now();
                context.span = span;
                return spare;
            }
        }
        Arc::new(Self {
            details: details.clone(),
            headers: RequestHeaders::new(request.uri(), request.headers()),
            scrub: scrub.clone(),
            started: SystemTime::now(),
            span,
        })
    }

    /// The request ended: keeps its context for the next request on this thread when nothing
    /// else holds it (a spawned task, an event being sent), instead of freeing it and its
    /// header buffer. The request span's handle is dropped now; the rest is replaced on reuse.
    pub(crate) fn release(mut context: Arc<Self>) {
        let Some(inner) = Arc::get_mut(&mut context) else {
            return;
        };
        if inner.headers.capacity() > SPARE_HEADER_BYTES {
            return;
        }
        inner.span = None;
        // Dropped (when not kept) outside the borrow.
        let _not_kept = SPARE
            .try_with(|spare| {
                let mut spare = spare.borrow_mut();
                if spare.len() < SPARE_CONTEXTS {
                    spare.push(context);
                    None
                } else {
                    Some(context)
                }
            })
            .ok()
            .flatten();
    }

    /// `GET /users/{id}`, or `GET <unmatched>`.
    pub(crate) fn transaction_name(&self) -> String {
        crate::transaction::transaction_name(&self.details)
    }

    /// The request as Sentry shows it, scrubbed.
    pub(crate) fn sentry_request(&self) -> protocol::Request {
        sentry_request(
            self.details.method(),
            &self.headers.uri(),
            self.headers.entries(),
            self.details.route(),
            &self.scrub,
        )
    }

    /// Tags the event with the request id, names its transaction, attaches the scrubbed request,
    /// and drops breadcrumbs older than the request (left on the thread's hub before it began).
    pub(crate) fn apply(&self, event: &mut Event<'static>) {
        if let Some(id) = self.details.request_id() {
            event
                .tags
                .entry("request_id".into())
                .or_insert_with(|| id.as_str().to_owned());
        }
        if event.transaction.is_none() {
            event.transaction = Some(self.transaction_name());
        }
        if let Some(trace) = self.details.trace() {
            link_to_trace(event, trace);
        }
        if event.request.is_none() {
            event.request = Some(self.sentry_request());
        }
        event
            .breadcrumbs
            .values
            .retain(|breadcrumb| breadcrumb.timestamp >= self.started);
    }

    /// Runs `f` with this context active on the current thread.
    #[inline]
    pub(crate) fn enter<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        let _active = self.activate();
        f()
    }

    /// Makes this context active on the current thread until the guard is dropped (which puts
    /// the previous one back, also when unwinding). The guard borrows the `Arc`: the pointer set
    /// stays valid while it is active.
    #[inline]
    pub(crate) fn activate(self: &Arc<Self>) -> ActiveContext<'_> {
        let previous = ACTIVE_CONTEXT.with(|active| active.replace(Arc::as_ptr(self)));
        ActiveContext {
            previous,
            _context: std::marker::PhantomData,
        }
    }

    /// The context of the request being polled on this thread, if any.
    pub(crate) fn active() -> Option<Arc<Self>> {
        let context = ACTIVE_CONTEXT.with(Cell::get);
        if context.is_null() {
            return None;
        }
        // SAFETY: a non-null pointer was set by `enter` from an `Arc` it borrows until it puts
        // the previous pointer back: the context is alive, and one more count is taken for the
        // `Arc` made here.
        unsafe {
            Arc::increment_strong_count(context);
            Some(Arc::from_raw(context))
        }
    }

    /// Calls `f` with the context of the request being polled on this thread, if any, without
    /// taking a reference count.
    pub(crate) fn with_active<R>(f: impl FnOnce(&Self) -> R) -> Option<R> {
        let context = ACTIVE_CONTEXT.with(Cell::get);
        // SAFETY: as in `active`: the `enter` that set the pointer outlives this call.
        unsafe { context.as_ref() }.map(f)
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

/// A context made active by [`RequestContext::activate`]: puts the previous one back when
/// dropped, also when unwinding.
pub(crate) struct ActiveContext<'a> {
    previous: *const RequestContext,
    _context: std::marker::PhantomData<&'a Arc<RequestContext>>,
}

impl Drop for ActiveContext<'_> {
    #[inline]
    fn drop(&mut self) {
        let _ = ACTIVE_CONTEXT.try_with(|active| active.set(self.previous));
    }
}

/// Calls `f` with the span of the request being served on this thread (the span current when
/// the capture layer was called, or the same span lent by the access log outside: belfry's
/// `request` span), when a [`SentryReporter`](crate::SentryReporter)
/// serves it with a client bound. For `before_send` hooks that read the request's span — its
/// [request fields](https://docs.rs/belfry) — where `tracing::Span::current()` is not available
/// (inside a `tracing` layer's callback, such as the tracing bridge's).
///
/// ```
/// assert!(belfry_sentry::with_request_span(|_| ()).is_none()); // not serving a request
/// ```
pub fn with_request_span<R>(f: impl FnOnce(&tracing::Span) -> R) -> Option<R> {
    RequestContext::with_active(|context| match &context.span {
        Some(span) => Some(f(span)),
        None => belfry_access_log::request_span::with_current(f),
    })?
}

/// Completes an event sent while serving a request with that request's context: the
/// `request_id` tag, the transaction name `METHOD /route`, the scrubbed request, and no
/// breadcrumbs older than the request. Events sent outside requests pass unchanged. Installed as the client's
/// `before_send` by [`prepare_client_options`].
///
/// ```
/// let event = sentry::protocol::Event::default();
/// let event = belfry_sentry::enrich_event(event).unwrap();
/// assert!(event.request.is_none()); // not inside a request
/// ```
pub fn enrich_event(mut event: Event<'static>) -> Option<Event<'static>> {
    RequestContext::with_active(|context| context.apply(&mut event));
    Some(event)
}

/// Installs [`enrich_event`] as the `before_send` of `options` (before any `before_send` already
/// there), so every event sent while serving a request — a handler's `tracing` ERROR included —
/// carries its `request_id`, transaction name and scrubbed request. belfry's telemetry does this;
/// call it yourself only when you set up the Sentry client on your own.
///
/// ```
/// let options = belfry_sentry::prepare_client_options(sentry::ClientOptions::new());
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
