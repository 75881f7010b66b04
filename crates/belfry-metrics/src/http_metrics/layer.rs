//! [`HttpMetricsLayer`]: applies [`HttpMetrics`] to a service.

use std::sync::Arc;

use tower_layer::Layer;

use super::{route_cache::RouteCache, server::HttpServerMetrics, HttpMetrics};
use crate::Metrics;

/// Layer recording the RED metrics of every request: in-flight gauge, and one duration
/// observation per request labelled with method, route template and status.
///
/// Apply it with axum's `Router::layer` (after routing), so the route template is in the request
/// extensions as [`MatchedPath`](axum::extract::MatchedPath); without one a request counts as
/// [`UNMATCHED_ROUTE`](crate::UNMATCHED_ROUTE).
///
/// ```
/// use axum::{routing::get, Router};
/// use belfry_metrics::{HttpMetricsLayer, Metrics};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = Metrics::new();
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .layer(HttpMetricsLayer::new(&metrics));
///
/// let request = http::Request::get("/users/42").body(axum::body::Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// drop(response); // the request ends with its body
/// assert!(metrics.render().contains(r#"http_route="/users/{id}""#));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HttpMetricsLayer {
    metrics: Arc<HttpServerMetrics>,
}

impl HttpMetricsLayer {
    /// A layer recording into `metrics`. Same as [`Metrics::layer`].
    ///
    /// ```
    /// use belfry_metrics::{HttpMetricsLayer, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let layer = HttpMetricsLayer::new(&metrics);
    /// # let _ = layer;
    /// ```
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            metrics: Arc::clone(metrics.http()),
        }
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics::new(inner, Arc::new(RouteCache::new(Arc::clone(&self.metrics))))
    }
}
