//! [`ResponseFuture`]: waits for the response, reporting the request if it hangs.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{HeaderName, HeaderValue, Response};
use pin_project_lite::pin_project;

use crate::{record::RequestRecord, AccessLogBody};

pin_project! {
    /// Response future of [`AccessLog`](crate::AccessLog).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<RequestRecord>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response: the client went away (or the server shut down).
            if let Some(record) = this.project().record.take() {
                record.complete(None, true);
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let record = this.record.as_mut().expect("polled after completion");
        record.warn_if_hung();
        let result = match this.inner.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => {
                if let (Some(index), Some(watch)) = (record.hung_slot, record.config.hung.as_ref()) {
                    watch.set_waker(index, cx.waker());
                }
                return Poll::Pending;
            }
        };
        let mut record = this.record.take().expect("record present until completion");
        record.finish_watch();
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
                record.complete(None, false);
                Poll::Ready(Err(error))
            }
        }
    }
}

const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
