//! [`ResponseFuture`]: hands the [`ActiveRequest`] over to the response body.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use super::{active_request::ActiveRequest, MetricsBody};

pin_project! {
    /// Response future of [`HttpMetrics`](crate::HttpMetrics).
    ///
    /// On a response it stamps the status on the in-flight request and moves it into the
    /// [`MetricsBody`] (or ends it at once if the body is already empty). On an error, or if
    /// dropped before completing, it ends the request with no status
    /// ([`NO_RESPONSE_STATUS`](crate::NO_RESPONSE_STATUS)).
    ///
    /// ```
    /// use belfry_metrics::{Metrics, ResponseFuture};
    /// use http::{Request, Response};
    /// use std::convert::Infallible;
    /// use tower::{service_fn, Layer, Service};
    ///
    /// let metrics = Metrics::new();
    /// let mut service = metrics.layer().layer(service_fn(|_: Request<()>| {
    ///     std::future::pending::<Result<Response<String>, Infallible>>()
    /// }));
    /// let future: ResponseFuture<_> = service.call(Request::new(()));
    /// drop(future); // e.g. the client went away
    /// assert!(metrics.render().contains(r#"http_response_status_code=""} 1"#));
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        active: Option<ActiveRequest>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, active: ActiveRequest) -> Self {
        Self {
            inner,
            active: Some(active),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<MetricsBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut active = this.active.take();
        Poll::Ready(result.map(|response| {
            if let Some(active) = active.as_mut() {
                active.set_status(response.status());
            }
            if response.body().is_end_stream() {
                // Nothing will be polled: the request ends now.
                active = None;
            }
            response.map(|body| MetricsBody::new(body, active))
        }))
    }
}
