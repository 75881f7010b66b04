//! [`ResponseForPanic`]: what the client gets when the handler panics — by default
//! ([`ProblemJson`]) an RFC 9457 problem document.

use bytes::Bytes;
use http::Response;

use crate::{problem::problem_response, Panic, RequestDetails};

/// Makes the response sent for a panic of the handler (in `call` or while its future is
/// polled), in the inner service's body type `B`. A panic while the body streams comes after
/// the headers, and ends the body with an error instead.
///
/// The panic is logged and reported whatever the response; the response only decides what the
/// client reads. It should not carry the panic's message (internals, sometimes secrets): the
/// request id and trace id are what a caller quotes to find the rest.
///
/// A closure `Fn(&RequestDetails, &Panic) -> Response<B>` is a panic response:
///
/// ```
/// use axum::{body::Body, routing::get, Router};
/// use belfry_capture::{CaptureLayer, Panic, RequestDetails};
/// use http::{Request, Response, StatusCode};
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sorry = |request: &RequestDetails, _: &Panic| {
///     let id = request.request_id().map_or("none", |id| id.as_str());
///     Response::builder()
///         .status(StatusCode::SERVICE_UNAVAILABLE)
///         .header("retry-after", "1")
///         .body(Body::from(format!("sorry, quote {id}")))
///         .unwrap()
/// };
/// let app = Router::new()
///     .route("/panic", get(|| async { panic!("secret internals") as &'static str }))
///     .layer(CaptureLayer::new().panic_response(sorry))
///     .layer(belfry_request_id::RequestIdLayer::new());
///
/// let request = Request::get("/panic").header("x-request-id", "req-9").body(Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "1");
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(body, "sorry, quote req-9");
/// # }
/// ```
pub trait ResponseForPanic<B>: Clone + Send + Sync + 'static {
    /// The response for the panic `panic` of `request`.
    fn response_for_panic(&self, request: &RequestDetails, panic: &Panic) -> Response<B>;
}

/// The default panic response: `500 Internal Server Error`, `content-type:
/// application/problem+json`, and
/// `{"type":"about:blank","title":"Internal Server Error","status":500,"request_id":"…","trace_id":"…"}`
/// — `request_id` and `trace_id` only when the request has them. Never anything of the panic.
///
/// ```
/// use belfry_capture::{Panic, ProblemJson, RequestDetails, ResponseForPanic};
///
/// let request = http::Request::get("/").body(()).unwrap();
/// let panic = Panic::catch(|| panic!("secret")).unwrap_err();
/// let response: http::Response<bytes::Bytes> =
///     ProblemJson.response_for_panic(&RequestDetails::new(&request), &panic);
/// assert_eq!(response.status(), 500);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// assert_eq!(
///     response.body(),
///     r#"{"type":"about:blank","title":"Internal Server Error","status":500}"#
/// );
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ProblemJson;

impl<B: From<Bytes>> ResponseForPanic<B> for ProblemJson {
    fn response_for_panic(&self, request: &RequestDetails, _: &Panic) -> Response<B> {
        problem_response(request.request_id(), request.trace())
    }
}

impl<F, B> ResponseForPanic<B> for F
where
    F: Fn(&RequestDetails, &Panic) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn response_for_panic(&self, request: &RequestDetails, panic: &Panic) -> Response<B> {
        self(request, panic)
    }
}
