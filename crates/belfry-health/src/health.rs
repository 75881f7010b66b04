//! [`Health`]: the registry of checks, with caching and single-flight runs.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::runner::{self, Registered};
use crate::{HealthCheck, HealthReport, ReadinessGate, ShowDetails};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

/// The health of a service: its registered checks, their cached results and
/// its [`ReadinessGate`].
///
/// Build one with [`Health::builder`], mount its endpoints with
/// [`routes`](Health::routes), and mark the app started once it can take
/// traffic. Clones are cheap and share everything.
///
/// Runs are cached for a TTL (1 s by default) and single-flight: probes that
/// arrive while checks are running wait for that run and share its result,
/// so a burst of probes never hammers a dependency.
///
/// ```
/// use belfry_health::{check_fn, Health, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = Health::builder()
///     .check("db", check_fn(|| async { Ok::<_, std::io::Error>(()) }))
///     .build();
///
/// let app: axum::Router = axum::Router::new().merge(health.routes());
/// health.readiness().mark_started();
///
/// assert_eq!(health.report().await.status(), Status::Pass);
/// # let _ = app;
/// # }
/// ```
#[derive(Clone)]
pub struct Health {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    checks: Vec<Registered>,
    cache_ttl: Duration,
    pub(crate) show_details: ShowDetails,
    readiness: ReadinessGate,
    /// Completed runs, bumped under `state`'s lock.
    runs: AtomicU64,
    state: Mutex<RunState>,
    latest: watch::Sender<Option<Arc<HealthReport>>>,
}

struct RunState {
    last: Option<(Instant, Arc<HealthReport>)>,
    last_success: Vec<Option<SystemTime>>,
}

impl Health {
    /// A `Health` without checks, with default settings: the detailed report
    /// always passes, and readiness only waits for
    /// [`mark_started`](ReadinessGate::mark_started).
    ///
    /// ```
    /// let health = belfry_health::Health::new();
    /// assert!(!health.readiness().is_ready());
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to register checks and change defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use belfry_health::{check_fn, Health};
    ///
    /// let health = Health::builder()
    ///     .check("db", check_fn(|| async { true }))
    ///     .timeout(Duration::from_millis(500))
    ///     .cache_ttl(Duration::from_secs(2))
    ///     .build();
    /// # let _ = health;
    /// ```
    pub fn builder() -> HealthBuilder {
        HealthBuilder::default()
    }

    /// The readiness gate `/health/ready` consults.
    ///
    /// ```
    /// let health = belfry_health::Health::new();
    /// health.readiness().mark_started();
    /// assert!(health.readiness().is_ready());
    /// ```
    pub fn readiness(&self) -> &ReadinessGate {
        &self.inner.readiness
    }

    /// The current report: the cached one if younger than the cache TTL,
    /// else the result of a new run (shared with concurrent callers).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let report = belfry_health::Health::new().report().await;
    /// assert_eq!(report.status(), belfry_health::Status::Pass);
    /// # }
    /// ```
    pub async fn report(&self) -> Arc<HealthReport> {
        self.run(false).await
    }

    /// Runs the checks now, whatever the cache's age (a run already in
    /// flight is shared rather than doubled).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = belfry_health::Health::new();
    /// let report = health.refresh().await;
    /// assert!(std::sync::Arc::ptr_eq(&report, &health.last_report().unwrap()));
    /// # }
    /// ```
    pub async fn refresh(&self) -> Arc<HealthReport> {
        self.run(true).await
    }

    /// The latest report, without running anything; `None` before the first
    /// run. Cheap: meant for exporters (metrics) that read it on their own
    /// schedule.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = belfry_health::Health::new();
    /// assert!(health.last_report().is_none());
    /// health.report().await;
    /// assert!(health.last_report().is_some());
    /// # }
    /// ```
    pub fn last_report(&self) -> Option<Arc<HealthReport>> {
        self.inner.latest.borrow().clone()
    }

    /// A receiver notified of every new report, for listeners that want to
    /// react to changes rather than poll [`last_report`](Health::last_report).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = belfry_health::Health::new();
    /// let mut reports = health.subscribe();
    /// health.refresh().await;
    /// reports.changed().await.unwrap();
    /// assert!(reports.borrow_and_update().is_some());
    /// # }
    /// ```
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<HealthReport>>> {
        self.inner.latest.subscribe()
    }

    /// Spawns a task that [`refresh`](Health::refresh)es the report every
    /// `every`, starting now, so [`last_report`](Health::last_report) stays
    /// current without probes. Pick `every` shorter than the cache TTL for
    /// probes to be answered from the cache without waiting.
    ///
    /// The task stops once every clone of this `Health` is dropped, or when
    /// the returned handle is aborted. Must be called within a tokio runtime.
    ///
    /// # Panics
    ///
    /// If `every` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = belfry_health::Health::new();
    /// let mut reports = health.subscribe();
    /// let task = health.spawn_refresh(Duration::from_secs(10));
    /// reports.changed().await.unwrap(); // the first run
    /// task.abort();
    /// # }
    /// ```
    pub fn spawn_refresh(&self, every: Duration) -> JoinHandle<()> {
        assert!(!every.is_zero(), "refresh interval must be non-zero");
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Health { inner }.refresh().await;
            }
        })
    }

    async fn run(&self, force: bool) -> Arc<HealthReport> {
        let inner = &*self.inner;
        let runs_before = inner.runs.load(Ordering::Acquire);
        let mut state = inner.state.lock().await;
        if let Some((at, report)) = &state.last {
            // A run that finished while we waited for the lock started after
            // we asked: share it. Otherwise use the cache while it is fresh.
            let shared = inner.runs.load(Ordering::Acquire) != runs_before;
            if shared || (!force && at.elapsed() < inner.cache_ttl) {
                return report.clone();
            }
        }
        let RunState { last, last_success } = &mut *state;
        let previous = last.as_ref().map(|(_, report)| &**report);
        let report = Arc::new(runner::run_all(&inner.checks, last_success, previous).await);
        state.last = Some((Instant::now(), report.clone()));
        inner.runs.fetch_add(1, Ordering::AcqRel);
        inner.latest.send_replace(Some(report.clone()));
        report
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.checks.iter().map(|c| &*c.name).collect();
        f.debug_struct("Health")
            .field("checks", &names)
            .field("cache_ttl", &self.inner.cache_ttl)
            .field("show_details", &self.inner.show_details)
            .field("readiness", &self.inner.readiness)
            .finish()
    }
}

/// How one check counts: critical or not, for readiness or not, and its
/// timeout.
///
/// Defaults: critical; counts for readiness exactly when critical; the
/// [`HealthBuilder::timeout`] (2 s unless changed).
///
/// ```
/// use std::time::Duration;
/// use belfry_health::{check_fn, CheckOptions, Health};
///
/// let health = Health::builder()
///     // A cache outage degrades the service (`warn`) but keeps it in rotation.
///     .check_with("cache", check_fn(|| async { true }), CheckOptions::new().critical(false))
///     // Critical for `/health`, but a slow upstream must not pull us out of rotation.
///     .check_with(
///         "billing",
///         check_fn(|| async { true }),
///         CheckOptions::new().readiness(false).timeout(Duration::from_secs(5)),
///     )
///     .build();
/// # let _ = health;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    non_critical: bool,
    readiness: Option<bool>,
    timeout: Option<Duration>,
}

impl CheckOptions {
    /// The defaults: critical, counts for readiness, builder-wide timeout.
    ///
    /// ```
    /// let _ = belfry_health::CheckOptions::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a failure of this check fails the whole report (`true`, the
    /// default) or only makes it `warn`.
    ///
    /// ```
    /// let _ = belfry_health::CheckOptions::new().critical(false);
    /// ```
    pub fn critical(mut self, critical: bool) -> Self {
        self.non_critical = !critical;
        self
    }

    /// Whether a failure of this check makes `/health/ready` answer 503.
    /// Defaults to whether the check is critical.
    ///
    /// ```
    /// let _ = belfry_health::CheckOptions::new().critical(false).readiness(true);
    /// ```
    pub fn readiness(mut self, readiness: bool) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// How long this check may run before it counts as `fail` with the
    /// message `timed out`.
    ///
    /// ```
    /// let _ = belfry_health::CheckOptions::new().timeout(std::time::Duration::from_millis(300));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Builds a [`Health`]; see [`Health::builder`].
///
/// ```
/// use belfry_health::{check_fn, Health, ShowDetails};
///
/// let health = Health::builder()
///     .check("db", check_fn(|| async { true }))
///     .show_details(ShowDetails::bearer_token("s3cret"))
///     .start_ready(true)
///     .build();
/// assert!(health.readiness().is_ready());
/// ```
pub struct HealthBuilder {
    checks: Vec<(Arc<str>, Box<dyn HealthCheck>, CheckOptions)>,
    timeout: Duration,
    cache_ttl: Duration,
    show_details: ShowDetails,
    start_ready: bool,
}

impl Default for HealthBuilder {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
            show_details: ShowDetails::default(),
            start_ready: false,
        }
    }
}

impl HealthBuilder {
    /// Registers a critical check, counting for readiness, with the default
    /// timeout.
    ///
    /// # Panics
    ///
    /// If a check with the same name is already registered.
    ///
    /// ```
    /// use belfry_health::{check_fn, checks::TcpCheck, Health};
    ///
    /// let health = Health::builder()
    ///     .check("postgres", TcpCheck::new("127.0.0.1:5432"))
    ///     .check("feature-flags", check_fn(|| async { true }))
    ///     .build();
    /// # let _ = health;
    /// ```
    pub fn check(self, name: impl Into<String>, check: impl HealthCheck) -> Self {
        self.check_with(name, check, CheckOptions::new())
    }

    /// Registers a check with explicit [`CheckOptions`].
    ///
    /// # Panics
    ///
    /// If a check with the same name is already registered.
    ///
    /// ```
    /// use belfry_health::{check_fn, CheckOptions, Health};
    ///
    /// let health = Health::builder()
    ///     .check_with("cache", check_fn(|| async { true }), CheckOptions::new().critical(false))
    ///     .build();
    /// # let _ = health;
    /// ```
    pub fn check_with(
        mut self,
        name: impl Into<String>,
        check: impl HealthCheck,
        options: CheckOptions,
    ) -> Self {
        let name: Arc<str> = name.into().into();
        assert!(
            self.checks.iter().all(|(existing, _, _)| *existing != name),
            "a health check named `{name}` is already registered"
        );
        self.checks.push((name, Box::new(check), options));
        self
    }

    /// The timeout of checks that do not set their own (default 2 s).
    ///
    /// ```
    /// let _ = belfry_health::Health::builder().timeout(std::time::Duration::from_secs(1));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a report is reused before probes run the checks again
    /// (default 1 s). Zero disables caching, but concurrent probes still
    /// share one run.
    ///
    /// ```
    /// let _ = belfry_health::Health::builder().cache_ttl(std::time::Duration::from_secs(5));
    /// ```
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Who may see check details (default: everyone).
    ///
    /// ```
    /// let _ = belfry_health::Health::builder().show_details(belfry_health::ShowDetails::never());
    /// ```
    pub fn show_details(mut self, show_details: ShowDetails) -> Self {
        self.show_details = show_details;
        self
    }

    /// Whether the app counts as started from the beginning, so readiness
    /// needs no [`mark_started`](ReadinessGate::mark_started) (default
    /// `false`).
    ///
    /// ```
    /// let health = belfry_health::Health::builder().start_ready(true).build();
    /// assert!(health.readiness().is_ready());
    /// ```
    pub fn start_ready(mut self, start_ready: bool) -> Self {
        self.start_ready = start_ready;
        self
    }

    /// Builds the [`Health`].
    ///
    /// ```
    /// let health = belfry_health::Health::builder().build();
    /// # let _ = health;
    /// ```
    pub fn build(self) -> Health {
        let checks: Vec<Registered> = self
            .checks
            .into_iter()
            .map(|(name, check, options)| Registered {
                name,
                check,
                critical: !options.non_critical,
                readiness: options.readiness.unwrap_or(!options.non_critical),
                timeout: options.timeout.unwrap_or(self.timeout),
            })
            .collect();
        let readiness = if self.start_ready {
            ReadinessGate::started()
        } else {
            ReadinessGate::new()
        };
        Health {
            inner: Arc::new(Inner {
                state: Mutex::new(RunState {
                    last: None,
                    last_success: vec![None; checks.len()],
                }),
                checks,
                cache_ttl: self.cache_ttl,
                show_details: self.show_details,
                readiness,
                runs: AtomicU64::new(0),
                latest: watch::Sender::new(None),
            }),
        }
    }
}

impl fmt::Debug for HealthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|(name, _, _)| &**name).collect();
        f.debug_struct("HealthBuilder")
            .field("checks", &names)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("show_details", &self.show_details)
            .field("start_ready", &self.start_ready)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_fn, CheckFuture, CheckOutcome, Status};
    use std::sync::atomic::AtomicUsize;

    /// Counts its runs; each takes `delay`.
    #[derive(Clone, Default)]
    struct Counting {
        runs: Arc<AtomicUsize>,
        delay: Duration,
    }

    impl HealthCheck for Counting {
        fn check(&self) -> CheckFuture<'_> {
            Box::pin(async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                CheckOutcome::pass()
            })
        }
    }

    impl Counting {
        fn runs(&self) -> usize {
            self.runs.load(Ordering::SeqCst)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_probes_share_one_run() {
        let check = Counting {
            delay: Duration::from_millis(100),
            ..Default::default()
        };
        let health = Health::builder()
            .check("counting", check.clone())
            .cache_ttl(Duration::ZERO)
            .build();

        let probes = (0..50).map(|_| {
            let health = health.clone();
            tokio::spawn(async move { health.report().await })
        });
        let reports = futures_util::future::join_all(probes).await;

        assert_eq!(check.runs(), 1);
        let first = reports[0].as_ref().unwrap();
        assert!(reports.iter().all(|r| Arc::ptr_eq(r.as_ref().unwrap(), first)));
    }

    #[tokio::test(start_paused = true)]
    async fn cache_expires_after_ttl() {
        let check = Counting::default();
        let health = Health::builder()
            .check("counting", check.clone())
            .cache_ttl(Duration::from_secs(1))
            .build();

        let first = health.report().await;
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(Arc::ptr_eq(&health.report().await, &first));
        assert_eq!(check.runs(), 1);

        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!Arc::ptr_eq(&health.report().await, &first));
        assert_eq!(check.runs(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_ignores_the_cache() {
        let check = Counting::default();
        let health = Health::builder().check("counting", check.clone()).build();
        health.report().await;
        health.refresh().await;
        assert_eq!(check.runs(), 2);
        assert_eq!(health.last_report().unwrap().status(), Status::Pass);
    }

    #[tokio::test(start_paused = true)]
    async fn background_refresh_updates_last_report() {
        let check = Counting::default();
        let health = Health::builder().check("counting", check.clone()).build();
        let mut reports = health.subscribe();
        let task = health.spawn_refresh(Duration::from_secs(10));

        reports.changed().await.unwrap();
        assert_eq!(check.runs(), 1);
        reports.changed().await.unwrap();
        assert_eq!(check.runs(), 2);

        drop(reports);
        drop(health);
        // The task notices that the last `Health` is gone and ends.
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("refresh task should stop")
            .unwrap();
    }

    #[tokio::test]
    async fn options_resolve_defaults() {
        let health = Health::builder()
            .check("critical", check_fn(|| async { true }))
            .check_with(
                "optional",
                check_fn(|| async { true }),
                CheckOptions::new().critical(false),
            )
            .check_with(
                "tagged",
                check_fn(|| async { true }),
                CheckOptions::new().critical(false).readiness(true),
            )
            .timeout(Duration::from_secs(7))
            .build();
        let flags: Vec<_> = health
            .inner
            .checks
            .iter()
            .map(|c| (c.critical, c.readiness, c.timeout.as_secs()))
            .collect();
        assert_eq!(flags, [(true, true, 7), (false, false, 7), (false, true, 7)]);
    }

    #[test]
    #[should_panic(expected = "already registered")]
    fn duplicate_names_panic() {
        let _ = Health::builder()
            .check("db", check_fn(|| async { true }))
            .check("db", check_fn(|| async { true }));
    }
}
