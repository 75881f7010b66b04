//! [`Metrics`]: the shared registry, with the HTTP, process and health metrics built in.

use std::{
    fmt,
    sync::{Arc, PoisonError, RwLock},
    time::SystemTime,
};

use prometheus_client::{collector::Collector, encoding::text, registry::Metric, registry::Registry};

use crate::{
    exemplar::{insert_exemplars, ScrapeExemplars},
    health::{HealthCheckCollector, HealthCheckSample},
    http_client::{ClientSeries, HttpClientCollector},
    http_metrics::{HttpServerCollector, HttpServerMetrics},
    HttpClientMetrics, HttpMetricsLayer, HTTP_SERVER_REQUEST_DURATION,
};

/// Whether a rendering carries the exemplars of [`HTTP_SERVER_REQUEST_DURATION`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exemplars {
    /// OpenMetrics scrapes.
    Include,
    /// The Prometheus text format, which has none.
    Omit,
}

/// The application's metrics: a prometheus-client [`Registry`] holding the HTTP RED metrics, the
/// process metrics (Linux) and whatever the application registers.
///
/// A cheap handle: clones share the registry. Register at set-up; registering later works too
/// (the registry sits behind a lock taken only by registration and scrapes, never by requests).
///
/// ```
/// use belfry_metrics::Metrics;
/// use prometheus_client::metrics::counter::Counter;
///
/// let metrics = Metrics::new();
/// let logins: Counter = metrics.register("logins", "Successful logins", Counter::default());
/// logins.inc();
/// let text = metrics.render();
/// assert!(text.contains("logins_total 1\n"));
/// assert!(text.ends_with("# EOF\n"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
}

struct Shared {
    registry: RwLock<Registry>,
    http: Arc<HttpServerMetrics>,
    http_client: Arc<ClientSeries>,
    /// When counting started, for exporters that push cumulative values.
    created: SystemTime,
}

impl Metrics {
    /// A registry with the HTTP metrics and, on Linux, the process metrics registered.
    ///
    /// ```
    /// let metrics = belfry_metrics::Metrics::new();
    /// # #[cfg(target_os = "linux")]
    /// assert!(metrics.render().contains(belfry_metrics::PROCESS_RESIDENT_MEMORY));
    /// ```
    pub fn new() -> Self {
        let http = Arc::new(HttpServerMetrics::new());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(HttpServerCollector(Arc::clone(&http))));
        let http_client = Arc::new(ClientSeries::new());
        registry.register_collector(Box::new(HttpClientCollector(Arc::clone(&http_client))));
        #[cfg(target_os = "linux")]
        registry.register_collector(Box::new(crate::process::ProcessCollector));
        Self {
            shared: Arc::new(Shared {
                registry: RwLock::new(registry),
                http,
                http_client,
                created: SystemTime::now(),
            }),
        }
    }

    /// The middleware recording the HTTP metrics into this registry.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    ///
    /// let metrics = belfry_metrics::Metrics::new();
    /// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(metrics.layer());
    /// # let _ = app;
    /// ```
    pub fn layer(&self) -> HttpMetricsLayer {
        HttpMetricsLayer::new(self)
    }

    /// The recorder of outgoing HTTP calls, exported as
    /// [`HTTP_CLIENT_REQUEST_DURATION`](crate::HTTP_CLIENT_REQUEST_DURATION) in this registry.
    /// Every call returns a handle to the same series.
    ///
    /// ```
    /// use belfry_metrics::Metrics;
    /// use http::{Method, StatusCode};
    /// use std::time::Duration;
    ///
    /// let metrics = Metrics::new();
    /// let client = metrics.http_client();
    /// client.record(&Method::GET, "upstream", Some(StatusCode::OK), None, Duration::from_millis(3));
    /// metrics.http_client().record(&Method::GET, "upstream", Some(StatusCode::OK), None, Duration::from_millis(4));
    /// assert!(metrics.render().contains(r#"server_address="upstream",http_response_status_code="200",error_type=""} 2"#));
    /// ```
    pub fn http_client(&self) -> HttpClientMetrics {
        HttpClientMetrics::new(Arc::clone(&self.shared.http_client))
    }

    /// Registers an application metric and returns it, ready to record. prometheus-client metrics
    /// are handles, so the returned value and the registered one are the same metric.
    ///
    /// Do not suffix counters with `_total`: the encoder adds it. A name already used by another
    /// metric makes the exposition invalid.
    ///
    /// ```
    /// use belfry_metrics::Metrics;
    /// use prometheus_client::metrics::{counter::Counter, family::Family};
    ///
    /// let metrics = Metrics::new();
    /// let cache = metrics.register(
    ///     "cache_lookups",
    ///     "Cache lookups by result",
    ///     Family::<[(&'static str, &'static str); 1], Counter>::default(),
    /// );
    /// // Fetch the handles once: `get_or_create` locks and hashes, `inc` is one atomic add.
    /// let hits = cache.get_or_create(&[("result", "hit")]).clone();
    /// let misses = cache.get_or_create(&[("result", "miss")]).clone();
    /// hits.inc();
    /// hits.inc();
    /// misses.inc();
    /// let text = metrics.render();
    /// assert!(text.contains(r#"cache_lookups_total{result="hit"} 2"#));
    /// assert!(text.contains(r#"cache_lookups_total{result="miss"} 1"#));
    /// ```
    pub fn register<M>(&self, name: impl Into<String>, help: impl Into<String>, metric: M) -> M
    where
        M: Metric + Clone,
    {
        self.with_registry(|registry| registry.register(name, help, metric.clone()));
        metric
    }

    /// Registers a [`Collector`], called on each scrape to encode metrics computed on the spot.
    ///
    /// ```
    /// use belfry_metrics::Metrics;
    /// use prometheus_client::{
    ///     collector::Collector,
    ///     encoding::{DescriptorEncoder, EncodeMetric},
    ///     metrics::gauge::ConstGauge,
    /// };
    ///
    /// #[derive(Debug)]
    /// struct QueueDepth;
    ///
    /// impl Collector for QueueDepth {
    ///     fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
    ///         let gauge = ConstGauge::new(3i64);
    ///         let metric = encoder.encode_descriptor("queue_depth", "Jobs waiting", None, gauge.metric_type())?;
    ///         gauge.encode(metric)
    ///     }
    /// }
    ///
    /// let metrics = Metrics::new();
    /// metrics.register_collector(QueueDepth);
    /// assert!(metrics.render().contains("queue_depth 3\n"));
    /// ```
    pub fn register_collector(&self, collector: impl Collector) {
        self.with_registry(|registry| registry.register_collector(Box::new(collector)));
    }

    /// Exports health-check results as [`HEALTH_CHECK_STATUS`](crate::HEALTH_CHECK_STATUS) and
    /// [`HEALTH_CHECK_DURATION`](crate::HEALTH_CHECK_DURATION), labelled by check name.
    ///
    /// `samples` is called on each scrape and must not block: return the latest results your
    /// health runner has, rather than running the checks. A name seen twice keeps its first
    /// sample.
    ///
    /// ```
    /// use belfry_metrics::{HealthCheckSample, HealthCheckStatus, Metrics};
    /// use std::time::Duration;
    ///
    /// let metrics = Metrics::new();
    /// metrics.register_health_checks(|| {
    ///     vec![
    ///         HealthCheckSample::new("postgres", HealthCheckStatus::Pass, Duration::from_millis(3)),
    ///         HealthCheckSample::new("disk", HealthCheckStatus::Warn, Duration::from_millis(1)),
    ///     ]
    /// });
    /// let text = metrics.render();
    /// assert!(text.contains(r#"belfry_health_check_status{check="postgres",critical="true"} 1.0"#));
    /// assert!(text.contains(r#"belfry_health_check_status{check="disk",critical="true"} 0.5"#));
    /// assert!(text.contains(r#"belfry_health_check_duration_seconds{check="postgres"} 0.003"#));
    /// ```
    pub fn register_health_checks<F>(&self, samples: F)
    where
        F: Fn() -> Vec<HealthCheckSample> + Send + Sync + 'static,
    {
        self.register_collector(HealthCheckCollector::new(samples));
    }

    /// Runs `f` with the registry, for what the other methods do not cover (prefixes, constant
    /// labels, units). `f` runs under the registry's write lock: it must not call back into this
    /// `Metrics` (a scrape or a registration from `f` would deadlock).
    ///
    /// ```
    /// use belfry_metrics::Metrics;
    /// use prometheus_client::{metrics::counter::Counter, registry::Unit};
    ///
    /// let metrics = Metrics::new();
    /// let busy: Counter<f64> = Counter::default();
    /// metrics.with_registry(|registry| {
    ///     registry
    ///         .sub_registry_with_prefix("worker")
    ///         .register_with_unit("busy", "Time spent working", Unit::Seconds, busy.clone());
    /// });
    /// busy.inc_by(1.5);
    /// assert!(metrics.render().contains("worker_busy_seconds_total 1.5\n"));
    /// ```
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self
            .shared
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Encodes every metric in the OpenMetrics text format, ending with `# EOF`, exemplars of
    /// [`HTTP_SERVER_REQUEST_DURATION`] included (see [the crate docs](crate#exemplars)). Should a
    /// collector fail (prometheus-client's own never do), the result is a bare `# EOF`;
    /// [`router`](Self::router) answers 500 instead.
    ///
    /// ```
    /// let text = belfry_metrics::Metrics::new().render();
    /// assert!(text.ends_with("# EOF\n"));
    /// ```
    pub fn render(&self) -> String {
        self.try_render(Exemplars::Include)
            .unwrap_or_else(|_| String::from("# EOF\n"))
    }

    /// [`render`](Self::render), reporting a failing collector instead of hiding it.
    pub(crate) fn try_render(&self, exemplars: Exemplars) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(8 * 1024);
        let registry = self
            .shared
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if exemplars == Exemplars::Omit {
            text::encode(&mut text, &registry)?;
            return Ok(text);
        }
        let scrape = ScrapeExemplars::start();
        text::encode(&mut text, &registry)?;
        let exemplars = scrape.finish();
        Ok(insert_exemplars(text, HTTP_SERVER_REQUEST_DURATION, &exemplars))
    }

    /// Whether `self` and `other` are handles to the same registry.
    ///
    /// ```
    /// let metrics = belfry_metrics::Metrics::new();
    /// assert!(metrics.same_registry(&metrics.clone()));
    /// assert!(!metrics.same_registry(&belfry_metrics::Metrics::new()));
    /// ```
    pub fn same_registry(&self, other: &Metrics) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    pub(crate) fn http(&self) -> &Arc<HttpServerMetrics> {
        &self.shared.http
    }

    pub(crate) fn http_client_series(&self) -> &ClientSeries {
        &self.shared.http_client
    }

    pub(crate) fn created(&self) -> SystemTime {
        self.shared.created
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
