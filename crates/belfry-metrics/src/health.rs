//! Health-check results as metrics: [`HealthCheckSample`], exported by
//! [`Metrics::register_health_checks`](crate::Metrics::register_health_checks).
//!
//! This crate knows nothing of any health-check library: the application maps its checks'
//! results to samples in the closure it registers.

use std::{collections::HashSet, fmt, time::Duration};

use prometheus_client::{collector::Collector, encoding::DescriptorEncoder, metrics::MetricType};

use crate::{HEALTH_CHECK_CRITICAL_LABEL, HEALTH_CHECK_DURATION, HEALTH_CHECK_LABEL, HEALTH_CHECK_STATUS};

/// Outcome of a health check.
///
/// ```
/// use belfry_metrics::HealthCheckStatus;
///
/// assert_eq!(HealthCheckStatus::Warn.value(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthCheckStatus {
    /// Healthy: exported as 1.
    Pass,
    /// Degraded but serving: exported as 0.5.
    Warn,
    /// Unhealthy: exported as 0.
    Fail,
}

impl HealthCheckStatus {
    /// The value of [`HEALTH_CHECK_STATUS`]: 1 pass, 0.5 warn, 0 fail — one gauge, so
    /// `belfry_health_check_status < 1` alerts on anything not passing.
    ///
    /// ```
    /// use belfry_metrics::HealthCheckStatus;
    ///
    /// assert_eq!(HealthCheckStatus::Pass.value(), 1.0);
    /// assert_eq!(HealthCheckStatus::Fail.value(), 0.0);
    /// ```
    pub fn value(self) -> f64 {
        match self {
            Self::Pass => 1.0,
            Self::Warn => 0.5,
            Self::Fail => 0.0,
        }
    }
}

/// The latest result of one health check.
///
/// ```
/// use belfry_metrics::{HealthCheckSample, HealthCheckStatus};
/// use std::time::Duration;
///
/// let sample = HealthCheckSample::new("redis", HealthCheckStatus::Fail, Duration::from_secs(2));
/// assert_eq!(sample.name, "redis");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheckSample {
    /// Check name, the value of the [`HEALTH_CHECK_LABEL`] label. Keep the set of names fixed.
    pub name: String,
    /// Outcome.
    pub status: HealthCheckStatus,
    /// How long the check took.
    pub duration: Duration,
    /// Whether a failure takes the service out of rotation: the value of the
    /// [`HEALTH_CHECK_CRITICAL_LABEL`] label of [`HEALTH_CHECK_STATUS`], so one alert rule
    /// (`belfry_health_check_status{critical="true"} == 0`) fits every service.
    pub critical: bool,
}

impl HealthCheckSample {
    /// A sample of a critical check (see [`critical`](Self::critical) to change that).
    ///
    /// ```
    /// use belfry_metrics::{HealthCheckSample, HealthCheckStatus};
    /// use std::time::Duration;
    ///
    /// let sample = HealthCheckSample::new("db", HealthCheckStatus::Pass, Duration::ZERO);
    /// assert_eq!(sample.status, HealthCheckStatus::Pass);
    /// ```
    pub fn new(name: impl Into<String>, status: HealthCheckStatus, duration: Duration) -> Self {
        Self {
            name: name.into(),
            status,
            duration,
            critical: true,
        }
    }

    /// Marks the check critical or not.
    ///
    /// ```
    /// use belfry_metrics::{HealthCheckSample, HealthCheckStatus};
    /// use std::time::Duration;
    ///
    /// let sample = HealthCheckSample::new("cache", HealthCheckStatus::Warn, Duration::ZERO).critical(false);
    /// assert!(!sample.critical);
    /// ```
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }
}

/// Calls the application's closure on each scrape and encodes its samples.
pub(crate) struct HealthCheckCollector<F> {
    samples: F,
}

impl<F> HealthCheckCollector<F> {
    pub(crate) fn new(samples: F) -> Self {
        Self { samples }
    }
}

impl<F> fmt::Debug for HealthCheckCollector<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheckCollector").finish_non_exhaustive()
    }
}

impl<F> Collector for HealthCheckCollector<F>
where
    F: Fn() -> Vec<HealthCheckSample> + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut samples = (self.samples)();
        let mut seen = HashSet::new();
        samples.retain(|sample| seen.insert(sample.name.clone()));
        if samples.is_empty() {
            return Ok(());
        }
        let mut status = encoder.encode_descriptor(
            HEALTH_CHECK_STATUS,
            "Latest health check status: 1 pass, 0.5 warn, 0 fail",
            None,
            MetricType::Gauge,
        )?;
        for sample in &samples {
            let critical = if sample.critical { "true" } else { "false" };
            let labels = [
                (HEALTH_CHECK_LABEL, sample.name.as_str()),
                (HEALTH_CHECK_CRITICAL_LABEL, critical),
            ];
            status
                .encode_family(&labels)?
                .encode_gauge(&sample.status.value())?;
        }
        let mut duration = encoder.encode_descriptor(
            HEALTH_CHECK_DURATION,
            "Duration of the latest health check run",
            None,
            MetricType::Gauge,
        )?;
        for sample in &samples {
            let labels = [(HEALTH_CHECK_LABEL, sample.name.as_str())];
            duration
                .encode_family(&labels)?
                .encode_gauge(&sample.duration.as_secs_f64())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metrics;

    #[test]
    fn no_samples_no_families() {
        let metrics = Metrics::new();
        metrics.register_health_checks(Vec::new);
        assert!(!metrics.render().contains(HEALTH_CHECK_STATUS));
    }

    #[test]
    fn duplicate_names_keep_the_first_sample() {
        let metrics = Metrics::new();
        metrics.register_health_checks(|| {
            vec![
                HealthCheckSample::new("db", HealthCheckStatus::Fail, Duration::ZERO),
                HealthCheckSample::new("db", HealthCheckStatus::Pass, Duration::ZERO),
            ]
        });
        let text = metrics.render();
        assert_eq!(text.matches("belfry_health_check_status{").count(), 1);
        assert!(text.contains(r#"belfry_health_check_status{check="db",critical="true"} 0.0"#));
    }

    #[test]
    fn names_are_escaped() {
        let metrics = Metrics::new();
        metrics.register_health_checks(|| {
            vec![HealthCheckSample::new(
                "a\"b",
                HealthCheckStatus::Pass,
                Duration::ZERO,
            )]
        });
        assert!(metrics.render().contains(r#"{check="a\"b",critical="true"}"#));
    }
}
