//! [`ResponseFuture`]: polls the inner service inside the request span and stamps the response.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use http::{HeaderName, HeaderValue, Response};
use pin_project_lite::pin_project;
use tracing::Span;

pin_project! {
    /// Response future of [`SetRequestId`](crate::SetRequestId).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        header: Option<(HeaderName, HeaderValue)>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, span: Span, name: HeaderName, value: HeaderValue) -> Self {
        Self {
            inner,
            span,
            header: Some((name, value)),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some((name, value)) = this.header.take() {
            response.headers_mut().entry(name).or_insert(value);
        }
        Poll::Ready(Ok(response))
    }
}
