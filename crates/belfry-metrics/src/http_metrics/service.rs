//! [`HttpMetrics`]: the service that starts an [`ActiveRequest`] per call.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use axum::extract::MatchedPath;
use belfry_trace_context::TraceContext;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::{
    active_request::ActiveRequest, method::MethodLabel, route_cache::RouteCache, MetricsBody, ResponseFuture,
};

/// Service recording the RED metrics of each request; built by
/// [`HttpMetricsLayer`](crate::HttpMetricsLayer).
///
/// The request counts as in flight from `call` until its response body ends or is dropped (or,
/// without a response, until the response future completes or is dropped).
///
/// ```
/// use belfry_metrics::{HttpMetrics, Metrics};
/// use http::{Request, Response};
/// use std::convert::Infallible;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::new();
/// let service: HttpMetrics<_> = metrics.layer().layer(service_fn(|_: Request<()>| async {
///     Ok::<_, Infallible>(Response::new(String::from("hi")))
/// }));
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// drop(response);
/// // No axum router here, so no MatchedPath: the request counts as unmatched.
/// assert!(metrics.render().contains(r#"http_route="",http_response_status_code="200""#));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HttpMetrics<S> {
    inner: S,
    routes: Arc<RouteCache>,
}

impl<S> HttpMetrics<S> {
    pub(crate) fn new(inner: S, routes: Arc<RouteCache>) -> Self {
        Self { inner, routes }
    }
}

/// The trace id of a request that is sampled, for the duration exemplar. Unsampled requests
/// (and requests served without belfry's trace context) have none.
#[inline]
fn sampled_trace_id() -> Option<[u8; 16]> {
    TraceContext::with_current(|trace| {
        let trace = trace?;
        trace.is_sampled().then(|| trace.trace_id().to_bytes())
    })
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = MethodLabel::of(request.method());
        let series = self.routes.series(request.extensions().get::<MatchedPath>());
        let active = ActiveRequest::start(series, method, sampled_trace_id());
        ResponseFuture::new(self.inner.call(request), active)
    }
}
