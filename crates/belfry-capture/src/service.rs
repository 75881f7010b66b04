//! [`Capture`]: the service made by [`CaptureLayer`](crate::CaptureLayer).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use belfry_scrub::ScrubPolicy;
use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use crate::{panic::catching, request::RequestInfo, sentry_hub::SentryRequest, ResponseFuture};

/// Catches and reports panics and `5xx` responses; see [`CaptureLayer`](crate::CaptureLayer).
///
/// Works with any Tower HTTP service whose response body can be made from [`Bytes`] (for the
/// problem document), such as axum's `Body`. Responses pass through unchanged.
///
/// ```
/// use axum::body::Body;
/// use belfry_capture::CaptureLayer;
/// use http::{Request, Response};
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ServiceBuilder::new()
///     .layer(CaptureLayer::new())
///     .service(service_fn(|request: Request<Body>| async move {
///         if request.uri().path() == "/bug" {
///             panic!("index out of bounds");
///         }
///         Ok::<_, Infallible>(Response::new(Body::from("hello")))
///     }));
///
/// let response = service.clone().oneshot(Request::new(Body::empty())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// let response = service.oneshot(Request::get("/bug").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 500);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Capture<S> {
    pub(crate) inner: S,
    pub(crate) scrub: ScrubPolicy,
    pub(crate) probe_routes: Arc<[Box<str>]>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Capture<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes> + http_body::Body,
{
    type Response = Response<crate::CaptureBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let mut info = RequestInfo::new(&request);
        info.probe = info
            .route()
            .is_some_and(|route| self.probe_routes.iter().any(|probe| &**probe == route));
        let sentry = SentryRequest::start(&request, &info, &self.scrub);
        match catching(sentry.as_ref(), || self.inner.call(request)) {
            Ok(future) => ResponseFuture::new(future, info, sentry),
            Err(panic) => ResponseFuture::panicked(&panic, info, sentry),
        }
    }
}
