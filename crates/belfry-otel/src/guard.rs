//! [`OtelGuard`]: dropping it exports what is queued and stops the exporters, within a bound.

use std::{sync::mpsc, time::Duration};

use opentelemetry_sdk::logs::SdkLoggerProvider;

#[cfg(feature = "metrics")]
use crate::metrics::MetricsThread;
use crate::trace::SpanQueue;

/// Keeps the OTLP exporters running; dropping it exports what is queued and stops them,
/// waiting at most the export timeout ([`OtelSettings::flush_timeout`](crate::OtelSettings::flush_timeout)):
/// a collector that is down or never answers never holds up the shutdown longer than that.
#[must_use = "dropping the guard stops the OTLP export: hold it until the end of main"]
#[derive(Debug)]
pub struct OtelGuard {
    pub(crate) spans: Option<SpanQueue>,
    pub(crate) logs: Option<SdkLoggerProvider>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<MetricsThread>,
    pub(crate) timeout: Duration,
}

impl OtelGuard {
    /// How long dropping the guard may wait.
    pub fn flush_timeout(&self) -> Duration {
        self.timeout
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        let timeout = self.timeout;
        let (done, finished) = mpsc::channel::<()>();
        let mut waiting = 0;
        // Traces, logs and metrics flush side by side, each on a thread of its own, so the bound holds
        // for both together; a thread still stuck in a send when the bound passes is left to
        // finish (or die with the process).
        if let Some(spans) = self.spans.take() {
            let done = done.clone();
            waiting += usize::from(
                std::thread::Builder::new()
                    .name("belfry-otel-flush".into())
                    .spawn(move || {
                        let _ = spans.shutdown(timeout);
                        let _ = done.send(());
                    })
                    .is_ok(),
            );
        }
        if let Some(logs) = self.logs.take() {
            let done = done.clone();
            waiting += usize::from(
                std::thread::Builder::new()
                    .name("belfry-otel-flush".into())
                    .spawn(move || {
                        let _ = logs.shutdown_with_timeout(timeout);
                        let _ = done.send(());
                    })
                    .is_ok(),
            );
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics.take() {
            let done = done.clone();
            waiting += usize::from(
                std::thread::Builder::new()
                    .name("belfry-otel-flush".into())
                    .spawn(move || {
                        metrics.shutdown();
                        let _ = done.send(());
                    })
                    .is_ok(),
            );
        }
        let deadline = std::time::Instant::now() + timeout + Duration::from_millis(100);
        for _ in 0..waiting {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if finished.recv_timeout(left).is_err() {
                break;
            }
        }
    }
}
