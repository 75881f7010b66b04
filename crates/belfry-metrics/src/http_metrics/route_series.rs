//! [`RouteSeries`]: the duration histograms of one route, by method and status, found and
//! updated without a lock or an allocation once they exist.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex, OnceLock, PoisonError,
    },
};

use http::StatusCode;

use super::{active::ActiveRequests, method::MethodLabel};
use crate::AtomicHistogram;

/// Lock-free slots per route. A route rarely sees more than a dozen (method, status) pairs; the
/// rest go to a locked overflow list, so nothing is ever dropped.
const SLOTS: usize = 64;

/// Key of an unclaimed slot; [`SeriesKey`]s are never 0.
const EMPTY: u32 = 0;

/// All series of one `http_route` value.
pub(crate) struct RouteSeries {
    route: Arc<str>,
    /// Shared by every route, so that an in-flight request needs one handle only.
    active: Arc<ActiveRequests>,
    bounds: Arc<[f64]>,
    /// Append-only: a slot is claimed once with a compare-and-swap of its key and never changes.
    slots: [SeriesSlot; SLOTS],
    overflow: Mutex<Vec<(SeriesKey, AtomicHistogram)>>,
}

#[derive(Default)]
struct SeriesSlot {
    key: AtomicU32,
    histogram: OnceLock<AtomicHistogram>,
}

/// (method, status) packed in a non-zero `u32`: method index + 1 in the high half, status code
/// (0 for none) in the low half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SeriesKey(u32);

impl SeriesKey {
    fn new(method: MethodLabel, status: Option<StatusCode>) -> Self {
        let method = method.index() as u32 + 1;
        Self((method << 16) | u32::from(status.map_or(0, |status| status.as_u16())))
    }

    fn method(self) -> Option<MethodLabel> {
        MethodLabel::from_index((self.0 >> 16) as usize - 1)
    }

    fn status(self) -> Option<u16> {
        Some((self.0 & 0xffff) as u16).filter(|status| *status != 0)
    }
}

/// One series of a route, as read at scrape time.
pub(crate) struct Series {
    pub(crate) method: MethodLabel,
    pub(crate) status: Option<u16>,
    pub(crate) histogram: AtomicHistogram,
}

impl RouteSeries {
    pub(crate) fn new(route: Arc<str>, active: Arc<ActiveRequests>, bounds: Arc<[f64]>) -> Self {
        Self {
            route,
            active,
            bounds,
            slots: std::array::from_fn(|_| SeriesSlot::default()),
            overflow: Mutex::default(),
        }
    }

    /// The `http_route` label value.
    pub(crate) fn route(&self) -> &str {
        &self.route
    }

    pub(crate) fn active(&self) -> &ActiveRequests {
        &self.active
    }

    /// Records one request. For a (method, status) seen before on this route this is a scan of
    /// claimed slots (plain loads) and the histogram's atomics; the first time, it claims a slot
    /// and allocates the histogram. `exemplar`: the trace id of a sampled request.
    #[inline]
    pub(crate) fn observe(
        &self,
        method: MethodLabel,
        status: Option<StatusCode>,
        seconds: f64,
        exemplar: Option<&[u8; 16]>,
    ) {
        let key = SeriesKey::new(method, status);
        for slot in &self.slots {
            let mut current = slot.key.load(Ordering::Acquire);
            if current == EMPTY {
                current = match slot
                    .key
                    .compare_exchange(EMPTY, key.0, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => key.0,
                    Err(actual) => actual,
                };
            }
            if current == key.0 {
                let histogram = slot.histogram.get_or_init(|| self.new_histogram());
                observe(histogram, seconds, exemplar);
                return;
            }
        }
        self.observe_overflow(key, seconds, exemplar);
    }

    #[cold]
    fn observe_overflow(&self, key: SeriesKey, seconds: f64, exemplar: Option<&[u8; 16]>) {
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, histogram)) = overflow.iter().find(|(known, _)| *known == key) {
            observe(histogram, seconds, exemplar);
        } else {
            let histogram = self.new_histogram();
            observe(&histogram, seconds, exemplar);
            overflow.push((key, histogram));
        }
    }

    fn new_histogram(&self) -> AtomicHistogram {
        AtomicHistogram::with_sorted_bounds(Arc::clone(&self.bounds))
    }

    /// Every series of this route with at least one observation.
    pub(crate) fn series(&self) -> Vec<Series> {
        let claimed = self.slots.iter().filter_map(|slot| {
            let histogram = slot.histogram.get()?;
            Some((SeriesKey(slot.key.load(Ordering::Acquire)), histogram.clone()))
        });
        let overflow = self
            .overflow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        claimed
            .chain(overflow)
            .filter_map(|(key, histogram)| {
                Some(Series {
                    method: key.method()?,
                    status: key.status(),
                    histogram,
                })
            })
            .collect()
    }
}

/// One observation, with its exemplar if the request was sampled.
#[inline]
fn observe(histogram: &AtomicHistogram, seconds: f64, exemplar: Option<&[u8; 16]>) {
    match exemplar {
        Some(trace_id) => histogram.observe_with_exemplar(seconds, trace_id),
        None => histogram.observe(seconds),
    }
}

impl fmt::Debug for RouteSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteSeries")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn series() -> RouteSeries {
        RouteSeries::new(
            "/r".into(),
            Arc::default(),
            Arc::from(&crate::HTTP_DURATION_BUCKETS[..]),
        )
    }

    #[test]
    fn one_series_per_method_and_status() {
        let route = series();
        let get = MethodLabel::of(&Method::GET);
        let post = MethodLabel::of(&Method::POST);
        route.observe(get, Some(StatusCode::OK), 0.001, None);
        route.observe(get, Some(StatusCode::OK), 0.002, None);
        route.observe(post, Some(StatusCode::OK), 0.003, None);
        route.observe(get, None, 0.004, None);
        let all = route.series();
        assert_eq!(all.len(), 3);
        assert_eq!(
            (all[0].method, all[0].status, all[0].histogram.count()),
            (get, Some(200), 2)
        );
        assert_eq!(
            (all[1].method, all[1].status, all[1].histogram.count()),
            (post, Some(200), 1)
        );
        assert_eq!(
            (all[2].method, all[2].status, all[2].histogram.count()),
            (get, None, 1)
        );
    }

    #[test]
    fn pairs_beyond_the_slots_overflow_without_loss() {
        let route = series();
        let get = MethodLabel::of(&Method::GET);
        for round in 0..2 {
            for code in 100..(100 + SLOTS as u16 + 10) {
                route.observe(
                    get,
                    Some(StatusCode::from_u16(code).unwrap()),
                    f64::from(round),
                    None,
                );
            }
        }
        let all = route.series();
        assert_eq!(all.len(), SLOTS + 10);
        assert!(all.iter().all(|series| series.histogram.count() == 2));
    }

    #[test]
    fn concurrent_first_observations_share_one_slot() {
        let route = series();
        let get = MethodLabel::of(&Method::GET);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for code in [200, 201, 404, 500] {
                        route.observe(get, Some(StatusCode::from_u16(code).unwrap()), 0.0, None);
                    }
                });
            }
        });
        let all = route.series();
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|series| series.histogram.count() == 4));
    }
}
