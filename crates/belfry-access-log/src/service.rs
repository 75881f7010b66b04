//! [`AccessLog`]: the service made by [`AccessLogLayer`](crate::AccessLogLayer).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;

use crate::{layer::AccessLogConfig, record::RequestRecord, ResponseFuture};

/// Logs each request when its response has been sent; see [`AccessLogLayer`](crate::AccessLogLayer).
#[derive(Clone)]
pub struct AccessLog<S> {
    pub(crate) inner: S,
    pub(crate) config: Arc<AccessLogConfig>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for AccessLog<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AccessLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<crate::AccessLogBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let record = RequestRecord::new(&request, &self.config);
        let span = record.span();
        let _entered = span
            .filter(|_| record.enters_span && self.config.enter_span_in_call)
            .map(tracing::Span::enter);
        let lent = crate::request_span::Lent::new(span);
        let future = self.inner.call(request);
        drop(lent);
        drop(_entered);
        ResponseFuture::new(future, record)
    }
}
