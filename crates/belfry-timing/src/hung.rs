//! Hung-request detection without a timer per request.
//!
//! Each request in flight claims one slot of a fixed table ([`HungRequestWatch`]): one
//! compare-and-swap at the start, one store at the end. A single background thread wakes every
//! quarter of the threshold (between 10 ms and 1 s), scans the table, marks the slots of
//! requests older than the threshold as due, and wakes their tasks. The woken request's own
//! future notices that it is due and logs `request still running` inside its span, with its own
//! request id, route and method — the watcher thread never formats anything.
//!
//! Cost on the request path: two atomic operations on a slot of its own cache line, plus a waker
//! registration only on polls that return `Pending`. No allocation, no lock, no timer. When the
//! table is full (more requests in flight than slots), a request goes unwatched rather than
//! waiting; [`HungRequestWatch::unwatched`] counts them.

use std::{
    cell::Cell,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Once, Weak,
    },
    task::Waker,
    time::{Duration, Instant},
};

use futures_util::task::AtomicWaker;

/// Slots probed before a request gives up on being watched.
const PROBES: usize = 8;

/// Bit 0 of a slot's state: the watcher found the request due.
const DUE: u64 = 1;

/// One request in flight: `state` is 0 when free, else `(start_ms + 1) << 1 | DUE?`.
#[repr(align(64))]
#[derive(Default)]
struct Slot {
    state: AtomicU64,
    waker: AtomicWaker,
}

/// The table of requests in flight, and the thread that watches it. Shared by every clone of an
/// access-log layer; see the [module docs](self).
pub(crate) struct HungRequestWatch {
    slots: Box<[Slot]>,
    epoch: Instant,
    threshold: Duration,
    unwatched: AtomicU64,
    watcher: Once,
}

thread_local! {
    /// Where this thread starts probing, so threads mostly stay on their own cache lines.
    static NEXT_SLOT: Cell<usize> = Cell::new(thread_seed());
}

fn thread_seed() -> usize {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::thread::current().id()) as usize
}

impl HungRequestWatch {
    pub(crate) fn new(threshold: Duration, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: (0..capacity.max(PROBES)).map(|_| Slot::default()).collect(),
            epoch: Instant::now(),
            threshold,
            unwatched: AtomicU64::new(0),
            watcher: Once::new(),
        })
    }

    pub(crate) fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Requests that found no free slot since start.
    pub(crate) fn unwatched(&self) -> u64 {
        self.unwatched.load(Ordering::Relaxed)
    }

    fn millis_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX >> 2)
    }

    /// Claims a slot for a request that started at `start`; `None` when the table is full.
    pub(crate) fn register(self: &Arc<Self>, start: Instant) -> Option<usize> {
        self.watcher.call_once(|| spawn_watcher(Arc::downgrade(self)));
        let state = (self.millis_since_epoch(start) + 1) << 1;
        let len = self.slots.len();
        let first = NEXT_SLOT.with(|next| {
            let first = next.get();
            next.set(first.wrapping_add(1));
            first
        });
        for probe in 0..PROBES {
            let index = first.wrapping_add(probe) % len;
            let slot = &self.slots[index];
            if slot
                .state
                .compare_exchange(0, state, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some(index);
            }
        }
        self.unwatched.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Whether the watcher found the request in `index` due.
    pub(crate) fn is_due(&self, index: usize) -> bool {
        self.slots[index].state.load(Ordering::Acquire) & DUE != 0
    }

    /// Lets the watcher wake the request's task.
    pub(crate) fn set_waker(&self, index: usize, waker: &Waker) {
        self.slots[index].waker.register(waker);
    }

    /// Frees the slot of a finished request.
    pub(crate) fn release(&self, index: usize) {
        let slot = &self.slots[index];
        // Drop the waker first, so the next request in this slot never wakes an old task.
        drop(slot.waker.take());
        slot.state.store(0, Ordering::Release);
    }

    /// One scan: marks requests older than the threshold as due and wakes them. Returns how many.
    fn scan(&self, now: Instant) -> usize {
        let now_ms = self.millis_since_epoch(now);
        let threshold_ms = u64::try_from(self.threshold.as_millis()).unwrap_or(u64::MAX);
        let mut woken = 0;
        for slot in self.slots.iter() {
            let state = slot.state.load(Ordering::Acquire);
            if state == 0 || state & DUE != 0 {
                continue;
            }
            let start_ms = (state >> 1) - 1;
            if now_ms.saturating_sub(start_ms) < threshold_ms {
                continue;
            }
            if slot
                .state
                .compare_exchange(state, state | DUE, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.waker.wake();
                woken += 1;
            }
        }
        woken
    }

    fn tick(&self) -> Duration {
        (self.threshold / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// The watcher thread: lives as long as the table, scanning it every tick.
fn spawn_watcher(watch: Weak<HungRequestWatch>) {
    let spawned = std::thread::Builder::new()
        .name("belfry-hung-watch".to_owned())
        .spawn(move || loop {
            let Some(tick) = watch.upgrade().map(|watch| watch.tick()) else {
                return;
            };
            std::thread::sleep(tick);
            match watch.upgrade() {
                Some(watch) => {
                    watch.scan(Instant::now());
                }
                None => return,
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not start the hung-request watcher; hung requests will not be reported");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        sync::atomic::AtomicUsize,
        task::{Wake, Waker},
    };

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn due_requests_are_marked_and_woken_once() {
        let watch = HungRequestWatch::new(Duration::from_secs(60), 16);
        let start = Instant::now();
        let index = watch.register(start).unwrap();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        watch.set_waker(index, &Waker::from(counter.clone()));

        assert_eq!(watch.scan(start + Duration::from_secs(59)), 0);
        assert!(!watch.is_due(index));
        assert_eq!(watch.scan(start + Duration::from_secs(61)), 1);
        assert!(watch.is_due(index));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(watch.scan(start + Duration::from_secs(120)), 0, "woken once");

        watch.release(index);
        assert!(!watch.is_due(index));
    }

    #[test]
    fn a_full_table_leaves_requests_unwatched() {
        let watch = HungRequestWatch::new(Duration::from_secs(60), PROBES);
        let start = Instant::now();
        let claimed: Vec<_> = (0..PROBES).map(|_| watch.register(start).unwrap()).collect();
        assert_eq!(watch.register(start), None);
        assert_eq!(watch.unwatched(), 1);
        watch.release(claimed[0]);
        assert!(watch.register(start).is_some());
    }

    #[test]
    fn released_slots_are_reused() {
        let watch = HungRequestWatch::new(Duration::from_secs(60), 8);
        for _ in 0..1000 {
            let index = watch.register(Instant::now()).unwrap();
            watch.release(index);
        }
        assert_eq!(watch.unwatched(), 0);
    }
}
