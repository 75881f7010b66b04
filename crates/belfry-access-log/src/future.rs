//! [`ResponseFuture`]: waits for the response; hands the request over to the response body.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{HeaderName, HeaderValue, Response};
use pin_project_lite::pin_project;

use crate::{
    body_error::ERROR_TYPE_BODY,
    record::{Ending, RequestRecord},
    AccessLogBody,
};

pin_project! {
    /// Response future of [`AccessLog`](crate::AccessLog).
    ///
    /// Dropped before the response, it logs the request as cancelled (`error.type:
    /// "cancelled"`), and as `client.disconnected` only when the server saw the connection go
    /// (see [`ConnectionStatus`](crate::ConnectionStatus)).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<RequestRecord>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(record) = this.project().record.take() {
                record.complete(None, Ending::Dropped, 0);
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, record: RequestRecord) -> Self {
        Self {
            inner,
            record: Some(record),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<AccessLogBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let record = this.record.as_ref();
        let span = record.and_then(RequestRecord::span);
        let entered = span
            .filter(|_| record.is_some_and(|record| record.enters_span))
            .map(tracing::Span::enter);
        let lent = crate::request_span::Lent::new(span);
        let poll = this.inner.poll(cx);
        drop(lent);
        drop(entered);
        let result = match poll {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let record = this.record.take().expect("polled after completion");
        match result {
            Ok(mut response) => {
                if record.config.server_timing {
                    let millis = record.start.elapsed().as_secs_f64() * 1000.0;
                    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={millis:.1}")) {
                        response.headers_mut().append(SERVER_TIMING, value);
                    }
                }
                let status = response.status();
                Poll::Ready(Ok(response.map(|body| AccessLogBody::new(body, record, status))))
            }
            Err(error) => {
                record.complete(None, Ending::Failed(ERROR_TYPE_BODY), 0);
                Poll::Ready(Err(error))
            }
        }
    }
}

const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
