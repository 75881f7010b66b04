//! Results of a run of all checks: [`HealthReport`] and [`CheckReport`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::Status;

/// The result of running every registered check once.
///
/// This is what `GET /health` serializes, and what
/// [`Health::last_report`](crate::Health::last_report) and
/// [`Health::subscribe`](crate::Health::subscribe) hand to other code (for
/// example a metrics exporter). Its JSON form follows the IETF health check
/// draft, with checks keyed by name in registration order:
///
/// ```json
/// {"status":"warn","checks":{
///   "upstream":{"status":"pass","critical":true,"duration_ms":3.1,"last_success":"2026-11-23T15:00:00Z"},
///   "cache":{"status":"fail","critical":false,"duration_ms":2000.0,"message":"timed out"}}}
/// ```
///
/// The overall status is the worst of the checks, except that a failing
/// non-critical check only makes it `warn`.
///
/// ```
/// use belfry_health::{check_fn, CheckOptions, Health, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = Health::builder()
///     .check("db", check_fn(|| async { true }))
///     .check_with("cache", check_fn(|| async { false }), CheckOptions::new().critical(false))
///     .build();
///
/// let report = health.report().await;
/// assert_eq!(report.status(), Status::Warn);
/// assert_eq!(report.check("cache").unwrap().status(), Status::Fail);
///
/// let json = serde_json::to_value(&*report).unwrap();
/// assert_eq!(json["status"], "warn");
/// assert_eq!(json["checks"]["cache"]["critical"], false);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HealthReport {
    status: Status,
    checks: Vec<CheckReport>,
    checked_at: SystemTime,
}

impl HealthReport {
    pub(crate) fn new(checks: Vec<CheckReport>, checked_at: SystemTime) -> Self {
        let status = checks
            .iter()
            .map(CheckReport::contribution)
            .max()
            .unwrap_or(Status::Pass);
        Self {
            status,
            checks,
            checked_at,
        }
    }

    /// The overall status.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let report = belfry_health::Health::new().report().await;
    /// assert_eq!(report.status(), belfry_health::Status::Pass); // no checks
    /// # }
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }

    /// Every check's result, in registration order.
    ///
    /// ```
    /// use belfry_health::{check_fn, Health};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = Health::builder().check("a", check_fn(|| async { true })).build();
    /// let names: Vec<_> = health.report().await.checks().iter().map(|c| c.name().to_owned()).collect();
    /// assert_eq!(names, ["a"]);
    /// # }
    /// ```
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// The result of the check named `name`, if there is one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let report = belfry_health::Health::new().report().await;
    /// assert!(report.check("db").is_none());
    /// # }
    /// ```
    pub fn check(&self, name: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.name() == name)
    }

    /// When the run finished (wall-clock time).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let report = belfry_health::Health::new().report().await;
    /// assert!(report.checked_at() <= std::time::SystemTime::now());
    /// # }
    /// ```
    pub fn checked_at(&self) -> SystemTime {
        self.checked_at
    }

    /// The readiness-tagged checks that failed; the app is not ready while
    /// there is one.
    ///
    /// ```
    /// use belfry_health::{check_fn, Health};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = Health::builder().check("db", check_fn(|| async { false })).build();
    /// let report = health.report().await;
    /// let failed: Vec<_> = report.failed_readiness_checks().map(|c| c.name()).collect();
    /// assert_eq!(failed, ["db"]);
    /// # }
    /// ```
    pub fn failed_readiness_checks(&self) -> impl Iterator<Item = &CheckReport> + '_ {
        self.checks
            .iter()
            .filter(|c| c.readiness && c.status == Status::Fail)
    }

    /// The worst status among the readiness-tagged checks (`pass` if none).
    ///
    /// ```
    /// use belfry_health::{check_fn, CheckOptions, Health, Status};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = Health::builder()
    ///     .check_with("search", check_fn(|| async { false }), CheckOptions::new().critical(false))
    ///     .build();
    /// // Non-critical checks do not count for readiness unless tagged.
    /// assert_eq!(health.report().await.readiness_status(), Status::Pass);
    /// # }
    /// ```
    pub fn readiness_status(&self) -> Status {
        self.checks
            .iter()
            .filter(|c| c.readiness)
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass)
    }
}

impl Serialize for HealthReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Checks<'a>(&'a [CheckReport]);

        impl Serialize for Checks<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for check in self.0 {
                    map.serialize_entry(check.name(), check)?;
                }
                map.end()
            }
        }

        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("checks", &Checks(&self.checks))?;
        map.end()
    }
}

/// The result of one check in a [`HealthReport`].
///
/// It serializes (without its name, which is the key in the report) as
/// `{"status","critical","duration_ms","last_success"?,"message"?}`.
///
/// ```
/// use belfry_health::{check_fn, CheckOutcome, Health, Status};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = Health::builder()
///     .check("db", check_fn(|| async { CheckOutcome::fail("connection refused") }))
///     .build();
/// let report = health.report().await;
/// let db = report.check("db").unwrap();
/// assert_eq!(db.status(), Status::Fail);
/// assert_eq!(db.message(), Some("connection refused"));
/// assert!(db.critical() && db.readiness());
/// assert!(db.last_success().is_none());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub(crate) name: Arc<str>,
    pub(crate) status: Status,
    pub(crate) critical: bool,
    pub(crate) readiness: bool,
    pub(crate) duration: Duration,
    pub(crate) last_success: Option<SystemTime>,
    pub(crate) message: Option<String>,
}

impl CheckReport {
    /// The name the check was registered under.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let health = belfry_health::Health::builder().check("db", belfry_health::check_fn(|| async { true })).build();
    /// assert_eq!(health.report().await.checks()[0].name(), "db");
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The check's own status (a failing non-critical check is `fail` here,
    /// though it only makes the overall status `warn`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let health = belfry_health::Health::builder().check("db", belfry_health::check_fn(|| async { true })).build();
    /// assert_eq!(health.report().await.checks()[0].status(), belfry_health::Status::Pass);
    /// # }
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether the check is critical (a failure fails the whole report).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let health = belfry_health::Health::builder().check("db", belfry_health::check_fn(|| async { true })).build();
    /// assert!(health.report().await.checks()[0].critical());
    /// # }
    /// ```
    pub fn critical(&self) -> bool {
        self.critical
    }

    /// Whether the check counts for readiness (`/health/ready`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let health = belfry_health::Health::builder().check("db", belfry_health::check_fn(|| async { true })).build();
    /// assert!(health.report().await.checks()[0].readiness());
    /// # }
    /// ```
    pub fn readiness(&self) -> bool {
        self.readiness
    }

    /// How long the check took (its timeout, if it timed out).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let health = belfry_health::Health::builder().check("db", belfry_health::check_fn(|| async { true })).build();
    /// assert!(health.report().await.checks()[0].duration() < std::time::Duration::from_secs(2));
    /// # }
    /// ```
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// When the check last passed or warned, in this process; `None` if it
    /// never has.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let health = belfry_health::Health::builder().check("db", belfry_health::check_fn(|| async { true })).build();
    /// assert!(health.report().await.checks()[0].last_success().is_some());
    /// # }
    /// ```
    pub fn last_success(&self) -> Option<SystemTime> {
        self.last_success
    }

    /// The check's message (for example the error), if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let health = belfry_health::Health::builder().check("db", belfry_health::check_fn(|| async { true })).build();
    /// assert_eq!(health.report().await.checks()[0].message(), None);
    /// # }
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// What this check contributes to the overall status.
    fn contribution(&self) -> Status {
        match (self.status, self.critical) {
            (Status::Fail, false) => Status::Warn,
            (status, _) => status,
        }
    }
}

impl Serialize for CheckReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Whole microseconds, printed as fractional milliseconds.
        let duration_ms = self.duration.as_micros() as f64 / 1000.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("critical", &self.critical)?;
        map.serialize_entry("duration_ms", &duration_ms)?;
        if let Some(at) = self.last_success {
            map.serialize_entry("last_success", &belfry_log::rfc3339_seconds(at))?;
        }
        if let Some(message) = &self.message {
            map.serialize_entry("message", message)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn check(name: &str, status: Status, critical: bool) -> CheckReport {
        CheckReport {
            name: name.into(),
            status,
            critical,
            readiness: critical,
            duration: Duration::from_micros(3_100),
            last_success: None,
            message: None,
        }
    }

    fn overall(checks: &[(Status, bool)]) -> Status {
        let checks = checks
            .iter()
            .enumerate()
            .map(|(i, &(status, critical))| check(&i.to_string(), status, critical))
            .collect();
        HealthReport::new(checks, UNIX_EPOCH).status()
    }

    #[test]
    fn aggregation() {
        use Status::*;
        assert_eq!(overall(&[]), Pass);
        assert_eq!(overall(&[(Pass, true), (Pass, false)]), Pass);
        assert_eq!(overall(&[(Pass, true), (Warn, true)]), Warn);
        assert_eq!(overall(&[(Pass, true), (Warn, false)]), Warn);
        assert_eq!(overall(&[(Pass, true), (Fail, false)]), Warn);
        assert_eq!(overall(&[(Fail, false), (Fail, false)]), Warn);
        assert_eq!(overall(&[(Fail, true), (Pass, false)]), Fail);
        assert_eq!(overall(&[(Warn, false), (Fail, true)]), Fail);
    }

    #[test]
    fn readiness_considers_only_tagged_checks() {
        let mut tagged_non_critical = check("search", Status::Fail, false);
        tagged_non_critical.readiness = true;
        let report = HealthReport::new(
            vec![
                check("db", Status::Warn, true),
                check("cache", Status::Fail, false),
                tagged_non_critical,
            ],
            UNIX_EPOCH,
        );
        assert_eq!(report.status(), Status::Warn);
        assert_eq!(report.readiness_status(), Status::Fail);
        let failed: Vec<_> = report.failed_readiness_checks().map(|c| c.name()).collect();
        assert_eq!(failed, ["search"]);
    }

    #[test]
    fn json_format() {
        let mut upstream = check("upstream", Status::Pass, true);
        upstream.last_success = Some(UNIX_EPOCH + Duration::from_secs(1_795_446_000));
        let mut cache = check("cache", Status::Fail, false);
        cache.duration = Duration::from_secs(2);
        cache.message = Some("timed out".into());
        let report = HealthReport::new(vec![upstream, cache], UNIX_EPOCH);

        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            concat!(
                r#"{"status":"warn","checks":{"#,
                r#""upstream":{"status":"pass","critical":true,"duration_ms":3.1,"last_success":"2026-11-23T15:00:00Z"},"#,
                r#""cache":{"status":"fail","critical":false,"duration_ms":2000.0,"message":"timed out"}}}"#
            )
        );
    }
}
