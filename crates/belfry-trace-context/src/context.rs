//! [`TraceContext`]: the trace a request belongs to, and the mechanism that makes it current
//! while the request is served.

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    ptr,
    sync::Arc,
    task::{Context, Poll},
};

use http::HeaderValue;
use pin_project_lite::pin_project;

use crate::{OutgoingContext, SpanId, TraceId};

/// The trace context of one request: which trace it belongs to, its own span, its caller's span,
/// the one sampling decision of the trace, and the vendor state to forward.
///
/// [`TraceContextLayer`](crate::TraceContextLayer) builds one per request from the incoming
/// headers (see the [crate docs](crate) for the rules) and makes it [current](Self::current)
/// while the request is served. Cloning is cheap: a copy of
/// 64 bytes, plus one reference-count increment when there is forwarded state (`tracestate`,
/// `baggage`); never an allocation.
///
/// ```
/// use belfry_trace_context::{TraceContext, TraceId};
///
/// let root = TraceContext::new_root(true);
/// assert!(root.trace_id().is_valid());
/// assert!(root.is_sampled());
/// assert_eq!(root.parent_span_id(), None);
/// assert_eq!(root.incoming_trace_id(), None);
/// assert!(root.trace_state().is_none() && root.baggage().is_none());
///
/// // One downstream call: same trace, a new span whose parent is this request's span.
/// let call = root.child();
/// assert_eq!(call.trace_id(), root.trace_id());
/// assert_eq!(call.parent_span_id(), root.span_id());
/// assert_ne!(call.span_id(), root.span_id());
/// assert_eq!(
///     call.traceparent(),
///     format!("00-{}-{}-01", root.trace_id(), call.span_id()).as_str()
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_span_id: Option<SpanId>,
    pub(crate) sampled: bool,
    pub(crate) incoming_trace_id: Option<TraceId>,
    /// `None` when there is nothing to forward: the common case costs no allocation, and keeps
    /// the context small to move and clone.
    pub(crate) forwarded: Option<Arc<Forwarded>>,
}

/// The incoming vendor state forwarded to downstream calls, shared by every clone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Forwarded {
    pub(crate) trace_state: Option<HeaderValue>,
    pub(crate) baggage: Option<HeaderValue>,
    /// Whether the `sentry-*` entries of `baggage` describe this trace (see `sentry_baggage`).
    pub(crate) sentry_baggage_applies: bool,
}

impl Forwarded {
    /// `None` when there is nothing to forward.
    pub(crate) fn new(
        trace_state: Option<HeaderValue>,
        baggage: Option<HeaderValue>,
        sentry_baggage_applies: bool,
    ) -> Option<Arc<Self>> {
        (trace_state.is_some() || baggage.is_some()).then(|| {
            Arc::new(Self {
                trace_state,
                baggage,
                sentry_baggage_applies,
            })
        })
    }
}

thread_local! {
    /// The context made current by `in_scope` on this thread, or null. It points into the frame
    /// of an `in_scope` call that is still running, so it is valid while it is set.
    static CURRENT: Cell<*const TraceContext> = const { Cell::new(ptr::null()) };
}

impl TraceContext {
    /// A new trace started here: a fresh random trace id (16 bytes) and span id (8 bytes), no
    /// parent, and the given sampling decision.
    #[inline]
    pub fn new_root(sampled: bool) -> Self {
        let [high, low, span] = crate::ids::random_u64s();
        let trace_id = match TraceId::from_bytes(((u128::from(high) << 64) | u128::from(low)).to_be_bytes()) {
            id if id.is_valid() => id,
            _ => TraceId::random(),
        };
        let span_id = match SpanId::from_bytes(span.to_be_bytes()) {
            id if id.is_valid() => id,
            _ => SpanId::random(),
        };
        Self {
            trace_id,
            span_id,
            parent_span_id: None,
            sampled,
            incoming_trace_id: None,
            forwarded: None,
        }
    }

    /// The trace id, shared with every service that takes part in the trace.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This request's own span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The caller's span id, when the trace was continued from an incoming header.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.parent_span_id
    }

    /// The sampling decision of the trace: the incoming one when the trace was continued, the
    /// [`Sampler`](crate::Sampler)'s otherwise. Everything that samples (Sentry transactions,
    /// span exporters, exemplars) reads this one decision.
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The incoming `tracestate`, validated, to forward as it is.
    pub fn trace_state(&self) -> Option<&HeaderValue> {
        self.forwarded.as_ref()?.trace_state.as_ref()
    }

    /// The incoming `baggage`, validated and bounded, to forward as it is.
    pub fn baggage(&self) -> Option<&HeaderValue> {
        self.forwarded.as_ref()?.baggage.as_ref()
    }

    /// The `sentry-*` entries of the incoming `baggage` (Sentry's dynamic sampling context),
    /// keys without the `sentry-` prefix, values as on the wire (percent-encoded), properties
    /// dropped.
    ///
    /// Empty when the baggage has a `sentry-trace_id` that is not this context's trace id: that
    /// sampling context describes another trace (for example when `traceparent` won over a
    /// `sentry-trace` with a different trace id).
    ///
    /// ```
    /// use belfry_trace_context::{RatioSampler, TraceContext, TrustIncoming};
    /// use http::{HeaderMap, HeaderValue};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("sentry-trace", HeaderValue::from_static("771a43a4192642f0b136d5159a501700-b1b5d7f0e6b0ac6d-1"));
    /// headers.insert("baggage", HeaderValue::from_static(
    ///     "sentry-trace_id=771a43a4192642f0b136d5159a501700,sentry-sample_rate=0.5,other=x",
    /// ));
    /// let context = TraceContext::from_headers(&headers, TrustIncoming::Continue, &RatioSampler::ALWAYS);
    /// let entries: Vec<_> = context.sentry_baggage().collect();
    /// assert_eq!(entries, [("trace_id", "771a43a4192642f0b136d5159a501700"), ("sample_rate", "0.5")]);
    /// ```
    pub fn sentry_baggage(&self) -> impl Iterator<Item = (&str, &str)> {
        self.forwarded
            .as_ref()
            .filter(|forwarded| forwarded.sentry_baggage_applies)
            .and_then(|forwarded| forwarded.baggage.as_ref())
            .and_then(|value| value.to_str().ok())
            .into_iter()
            .flat_map(crate::baggage::sentry_entries)
    }

    /// The caller's trace id when incoming context was not trusted
    /// ([`TrustIncoming::Restart`](crate::TrustIncoming::Restart)): this request started a new
    /// trace, and the caller's is kept here to be logged beside it.
    pub fn incoming_trace_id(&self) -> Option<TraceId> {
        self.incoming_trace_id
    }

    /// The context for one downstream call: same trace, a new span id, this request's span as
    /// parent, the same sampling decision, `tracestate` and `baggage`. Call it once per
    /// outgoing request.
    pub fn child(&self) -> OutgoingContext {
        OutgoingContext {
            trace_id: self.trace_id,
            span_id: SpanId::random(),
            parent_span_id: self.span_id,
            sampled: self.sampled,
            forwarded: self.forwarded.clone(),
        }
    }

    /// A context for work in this process that deserves its own span, such as a spawned
    /// background task: same trace, sampling and forwarded state, a new span id, and this
    /// context's span as parent.
    ///
    /// ```
    /// use belfry_trace_context::TraceContext;
    ///
    /// let request = TraceContext::new_root(false);
    /// let task = request.child_span();
    /// assert_eq!(task.trace_id(), request.trace_id());
    /// assert_eq!(task.parent_span_id(), Some(request.span_id()));
    /// assert_ne!(task.span_id(), request.span_id());
    /// ```
    pub fn child_span(&self) -> TraceContext {
        TraceContext {
            span_id: SpanId::random(),
            parent_span_id: Some(self.span_id),
            ..self.clone()
        }
    }

    /// The context of the request being served by the current task, if any.
    ///
    /// [`TraceContextLayer`](crate::TraceContextLayer) makes a request's context current while
    /// it polls the inner service's future, so handlers and whatever they call (outgoing-call
    /// helpers, log formatters) find it here without access to the request.
    ///
    /// It is a thread-local set around each poll, not a task-local: a future moved elsewhere
    /// with `tokio::spawn` does not see it. Carry it explicitly: `context.scope(future)`
    /// ([`scope`](Self::scope)), typically with [`child_span`](Self::child_span).
    ///
    /// ```
    /// use belfry_trace_context::TraceContext;
    ///
    /// assert!(TraceContext::current().is_none());
    /// let context = TraceContext::new_root(true);
    /// let seen = context.in_scope(|| TraceContext::current());
    /// assert_eq!(seen, Some(context));
    /// assert!(TraceContext::current().is_none());
    /// ```
    pub fn current() -> Option<TraceContext> {
        Self::with_current(|current| current.cloned())
    }

    /// Calls `f` with the current context, borrowed: [`current`](Self::current) without the
    /// clone, for code that only reads an id (a log formatter, a metrics exemplar).
    ///
    /// ```
    /// use belfry_trace_context::TraceContext;
    ///
    /// let context = TraceContext::new_root(true);
    /// let trace_id = context.in_scope(|| TraceContext::with_current(|c| c.map(|c| c.trace_id())));
    /// assert_eq!(trace_id, Some(context.trace_id()));
    /// ```
    pub fn with_current<R>(f: impl FnOnce(Option<&TraceContext>) -> R) -> R {
        let current = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
        // SAFETY: a non-null pointer was set by an `in_scope` frame that is still on this
        // thread's stack (it restores the previous value when it returns or unwinds), and that
        // frame borrows the context for its whole duration, so the context is alive and not
        // mutated for as long as `f` runs.
        f(unsafe { current.as_ref() })
    }

    /// Runs `f` with this context [current](Self::current); the previous one (if any) is current
    /// again afterwards, even if `f` panics. Nesting is fine.
    #[inline(always)]
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _current = Current::set(self);
        f()
    }

    /// Wraps `future` so that this context is [current](Self::current) whenever it is polled:
    /// how a spawned task carries the trace.
    ///
    /// ```
    /// use belfry_trace_context::TraceContext;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let request = TraceContext::new_root(true);
    /// let task = request.child_span();
    /// let task_span = task.span_id();
    /// let seen = tokio::spawn(task.scope(async { TraceContext::current().map(|c| c.span_id()) }))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(seen, Some(task_span));
    /// # }
    /// ```
    pub fn scope<F: Future>(self, future: F) -> WithTraceContext<F> {
        WithTraceContext {
            inner: future,
            context: self,
        }
    }
}

/// Makes a context [current](TraceContext::current) until the guard is dropped (the previous
/// one is current again then, also when unwinding): [`TraceContext::in_scope`] for this crate's
/// own frames, where a closure would take the request (or hand back the future or response) by
/// value and move it once more. Crate-private: a leaked guard (`mem::forget`) would leave the
/// pointer behind after its context is gone.
pub(crate) struct Current<'a> {
    previous: *const TraceContext,
    _context: std::marker::PhantomData<&'a TraceContext>,
}

impl<'a> Current<'a> {
    #[inline(always)]
    pub(crate) fn set(context: &'a TraceContext) -> Self {
        let previous = CURRENT
            .try_with(|current| current.replace(context))
            .unwrap_or(ptr::null());
        Self {
            previous,
            _context: std::marker::PhantomData,
        }
    }
}

impl Drop for Current<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.set(self.previous));
    }
}

pin_project! {
    /// A future with a [`TraceContext`] made current around each of its polls; see
    /// [`TraceContext::scope`].
    ///
    /// ```
    /// use belfry_trace_context::TraceContext;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let context = TraceContext::new_root(true);
    /// let future = context.clone().scope(async { TraceContext::current() });
    /// assert_eq!(future.context(), &context);
    /// assert_eq!(future.await, Some(context));
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct WithTraceContext<F> {
        #[pin]
        inner: F,
        context: TraceContext,
    }
}

impl<F> WithTraceContext<F> {
    /// The context made current.
    pub fn context(&self) -> &TraceContext {
        &self.context
    }
}

impl<F: Future> Future for WithTraceContext<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _current = Current::set(this.context);
        this.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_and_panics_restore_the_previous_context() {
        let outer = TraceContext::new_root(true);
        let inner = TraceContext::new_root(false);
        outer.in_scope(|| {
            assert_eq!(TraceContext::current().as_ref(), Some(&outer));
            inner.in_scope(|| assert_eq!(TraceContext::current().as_ref(), Some(&inner)));
            assert_eq!(TraceContext::current().as_ref(), Some(&outer));
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                inner.in_scope(|| panic!("boom"));
            }));
            assert!(panicked.is_err());
            assert_eq!(TraceContext::current().as_ref(), Some(&outer));
        });
        assert_eq!(TraceContext::current(), None);
    }

    #[test]
    fn other_threads_do_not_see_it() {
        let context = TraceContext::new_root(true);
        context.in_scope(|| {
            assert!(std::thread::spawn(TraceContext::current)
                .join()
                .unwrap()
                .is_none());
        });
    }

    #[test]
    fn clone_without_state_is_small() {
        // Ids, flags and two optional header values.
        assert!(
            std::mem::size_of::<TraceContext>() <= 64,
            "{}",
            std::mem::size_of::<TraceContext>()
        );
    }
}
