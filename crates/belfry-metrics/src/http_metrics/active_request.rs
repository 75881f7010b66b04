//! [`ActiveRequest`]: a request in flight. Dropping it ends the request in the metrics.

use std::{sync::Arc, time::Instant};

use http::StatusCode;

use super::{method::MethodLabel, route_series::RouteSeries};

/// Counted in the in-flight gauge from [`start`](Self::start) to drop; on drop, one observation
/// of the elapsed time goes to its (route, method, status) series. Whoever holds it last — the
/// response future, then the response body — decides when the request ends, so an early drop of
/// either still records exactly once.
#[derive(Debug)]
pub(crate) struct ActiveRequest {
    series: Arc<RouteSeries>,
    method: MethodLabel,
    status: Option<StatusCode>,
    start: Instant,
    /// Trace id of a sampled request: the observation's exemplar.
    exemplar: Option<[u8; 16]>,
}

impl ActiveRequest {
    #[inline]
    pub(crate) fn start(series: Arc<RouteSeries>, method: MethodLabel, exemplar: Option<[u8; 16]>) -> Self {
        series.active().increment(method);
        Self {
            series,
            method,
            status: None,
            start: Instant::now(),
            exemplar,
        }
    }

    #[inline]
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.status = Some(status);
    }
}

impl Drop for ActiveRequest {
    #[inline]
    fn drop(&mut self) {
        let seconds = self.start.elapsed().as_secs_f64();
        self.series
            .observe(self.method, self.status, seconds, self.exemplar.as_ref());
        self.series.active().decrement(self.method);
    }
}
