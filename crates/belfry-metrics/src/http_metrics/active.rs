//! [`ActiveRequests`]: the in-flight request gauge, one atomic per method label.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use super::method::{MethodLabel, METHOD_LABELS};

/// In-flight requests by method: a fixed array of atomics, so no lookup and no lock. A method's
/// series is exposed from its first request on.
#[derive(Debug, Default)]
pub(crate) struct ActiveRequests {
    counts: [AtomicI64; METHOD_LABELS],
    seen: [AtomicBool; METHOD_LABELS],
}

impl ActiveRequests {
    #[inline]
    pub(crate) fn increment(&self, method: MethodLabel) {
        let index = method.index();
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        // A plain load first: after the first request this never writes the shared line.
        if !self.seen[index].load(Ordering::Relaxed) {
            self.seen[index].store(true, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn decrement(&self, method: MethodLabel) {
        self.counts[method.index()].fetch_sub(1, Ordering::Relaxed);
    }

    /// `(method, in flight)` for every method seen so far.
    pub(crate) fn snapshot(&self) -> impl Iterator<Item = (MethodLabel, i64)> + '_ {
        (0..METHOD_LABELS)
            .filter(|index| self.seen[*index].load(Ordering::Relaxed))
            .filter_map(|index| {
                let method = MethodLabel::from_index(index)?;
                Some((method, self.counts[index].load(Ordering::Relaxed)))
            })
    }

    /// In flight for one method.
    #[cfg(test)]
    pub(crate) fn get(&self, method: MethodLabel) -> i64 {
        self.counts[method.index()].load(Ordering::Relaxed)
    }
}
