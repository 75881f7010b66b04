//! Log lines dropped because the log output could not keep up:
//! [`Metrics::register_log_lines_dropped`].
//!
//! This crate knows nothing of the log writer: the application (belfry's facade) passes a
//! closure reading its counters.

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::counter::ConstCounter,
};

use crate::Metrics;

/// `belfry_log_lines_dropped_total{level}`: log lines dropped because the log output could not
/// keep up (the encoder adds `_total`).
pub const LOG_LINES_DROPPED: &str = "belfry_log_lines_dropped";

/// The label of [`LOG_LINES_DROPPED`]: `trace`, `debug`, `info`, `warn` or `error`.
pub const LOG_LEVEL_LABEL: &str = "level";

impl Metrics {
    /// Exports [`LOG_LINES_DROPPED`], one counter per level; `counts` is called on each scrape
    /// and returns `(level, lines dropped since start)`.
    ///
    /// ```
    /// let metrics = belfry_metrics::Metrics::new();
    /// metrics.register_log_lines_dropped(|| [("info", 12), ("warn", 0)]);
    /// let text = metrics.render();
    /// assert!(text.contains("# TYPE belfry_log_lines_dropped counter\n"));
    /// assert!(text.contains("belfry_log_lines_dropped_total{level=\"info\"} 12\n"));
    /// assert!(text.contains("belfry_log_lines_dropped_total{level=\"warn\"} 0\n"));
    /// ```
    pub fn register_log_lines_dropped<F, C>(&self, counts: F)
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: IntoIterator<Item = (&'static str, u64)>,
    {
        self.register_collector(LogLinesDropped(counts));
    }
}

struct LogLinesDropped<F>(F);

impl<F> fmt::Debug for LogLinesDropped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLinesDropped").finish_non_exhaustive()
    }
}

impl<F, C> Collector for LogLinesDropped<F>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: IntoIterator<Item = (&'static str, u64)>,
{
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut family = encoder.encode_descriptor(
            LOG_LINES_DROPPED,
            "Log lines dropped because the log output could not keep up",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (level, count) in (self.0)() {
            let counter = ConstCounter::new(count);
            counter.encode(family.encode_family(&[(LOG_LEVEL_LABEL, level)])?)?;
        }
        Ok(())
    }
}
