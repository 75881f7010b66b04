//! The demo's own business metrics, registered on belfry's registry.

use belfry::metrics::{
    prometheus_client::metrics::{counter::Counter, family::Family},
    Metrics,
};

/// A counter with one label.
type LabelledCounter = Family<[(&'static str, &'static str); 1], Counter>;

/// Counters the handlers update; cloning shares them.
#[derive(Clone)]
pub struct DemoMetrics {
    cache_hits: Counter,
    cache_misses: Counter,
    jobs: LabelledCounter,
    failed_logins: Counter,
}

impl DemoMetrics {
    /// Registers `demo_cache_lookups_total{result}`, `demo_jobs_processed_total{status}` and
    /// `demo_login_failures_total`.
    pub fn register(metrics: &Metrics) -> Self {
        let lookups = metrics.register(
            "demo_cache_lookups",
            "User cache lookups by result",
            LabelledCounter::default(),
        );
        let jobs = metrics.register(
            "demo_jobs_processed",
            "Background jobs processed by status",
            LabelledCounter::default(),
        );
        // Handles taken once: counting is then one atomic add, with no label lookup.
        let cache_hits = lookups.get_or_create(&[("result", "hit")]).clone();
        let cache_misses = lookups.get_or_create(&[("result", "miss")]).clone();
        let failed_logins = metrics.register(
            "demo_login_failures",
            "Failed logins (alert on a burst: brute force)",
            Counter::default(),
        );
        Self {
            cache_hits,
            cache_misses,
            jobs,
            failed_logins,
        }
    }

    /// Counts a user-cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        if hit { &self.cache_hits } else { &self.cache_misses }.inc();
    }

    /// Counts a failed login.
    pub fn login_failed(&self) {
        self.failed_logins.inc();
    }

    /// Counts a finished background job: `status` is `succeeded` or `failed`.
    pub fn job_processed(&self, status: &'static str) {
        self.jobs.get_or_create(&[("status", status)]).inc();
    }
}
