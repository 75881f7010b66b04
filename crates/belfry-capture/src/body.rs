//! [`CaptureBody`]: the response body, with panics while it streams caught and reported.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::extract::MatchedPath;
use belfry_access_log::BodyError;
use http::{Method, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Span;

use crate::{panic::catching, request::log_panic, Reporter};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a streaming body needs to report a panic like a handler's: the request's span (its
/// `request_id`, `trace_id`), method and route, the status already sent, and the reporter's
/// state. Kept small: the body is moved by every layer that wraps it.
pub(crate) struct BodyContext<R: Reporter> {
    pub(crate) method: Method,
    pub(crate) route: Option<MatchedPath>,
    /// `None` under an access log, which lends the request span while it polls the body
    /// ([`belfry_access_log::request_span`]): one handle on the span fewer per request.
    pub(crate) span: Option<Span>,
    pub(crate) status: StatusCode,
    pub(crate) reporter: Option<R::Request>,
}

pin_project! {
    /// Response body of [`Capture`](crate::Capture): the inner body, with a panic in its
    /// `poll_frame` caught.
    ///
    /// The headers are gone by then, so the panic cannot become a `500`: it is logged as
    /// `request panicked` (ERROR, in the request's span, with the status that was sent) and
    /// reported to the [`Reporter`] like a handler's panic, and the body ends with a [`BodyError::panicked`] — the
    /// server ends the response as failed (hyper closes the connection, or resets the stream)
    /// rather than leaving the client waiting or sending a truncated body as complete. The
    /// access log logs `error.type: "panic"`, and metrics count the request as an error. Errors
    /// of the inner body pass through as [`BodyError::from_inner`].
    ///
    /// Polled with the reporter's state entered (Sentry: the request's hub bound); without a
    /// reporter, a poll costs one `catch_unwind` (no allocation, no lock).
    pub struct CaptureBody<B, R: Reporter = ()> {
        #[pin]
        inner: B,
        context: Option<BodyContext<R>>,
        panicked: bool,
    }
}

impl<B, R: Reporter> CaptureBody<B, R> {
    pub(crate) fn new(inner: B, context: Option<BodyContext<R>>) -> Self {
        Self {
            inner,
            context,
            panicked: false,
        }
    }
}

/// An empty body (`B::default()`), for layers that answer on their own — a timeout's `408`, a
/// CORS preflight — inside belfry's stack.
impl<B: Default, R: Reporter> Default for CaptureBody<B, R> {
    fn default() -> Self {
        Self::new(B::default(), None)
    }
}

impl<B, R> Body for CaptureBody<B, R>
where
    B: Body,
    R: Reporter,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BodyError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        // At its end, a body's next poll returns `None` (`Body::is_end_stream`'s contract):
        // answered here, without a `catch_unwind` and the reporter's state around a poll that
        // runs nothing.
        if *this.panicked || this.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        let reporter = this
            .context
            .as_ref()
            .and_then(|context| context.reporter.as_ref());
        let inner = this.inner;
        match catching::<R, _>(reporter, || inner.poll_frame(cx)) {
            Ok(Poll::Ready(Some(Err(error)))) => Poll::Ready(Some(Err(BodyError::from_inner(error)))),
            Ok(Poll::Ready(Some(Ok(frame)))) => Poll::Ready(Some(Ok(frame))),
            Ok(Poll::Ready(None)) => Poll::Ready(None),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => {
                *this.panicked = true;
                if let Some(context) = this.context.take() {
                    let route = context.route.as_ref().map(MatchedPath::as_str);
                    let log = || log_panic(&context.method, route, &panic, context.status);
                    match &context.span {
                        Some(span) => span.in_scope(log),
                        None => belfry_access_log::request_span::with_current(|span| span.in_scope(log))
                            .unwrap_or_else(log),
                    }
                    if let Some(reporter) = &context.reporter {
                        R::panicked(reporter, &panic);
                    }
                }
                Poll::Ready(Some(Err(BodyError::panicked())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.panicked || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        convert::Infallible,
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
    };

    use bytes::Bytes;
    use http_body_util::BodyExt;

    use super::*;

    /// One data frame, then the end; counts its polls.
    struct OneFrame {
        sent: bool,
        polls: Arc<AtomicUsize>,
    }

    impl Body for OneFrame {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if std::mem::replace(&mut self.sent, true) {
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }

        fn is_end_stream(&self) -> bool {
            self.sent
        }
    }

    #[tokio::test]
    async fn a_body_at_its_end_is_not_polled_again() {
        let polls = Arc::new(AtomicUsize::new(0));
        let inner = OneFrame {
            sent: false,
            polls: polls.clone(),
        };
        let body = CaptureBody::<_, ()>::new(inner, None);
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, "x");
        assert_eq!(
            polls.load(Ordering::Relaxed),
            1,
            "the end answered without a poll"
        );
    }
}
