//! [`SetTraceContext`]: the service that reads the incoming context and makes it current.

use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use crate::{ResponseFuture, Sampler, TraceContext, TrustIncoming};

/// The service made by [`TraceContextLayer`](crate::TraceContextLayer); see there.
///
/// ```
/// use belfry_trace_context::{SetTraceContext, TraceContext, TraceContextLayer};
/// use http::{Request, Response};
/// use std::convert::Infallible;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = TraceContextLayer::new().layer(service_fn(|_: Request<()>| async {
///     Ok::<_, Infallible>(Response::new(TraceContext::current().is_some()))
/// }));
/// let _: &SetTraceContext<_, _> = &service;
/// assert!(*service.oneshot(Request::new(())).await.unwrap().body());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SetTraceContext<Inner, S> {
    pub(crate) inner: Inner,
    pub(crate) trust: TrustIncoming,
    pub(crate) sampler: S,
}

impl<Inner, S> SetTraceContext<Inner, S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &Inner {
        &self.inner
    }
}

impl<Inner, S, ReqBody> Service<Request<ReqBody>> for SetTraceContext<Inner, S>
where
    Inner: Service<Request<ReqBody>>,
    S: Sampler,
{
    type Response = Inner::Response;
    type Error = Inner::Error;
    type Future = ResponseFuture<Inner::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Current, not in the request extensions: an extension would cost an allocation (and,
        // for the fourth one, a growth of the map) on every request; everything inside the
        // request runs within `call` or a poll of the response future, where it is current.
        let context = TraceContext::from_headers(request.headers(), self.trust, &self.sampler);
        let current = crate::context::Current::set(&context);
        let future = self.inner.call(request);
        drop(current);
        ResponseFuture::new(future, context)
    }
}
