//! The Sentry budget: at most so many error events per minute for one fingerprint and overall,
//! so that one bug in a loop cannot spend a month's quota in minutes.
//!
//! Sentry's free tier is 5,000 events a month; a panicking route under load produces that in
//! seconds. belfry groups events by a fingerprint it can compute cheaply and lets through at most
//! [`DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE`] (10) events per fingerprint and
//! [`DEFAULT_MAX_EVENTS_PER_MINUTE`] (100) events overall per minute. Ten examples of one bug a
//! minute are more than anyone reads; a hundred a minute leaves room for ten different bugs at
//! once. The budget bounds the rate, not the month: a bug that keeps firing all day still sends
//! 14,400 events a day at 10 a minute, so a service on a small quota lowers the per-fingerprint
//! budget (1 a minute is 1,440 a day) and lets Sentry's spike protection do the rest. The next
//! event sent for a fingerprint carries `belfry.suppressed` (an extra field): how
//! many of its events were dropped since the last one sent, so Sentry still shows how often it
//! happened. Dropped events are counted in `belfry_sentry_events_dropped_total{reason="budget"}`.
//!
//! The fingerprint:
//! - a panic: its location (`panic.location`, from belfry's panic hook, or the top frame of its
//!   stack trace) — the same bug whatever the message or the route;
//! - another exception (a 5xx with an attached error, a `tracing` ERROR with an error): the
//!   outermost exception's type and the transaction (`METHOD /route`);
//! - a message event: the message with its digits left out (ids, counts and durations vary, the
//!   sentence does not), the logger (the `tracing` target) and the transaction.
//!
//! The window slides: each counter keeps this minute's count and the last minute's, and the
//! estimate is the last minute's count weighted by the share of it still inside the last 60 s,
//! plus this minute's, rounded up. A storm across a minute boundary gets one budget, not two;
//! the estimate assumes the last minute's events were spread over it, so when they bunched at
//! its end, 60 s can hold one event more than the budget.
//!
//! Memory is bounded: at most [`MAX_FINGERPRINTS`] fingerprints are tracked; a new one beyond that
//! replaces the one seen least recently. The table is behind a mutex held for a few hundred
//! nanoseconds per event — events only, never on the request path of a request that goes well.
//!
//! `SENTRY_SAMPLE_RATE` is applied here too, before the budget (the SDK's own rate is set to 1):
//! the SDK's sampling happens after `before_send`, where nothing can count it.
//!
//! The settings — [`ClientSettings::max_events_per_fingerprint_per_minute`](crate::ClientSettings::max_events_per_fingerprint_per_minute)
//! and [`ClientSettings::max_events_per_minute`](crate::ClientSettings::max_events_per_minute),
//! or from the environment:
//!
//! ```
//! use belfry_sentry::budget::{
//!     DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE, DEFAULT_MAX_EVENTS_PER_MINUTE, MAX_FINGERPRINTS,
//! };
//!
//! // BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE, BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE:
//! assert_eq!(DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE, 10);
//! assert_eq!(DEFAULT_MAX_EVENTS_PER_MINUTE, 100);
//! // Fingerprints tracked at most:
//! assert_eq!(MAX_FINGERPRINTS, 1024);
//! ```

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::Instant,
};

use sentry::protocol::Event;

use crate::drops::{self, DropReason, Kind};

/// Events per fingerprint per minute unless `BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE`
/// says otherwise.
pub const DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE: u32 = 10;

/// Events per minute overall unless `BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE` says otherwise.
pub const DEFAULT_MAX_EVENTS_PER_MINUTE: u32 = 100;

/// How many fingerprints the budget tracks at most.
pub const MAX_FINGERPRINTS: usize = 1024;

/// The extra field of an event telling how many events of its fingerprint were dropped since the
/// previous one sent.
pub const SUPPRESSED_FIELD: &str = "belfry.suppressed";

const MINUTE_MS: u64 = 60_000;

/// The budget's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BudgetSettings {
    /// 0: no cap.
    pub(crate) per_fingerprint: u32,
    /// 0: no cap.
    pub(crate) overall: u32,
    /// `SENTRY_SAMPLE_RATE`, 0 to 1.
    pub(crate) sample_rate: f32,
}

/// Installs the sampling and the budget as the last step of `options.before_send`: they see the
/// event as it would be sent (with its transaction name and request fields), after every other
/// `before_send` had its say.
pub(crate) fn install(mut options: sentry::ClientOptions, settings: BudgetSettings) -> sentry::ClientOptions {
    let next = options.before_send.take();
    let budget = Arc::new(Budget::new(settings.per_fingerprint, settings.overall));
    let sample_rate = settings.sample_rate;
    options.before_send = Some(Arc::new(move |event| {
        let mut event = match &next {
            Some(next) => next(event)?,
            None => event,
        };
        if !sample(sample_rate) {
            drops::record(Kind::Event, DropReason::SampleRate, 1);
            return None;
        }
        match budget.admit(fingerprint(&event)) {
            Admission::Send { suppressed } => {
                if suppressed > 0 {
                    event.extra.insert(SUPPRESSED_FIELD.into(), suppressed.into());
                }
                Some(event)
            }
            Admission::Drop => {
                drops::record(Kind::Event, DropReason::Budget, 1);
                None
            }
        }
    }));
    options
}

/// What the budget says about one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Send it, with how many of its fingerprint were dropped since the last one sent.
    Send { suppressed: u64 },
    /// Over the budget.
    Drop,
}

/// Per-fingerprint and overall sliding windows.
pub(crate) struct Budget {
    per_fingerprint: u32,
    overall: u32,
    epoch: Instant,
    state: Mutex<BudgetState>,
}

struct BudgetState {
    overall: SlidingWindow,
    fingerprints: HashMap<u64, Fingerprint>,
}

struct Fingerprint {
    window: SlidingWindow,
    suppressed: u64,
    last_seen_ms: u64,
}

impl Budget {
    pub(crate) fn new(per_fingerprint: u32, overall: u32) -> Self {
        Self {
            per_fingerprint,
            overall,
            epoch: Instant::now(),
            state: Mutex::new(BudgetState {
                overall: SlidingWindow::default(),
                fingerprints: HashMap::new(),
            }),
        }
    }

    pub(crate) fn admit(&self, fingerprint: u64) -> Admission {
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        self.admit_at(fingerprint, now_ms)
    }

    /// [`admit`](Self::admit) at `now_ms` milliseconds since the budget was made.
    fn admit_at(&self, fingerprint: u64, now_ms: u64) -> Admission {
        if self.per_fingerprint == 0 && self.overall == 0 {
            return Admission::Send { suppressed: 0 };
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let BudgetState {
            overall,
            fingerprints,
        } = &mut *state;
        if !fingerprints.contains_key(&fingerprint) && fingerprints.len() >= MAX_FINGERPRINTS {
            let oldest = fingerprints
                .iter()
                .min_by_key(|(_, entry)| entry.last_seen_ms)
                .map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                fingerprints.remove(&oldest);
            }
        }
        let entry = fingerprints.entry(fingerprint).or_insert(Fingerprint {
            window: SlidingWindow::default(),
            suppressed: 0,
            last_seen_ms: now_ms,
        });
        entry.last_seen_ms = now_ms;
        if entry.window.permits(now_ms, self.per_fingerprint) && overall.permits(now_ms, self.overall) {
            entry.window.take();
            overall.take();
            Admission::Send {
                suppressed: std::mem::take(&mut entry.suppressed),
            }
        } else {
            entry.suppressed += 1;
            Admission::Drop
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().unwrap().fingerprints.len()
    }
}

/// Events counted over the last minute: this minute's count and the previous minute's, the
/// previous one weighted by the share of it that is still within the last 60 s.
#[derive(Clone, Copy, Debug, Default)]
struct SlidingWindow {
    minute: u64,
    current: u64,
    previous: u64,
}

impl SlidingWindow {
    /// Moves to `now_ms`'s minute; whether one more event stays within `limit` (0: no cap).
    fn permits(&mut self, now_ms: u64, limit: u32) -> bool {
        let minute = now_ms / MINUTE_MS;
        if minute != self.minute {
            self.previous = if minute == self.minute + 1 {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.minute = minute;
        }
        if limit == 0 {
            return true;
        }
        // previous × (share of the previous minute still in the window) + current, rounded up,
        // below `limit`; in milliseconds to stay in integers.
        let left_of_previous = MINUTE_MS - now_ms % MINUTE_MS;
        self.previous * left_of_previous + self.current * MINUTE_MS <= u64::from(limit - 1) * MINUTE_MS
    }

    fn take(&mut self) {
        self.current += 1;
    }
}

/// The fingerprint of an event; see the [module docs](self).
pub(crate) fn fingerprint(event: &Event<'_>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match event.exception.last() {
        Some(exception) if exception.ty == "panic" => {
            "panic".hash(&mut hasher);
            let location = event.extra.get("panic.location").and_then(|value| value.as_str());
            match location {
                Some(location) => location.hash(&mut hasher),
                None => {
                    let top = exception
                        .stacktrace
                        .as_ref()
                        .and_then(|stacktrace| stacktrace.frames.last());
                    if let Some(frame) = top {
                        frame.filename.hash(&mut hasher);
                        frame.function.hash(&mut hasher);
                        frame.lineno.hash(&mut hasher);
                    }
                }
            }
        }
        Some(exception) => {
            "exception".hash(&mut hasher);
            exception.ty.hash(&mut hasher);
            event.transaction.hash(&mut hasher);
        }
        None => {
            "message".hash(&mut hasher);
            let message = event
                .logentry
                .as_ref()
                .map(|entry| entry.message.as_str())
                .or(event.message.as_deref())
                .unwrap_or("");
            for byte in message.bytes().filter(|byte| !byte.is_ascii_digit()) {
                hasher.write_u8(byte);
            }
            event.logger.hash(&mut hasher);
            event.transaction.hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// `true` with probability `rate`.
fn sample(rate: f32) -> bool {
    belfry_trace_context::random_chance(f64::from(rate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::protocol::{Exception, Frame, Stacktrace};

    fn panic_at(location: &str, message: &str, transaction: &str) -> Event<'static> {
        let mut event = Event {
            exception: vec![Exception {
                ty: "panic".into(),
                value: Some(message.into()),
                ..Default::default()
            }]
            .into(),
            transaction: Some(transaction.into()),
            ..Default::default()
        };
        event
            .extra
            .insert("panic.location".into(), location.to_owned().into());
        event
    }

    fn message(text: &str, transaction: &str) -> Event<'static> {
        Event {
            message: Some(text.into()),
            transaction: Some(transaction.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_panic_is_its_location() {
        let here = fingerprint(&panic_at("src/routes.rs:74:5", "user 1", "GET /a"));
        assert_eq!(
            here,
            fingerprint(&panic_at("src/routes.rs:74:5", "user 2", "GET /b"))
        );
        assert_ne!(
            here,
            fingerprint(&panic_at("src/routes.rs:80:5", "user 1", "GET /a"))
        );
        // Without `panic.location`: the top (last) frame.
        let framed = |line: u64| {
            let mut event = panic_at("", "boom", "GET /a");
            event.extra.clear();
            event.exception.values[0].stacktrace = Some(Stacktrace {
                frames: vec![
                    Frame {
                        filename: Some("main.rs".into()),
                        lineno: Some(1),
                        ..Default::default()
                    },
                    Frame {
                        filename: Some("routes.rs".into()),
                        lineno: Some(line),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            });
            fingerprint(&event)
        };
        assert_eq!(framed(7), framed(7));
        assert_ne!(framed(7), framed(8));
    }

    #[test]
    fn an_error_is_its_type_and_route_and_a_message_its_words() {
        let error = |ty: &str, transaction: &str| {
            fingerprint(&Event {
                exception: vec![Exception {
                    ty: ty.into(),
                    value: Some("connection refused 10.0.0.7".into()),
                    ..Default::default()
                }]
                .into(),
                transaction: Some(transaction.into()),
                ..Default::default()
            })
        };
        assert_eq!(error("DbError", "GET /a"), error("DbError", "GET /a"));
        assert_ne!(error("DbError", "GET /a"), error("DbError", "GET /b"));
        assert_ne!(error("DbError", "GET /a"), error("IoError", "GET /a"));
        assert_eq!(
            fingerprint(&message("job 17 failed after 120 ms", "POST /jobs")),
            fingerprint(&message("job 9 failed after 3 ms", "POST /jobs"))
        );
        assert_ne!(
            fingerprint(&message("job 17 failed", "POST /jobs")),
            fingerprint(&message("job 17 succeeded", "POST /jobs"))
        );
        assert_ne!(
            fingerprint(&message("HTTP 503", "GET /a")),
            fingerprint(&message("HTTP 503", "GET /b"))
        );
    }

    fn sent(admission: Admission) -> bool {
        matches!(admission, Admission::Send { .. })
    }

    #[test]
    fn a_storm_across_a_minute_boundary_gets_one_budget() {
        let budget = Budget::new(10, 0);
        // 100 events a second from 59.5 s to 60.5 s.
        let sent_count = (0..100)
            .filter(|i| sent(budget.admit_at(1, 59_500 + i * 10)))
            .count();
        assert_eq!(sent_count, 10, "a fixed window would let 20 through");
    }

    #[test]
    fn no_sixty_seconds_hold_more_than_the_budget() {
        let budget = Budget::new(10, 0);
        // Ten events a second for five minutes; every 60 s window holds at most 10 (+1 for the
        // weighted estimate's rounding), and the budget is used (not starved).
        let sent_at: Vec<u64> = (0..3000u64)
            .map(|i| i * 100)
            .filter(|&t| sent(budget.admit_at(7, t)))
            .collect();
        for &start in &sent_at {
            let within = sent_at
                .iter()
                .filter(|&&t| t >= start && t < start + MINUTE_MS)
                .count();
            assert!(within <= 11, "{within} events within 60 s from {start} ms");
        }
        assert!(sent_at.len() >= 40, "{} sent in five minutes", sent_at.len());
    }

    #[test]
    fn the_overall_budget_caps_many_fingerprints_and_the_next_event_says_how_many_were_dropped() {
        let budget = Budget::new(3, 5);
        let mut sent_count = 0;
        for fingerprint in 0..10 {
            for _ in 0..4 {
                sent_count += usize::from(sent(budget.admit_at(fingerprint, 1_000)));
            }
        }
        assert_eq!(sent_count, 5);
        // Fingerprint 0 sent 3 and had 1 dropped; two minutes later its next event says so.
        assert_eq!(budget.admit_at(0, 130_000), Admission::Send { suppressed: 1 });
        assert_eq!(budget.admit_at(0, 130_001), Admission::Send { suppressed: 0 });
        // Fingerprint 9 had all 4 dropped (by the overall budget).
        assert_eq!(budget.admit_at(9, 130_002), Admission::Send { suppressed: 4 });
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_recently_seen() {
        let budget = Budget::new(1, 0);
        assert!(sent(budget.admit_at(u64::MAX, 0)));
        assert_eq!(budget.admit_at(u64::MAX, 1), Admission::Drop);
        for fingerprint in 0..5_000u64 {
            budget.admit_at(fingerprint, 2 + fingerprint);
            // The storming fingerprint keeps being seen.
            if fingerprint % 100 == 0 {
                assert_eq!(budget.admit_at(u64::MAX, 2 + fingerprint), Admission::Drop);
            }
        }
        assert_eq!(budget.tracked(), MAX_FINGERPRINTS);
        // Still tracked, with its count of dropped events (1 + 50).
        assert_eq!(
            budget.admit_at(u64::MAX, 200_000),
            Admission::Send { suppressed: 51 }
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let budget = Budget::new(0, 0);
        assert!((0..1000).all(|_| sent(budget.admit_at(1, 5))));
    }
}
