//! [`AccessLogBody`]: the response body, which logs the request when it ends or is dropped.

use std::{
    any::Any,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Buf;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::{
    body_error::ERROR_TYPE_BODY,
    record::{Ending, RequestRecord},
    BodyError,
};

pin_project! {
    /// Response body of [`AccessLog`](crate::AccessLog): passes frames through, counting the
    /// bytes, and writes the `request completed` event at the end of the stream, when it fails
    /// (`error.type`: `panic` for a [`BodyError::panicked`], else `body_error`), or when dropped
    /// before the end (`error.type: "cancelled"`).
    ///
    /// A response whose body is never sent — to a `HEAD` request, a `1xx`, `204` or `304`, or an
    /// empty body — is complete with its headers: servers (hyper, axum) drop such bodies
    /// unpolled, which is no cancellation.
    pub struct AccessLogBody<B> {
        #[pin]
        inner: B,
        pending: Option<(RequestRecord, StatusCode)>,
        bytes: u64,
    }

    impl<B> PinnedDrop for AccessLogBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some((record, status)) = this.pending.take() {
                record.complete(Some(status), Ending::Dropped, *this.bytes);
            }
        }
    }
}

/// Whether a response with `status` to a request (`head`: a `HEAD` request) is sent without a
/// body, whatever its body holds (RFC 9110 §6.4.1).
pub(crate) fn has_no_body(head: bool, status: StatusCode) -> bool {
    head || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

impl<B: Body> AccessLogBody<B> {
    pub(crate) fn new(inner: B, record: RequestRecord, status: StatusCode) -> Self {
        let pending = if has_no_body(record.head, status) || inner.is_end_stream() {
            record.complete(Some(status), Ending::Completed, 0);
            None
        } else {
            Some((record, status))
        };
        Self {
            inner,
            pending,
            bytes: 0,
        }
    }
}

impl<B> Body for AccessLogBody<B>
where
    B: Body,
    B::Error: 'static,
{
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if this.pending.is_none() && this.inner.is_end_stream() {
            // Logged, and at its end: the next poll returns `None` (`Body::is_end_stream`'s
            // contract), without going down the layers inside.
            return Poll::Ready(None);
        }
        let span = this.pending.as_ref().and_then(|(record, _)| record.span());
        let lent = crate::request_span::Lent::new(span);
        let frame = this.inner.as_mut().poll_frame(cx);
        drop(lent);
        let ending = match &frame {
            Poll::Ready(None) => Ending::Completed,
            Poll::Ready(Some(Err(error))) => Ending::Failed(error_type(error)),
            Poll::Ready(Some(Ok(sent))) => {
                if let Some(data) = sent.data_ref() {
                    *this.bytes += data.remaining() as u64;
                }
                if !this.inner.is_end_stream() {
                    return frame;
                }
                Ending::Completed
            }
            Poll::Pending => return frame,
        };
        if let Some((record, status)) = this.pending.take() {
            record.complete(Some(status), ending, *this.bytes);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `error.type` of a body error: `panic` when the body panicked, else `body_error`.
fn error_type<E: 'static>(error: &E) -> &'static str {
    match (error as &dyn Any).downcast_ref::<BodyError>() {
        Some(error) => error.error_type(),
        None => ERROR_TYPE_BODY,
    }
}
