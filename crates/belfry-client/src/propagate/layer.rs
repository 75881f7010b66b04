//! [`PropagateLayer`]: configuration of [`Propagate`].

use std::sync::Arc;

use belfry_scrub::ScrubPolicy;
use tower_layer::Layer;

use super::Propagate;
use crate::{call::CallConfig, DefaultErrorType};

/// Layer for tower / hyper HTTP clients: each outgoing request gets the current request's
/// propagation headers (see the [crate docs](crate)), is timed to its response head, and
/// writes one log line at target [`TARGET`](crate::TARGET).
///
/// Cheap to clone. `E` names failed calls in `error.type` (see [`ErrorType`](crate::ErrorType)).
///
/// ```
/// use belfry_client::PropagateLayer;
/// use belfry_scrub::ScrubPolicy;
/// use belfry_trace_context::TraceContext;
/// use http::{Request, Response};
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = ServiceBuilder::new()
///     .layer(PropagateLayer::new().scrub_policy(ScrubPolicy::builder().redact_query_param("state").build()))
///     .service(service_fn(|request: Request<()>| async move {
///         Ok::<_, Infallible>(Response::new(request.headers().clone()))
///     }));
///
/// // Outside a request there is no context: nothing is added.
/// let sent = client.clone().oneshot(Request::get("http://a.test/").body(()).unwrap()).await.unwrap();
/// assert!(sent.body().is_empty());
///
/// // Serving a request, sampled or not, the call continues its trace.
/// let serving = TraceContext::new_root(false);
/// let call = client.oneshot(Request::get("http://a.test/?state=xyz").body(()).unwrap());
/// let sent = serving.clone().scope(call).await.unwrap();
/// let traceparent = sent.body()["traceparent"].to_str().unwrap();
/// assert!(traceparent.starts_with(&format!("00-{}-", serving.trace_id())));
/// assert!(traceparent.ends_with("-00"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PropagateLayer<E = DefaultErrorType> {
    config: Arc<CallConfig>,
    error_type: E,
}

impl PropagateLayer {
    /// A layer with the default [`ScrubPolicy`], no metrics and [`DefaultErrorType`].
    pub fn new() -> Self {
        Self {
            config: Arc::default(),
            error_type: DefaultErrorType,
        }
    }
}

impl Default for PropagateLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> PropagateLayer<E> {
    /// Scrubs `url.full` in the log lines with `policy` (userinfo removed, sensitive query
    /// parameters redacted); use the application's policy so that logs, Sentry and metrics
    /// agree.
    pub fn scrub_policy(mut self, policy: ScrubPolicy) -> Self {
        Arc::make_mut(&mut self.config).scrub = policy;
        self
    }

    /// Records every call into `metrics`
    /// ([`http_client_request_duration_seconds`](belfry_metrics::HTTP_CLIENT_REQUEST_DURATION)).
    ///
    /// ```
    /// use belfry_client::PropagateLayer;
    /// use belfry_metrics::Metrics;
    ///
    /// let metrics = Metrics::new();
    /// let layer = PropagateLayer::new().metrics(metrics.http_client());
    /// # let _ = layer;
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: belfry_metrics::HttpClientMetrics) -> Self {
        Arc::make_mut(&mut self.config).metrics = Some(metrics);
        self
    }

    /// Names failed calls with `error_type` instead.
    pub fn error_type<E2>(self, error_type: E2) -> PropagateLayer<E2> {
        PropagateLayer {
            config: self.config,
            error_type,
        }
    }
}

impl<S, E: Clone> Layer<S> for PropagateLayer<E> {
    type Service = Propagate<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        Propagate::new(inner, Arc::clone(&self.config), self.error_type.clone())
    }
}
