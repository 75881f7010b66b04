//! [`Propagate`]: the client service adding the headers and starting the [`Call`].

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use belfry_request_id::RequestId;
use belfry_trace_context::TraceContext;
use http::{Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use crate::{
    call::{Call, CallConfig, Target},
    headers::insert_missing,
    ErrorType,
};

/// Client service built by [`PropagateLayer`](crate::PropagateLayer).
///
/// The context sent is, in order of preference: a [`TraceContext`] in the outgoing request's
/// extensions, then the [current](TraceContext::current) one; likewise for the [`RequestId`]
/// sent as `x-request-id` ([`RequestId::current`]).
#[derive(Clone, Debug)]
pub struct Propagate<S, E> {
    inner: S,
    config: Arc<CallConfig>,
    error_type: E,
}

impl<S, E> Propagate<S, E> {
    pub(crate) fn new(inner: S, config: Arc<CallConfig>, error_type: E) -> Self {
        Self {
            inner,
            config,
            error_type,
        }
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for Propagate<S, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    E: ErrorType<S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let current_id;
        let request_id = match parts.extensions.get::<RequestId>() {
            Some(id) => Some(id),
            None => {
                current_id = RequestId::current();
                current_id.as_ref()
            }
        };
        let span = match parts.extensions.get::<TraceContext>() {
            Some(trace) => insert_missing(&mut parts.headers, Some(trace), request_id),
            None => TraceContext::with_current(|trace| insert_missing(&mut parts.headers, trace, request_id)),
        };
        let target = Target::of_uri(&parts.uri, &parts.headers);
        let call = Call::start(Arc::clone(&self.config), parts.method.clone(), target, span);
        let request = Request::from_parts(parts, body);
        ResponseFuture::new(self.inner.call(request), call, self.error_type.clone())
    }
}
