//! Runs every registered check once, concurrently, each under its timeout.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use futures_util::FutureExt;
use tokio::time::Instant;

use crate::report::CheckReport;
use crate::{CheckOutcome, HealthCheck, HealthReport, Status};

/// A check as registered in a [`Health`](crate::Health), options resolved.
pub(crate) struct Registered {
    pub(crate) name: Arc<str>,
    pub(crate) check: Box<dyn HealthCheck>,
    pub(crate) critical: bool,
    pub(crate) readiness: bool,
    pub(crate) timeout: Duration,
}

/// Runs all `checks` concurrently and builds a report.
///
/// `last_success` holds one slot per check and is updated in place;
/// `previous` is the last report, used to log status changes.
pub(crate) async fn run_all(
    checks: &[Registered],
    last_success: &mut [Option<SystemTime>],
    previous: Option<&HealthReport>,
) -> HealthReport {
    let outcomes = join_all(checks.iter().map(run_one)).await;
    let now = SystemTime::now();
    let reports = checks
        .iter()
        .zip(outcomes)
        .zip(last_success.iter_mut())
        .enumerate()
        .map(|(i, ((registered, (outcome, duration)), last_success))| {
            if outcome.status() != Status::Fail {
                *last_success = Some(now);
            }
            let before = previous.and_then(|p| p.checks().get(i)).map(|c| c.status());
            log_change(&registered.name, before, &outcome);
            CheckReport {
                name: registered.name.clone(),
                status: outcome.status(),
                critical: registered.critical,
                readiness: registered.readiness,
                duration,
                last_success: *last_success,
                message: outcome.message().map(str::to_owned),
            }
        })
        .collect();
    HealthReport::new(reports, now)
}

async fn run_one(registered: &Registered) -> (CheckOutcome, Duration) {
    let start = Instant::now();
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| registered.check.check())) {
        Err(_) => CheckOutcome::fail("check panicked"),
        Ok(future) => {
            let future = AssertUnwindSafe(future).catch_unwind();
            match tokio::time::timeout(registered.timeout, future).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => CheckOutcome::fail("check panicked"),
                Err(_) => CheckOutcome::fail("timed out"),
            }
        }
    };
    (outcome, start.elapsed())
}

/// Logs when a check gets worse (or starts unhealthy) and when it recovers.
fn log_change(name: &str, before: Option<Status>, outcome: &CheckOutcome) {
    let now = outcome.status();
    let reason = outcome.message().unwrap_or("");
    match before {
        Some(before) if before == now => {}
        Some(before) if now < before => {
            tracing::info!(check = name, status = %now, was = %before, "health check recovered");
        }
        None if now == Status::Pass => {}
        _ => tracing::warn!(check = name, status = %now, reason, "health check unhealthy"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_fn;

    fn registered(name: &str, check: impl HealthCheck, timeout: Duration) -> Registered {
        Registered {
            name: name.into(),
            check: Box::new(check),
            critical: true,
            readiness: true,
            timeout,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_fails_with_message() {
        let checks = [
            registered(
                "slow",
                check_fn(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    true
                }),
                Duration::from_secs(2),
            ),
            registered("fast", check_fn(|| async { true }), Duration::from_secs(2)),
        ];
        let mut last_success = [None, None];
        let report = run_all(&checks, &mut last_success, None).await;

        let slow = report.check("slow").unwrap();
        assert_eq!(slow.status(), Status::Fail);
        assert_eq!(slow.message(), Some("timed out"));
        assert_eq!(slow.duration(), Duration::from_secs(2));
        assert_eq!(slow.last_success(), None);
        assert_eq!(report.check("fast").unwrap().status(), Status::Pass);
        assert!(last_success[1].is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn checks_run_concurrently() {
        let sleepy = || {
            check_fn(|| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                true
            })
        };
        let checks = [
            registered("a", sleepy(), Duration::from_secs(2)),
            registered("b", sleepy(), Duration::from_secs(2)),
            registered("c", sleepy(), Duration::from_secs(2)),
        ];
        let start = Instant::now();
        let report = run_all(&checks, &mut [None, None, None], None).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(report.status(), Status::Pass);
    }

    #[tokio::test]
    async fn panics_fail_the_check() {
        fn explode() -> CheckOutcome {
            panic!("inside the future")
        }
        struct PanicsEarly;
        impl HealthCheck for PanicsEarly {
            fn check(&self) -> crate::CheckFuture<'_> {
                panic!("before the future")
            }
        }
        let checks = [
            registered("late", check_fn(|| async { explode() }), Duration::from_secs(2)),
            registered("early", PanicsEarly, Duration::from_secs(2)),
        ];
        let report = run_all(&checks, &mut [None, None], None).await;
        for check in report.checks() {
            assert_eq!(check.status(), Status::Fail);
            assert_eq!(check.message(), Some("check panicked"));
        }
    }

    #[tokio::test]
    async fn last_success_survives_failures() {
        let checks = [registered(
            "flaky",
            check_fn(|| async { false }),
            Duration::from_secs(2),
        )];
        let earlier = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut last_success = [Some(earlier)];
        let report = run_all(&checks, &mut last_success, None).await;
        assert_eq!(report.checks()[0].last_success(), Some(earlier));
    }
}
