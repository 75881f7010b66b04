//! [`ClientSeries`]: every `http_client_request_duration_seconds` series of one
//! [`Metrics`](crate::Metrics), found and updated without a lock once it exists.

use std::{
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex, OnceLock, PoisonError,
    },
    time::Duration,
};

use http::{Method, StatusCode};

use super::bounded_labels::BoundedLabels;
use crate::{
    http_metrics::MethodLabel, AtomicHistogram, HTTP_DURATION_BUCKETS, MAX_ERROR_TYPES, MAX_SERVER_ADDRESSES,
    OTHER_ERROR_TYPE, OTHER_SERVER_ADDRESS,
};

/// Lock-free (method, status, error type) slots per server address; the rest overflow into a
/// locked list, so nothing is dropped.
const SLOTS: usize = 32;

/// Index of [`OTHER_SERVER_ADDRESS`] in [`ClientSeries::by_address`].
const OTHER_ADDRESS: usize = MAX_SERVER_ADDRESSES;

/// Error code of [`OTHER_ERROR_TYPE`] in a [`SeriesKey`]; 0 is "no error", `1..=MAX_ERROR_TYPES`
/// the interned error types.
const OTHER_ERROR: u32 = MAX_ERROR_TYPES as u32 + 1;

/// The client duration histograms.
pub(crate) struct ClientSeries {
    addresses: BoundedLabels<MAX_SERVER_ADDRESSES>,
    error_types: BoundedLabels<MAX_ERROR_TYPES>,
    bounds: Arc<[f64]>,
    /// One table per address index, [`OTHER_ADDRESS`] last; allocated on the address's first call.
    by_address: [OnceLock<Box<AddressSeries>>; MAX_SERVER_ADDRESSES + 1],
}

/// (method, status, error type) packed in a non-zero `u32`: method index + 1 in the top byte, the
/// error code in the next one, the status code (0 for none) in the low half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SeriesKey(u32);

impl SeriesKey {
    fn new(method: MethodLabel, status: Option<StatusCode>, error: u32) -> Self {
        let method = method.index() as u32 + 1;
        let status = u32::from(status.map_or(0, |status| status.as_u16()));
        Self((method << 24) | (error << 16) | status)
    }

    fn method(self) -> Option<MethodLabel> {
        MethodLabel::from_index((self.0 >> 24) as usize - 1)
    }

    fn error(self) -> u32 {
        (self.0 >> 16) & 0xff
    }

    fn status(self) -> Option<u16> {
        Some((self.0 & 0xffff) as u16).filter(|status| *status != 0)
    }
}

#[derive(Default)]
struct AddressSeries {
    /// Append-only: a slot's key is claimed once with a compare-and-swap and never changes.
    slots: [Slot; SLOTS],
    overflow: Mutex<Vec<(SeriesKey, AtomicHistogram)>>,
}

#[derive(Default)]
struct Slot {
    key: AtomicU32,
    histogram: OnceLock<AtomicHistogram>,
}

/// One series, as read at scrape time.
pub(crate) struct Series<'a> {
    pub(crate) method: MethodLabel,
    pub(crate) server_address: &'a str,
    pub(crate) status: Option<u16>,
    pub(crate) error_type: Option<&'a str>,
    pub(crate) histogram: AtomicHistogram,
}

impl ClientSeries {
    pub(crate) fn new() -> Self {
        Self {
            addresses: BoundedLabels::new(),
            error_types: BoundedLabels::new(),
            bounds: Arc::from(&HTTP_DURATION_BUCKETS[..]),
            by_address: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Records one call.
    #[inline]
    pub(crate) fn record(
        &self,
        method: &Method,
        server_address: &str,
        status: Option<StatusCode>,
        error_type: Option<&str>,
        duration: Duration,
    ) {
        let address = self.addresses.index(server_address).unwrap_or(OTHER_ADDRESS);
        let error = error_type.map_or(0, |error_type| {
            self.error_types
                .index(error_type)
                .map_or(OTHER_ERROR, |index| index as u32 + 1)
        });
        let key = SeriesKey::new(MethodLabel::of(method), status, error);
        let series = self.by_address[address].get_or_init(Box::default);
        for slot in &series.slots {
            let mut current = slot.key.load(Ordering::Acquire);
            if current == 0 {
                current = match slot
                    .key
                    .compare_exchange(0, key.0, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => key.0,
                    Err(actual) => actual,
                };
            }
            if current == key.0 {
                let histogram = slot.histogram.get_or_init(|| self.new_histogram());
                histogram.observe_duration(duration);
                return;
            }
        }
        self.record_overflow(series, key, duration);
    }

    #[cold]
    fn record_overflow(&self, series: &AddressSeries, key: SeriesKey, duration: Duration) {
        let mut overflow = series.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, histogram)) = overflow.iter().find(|(known, _)| *known == key) {
            histogram.observe_duration(duration);
        } else {
            let histogram = self.new_histogram();
            histogram.observe_duration(duration);
            overflow.push((key, histogram));
        }
    }

    fn new_histogram(&self) -> AtomicHistogram {
        AtomicHistogram::with_sorted_bounds(Arc::clone(&self.bounds))
    }

    /// Every series with an observation, by address in the order addresses were first seen,
    /// [`OTHER_SERVER_ADDRESS`] last.
    pub(crate) fn series(&self) -> Vec<Series<'_>> {
        let mut all = Vec::new();
        for (address, table) in self.by_address.iter().enumerate() {
            let Some(table) = table.get() else { continue };
            let server_address = match address {
                OTHER_ADDRESS => OTHER_SERVER_ADDRESS,
                index => self.addresses.get(index).unwrap_or(OTHER_SERVER_ADDRESS),
            };
            let claimed = table.slots.iter().filter_map(|slot| {
                let histogram = slot.histogram.get()?;
                Some((SeriesKey(slot.key.load(Ordering::Acquire)), histogram.clone()))
            });
            let overflow = table
                .overflow
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            for (key, histogram) in claimed.chain(overflow) {
                let Some(method) = key.method() else { continue };
                let error_type = match key.error() {
                    0 => None,
                    OTHER_ERROR => Some(OTHER_ERROR_TYPE),
                    code => self.error_types.get(code as usize - 1),
                };
                all.push(Series {
                    method,
                    server_address,
                    status: key.status(),
                    error_type,
                    histogram,
                });
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (method, address, status, error type, count) of every series.
    type Counts = Vec<(String, String, Option<u16>, Option<String>, u64)>;

    fn counts(series: &ClientSeries) -> Counts {
        series
            .series()
            .into_iter()
            .map(|one| {
                (
                    one.method.as_str().to_owned(),
                    one.server_address.to_owned(),
                    one.status,
                    one.error_type.map(str::to_owned),
                    one.histogram.count(),
                )
            })
            .collect()
    }

    #[test]
    fn one_series_per_label_set() {
        let series = ClientSeries::new();
        let ms = Duration::from_millis(1);
        series.record(&Method::GET, "a", Some(StatusCode::OK), None, ms);
        series.record(&Method::GET, "a", Some(StatusCode::OK), None, ms);
        series.record(&Method::POST, "a", Some(StatusCode::OK), None, ms);
        series.record(&Method::GET, "b", None, Some("timeout"), ms);
        series.record(
            &Method::from_bytes(b"PURGE").unwrap(),
            "b",
            Some(StatusCode::OK),
            None,
            ms,
        );
        assert_eq!(
            counts(&series),
            vec![
                ("GET".into(), "a".into(), Some(200), None, 2),
                ("POST".into(), "a".into(), Some(200), None, 1),
                ("GET".into(), "b".into(), None, Some("timeout".into()), 1),
                ("_OTHER".into(), "b".into(), Some(200), None, 1),
            ]
        );
    }

    #[test]
    fn addresses_and_error_types_are_capped() {
        let series = ClientSeries::new();
        let ms = Duration::from_millis(1);
        for address in 0..MAX_SERVER_ADDRESSES + 10 {
            series.record(
                &Method::GET,
                &format!("host-{address}"),
                Some(StatusCode::OK),
                None,
                ms,
            );
        }
        for error in 0..MAX_ERROR_TYPES + 3 {
            series.record(&Method::GET, "host-0", None, Some(&format!("e{error}")), ms);
        }
        let all = counts(&series);
        let addresses: std::collections::BTreeSet<_> = all.iter().map(|one| one.1.clone()).collect();
        assert_eq!(addresses.len(), MAX_SERVER_ADDRESSES + 1);
        let other = all.iter().find(|one| one.1 == OTHER_SERVER_ADDRESS).unwrap();
        assert_eq!(other.4, 10);
        let errors: Vec<_> = all.iter().filter_map(|one| one.3.clone()).collect();
        assert_eq!(errors.len(), MAX_ERROR_TYPES + 1);
        let other_error = all
            .iter()
            .find(|one| one.3.as_deref() == Some(OTHER_ERROR_TYPE))
            .unwrap();
        assert_eq!(other_error.4, 3);
    }

    #[test]
    fn label_sets_beyond_the_slots_overflow_without_loss() {
        let series = ClientSeries::new();
        for round in 0..2 {
            for code in 100..(100 + SLOTS as u16 + 5) {
                let status = StatusCode::from_u16(code).unwrap();
                series.record(&Method::GET, "a", Some(status), None, Duration::from_secs(round));
            }
        }
        let all = counts(&series);
        assert_eq!(all.len(), SLOTS + 5);
        assert!(all.iter().all(|one| one.4 == 2));
    }
}
