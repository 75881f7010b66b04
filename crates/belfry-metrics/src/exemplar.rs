//! OpenMetrics exemplars: the trace id of one sampled observation per histogram bucket, stored
//! without a lock ([`ExemplarSlot`]) and written after the bucket lines at scrape time
//! ([`ScrapeExemplars`], [`insert_exemplars`]).
//!
//! prometheus-client 0.25 can write exemplars, but its `Exemplar` type has no public
//! constructor: only its own locked `HistogramWithExemplars` makes them. So the collector notes,
//! while it encodes, the exemplar of every bucket line it writes (in order), and the scrape adds
//! them to those lines afterwards. Only scrapes armed with [`ScrapeExemplars::start`] collect any;
//! a registry encoded by other code gets the histograms without exemplars.

use std::{
    cell::RefCell,
    fmt::{self, Write},
    sync::atomic::{fence, AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::EXEMPLAR_TRACE_ID_LABEL;

/// One exemplar as read at scrape time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ExemplarSample {
    pub(crate) trace_id: [u8; 16],
    pub(crate) value: f64,
    /// Nanoseconds since the Unix epoch.
    pub(crate) timestamp_nanos: u64,
}

impl fmt::Display for ExemplarSample {
    /// ` # {trace_id="…"} value timestamp`, as OpenMetrics writes it after a sample.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " # {{{EXEMPLAR_TRACE_ID_LABEL}=\"")?;
        for byte in self.trace_id {
            write!(f, "{byte:02x}")?;
        }
        let seconds = self.timestamp_nanos / 1_000_000_000;
        let millis = self.timestamp_nanos % 1_000_000_000 / 1_000_000;
        write!(f, "\"}} {:?} {seconds}.{millis:03}", self.value)
    }
}

/// The last exemplar of one bucket: a sequence lock over four atomics (trace id, value,
/// timestamp), so writers never wait and readers never see a torn exemplar.
///
/// The sequence is even when the slot is stable, odd while a writer is in it, 0 before the first
/// write. A writer that finds another one in the slot drops its exemplar rather than wait: the
/// slot keeps "a recent sampled value", which is all an exemplar promises.
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlot {
    sequence: AtomicU64,
    trace_high: AtomicU64,
    trace_low: AtomicU64,
    value_bits: AtomicU64,
    timestamp_nanos: AtomicU64,
}

impl ExemplarSlot {
    /// Replaces the exemplar (timestamped now), unless another writer is in the slot.
    #[inline]
    pub(crate) fn store(&self, trace_id: &[u8; 16], value: f64) {
        let timestamp_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        self.store_at(trace_id, value, timestamp_nanos);
    }

    fn store_at(&self, trace_id: &[u8; 16], value: f64, timestamp_nanos: u64) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        if sequence % 2 == 1
            || self
                .sequence
                .compare_exchange(sequence, sequence + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Orders the odd sequence before the data: a reader that sees any of the new data then
        // sees the sequence moved.
        fence(Ordering::Release);
        let (high, low) = trace_id.split_at(8);
        let word = |bytes: &[u8]| u64::from_be_bytes(bytes.try_into().unwrap_or_default());
        self.trace_high.store(word(high), Ordering::Relaxed);
        self.trace_low.store(word(low), Ordering::Relaxed);
        self.value_bits.store(value.to_bits(), Ordering::Relaxed);
        self.timestamp_nanos.store(timestamp_nanos, Ordering::Relaxed);
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    /// The exemplar, if one was ever stored. A read racing a write retries a few times, then
    /// gives up (the next scrape will see it).
    pub(crate) fn load(&self) -> Option<ExemplarSample> {
        for _ in 0..8 {
            let before = self.sequence.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let high = self.trace_high.load(Ordering::Relaxed);
            let low = self.trace_low.load(Ordering::Relaxed);
            let value = f64::from_bits(self.value_bits.load(Ordering::Relaxed));
            let timestamp_nanos = self.timestamp_nanos.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                let mut trace_id = [0u8; 16];
                trace_id[..8].copy_from_slice(&high.to_be_bytes());
                trace_id[8..].copy_from_slice(&low.to_be_bytes());
                return Some(ExemplarSample {
                    trace_id,
                    value,
                    timestamp_nanos,
                });
            }
        }
        None
    }
}

thread_local! {
    /// The exemplars of the bucket lines written so far by the scrape running on this thread,
    /// one entry per bucket line; `None` when no scrape armed collection.
    static SCRAPE: RefCell<Option<Vec<Option<ExemplarSample>>>> = const { RefCell::new(None) };
}

/// Collection of the exemplars of one scrape, on the scrape's thread (encoding is synchronous).
/// Dropping it disarms collection, whatever happened in between.
pub(crate) struct ScrapeExemplars(());

impl ScrapeExemplars {
    pub(crate) fn start() -> Self {
        SCRAPE.with(|scrape| *scrape.borrow_mut() = Some(Vec::new()));
        Self(())
    }

    /// Whether the running encode collects exemplars.
    pub(crate) fn armed() -> bool {
        SCRAPE.with(|scrape| scrape.borrow().is_some())
    }

    /// Notes the exemplars of the bucket lines just written, in order.
    pub(crate) fn record(buckets: impl IntoIterator<Item = Option<ExemplarSample>>) {
        SCRAPE.with(|scrape| {
            if let Some(lines) = scrape.borrow_mut().as_mut() {
                lines.extend(buckets);
            }
        });
    }

    /// The exemplars noted, one per bucket line.
    pub(crate) fn finish(self) -> Vec<Option<ExemplarSample>> {
        SCRAPE
            .with(|scrape| scrape.borrow_mut().take())
            .unwrap_or_default()
    }
}

impl Drop for ScrapeExemplars {
    fn drop(&mut self) {
        SCRAPE.with(|scrape| scrape.borrow_mut().take());
    }
}

/// Appends `exemplars[k]` to the `k`-th `{family}_bucket{…}` line of `text`. Nothing changes when
/// there is no exemplar.
pub(crate) fn insert_exemplars(text: String, family: &str, exemplars: &[Option<ExemplarSample>]) -> String {
    if exemplars.iter().all(Option::is_none) {
        return text;
    }
    let mut with = String::with_capacity(text.len() + 96 * exemplars.len());
    let mut bucket_lines = exemplars.iter().copied().peekable();
    for line in text.split_inclusive('\n') {
        let is_bucket = line
            .strip_prefix(family)
            .is_some_and(|rest| rest.starts_with("_bucket{"));
        match bucket_lines.next_if(|_| is_bucket).flatten() {
            Some(exemplar) => {
                with.push_str(line.trim_end_matches('\n'));
                let _ = write!(with, "{exemplar}");
                with.push('\n');
            }
            None => with.push_str(line),
        }
    }
    with
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: [u8; 16] = [
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
    ];

    #[test]
    fn a_slot_is_empty_until_written_and_keeps_the_last_write() {
        let slot = ExemplarSlot::default();
        assert_eq!(slot.load(), None);
        slot.store_at(&[1; 16], 0.5, 7);
        slot.store_at(&TRACE, 0.042, 1_733_000_000_123_456_789);
        assert_eq!(
            slot.load(),
            Some(ExemplarSample {
                trace_id: TRACE,
                value: 0.042,
                timestamp_nanos: 1_733_000_000_123_456_789
            })
        );
    }

    #[test]
    fn formats_as_openmetrics() {
        let sample = ExemplarSample {
            trace_id: TRACE,
            value: 0.042,
            timestamp_nanos: 1_733_000_000_123_456_789,
        };
        assert_eq!(
            sample.to_string(),
            r#" # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.042 1733000000.123"#
        );
    }

    #[test]
    fn concurrent_writers_and_readers_never_tear() {
        let slot = ExemplarSlot::default();
        std::thread::scope(|scope| {
            for writer in 1..=3u8 {
                let slot = &slot;
                scope.spawn(move || {
                    for _ in 0..20_000 {
                        // Every field derives from the writer, so a torn read is detectable.
                        slot.store_at(&[writer; 16], f64::from(writer), u64::from(writer) * 1000);
                    }
                });
            }
            scope.spawn(|| {
                for _ in 0..20_000 {
                    if let Some(sample) = slot.load() {
                        let writer = sample.trace_id[0];
                        assert!(sample.trace_id.iter().all(|byte| *byte == writer));
                        assert_eq!(sample.value, f64::from(writer));
                        assert_eq!(sample.timestamp_nanos, u64::from(writer) * 1000);
                    }
                }
            });
        });
        assert!(slot.load().is_some());
    }

    #[test]
    fn exemplars_go_after_the_matching_bucket_lines_only() {
        let text = "# TYPE h histogram\nh_sum 1.0\nh_count 2\nh_bucket{a=\"x\",le=\"1.0\"} 1\n\
                    h_bucket{a=\"x\",le=\"+Inf\"} 2\nhh_bucket{le=\"1.0\"} 1\n# EOF\n";
        let sample = ExemplarSample {
            trace_id: TRACE,
            value: 2.5,
            timestamp_nanos: 1_000_000_000,
        };
        let with = insert_exemplars(text.to_owned(), "h", &[None, Some(sample)]);
        assert_eq!(
            with,
            "# TYPE h histogram\nh_sum 1.0\nh_count 2\nh_bucket{a=\"x\",le=\"1.0\"} 1\n\
             h_bucket{a=\"x\",le=\"+Inf\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 2.5 1.000\n\
             hh_bucket{le=\"1.0\"} 1\n# EOF\n"
        );
        assert_eq!(insert_exemplars(text.to_owned(), "h", &[None, None]), text);
    }

    #[test]
    fn collection_happens_only_while_armed() {
        ScrapeExemplars::record([None]);
        assert!(!ScrapeExemplars::armed());
        let scrape = ScrapeExemplars::start();
        assert!(ScrapeExemplars::armed());
        ScrapeExemplars::record([None, None]);
        assert_eq!(scrape.finish().len(), 2);
        assert!(!ScrapeExemplars::armed());
    }
}
