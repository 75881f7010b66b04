//! [`BoundedLabels`]: the first `N` distinct values of a free-form label, interned without a lock.

use std::sync::OnceLock;

/// Up to `N` label values, each claimed once by the first request that carries it and never
/// changed. Finding a known value is a scan of at most `N` string comparisons; the first
/// occurrence of a value allocates its copy. Beyond `N` values, [`index`](Self::index) says
/// `None`: the caller then uses its "other" value.
pub(crate) struct BoundedLabels<const N: usize> {
    values: [OnceLock<Box<str>>; N],
}

impl<const N: usize> BoundedLabels<N> {
    pub(crate) fn new() -> Self {
        Self {
            values: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Position of `value`, claiming a free slot for it if it is new; `None` when all `N` slots
    /// hold other values.
    #[inline]
    pub(crate) fn index(&self, value: &str) -> Option<usize> {
        for (index, slot) in self.values.iter().enumerate() {
            // Claims the slot if empty. Two new values racing for one slot: one wins, the other
            // sees it and moves on to the next slot.
            let claimed = slot.get_or_init(|| Box::from(value));
            if **claimed == *value {
                return Some(index);
            }
        }
        None
    }

    /// The value at `index`, if claimed.
    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        self.values.get(index)?.get().map(|value| &**value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_values_are_kept_the_rest_refused() {
        let labels = BoundedLabels::<2>::new();
        assert_eq!(labels.index("a"), Some(0));
        assert_eq!(labels.index("b"), Some(1));
        assert_eq!(labels.index("a"), Some(0));
        assert_eq!(labels.index("c"), None);
        assert_eq!(labels.get(1), Some("b"));
        assert_eq!(labels.get(2), None);
    }

    #[test]
    fn concurrent_claims_give_each_value_one_slot() {
        let labels = BoundedLabels::<8>::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for value in ["x", "y", "z"] {
                        labels.index(value);
                    }
                });
            }
        });
        let claimed: Vec<_> = (0..8).filter_map(|index| labels.get(index)).collect();
        assert_eq!(claimed.len(), 3);
        for value in ["x", "y", "z"] {
            assert!(claimed.contains(&value));
        }
    }
}
