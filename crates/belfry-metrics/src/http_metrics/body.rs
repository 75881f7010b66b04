//! [`MetricsBody`]: ends the [`ActiveRequest`] when the response body ends or is dropped.

use std::{
    pin::Pin,
    task::{ready, Context, Poll},
};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::active_request::ActiveRequest;

pin_project! {
    /// Response body of [`HttpMetrics`](crate::HttpMetrics): the inner body, unchanged, holding
    /// the in-flight request until its last frame (or an error, or its drop).
    ///
    /// ```
    /// use belfry_metrics::{Metrics, MetricsBody};
    /// use http::{Request, Response};
    /// use std::convert::Infallible;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = Metrics::new();
    /// let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(String::from("streaming...")))
    /// }));
    /// let response: Response<MetricsBody<String>> = service.oneshot(Request::new(())).await.unwrap();
    /// assert!(metrics.render().contains(r#"http_server_active_requests{http_request_method="GET"} 1"#));
    /// drop(response);
    /// assert!(metrics.render().contains(r#"http_server_active_requests{http_request_method="GET"} 0"#));
    /// # }
    /// ```
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        active: Option<ActiveRequest>,
    }
}

impl<B> MetricsBody<B> {
    pub(crate) fn new(inner: B, active: Option<ActiveRequest>) -> Self {
        Self { inner, active }
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let frame = ready!(inner.as_mut().poll_frame(cx));
        let ended = match &frame {
            Some(Ok(_)) => inner.is_end_stream(),
            Some(Err(_)) => {
                // The client did not get the response its status announced: an error.
                if let Some(active) = this.active.as_mut() {
                    active.set_status(http::StatusCode::INTERNAL_SERVER_ERROR);
                }
                true
            }
            None => true,
        };
        if ended {
            this.active.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
