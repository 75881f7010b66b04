//! [`Capture`]: the service made by [`CaptureLayer`](crate::CaptureLayer).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;

use crate::{
    panic::catching, reporter::RequestState, ProblemJson, Reporter, RequestDetails, ResponseForPanic,
    ResponseFuture,
};

/// Catches and reports panics and `5xx` responses; see [`CaptureLayer`](crate::CaptureLayer).
///
/// Works with any Tower HTTP service whose response body the [panic response](ResponseForPanic)
/// can make — with the default [`ProblemJson`], any body that can be made from
/// [`Bytes`](bytes::Bytes), such as axum's `Body`. Responses pass through unchanged.
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
pub struct Capture<S, P = ProblemJson, R = ()> {
    pub(crate) inner: S,
    pub(crate) probe_routes: Arc<[Box<str>]>,
    pub(crate) panic_response: P,
    pub(crate) reporter: R,
    pub(crate) borrow_request_span: bool,
    pub(crate) enter_reporter_in_call: bool,
}

impl<S, P, R, ReqBody, ResBody> Service<Request<ReqBody>> for Capture<S, P, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
    P: ResponseForPanic<ResBody>,
    R: Reporter,
{
    type Response = Response<crate::CaptureBody<ResBody, R>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, P, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let mut details = RequestDetails::new(&request);
        details.probe = details
            .route()
            .is_some_and(|route| self.probe_routes.iter().any(|probe| &**probe == route));
        details.borrows_span =
            self.borrow_request_span && belfry_access_log::request_span::with_current(|_| ()).is_some();
        let state = RequestState::<R>(self.reporter.start(&request, &details));
        let panic_response = self.panic_response.clone();
        let entered = state.get().filter(|_| self.enter_reporter_in_call);
        match catching::<R, _>(entered, || self.inner.call(request)) {
            Ok(future) => ResponseFuture::new(future, details, state, panic_response),
            Err(panic) => ResponseFuture::panicked(&panic, details, state, panic_response),
        }
    }
}
