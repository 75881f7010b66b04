//! [`ResponseFuture`]: polls the inner service with the request's context current.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use crate::TraceContext;

pin_project! {
    /// Response future of [`SetTraceContext`](crate::SetTraceContext): the request's
    /// [`TraceContext`] is [current](TraceContext::current) during each poll of the inner future.
    ///
    /// ```
    /// use belfry_trace_context::{ResponseFuture, TraceContextLayer};
    /// use http::{Request, Response};
    /// use std::convert::Infallible;
    /// use tower::{service_fn, Layer, Service};
    ///
    /// let mut service = TraceContextLayer::new()
    ///     .layer(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }));
    /// let future: ResponseFuture<_> = service.call(Request::new(()));
    /// assert!(future.context().trace_id().is_valid());
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        context: TraceContext,
    }
}

impl<F> ResponseFuture<F> {
    #[inline(always)]
    pub(crate) fn new(inner: F, context: TraceContext) -> Self {
        Self { inner, context }
    }

    /// The request's context.
    pub fn context(&self) -> &TraceContext {
        &self.context
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _current = crate::context::Current::set(this.context);
        this.inner.poll(cx)
    }
}
