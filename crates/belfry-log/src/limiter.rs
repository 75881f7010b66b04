//! [`CallsiteLimit`]: a callsite logging more than its limit per second has the excess
//! suppressed, and each second's suppressed lines summarised by one line at the same level.
//!
//! A loop that logs on every iteration can write a million lines a second, fill the log
//! pipeline and crowd out every other line. With the limit (belfry's default: 100 lines per
//! second and callsite — generous for a loop; a handler's per-request line is cut above 100
//! requests a second),
//! the lines past it in a second are counted and, once that second is over, one line says:
//!
//! ```text
//! {"timestamp":"…","level":"INFO","target":"demo::flood","message":"suppressed 9,871 lines like this in the last second","suppressed":9871,"callsite":"src/flood.rs:20","like":"flood line 10099"}
//! ```
//!
//! at the callsite's level and with its target; `like` is the message of the callsite's line
//! that follows the second (absent when the summary is written because another callsite logged
//! after a quiet end). Suppressed lines are counted per level ([`JsonLines::suppressed`](crate::JsonLines::suppressed)).
//!
//! The table is fixed ([`CALLSITE_SLOTS`] slots, keyed by the address of the callsite's static
//! metadata, direct-mapped): memory does not grow with the number of callsites. Two callsites
//! on one slot: the one that does not own it is let through unlimited while the owner is active
//! (letting a line through is better than suppressing an innocent one), and takes the slot
//! over once the owner has been quiet for a second.
//!
//! Cost when nothing floods: a relaxed load of the slot's owner and one relaxed `fetch_add` of
//! its count per event, and a relaxed load of the pending-summary flag; the clock is the one the
//! line's timestamp reads anyway. Exempt targets (the access log, audit events) are compared only
//! when a line would be suppressed. Records of the `log` crate share one callsite per level
//! (tracing-log's) and are not limited.

use std::sync::{
    atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering},
    Arc,
};

use tracing::Metadata;

use crate::writer::{level_index, DroppedLines};

/// Slots of the callsite table.
pub const CALLSITE_SLOTS: usize = 1024;

/// The limit on lines per second and callsite given to [`JsonLines::limit_callsites`](crate::JsonLines::limit_callsites).
///
/// ```
/// let limit = belfry_log::CallsiteLimit::per_second(100).exempt("belfry::access");
/// assert_eq!(limit.lines_per_second(), 100);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallsiteLimit {
    per_second: u32,
    exempt: Vec<&'static str>,
}

impl CallsiteLimit {
    /// At most `lines` lines per second from one callsite; 0: no limit.
    pub fn per_second(lines: u32) -> Self {
        Self {
            per_second: lines,
            exempt: Vec::new(),
        }
    }

    /// Events with target `target` are never suppressed.
    pub fn exempt(mut self, target: &'static str) -> Self {
        self.exempt.push(target);
        self
    }

    /// The limit (0: none).
    pub fn lines_per_second(&self) -> u32 {
        self.per_second
    }
}

/// What the limiter says about one event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Write,
    Suppress,
}

/// A summary to write: `suppressed` lines of `metadata`'s callsite in the second before.
pub(crate) struct Summary {
    pub(crate) metadata: &'static Metadata<'static>,
    pub(crate) suppressed: u64,
}

struct Slot {
    callsite: AtomicPtr<Metadata<'static>>,
    /// `second << 32 | lines in that second`.
    window: AtomicU64,
    /// Suppressed lines not yet summarised (all from the `window` second or the one before).
    suppressed: AtomicU64,
}

pub(crate) struct Limiter {
    per_second: u64,
    exempt: Vec<&'static str>,
    slots: Box<[Slot]>,
    /// The earliest second with suppressed lines not yet summarised; `u32::MAX`: none.
    pending: AtomicU32,
    counts: [AtomicU64; 5],
}

/// Lines suppressed since start, per level, of one [`JsonLines`](crate::JsonLines) layer.
#[derive(Clone)]
pub struct SuppressedLines(Option<Arc<Limiter>>);

impl std::fmt::Debug for SuppressedLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SuppressedLines").field(&self.counts()).finish()
    }
}

impl SuppressedLines {
    /// Lines suppressed per level (all zero without a limit).
    pub fn counts(&self) -> DroppedLines {
        match &self.0 {
            Some(limiter) => {
                DroppedLines::from_counts(std::array::from_fn(|i| limiter.counts[i].load(Ordering::Relaxed)))
            }
            None => DroppedLines::default(),
        }
    }

    pub(crate) fn new(limiter: Option<Arc<Limiter>>) -> Self {
        Self(limiter)
    }
}

impl Limiter {
    pub(crate) fn new(limit: &CallsiteLimit) -> Option<Arc<Self>> {
        if limit.per_second == 0 {
            return None;
        }
        Some(Arc::new(Self {
            per_second: u64::from(limit.per_second),
            exempt: limit.exempt.clone(),
            slots: (0..CALLSITE_SLOTS)
                .map(|_| Slot {
                    callsite: AtomicPtr::new(std::ptr::null_mut()),
                    window: AtomicU64::new(0),
                    suppressed: AtomicU64::new(0),
                })
                .collect(),
            pending: AtomicU32::new(u32::MAX),
            counts: Default::default(),
        }))
    }

    /// Counts one line of `metadata`'s callsite in `second` (seconds since the Unix epoch);
    /// `summary` gets the summary of this callsite's previous second, if lines were suppressed.
    #[inline]
    pub(crate) fn check(
        &self,
        metadata: &'static Metadata<'static>,
        second: u32,
        summary: &mut Option<Summary>,
    ) -> Verdict {
        let address = metadata as *const Metadata<'static> as *mut Metadata<'static>;
        let slot = &self.slots[(address as usize >> 4) % CALLSITE_SLOTS];
        let owner = slot.callsite.load(Ordering::Relaxed);
        if owner != address {
            let active = (slot.window.load(Ordering::Relaxed) >> 32) as u32 + 1 >= second;
            if !owner.is_null() && active {
                return Verdict::Write;
            }
            if slot
                .callsite
                .compare_exchange(owner, address, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return Verdict::Write;
            }
            // The quiet owner's last summary, if any, goes out now.
            let left = slot.suppressed.swap(0, Ordering::AcqRel);
            if left > 0 && !owner.is_null() {
                // SAFETY: `owner` was stored from a `&'static Metadata<'static>`.
                let metadata = unsafe { &*owner };
                *summary = Some(Summary {
                    metadata,
                    suppressed: left,
                });
            }
            slot.window.store(u64::from(second) << 32 | 1, Ordering::Relaxed);
            return Verdict::Write;
        }
        let window = slot.window.fetch_add(1, Ordering::Relaxed);
        if (window >> 32) as u32 != second {
            // This callsite's first line this second: a new window, and the last one's summary.
            slot.window.store(u64::from(second) << 32 | 1, Ordering::Relaxed);
            let suppressed = slot.suppressed.swap(0, Ordering::AcqRel);
            if suppressed > 0 {
                *summary = Some(Summary { metadata, suppressed });
            }
            return Verdict::Write;
        }
        if (window & u64::from(u32::MAX)) < self.per_second || self.exempt.contains(&metadata.target()) {
            return Verdict::Write;
        }
        slot.suppressed.fetch_add(1, Ordering::Relaxed);
        self.counts[level_index(*metadata.level())].fetch_add(1, Ordering::Relaxed);
        self.pending.fetch_min(second, Ordering::Relaxed);
        Verdict::Suppress
    }

    /// Whether some callsite's suppressed lines of a second before `second` still want their
    /// summary: one relaxed load.
    #[inline]
    pub(crate) fn summaries_pending(&self, second: u32) -> bool {
        self.pending.load(Ordering::Relaxed) < second
    }

    /// Takes the summaries of the seconds before `second` (of callsites that did not log since).
    pub(crate) fn take_summaries(&self, second: u32, mut write: impl FnMut(Summary)) {
        self.pending.store(u32::MAX, Ordering::Relaxed);
        for slot in self.slots.iter() {
            if slot.suppressed.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let window_second = (slot.window.load(Ordering::Relaxed) >> 32) as u32;
            if window_second >= second {
                // Still this second: summarised later.
                self.pending.fetch_min(window_second, Ordering::Relaxed);
                continue;
            }
            let owner = slot.callsite.load(Ordering::Acquire);
            let suppressed = slot.suppressed.swap(0, Ordering::AcqRel);
            if suppressed > 0 && !owner.is_null() {
                // SAFETY: `owner` was stored from a `&'static Metadata<'static>`.
                let metadata = unsafe { &*owner };
                write(Summary { metadata, suppressed });
            }
        }
    }

    #[cfg(test)]
    fn suppressed(&self, level: tracing::Level) -> u64 {
        self.counts[level_index(level)].load(Ordering::Relaxed)
    }
}

/// `suppressed 9,871 lines like this in the last second`.
pub(crate) fn summary_message(suppressed: u64) -> String {
    let digits = suppressed.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let lines = if suppressed == 1 { "line" } else { "lines" };
    format!("suppressed {grouped} {lines} like this in the last second")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    struct TestCallsite;
    static TEST_CALLSITE: TestCallsite = TestCallsite;
    impl tracing::callsite::Callsite for TestCallsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("not registered")
        }
    }

    /// A callsite's metadata, leaked: `'static` as a macro's is.
    fn leaked(target: &'static str) -> &'static Metadata<'static> {
        Box::leak(Box::new(Metadata::new(
            "event",
            target,
            Level::INFO,
            Some("src/flood.rs"),
            Some(20),
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&TEST_CALLSITE)),
            tracing::metadata::Kind::EVENT,
        )))
    }

    fn callsites() -> Vec<&'static Metadata<'static>> {
        vec![leaked("flood"), leaked("other"), leaked("third")]
    }

    #[test]
    fn the_excess_is_suppressed_and_summarised_once_the_second_is_over() {
        let limiter = Limiter::new(&CallsiteLimit::per_second(10)).unwrap();
        let flood = callsites()[0];
        let mut summary = None;
        let written = (0..1000)
            .filter(|_| limiter.check(flood, 100, &mut summary) == Verdict::Write)
            .count();
        assert_eq!(written, 10);
        assert!(summary.is_none());
        assert_eq!(limiter.suppressed(Level::INFO), 990);
        assert!(!limiter.summaries_pending(100));
        assert!(limiter.summaries_pending(101));
        // The callsite's next line, a second later, brings the summary.
        assert_eq!(limiter.check(flood, 101, &mut summary), Verdict::Write);
        assert_eq!(summary.take().map(|summary| summary.suppressed), Some(990));
        assert_eq!(
            summary_message(9871),
            "suppressed 9,871 lines like this in the last second"
        );
    }

    #[test]
    fn a_quiet_end_is_summarised_when_another_callsite_logs() {
        let limiter = Limiter::new(&CallsiteLimit::per_second(1)).unwrap();
        let [flood, other, ..] = callsites()[..] else {
            unreachable!()
        };
        let mut summary = None;
        for _ in 0..5 {
            limiter.check(flood, 7, &mut summary);
        }
        assert!(limiter.summaries_pending(8));
        let mut summaries = Vec::new();
        limiter.take_summaries(8, |summary| {
            summaries.push((summary.metadata.target(), summary.suppressed))
        });
        assert_eq!(summaries, [("flood", 4)]);
        assert!(!limiter.summaries_pending(9));
        assert_eq!(limiter.check(other, 8, &mut summary), Verdict::Write);
    }

    #[test]
    fn exempt_targets_are_never_suppressed() {
        let limiter = Limiter::new(&CallsiteLimit::per_second(1).exempt("flood")).unwrap();
        let flood = callsites()[0];
        let mut summary = None;
        assert!((0..100).all(|_| limiter.check(flood, 1, &mut summary) == Verdict::Write));
    }

    #[test]
    fn the_table_is_fixed_whatever_the_number_of_callsites() {
        let limiter = Limiter::new(&CallsiteLimit::per_second(1)).unwrap();
        assert_eq!(limiter.slots.len(), CALLSITE_SLOTS);
        // 5,000 callsites (leaked metadata stands for static ones): the table does not grow, and
        // each is let through (a new callsite is never suppressed for another's lines).
        let mut summary = None;
        for n in 0..5_000 {
            let metadata = leaked(if n % 2 == 0 { "even" } else { "odd" });
            assert_eq!(limiter.check(metadata, 1, &mut summary), Verdict::Write);
        }
        assert_eq!(limiter.slots.len(), CALLSITE_SLOTS);
        assert_eq!(limiter.suppressed(Level::INFO), 0);
    }

    #[test]
    fn zero_is_no_limit() {
        assert!(Limiter::new(&CallsiteLimit::per_second(0)).is_none());
    }
}
