//! [`ResponseFuture`]: polls the inner service inside the request span, with the id
//! [current](RequestId::current), and stamps the response.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use http::{HeaderName, Response};
use pin_project_lite::pin_project;
use tracing::Span;

use crate::RequestId;

pin_project! {
    /// Response future of [`SetRequestId`](crate::SetRequestId).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        id: RequestId,
        // Taken when the response is stamped.
        header: Option<HeaderName>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, span: Span, name: HeaderName, id: RequestId) -> Self {
        Self {
            inner,
            span,
            id,
            header: Some(name),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let current = crate::current::Current::set(this.id);
        let polled = this.inner.poll(cx);
        drop(current);
        let mut response = ready!(polled)?;
        if let Some(name) = this.header.take() {
            response
                .headers_mut()
                .entry(name)
                .or_insert_with(|| this.id.header_value().clone());
        }
        Poll::Ready(Ok(response))
    }
}
