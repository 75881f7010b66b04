//! [`RouteCache`]: the route series a service instance resolved, kept so later requests skip the
//! shared route table.

use std::sync::{Arc, OnceLock};

use axum::extract::MatchedPath;

use super::{route_series::RouteSeries, server::HttpServerMetrics};

/// Per-layer-application state of [`HttpMetrics`](crate::HttpMetrics).
///
/// axum's `Router::layer` applies the layer to each route's endpoint separately, so one instance
/// (and its clones, one per request) serves one route template. The first route it sees is cached
/// here; a request for that route then finds its series with a string comparison, without the
/// shared table's lock. An instance that serves several templates still works: other templates go
/// through the table.
#[derive(Debug)]
pub(crate) struct RouteCache {
    metrics: Arc<HttpServerMetrics>,
    first: OnceLock<Arc<RouteSeries>>,
}

impl RouteCache {
    pub(crate) fn new(metrics: Arc<HttpServerMetrics>) -> Self {
        Self {
            metrics,
            first: OnceLock::new(),
        }
    }

    /// The series for a request with this matched route (none: unmatched).
    #[inline]
    pub(crate) fn series(&self, matched: Option<&MatchedPath>) -> Arc<RouteSeries> {
        let Some(matched) = matched else {
            return Arc::clone(self.metrics.unmatched());
        };
        let route = matched.as_str();
        if let Some(cached) = self.first.get() {
            if cached.route() == route {
                return Arc::clone(cached);
            }
        }
        self.resolve(route)
    }

    #[cold]
    fn resolve(&self, route: &str) -> Arc<RouteSeries> {
        let series = self.metrics.route(route);
        let cached = self.first.get_or_init(|| Arc::clone(&series));
        if cached.route() == route {
            Arc::clone(cached)
        } else {
            series
        }
    }
}
