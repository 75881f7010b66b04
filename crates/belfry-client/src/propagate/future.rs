//! [`ResponseFuture`]: ends the [`Call`] with the response head or the error.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use http::Response;
use pin_project_lite::pin_project;

use crate::{
    call::{Call, Outcome},
    ErrorType,
};

pin_project! {
    /// Response future of [`Propagate`](crate::Propagate): the inner future, unchanged; when it
    /// completes, the call's log line is written and its duration recorded. Dropped before
    /// completing, the call ends as [`CANCELLED`](crate::CANCELLED).
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: F,
        call: Option<Call>,
        error_type: E,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: F, call: Call, error_type: E) -> Self {
        Self {
            inner,
            call: Some(call),
            error_type,
        }
    }
}

impl<F, E, B, Error> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, Error>>,
    E: ErrorType<Error>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(call) = this.call.take() {
            match &result {
                Ok(response) => call.finish(Outcome::Response(response.status())),
                Err(error) => call.finish(Outcome::Error(this.error_type.error_type(error))),
            }
        }
        Poll::Ready(result)
    }
}
