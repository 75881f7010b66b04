//! [`SetRequestId`]: the service that picks the id and opens the request span.

use std::task::{Context, Poll};

use belfry_trace_context::TraceContext;
use http::{HeaderName, Request, Response};
use tower_http::request_id::MakeRequestId;
use tower_service::Service;
use tracing::Span;

use crate::{RequestId, ResponseFuture};

/// The service made by [`RequestIdLayer`](crate::RequestIdLayer); see there.
#[derive(Clone, Debug)]
pub struct SetRequestId<S, M> {
    pub(crate) inner: S,
    pub(crate) header_name: HeaderName,
    pub(crate) trust_incoming: bool,
    pub(crate) make_request_id: M,
    pub(crate) check_generated: bool,
    pub(crate) hand_over_span: bool,
}

impl<S, M> SetRequestId<S, M>
where
    M: MakeRequestId,
{
    fn request_id<B>(&mut self, request: &Request<B>) -> RequestId {
        if self.trust_incoming {
            let mut values = request.headers().get_all(&self.header_name).iter();
            // Exactly one valid value is kept; none, several or an invalid one are replaced.
            if let (Some(value), None) = (values.next(), values.next()) {
                if let Some(id) = RequestId::from_header_value(value.clone()) {
                    return id;
                }
            }
        }
        let generated = self.make_request_id.make_request_id(request);
        match generated {
            Some(id) if !self.check_generated => RequestId::from_valid(id.into_header_value()),
            generated => generated
                .and_then(|id| RequestId::from_header_value(id.into_header_value()))
                .unwrap_or_else(RequestId::new_v7),
        }
    }
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for SetRequestId<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: MakeRequestId,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let id = self.request_id(&request);
        let span = TraceContext::with_current(|trace| match trace {
            Some(trace) => {
                let (trace_id, span_id) = (trace.trace_id().to_hex(), trace.span_id().to_hex());
                // Only for an edge service that started a new trace: the caller's, logged beside
                // it (a `None` is not recorded, so it is not printed).
                let incoming = trace.incoming_trace_id().map(|id| id.to_hex());
                tracing::error_span!(
                    target: crate::REQUEST_SPAN_TARGET,
                    "request",
                    request_id = id.as_str(),
                    trace_id = trace_id.as_str(),
                    span_id = span_id.as_str(),
                    trace.incoming_id = incoming.as_ref().map(|id| id.as_str()),
                )
            }
            None => {
                tracing::error_span!(target: crate::REQUEST_SPAN_TARGET, "request", request_id = id.as_str())
            }
        });
        request.extensions_mut().insert(id.clone());
        if self.hand_over_span {
            let offer = crate::span_handover::Offer::new(span);
            let current = crate::current::Current::set(&id);
            let future = self.inner.call(request);
            drop(current);
            let span = offer.withdraw().unwrap_or_else(Span::none);
            return ResponseFuture::new(future, span, self.header_name.clone(), id);
        }
        let entered = span.enter();
        let current = crate::current::Current::set(&id);
        let future = self.inner.call(request);
        drop((current, entered));
        ResponseFuture::new(future, span, self.header_name.clone(), id)
    }
}
