//! [`AccessLogBody`]: the response body, which logs the request when it ends or is dropped.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::record::RequestRecord;

pin_project! {
    /// Response body of [`AccessLog`](crate::AccessLog): passes frames through and writes the
    /// `request completed` event at the end of the stream, or when dropped before it (the client
    /// went away).
    pub struct AccessLogBody<B> {
        #[pin]
        inner: B,
        pending: Option<(RequestRecord, StatusCode)>,
    }

    impl<B> PinnedDrop for AccessLogBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some((record, status)) = this.project().pending.take() {
                record.complete(Some(status), true);
            }
        }
    }
}

impl<B: Body> AccessLogBody<B> {
    pub(crate) fn new(inner: B, record: RequestRecord, status: StatusCode) -> Self {
        // An empty body may never be polled: the request is complete with the headers.
        let pending = if inner.is_end_stream() {
            record.complete(Some(status), false);
            None
        } else {
            Some((record, status))
        };
        Self { inner, pending }
    }
}

impl<B: Body> Body for AccessLogBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = this.inner.as_mut().poll_frame(cx);
        let finished = match &frame {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if finished {
            if let Some((record, status)) = this.pending.take() {
                record.complete(Some(status), false);
            }
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
