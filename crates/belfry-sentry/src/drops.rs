//! Every Sentry event and transaction belfry does not deliver, counted by why:
//! `belfry_sentry_events_dropped_total{reason}` and `belfry_sentry_transactions_dropped_total{reason}`,
//! and one WARN line at most once a minute saying how many and why.
//!
//! | reason | where | what |
//! | --- | --- | --- |
//! | `budget` | `before_send` ([`budget`](crate::budget)) | over the per-fingerprint or overall budget per minute |
//! | `sample_rate` | `before_send` | not drawn by `SENTRY_SAMPLE_RATE` (belfry samples error events itself, so it can count) |
//! | `queue_full` | the transport | the transport's queue (30 envelopes) was full: Sentry is slower than the events |
//! | `rate_limited` | the transport | Sentry answered 429, or said (`Retry-After`, `X-Sentry-Rate-Limits`) to wait and the wait is not over |
//! | `send_failed` | the transport | Sentry answered another 4xx or 5xx, or did not answer in time, or could not be reached; or the transport is backing off after such a failure |
//!
//! Transactions are sampled before they exist (`SENTRY_TRACES_SAMPLE_RATE`, one decision per
//! trace, and `BELFRY_SENTRY_MAX_TRACES_PER_SECOND`): an unsampled request never becomes a
//! transaction, so their `budget` and `sample_rate` counters stay at 0; what is built and then not
//! delivered is counted under the transport's reasons.
//!
//! The counters are relaxed atomics; the WARN comes from a thread of its own (started with the
//! Sentry client), never from the thread that dropped the event — a WARN is a Sentry breadcrumb,
//! and adding one from inside `before_send` could wait on the scope being read.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        OnceLock,
    },
    thread::Thread,
    time::{Duration, Instant},
};

/// Why an event or transaction was not delivered; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    Budget,
    QueueFull,
    RateLimited,
    SendFailed,
    SampleRate,
}

impl DropReason {
    pub(crate) const ALL: [DropReason; 5] = [
        DropReason::Budget,
        DropReason::QueueFull,
        DropReason::RateLimited,
        DropReason::SendFailed,
        DropReason::SampleRate,
    ];

    /// The `reason` label.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            DropReason::Budget => "budget",
            DropReason::QueueFull => "queue_full",
            DropReason::RateLimited => "rate_limited",
            DropReason::SendFailed => "send_failed",
            DropReason::SampleRate => "sample_rate",
        }
    }

    /// What the WARN line says about it.
    const fn explanation(self) -> &'static str {
        match self {
            DropReason::Budget => "over the budget per minute",
            DropReason::QueueFull => "the transport queue was full",
            DropReason::RateLimited => "rate limited by Sentry",
            DropReason::SendFailed => "Sentry failed or did not answer",
            DropReason::SampleRate => "not sampled (SENTRY_SAMPLE_RATE)",
        }
    }
}

/// Error events or performance transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Event,
    Transaction,
}

/// Counters by kind, then reason (in [`DropReason::ALL`] order).
static DROPPED: [[AtomicU64; 5]; 2] = [const { [const { AtomicU64::new(0) }; 5] }; 2];

/// Set by the first drop since the last report; the reporter clears it.
static PENDING: AtomicBool = AtomicBool::new(false);

/// The reporter thread, once started.
static REPORTER: OnceLock<Thread> = OnceLock::new();

/// How often at most the WARN line is written.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// Counts `count` items of `kind` dropped for `reason`, and wakes the reporter.
pub(crate) fn record(kind: Kind, reason: DropReason, count: u64) {
    if count == 0 {
        return;
    }
    DROPPED[kind as usize][reason as usize].fetch_add(count, Ordering::Relaxed);
    if !PENDING.swap(true, Ordering::AcqRel) {
        if let Some(reporter) = REPORTER.get() {
            reporter.unpark();
        }
    }
}

/// Items of `kind` dropped since start, by reason label.
fn dropped(kind: Kind) -> [(&'static str, u64); 5] {
    DropReason::ALL.map(|reason| {
        (
            reason.label(),
            DROPPED[kind as usize][reason as usize].load(Ordering::Relaxed),
        )
    })
}

/// Error events not delivered since the process started, by `reason` label, in the order of
/// the [module docs](self)' table: what belfry exports as
/// `belfry_sentry_events_dropped_total{reason}`.
///
/// ```
/// let dropped = belfry_sentry::drops::dropped_events();
/// assert_eq!(dropped[0], ("budget", 0));
/// ```
pub fn dropped_events() -> [(&'static str, u64); 5] {
    dropped(Kind::Event)
}

/// Performance transactions not delivered since the process started, by `reason` label: what
/// belfry exports as `belfry_sentry_transactions_dropped_total{reason}`.
///
/// ```
/// let dropped = belfry_sentry::drops::dropped_transactions();
/// assert!(dropped.iter().any(|(reason, _)| *reason == "send_failed"));
/// ```
pub fn dropped_transactions() -> [(&'static str, u64); 5] {
    dropped(Kind::Transaction)
}

/// Starts the thread writing the WARN line (once per process).
pub(crate) fn start_reporter() {
    if REPORTER.get().is_some() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("belfry-sentry-drops".to_owned())
        .spawn(report_forever);
    if let Ok(handle) = spawned {
        let _ = REPORTER.set(handle.thread().clone());
        // A drop recorded before the handle was set: do not wait for the next one.
        if PENDING.load(Ordering::Acquire) {
            handle.thread().unpark();
        }
    }
}

fn report_forever() {
    let mut reported = [[0u64; 5]; 2];
    let mut last_report: Option<Instant> = None;
    loop {
        while !PENDING.load(Ordering::Acquire) {
            std::thread::park();
        }
        if let Some(last) = last_report {
            let next = last + REPORT_INTERVAL;
            // park_timeout may wake early; sleep is exact.
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        PENDING.store(false, Ordering::Release);
        let now = snapshot();
        let mut delta = [[0u64; 5]; 2];
        for kind in 0..2 {
            for reason in 0..5 {
                delta[kind][reason] = now[kind][reason] - reported[kind][reason];
            }
        }
        reported = now;
        if let Some(line) = report_line(&delta) {
            let events: u64 = delta[Kind::Event as usize].iter().sum();
            let transactions: u64 = delta[Kind::Transaction as usize].iter().sum();
            tracing::warn!(
                target: "belfry::sentry",
                events_dropped = events,
                transactions_dropped = transactions,
                "{line}"
            );
            last_report = Some(Instant::now());
        }
    }
}

fn snapshot() -> [[u64; 5]; 2] {
    let mut counts = [[0u64; 5]; 2];
    for (kind, row) in DROPPED.iter().enumerate() {
        for (reason, counter) in row.iter().enumerate() {
            counts[kind][reason] = counter.load(Ordering::Relaxed);
        }
    }
    counts
}

/// `Sentry: 1,890 events not sent since the last report: 1,880 over the budget per minute, 10
/// rate limited by Sentry; 3 transactions: 3 the transport queue was full`, or `None` when
/// nothing was dropped.
fn report_line(delta: &[[u64; 5]; 2]) -> Option<String> {
    let mut parts = Vec::new();
    for (kind, name) in [(Kind::Event, "events"), (Kind::Transaction, "transactions")] {
        let row = &delta[kind as usize];
        let total: u64 = row.iter().sum();
        if total == 0 {
            continue;
        }
        let reasons: Vec<String> = DropReason::ALL
            .iter()
            .filter(|reason| row[**reason as usize] > 0)
            .map(|reason| {
                format!(
                    "{} {} ({})",
                    thousands(row[*reason as usize]),
                    reason.explanation(),
                    reason.label()
                )
            })
            .collect();
        parts.push(format!("{} {name}: {}", thousands(total), reasons.join(", ")));
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "Sentry: not sent since the last report (at most one a minute): {}; see belfry_sentry_*_dropped_total",
        parts.join("; ")
    ))
}

/// `9871` as `9,871`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(9871), "9,871");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_report_says_how_many_and_why() {
        let mut delta = [[0u64; 5]; 2];
        assert_eq!(report_line(&delta), None);
        delta[Kind::Event as usize][DropReason::Budget as usize] = 1880;
        delta[Kind::Event as usize][DropReason::RateLimited as usize] = 10;
        delta[Kind::Transaction as usize][DropReason::QueueFull as usize] = 3;
        assert_eq!(
            report_line(&delta).unwrap(),
            "Sentry: not sent since the last report (at most one a minute): 1,890 events: \
             1,880 over the budget per minute (budget), 10 rate limited by Sentry (rate_limited); \
             3 transactions: 3 the transport queue was full (queue_full); see belfry_sentry_*_dropped_total"
        );
    }
}
