//! [`RequestIdLayer`]: the configuration, shared by every clone of the service.

use http::HeaderName;
use tower_layer::Layer;

use crate::{MakeRequestUuidV7, SetRequestId};

/// The header that carries the request id unless configured otherwise: `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every request an id, and wraps it in a `request` span carrying `request_id`.
///
/// - A valid incoming id (see [`is_valid_request_id`](crate::is_valid_request_id)) is kept,
///   unless incoming ids are not trusted ([`trust_incoming`](Self::trust_incoming)). A missing,
///   invalid or repeated header gets a fresh id from the generator ([`MakeRequestUuidV7`] by
///   default).
/// - The id is put in the request extensions before the inner service runs (handlers extract
///   it as [`RequestId`](crate::RequestId)), and set on the response header unless the inner
///   service set one itself.
/// - The inner service runs inside a span named `request` with the field `request_id`, so every
///   event logged while serving the request carries the id. The span has level ERROR and
///   target `belfry::request` so that a filter such as `RUST_LOG=warn` keeps it. When the
///   request carries a [`TraceContext`](belfry_trace_context::TraceContext) (put there by
///   [`TraceContextLayer`](belfry_trace_context::TraceContextLayer), applied outside this layer),
///   the span also has `trace_id` and `span_id` ([`TRACE_ID_FIELD`](crate::TRACE_ID_FIELD),
///   [`SPAN_ID_FIELD`](crate::SPAN_ID_FIELD)), lowercase hex: every line of the request carries
///   them too; an edge service that did not trust the caller's trace also logs the caller's
///   trace id as `trace.incoming_id`.
///
/// ```
/// use belfry_request_id::{RequestId, RequestIdLayer};
/// use http::{Request, Response};
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ServiceBuilder::new()
///     .layer(RequestIdLayer::new())
///     .service(service_fn(|request: Request<()>| async move {
///         let id = request.extensions().get::<RequestId>().unwrap().clone();
///         Ok::<_, Infallible>(Response::new(id.to_string()))
///     }));
///
/// let request = Request::get("/").header("x-request-id", "abc-123").body(()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.headers()["x-request-id"], "abc-123");
/// assert_eq!(response.body(), "abc-123");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RequestIdLayer<M = MakeRequestUuidV7> {
    pub(crate) header_name: HeaderName,
    pub(crate) trust_incoming: bool,
    pub(crate) make_request_id: M,
    /// Whether what `make_request_id` returns is checked ([`is_valid_request_id`]): not for the
    /// default generator, whose UUIDs are valid by construction.
    ///
    /// [`is_valid_request_id`]: crate::is_valid_request_id
    pub(crate) check_generated: bool,
    pub(crate) hand_over_span: bool,
}

impl RequestIdLayer {
    /// The defaults: header `x-request-id`, incoming ids trusted, UUID v7 generated.
    pub fn new() -> Self {
        Self {
            header_name: X_REQUEST_ID,
            trust_incoming: true,
            make_request_id: MakeRequestUuidV7,
            check_generated: false,
            hand_over_span: false,
        }
    }
}

impl Default for RequestIdLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> RequestIdLayer<M> {
    /// Reads and writes the id in this header instead of `x-request-id`.
    ///
    /// ```
    /// use belfry_request_id::RequestIdLayer;
    /// use http::HeaderName;
    ///
    /// let layer = RequestIdLayer::new().header_name(HeaderName::from_static("x-correlation-id"));
    /// assert_eq!(layer.header(), "x-correlation-id");
    /// ```
    pub fn header_name(mut self, header_name: HeaderName) -> Self {
        self.header_name = header_name;
        self
    }

    /// The header the id is read from and written to.
    pub fn header(&self) -> &HeaderName {
        &self.header_name
    }

    /// Whether a valid incoming id is kept (default `true`). With `false`, every request gets a
    /// fresh id, for services reachable by untrusted clients that must not choose their ids.
    ///
    /// ```
    /// let layer = belfry_request_id::RequestIdLayer::new().trust_incoming(false);
    /// assert!(!layer.trusts_incoming());
    /// ```
    pub fn trust_incoming(mut self, trust: bool) -> Self {
        self.trust_incoming = trust;
        self
    }

    /// Whether a valid incoming id is kept.
    pub fn trusts_incoming(&self) -> bool {
        self.trust_incoming
    }

    /// Hands the `request` span to the service directly inside (default `false`), which takes it
    /// with [`take_request_span`](crate::take_request_span) in its `call` and from then on enters
    /// it while the request's work runs; this layer keeps no handle on it. For a service that
    /// keeps the span anyway (belfry's access log does, until the request's line is written): one
    /// handle on the span fewer per request.
    ///
    /// The span is not entered while the inner service's `call` runs (the service entering it is
    /// the one that takes it); if the inner service does not take it, this layer keeps it and
    /// enters it while its response future is polled, as without this setting.
    pub fn hand_over_span(mut self, hand_over: bool) -> Self {
        self.hand_over_span = hand_over;
        self
    }

    /// Generates ids with `make_request_id` (any tower-http [`MakeRequestId`]) instead of UUID
    /// v7. Generated ids are validated like incoming ones: an invalid one is replaced by a UUID v7.
    ///
    /// [`MakeRequestId`]: tower_http::request_id::MakeRequestId
    ///
    /// ```
    /// use belfry_request_id::RequestIdLayer;
    /// use http::{HeaderValue, Request};
    /// use tower_http::request_id::{MakeRequestId, RequestId};
    ///
    /// #[derive(Clone)]
    /// struct Counter(u64);
    ///
    /// impl MakeRequestId for Counter {
    ///     fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
    ///         self.0 += 1;
    ///         Some(RequestId::new(HeaderValue::from(self.0)))
    ///     }
    /// }
    ///
    /// let layer = RequestIdLayer::new().make_request_id(Counter(0));
    /// ```
    pub fn make_request_id<M2>(self, make_request_id: M2) -> RequestIdLayer<M2> {
        RequestIdLayer {
            header_name: self.header_name,
            trust_incoming: self.trust_incoming,
            make_request_id,
            check_generated: true,
            hand_over_span: self.hand_over_span,
        }
    }
}

impl<S, M: Clone> Layer<S> for RequestIdLayer<M> {
    type Service = SetRequestId<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId {
            inner,
            header_name: self.header_name.clone(),
            trust_incoming: self.trust_incoming,
            make_request_id: self.make_request_id.clone(),
            check_generated: self.check_generated,
            hand_over_span: self.hand_over_span,
        }
    }
}
