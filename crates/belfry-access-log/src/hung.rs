//! Hung-request detection without a timer per request, reported from the watcher's own thread.
//!
//! Each request in flight moves what the access log knows of it (its [`RequestData`]: method,
//! route, path, span — the span carries the request id and trace id) into one slot of a fixed
//! table ([`HungRequestWatch`]) when it starts, and takes it back when it ends: one
//! compare-and-swap and one store at each end, on a slot of its own cache line. No allocation,
//! no lock, no timer, no waker.
//!
//! A single background thread wakes every quarter of the threshold (between 10 ms and 1 s) and
//! scans the table. For a request older than the threshold it locks the slot (a bit of the
//! slot's state), clones the request's data, unlocks, and writes `request still running` itself,
//! inside the request's span. So a request is reported whether its handler is awaiting, blocked
//! on its thread (`std::thread::sleep`, a CPU-bound loop) or its body stalls between chunks:
//! nothing depends on the request's task being polled. The owner finding the slot locked when
//! it ends spins for the few hundred nanoseconds the clone takes.
//!
//! When the table is full (more requests in flight than slots), a request keeps its data and
//! goes unwatched rather than waiting; [`HungRequestWatch::unwatched`] counts them.

use std::{
    cell::{Cell, UnsafeCell},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Once, Weak,
    },
    time::{Duration, Instant},
};

use belfry_scrub::ScrubPolicy;

use crate::record::RequestData;

/// Slots probed before a request gives up on being watched.
const PROBES: usize = 8;

/// Bit 0 of a slot's state: someone (the owner or the watcher) holds the slot's data.
const LOCKED: u64 = 1;
/// Bit 1 of a slot's state: the request has been reported.
const REPORTED: u64 = 2;
/// The start time is stored above the flag bits.
const START_SHIFT: u32 = 2;

/// One request in flight: `state` is 0 when free, else `(start_ms + 1) << 2 | REPORTED? | LOCKED?`.
/// `data` is `Some` while the slot is claimed. It is written only by the request's owner while it
/// holds `LOCKED` (when registering and finishing); the watcher reads it only while it holds
/// `LOCKED`, and the owner may read it at any time between the two (see [`HungRequestWatch::data`]).
#[repr(align(64))]
#[derive(Default)]
struct Slot {
    state: AtomicU64,
    data: UnsafeCell<Option<RequestData>>,
}

// SAFETY: `data` is only written by the thread that holds the slot's `LOCKED` bit (acquired with
// a compare-and-swap, released with a store), and only by the request's owner, which never reads
// it while it writes; everyone else reads it only under `LOCKED`. So a write never overlaps
// another access, reads may overlap reads, and `RequestData` is `Send` and `Sync`.
unsafe impl Sync for Slot {}

// The owner and the watcher may read a slot's data at the same time.
const _: fn() = || {
    fn assert_sync<T: Sync>() {}
    assert_sync::<RequestData>();
};

/// The table of requests in flight, and the thread that watches it. Shared by every clone of an
/// access-log layer; see the [module docs](self).
pub(crate) struct HungRequestWatch {
    slots: Box<[Slot]>,
    epoch: Instant,
    threshold: Duration,
    /// Scrubs the path the `request still running` line shows.
    scrub: ScrubPolicy,
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
    pub(crate) fn new(threshold: Duration, capacity: usize, scrub: ScrubPolicy) -> Arc<Self> {
        Arc::new(Self {
            slots: (0..capacity.max(PROBES)).map(|_| Slot::default()).collect(),
            epoch: Instant::now(),
            threshold,
            scrub,
            unwatched: AtomicU64::new(0),
            watcher: Once::new(),
        })
    }

    /// Requests that found no free slot since start.
    pub(crate) fn unwatched(&self) -> u64 {
        self.unwatched.load(Ordering::Relaxed)
    }

    fn millis_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX >> 3)
    }

    /// Writes the data of a request that started at `start` (made by `make`, in place) into a
    /// free slot and returns its index; `None` when the table is full (`make` is not called).
    pub(crate) fn register(
        self: &Arc<Self>,
        start: Instant,
        make: impl FnOnce() -> RequestData,
    ) -> Option<usize> {
        self.watcher.call_once(|| spawn_watcher(Arc::downgrade(self)));
        let state = (self.millis_since_epoch(start) + 1) << START_SHIFT;
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
                .compare_exchange(0, state | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: this thread holds `LOCKED`.
                unsafe { *slot.data.get() = Some(make()) };
                slot.state.store(state, Ordering::Release);
                return Some(index);
            }
        }
        self.unwatched.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Runs `f` on the data of a finished request where it lies, then drops it and frees the
    /// slot. The watcher skips a slot held this way.
    pub(crate) fn finish<R>(&self, index: usize, f: impl FnOnce(&RequestData) -> R) -> R {
        let slot = &self.slots[index];
        let mut spins = 0_u32;
        loop {
            let state = slot.state.load(Ordering::Relaxed);
            if state & LOCKED == 0
                && slot
                    .state
                    .compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                break;
            }
            // The watcher holds the slot for one clone of the data.
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        /// Frees the slot even if `f` unwinds.
        struct Free<'a>(&'a Slot);
        impl Drop for Free<'_> {
            fn drop(&mut self) {
                // SAFETY: this thread holds `LOCKED`.
                unsafe { *self.0.data.get() = None };
                self.0.state.store(0, Ordering::Release);
            }
        }
        let _free = Free(slot);
        // SAFETY: this thread holds `LOCKED` until `_free` drops.
        let data = unsafe { (*slot.data.get()).as_ref() };
        f(data.expect("a claimed slot holds its request's data"))
    }

    /// The data of the request in `index`, read by its owner between [`register`](Self::register)
    /// and [`finish`](Self::finish) without taking the slot: only the owner writes it, and the
    /// watcher only reads it.
    ///
    /// # Safety
    ///
    /// `index` must be the slot of a request registered by the caller's record and not finished
    /// or released while the reference lives.
    pub(crate) unsafe fn data(&self, index: usize) -> Option<&RequestData> {
        // SAFETY: the slot is claimed by the caller (see above), so only the caller could write
        // `data`, and it does not while the reference lives.
        unsafe { (*self.slots[index].data.get()).as_ref() }
    }

    /// Frees the slot of a request that ends without a line.
    pub(crate) fn release(&self, index: usize) {
        self.finish(index, |_| ());
    }

    /// Whether the request in `index` has been reported as still running.
    #[cfg(test)]
    fn is_reported(&self, index: usize) -> bool {
        self.slots[index].state.load(Ordering::Acquire) & REPORTED != 0
    }

    /// One scan: reports requests older than the threshold, once each. Returns how many.
    fn scan(&self, now: Instant) -> usize {
        let now_ms = self.millis_since_epoch(now);
        let threshold_ms = u64::try_from(self.threshold.as_millis()).unwrap_or(u64::MAX);
        let mut reported = 0;
        for slot in self.slots.iter() {
            let state = slot.state.load(Ordering::Relaxed);
            if state == 0 || state & (LOCKED | REPORTED) != 0 {
                continue;
            }
            let start_ms = (state >> START_SHIFT) - 1;
            let elapsed_ms = now_ms.saturating_sub(start_ms);
            if elapsed_ms < threshold_ms {
                continue;
            }
            if slot
                .state
                .compare_exchange(
                    state,
                    state | LOCKED | REPORTED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            // SAFETY: this thread holds `LOCKED`.
            let data = unsafe { (*slot.data.get()).clone() };
            slot.state.store(state | REPORTED, Ordering::Release);
            // Written outside the lock: the owner may end meanwhile, the clone stays valid.
            if let Some(data) = data {
                data.warn_still_running(Duration::from_millis(elapsed_ms), self.threshold, &self.scrub);
                reported += 1;
            }
        }
        reported
    }

    fn tick(&self) -> Duration {
        (self.threshold / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}
/// The watcher thread: lives as long as the table, scanning it every tick. It logs through the
/// dispatcher that was current where the first request was registered (each report also goes
/// to its request span's own dispatcher; see `RequestData::warn_still_running`).
fn spawn_watcher(watch: Weak<HungRequestWatch>) {
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let spawned = std::thread::Builder::new()
        .name("belfry-hung-watch".to_owned())
        .spawn(move || {
            let _dispatch = tracing::dispatcher::set_default(&dispatch);
            loop {
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
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not start the hung-request watcher; hung requests will not be reported");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{capture_events, data_for};

    #[test]
    fn due_requests_are_reported_once_from_the_scan() {
        let watch = HungRequestWatch::new(Duration::from_secs(60), 16, ScrubPolicy::default());
        let (events, ()) = capture_events(|| {
            let start = Instant::now();
            let index = watch
                .register(start, || data_for("/hung/{id}", "/hung/7"))
                .unwrap();
            assert_eq!(watch.scan(start + Duration::from_secs(59)), 0);
            assert!(!watch.is_reported(index));
            assert_eq!(watch.scan(start + Duration::from_secs(61)), 1);
            assert!(watch.is_reported(index));
            assert_eq!(watch.scan(start + Duration::from_secs(120)), 0, "reported once");
            let route = watch.finish(index, |data| data.route_for_test().map(str::to_owned));
            assert_eq!(route.as_deref(), Some("/hung/{id}"));
            assert_eq!(
                watch.scan(start + Duration::from_secs(180)),
                0,
                "a free slot is skipped"
            );
        });
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert!(event.starts_with("request still running "), "{event}");
        assert!(
            event.contains("http.route=\"/hung/{id}\"") || event.contains("http.route=/hung/{id}"),
            "{event}"
        );
        assert!(event.contains("elapsed_ms=61000"), "{event}");
        assert!(event.contains("threshold_ms=60000"), "{event}");
    }

    #[test]
    fn a_full_table_leaves_requests_unwatched() {
        let watch = HungRequestWatch::new(Duration::from_secs(60), PROBES, ScrubPolicy::default());
        let start = Instant::now();
        let claimed: Vec<_> = (0..PROBES)
            .map(|_| watch.register(start, || data_for("/a", "/a")).unwrap())
            .collect();
        let returned = watch.register(start, || unreachable!("not made when the table is full"));
        assert_eq!(returned, None);
        assert_eq!(watch.unwatched(), 1);
        watch.release(claimed[0]);
        assert!(watch.register(start, || data_for("/c", "/c")).is_some());
    }

    #[test]
    fn released_slots_are_reused() {
        let watch = HungRequestWatch::new(Duration::from_secs(60), 8, ScrubPolicy::default());
        for _ in 0..1000 {
            let index = watch.register(Instant::now(), || data_for("/a", "/a")).unwrap();
            watch.release(index);
        }
        assert_eq!(watch.unwatched(), 0);
    }

    #[test]
    fn the_owner_and_the_watcher_never_hold_a_slot_at_once() {
        let watch = HungRequestWatch::new(Duration::from_millis(0), 8, ScrubPolicy::default());
        let scanner = {
            let watch = watch.clone();
            std::thread::spawn(move || {
                let mut reported = 0;
                for _ in 0..2000 {
                    reported += watch.scan(Instant::now() + Duration::from_secs(1));
                }
                reported
            })
        };
        for _ in 0..20_000 {
            let index = watch.register(Instant::now(), || data_for("/a", "/a")).unwrap();
            assert!(watch.finish(index, |data| data.route_for_test() == Some("/a")));
        }
        let _ = scanner.join().unwrap();
    }
}
