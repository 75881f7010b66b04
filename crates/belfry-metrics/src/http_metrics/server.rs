//! [`HttpServerMetrics`]: every HTTP series of one [`Metrics`](crate::Metrics), and the table that
//! maps route templates to their [`RouteSeries`].

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use super::{active::ActiveRequests, route_series::RouteSeries};
use crate::{HTTP_DURATION_BUCKETS, UNMATCHED_ROUTE};

/// The HTTP server metrics: in-flight gauge and duration histograms.
#[derive(Debug)]
pub(crate) struct HttpServerMetrics {
    active: Arc<ActiveRequests>,
    bounds: Arc<[f64]>,
    /// Requests without a matched route: one fixed entry, so they never touch `routes`.
    unmatched: Arc<RouteSeries>,
    /// Route template → series. Read only when a service instance meets a route other than the
    /// one it cached (see [`RouteCache`](super::route_cache::RouteCache)); written once per route.
    routes: RwLock<HashMap<Arc<str>, Arc<RouteSeries>>>,
}

impl HttpServerMetrics {
    pub(crate) fn new() -> Self {
        let active = Arc::<ActiveRequests>::default();
        let bounds: Arc<[f64]> = Arc::from(&HTTP_DURATION_BUCKETS[..]);
        let unmatched = RouteSeries::new(
            Arc::from(UNMATCHED_ROUTE),
            Arc::clone(&active),
            Arc::clone(&bounds),
        );
        Self {
            active,
            bounds,
            unmatched: Arc::new(unmatched),
            routes: RwLock::default(),
        }
    }

    pub(crate) fn active(&self) -> &ActiveRequests {
        &self.active
    }

    pub(crate) fn unmatched(&self) -> &Arc<RouteSeries> {
        &self.unmatched
    }

    /// The series of a route template, created on first use.
    pub(crate) fn route(&self, route: &str) -> Arc<RouteSeries> {
        if let Some(series) = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return Arc::clone(series);
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let series = routes.entry(Arc::from(route)).or_insert_with_key(|route| {
            Arc::new(RouteSeries::new(
                Arc::clone(route),
                Arc::clone(&self.active),
                Arc::clone(&self.bounds),
            ))
        });
        Arc::clone(series)
    }

    /// Every route's series, unmatched first, then by route template.
    pub(crate) fn routes(&self) -> Vec<Arc<RouteSeries>> {
        let mut routes: Vec<_> = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        routes.sort_by(|a, b| a.route().cmp(b.route()));
        routes.insert(0, Arc::clone(&self.unmatched));
        routes
    }
}
