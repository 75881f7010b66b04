//! [`TraceContextLayer`]: the configuration, shared by every clone of the service.

use tower_layer::Layer;

use crate::{RatioSampler, Sampler, SetTraceContext, TrustIncoming};

/// Gives every request a [`TraceContext`](crate::TraceContext), continued from the incoming
/// headers or new (see the [crate docs](crate) for the rules).
///
/// The context is [current](crate::TraceContext::current) while the inner service's `call` runs
/// and while its future is polled — everything a request runs, layers and handler alike, runs
/// there. It is not put in the request extensions: that would cost an allocation per request.
/// Handlers take it as an extractor (feature `axum`) or call `TraceContext::current()`.
///
/// ```
/// use belfry_trace_context::{RatioSampler, TraceContext, TraceContextLayer, TrustIncoming};
/// use http::{Request, Response};
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ServiceBuilder::new()
///     .layer(TraceContextLayer::new().trust_incoming(TrustIncoming::Continue).sampler(RatioSampler::new(0.1)))
///     .service(service_fn(|request: Request<()>| async move {
///         let context = TraceContext::current().unwrap();
///         Ok::<_, Infallible>(Response::new(context.trace_id().to_string()))
///     }));
///
/// let request = Request::get("/")
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .body(())
///     .unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.body(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TraceContextLayer<S = RatioSampler> {
    pub(crate) trust: TrustIncoming,
    pub(crate) sampler: S,
}

impl TraceContextLayer {
    /// The defaults: incoming context trusted ([`TrustIncoming::Continue`]), every new trace
    /// sampled ([`RatioSampler::ALWAYS`]).
    pub fn new() -> Self {
        Self {
            trust: TrustIncoming::Continue,
            sampler: RatioSampler::ALWAYS,
        }
    }
}

impl Default for TraceContextLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> TraceContextLayer<S> {
    /// Whether incoming context is continued ([`TrustIncoming::Continue`], the default) or a new
    /// trace is started on every request ([`TrustIncoming::Restart`], for a public edge).
    ///
    /// ```
    /// use belfry_trace_context::{TraceContextLayer, TrustIncoming};
    ///
    /// let layer = TraceContextLayer::new().trust_incoming(TrustIncoming::Restart);
    /// assert_eq!(layer.trust(), TrustIncoming::Restart);
    /// ```
    pub fn trust_incoming(mut self, trust: TrustIncoming) -> Self {
        self.trust = trust;
        self
    }

    /// The configured trust.
    pub fn trust(&self) -> TrustIncoming {
        self.trust
    }

    /// Decides the sampling of new traces with `sampler` (see [`Sampler`] for when it is asked).
    ///
    /// ```
    /// use belfry_trace_context::{TraceContextLayer, TraceId};
    ///
    /// let layer = TraceContextLayer::new().sampler(|id: TraceId| id.to_bytes()[15] % 2 == 0);
    /// ```
    pub fn sampler<S2: Sampler>(self, sampler: S2) -> TraceContextLayer<S2> {
        TraceContextLayer {
            trust: self.trust,
            sampler,
        }
    }

    /// The configured sampler.
    pub fn get_sampler(&self) -> &S {
        &self.sampler
    }
}

impl<Inner, S: Clone> Layer<Inner> for TraceContextLayer<S> {
    type Service = SetTraceContext<Inner, S>;

    fn layer(&self, inner: Inner) -> Self::Service {
        SetTraceContext {
            inner,
            trust: self.trust,
            sampler: self.sampler.clone(),
        }
    }
}
