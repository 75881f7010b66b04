//! Instrumented background tasks: start and finish events, failures and panics reported in the
//! context of the request that started the task, and metrics.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let belfry = belfry::Belfry::new();
//! let tasks = belfry.tasks();
//! let handle = tasks.spawn("reindex", async {
//!     // ... the work ...
//!     Ok::<_, std::io::Error>(42)
//! });
//! assert_eq!(handle.await.unwrap(), Some(42));
//! assert!(belfry.metrics().render().contains(r#"belfry_task_runs_total{task="reindex",outcome="succeeded"} 1"#));
//! # }
//! ```
//!
//! Each task logs `task started` and `task finished` (target `belfry::task`, fields
//! `task.name`, `task.outcome` = `succeeded` | `failed` | `panicked`, `duration_ms`) inside the
//! span of the request that spawned it, so both carry its `request_id`. A failure is logged at
//! ERROR with its error chain and, with the `sentry` feature, sent to Sentry once (tagged
//! `task.name`, and `request_id` through the request's hub); a panic is logged (and sent) once
//! by belfry's panic hook, and the finish line says `panicked`. Metrics: `belfry_task_duration_seconds{task,outcome}` (histogram),
//! `belfry_task_runs_total{task,outcome}`, `belfry_tasks_in_flight{task}`. Retries are the
//! application's business; [`log_retry`] writes the line an operator looks for.

use std::{fmt::Display, future::Future, panic::AssertUnwindSafe, time::Instant};

use belfry_capture::ErrorReport;

use crate::stack::StackReporter;
#[cfg(feature = "metrics")]
use belfry_metrics::{
    prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge},
    AtomicHistogram, Metrics,
};
use futures_util::FutureExt;
use tokio::task::JoinHandle;

/// Target of the task events, for filters (`RUST_LOG=info,belfry::task=warn`).
pub const TARGET: &str = "belfry::task";

/// Buckets of `belfry_task_duration_seconds`: tasks run from milliseconds to hours.
pub const TASK_DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

#[cfg(feature = "metrics")]
type TaskOutcomeLabels = [(&'static str, &'static str); 2];
#[cfg(feature = "metrics")]
type TaskLabels = [(&'static str, &'static str); 1];

#[cfg(feature = "metrics")]
fn new_task_histogram() -> AtomicHistogram {
    AtomicHistogram::new(TASK_DURATION_BUCKETS)
}

/// Spawns instrumented tasks; cheap to clone. Get one from [`Belfry::tasks`](crate::Belfry::tasks).
#[derive(Clone, Default)]
pub struct Tasks {
    /// The task metrics (feature `metrics`).
    #[cfg(feature = "metrics")]
    metrics: Option<TaskMetrics>,
}

#[cfg(feature = "metrics")]
#[derive(Clone)]
struct TaskMetrics {
    durations: Family<TaskOutcomeLabels, AtomicHistogram, fn() -> AtomicHistogram>,
    runs: Family<TaskOutcomeLabels, Counter>,
    in_flight: Family<TaskLabels, Gauge>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// It returned `Ok`.
    Succeeded,
    /// It returned `Err`.
    Failed,
    /// It panicked.
    Panicked,
}

impl TaskOutcome {
    /// `succeeded`, `failed` or `panicked`: the `outcome` label and `task.outcome` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Panicked => "panicked",
        }
    }
}

impl Tasks {
    /// Registers the task metrics on `metrics`.
    #[cfg(feature = "metrics")]
    pub(crate) fn register(metrics: &Metrics) -> Self {
        let durations = metrics.register(
            "belfry_task_duration_seconds",
            "Duration of background tasks by name and outcome",
            Family::new_with_constructor(new_task_histogram as fn() -> AtomicHistogram),
        );
        let runs = metrics.register(
            "belfry_task_runs",
            "Background task runs by name and outcome",
            Family::default(),
        );
        let in_flight = metrics.register(
            "belfry_tasks_in_flight",
            "Background tasks running now",
            Family::default(),
        );
        Self {
            metrics: Some(TaskMetrics {
                durations,
                runs,
                in_flight,
            }),
        }
    }

    /// Spawns `task` on the current tokio runtime in the context of the current request (its
    /// span, Sentry hub and trace: the task gets a [child span](belfry_trace_context::TraceContext::child_span),
    /// [current](belfry_trace_context::TraceContext::current) while it runs). The handle yields `Some(value)` on success and `None` when the
    /// task failed or panicked (both already reported).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like [`tokio::spawn`].
    ///
    /// The error type is anything that converts into `Box<dyn Error + Send + Sync>`: any
    /// `std::error::Error + Send + Sync`, `anyhow::Error`, `Box<dyn Error + Send + Sync>`, a
    /// `String`:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let belfry = belfry::Belfry::new();
    /// let handle = belfry.tasks().spawn("sync-accounts", async {
    ///     let failure: Result<(), Box<dyn std::error::Error + Send + Sync>> = Err("upstream gone".into());
    ///     failure
    /// });
    /// assert_eq!(handle.await.unwrap(), None); // failed, and reported
    /// assert!(belfry.metrics().render().contains(r#"belfry_task_runs_total{task="sync-accounts",outcome="failed"} 1"#));
    /// # }
    /// ```
    pub fn spawn<F, T, E>(&self, name: &'static str, task: F) -> JoinHandle<Option<T>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let tasks = self.clone();
        let run = async move { tasks.run(name, task).await };
        // The task is a span of its own in the request's trace: downstream calls it makes name
        // it as their parent.
        // Bound to the stack's reporter even outside requests: with Sentry, every task gets a
        // hub of its own (its `task.name` tag stays its own).
        match belfry_trace_context::TraceContext::current() {
            Some(trace) => tokio::spawn(belfry_capture::bind_reporter_context::<StackReporter, _>(
                trace.child_span().scope(run),
            )),
            None => tokio::spawn(belfry_capture::bind_reporter_context::<StackReporter, _>(run)),
        }
    }

    async fn run<F, T, E>(self, name: &'static str, task: F) -> Option<T>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        #[cfg(feature = "sentry")]
        belfry_sentry::sentry::configure_scope(|scope| scope.set_tag("task.name", name));
        tracing::event!(target: TARGET, tracing::Level::INFO, task.name = name, "task started");
        #[cfg(feature = "metrics")]
        let in_flight = self
            .metrics
            .as_ref()
            .map(|metrics| metrics.in_flight.get_or_create(&[("task", name)]).clone());
        #[cfg(feature = "metrics")]
        if let Some(in_flight) = &in_flight {
            in_flight.inc();
        }
        let started = Instant::now();
        let result = AssertUnwindSafe(task).catch_unwind().await;
        #[cfg(feature = "metrics")]
        if let Some(in_flight) = &in_flight {
            in_flight.dec();
        }
        let duration = started.elapsed();
        let duration_ms = duration.as_secs_f64() * 1000.0;
        let (outcome, value) = match result {
            Ok(Ok(value)) => {
                tracing::event!(target: TARGET, tracing::Level::INFO, task.name = name, task.outcome = "succeeded", duration_ms, "task finished");
                (TaskOutcome::Succeeded, Some(value))
            }
            Ok(Err(error)) => {
                let report = ErrorReport::from_boxed(error.into());
                tracing::event!(target: TARGET, tracing::Level::ERROR,
                    task.name = name,
                    task.outcome = "failed",
                    duration_ms,
                    error.message = %report.error(),
                    error.chain = %report,
                    "task finished"
                );
                #[cfg(feature = "sentry")]
                belfry_sentry::sentry::capture_error(report.error());
                (TaskOutcome::Failed, None)
            }
            Err(payload) => {
                // The panic hook has logged it (with its location) and sent it to Sentry.
                let message = belfry_capture::panic_message(&*payload);
                tracing::event!(target: TARGET, tracing::Level::ERROR,
                    task.name = name,
                    task.outcome = "panicked",
                    duration_ms,
                    panic.message = message,
                    "task finished"
                );
                (TaskOutcome::Panicked, None)
            }
        };
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            let labels = [("task", name), ("outcome", outcome.as_str())];
            metrics
                .durations
                .get_or_create(&labels)
                .observe_duration(duration);
            metrics.runs.get_or_create(&labels).inc();
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (outcome, duration);
        value
    }
}

/// Logs that task `name` will retry: WARN `task retry` with `task.name`, `task.attempt`, the
/// reason and the delay before the next attempt.
///
/// ```
/// use std::time::Duration;
///
/// belfry::task::log_retry("reindex", 2, &"search cluster busy", Duration::from_secs(5));
/// ```
pub fn log_retry(name: &str, attempt: u32, reason: &dyn Display, delay: std::time::Duration) {
    tracing::event!(target: TARGET, tracing::Level::WARN,
        task.name = name,
        task.attempt = attempt,
        retry.reason = %reason,
        retry.delay_ms = delay.as_millis() as u64,
        "task retry"
    );
}

#[cfg(test)]
mod tests {
    use belfry_trace_context::TraceContext;

    #[cfg(feature = "otel")]
    #[test]
    fn the_otlp_bridge_reads_the_task_target_belfry_writes() {
        assert_eq!(super::TARGET, belfry_otel::TASK_TARGET);
    }

    #[tokio::test]
    async fn a_task_is_a_child_span_of_the_request_that_spawned_it() {
        let tasks = crate::Belfry::new().tasks();
        let request = TraceContext::new_root(true);
        let handle = request.in_scope(|| {
            tasks.spawn("trace-child", async {
                Ok::<_, std::io::Error>(TraceContext::current().expect("the task's context"))
            })
        });
        let task = handle.await.unwrap().expect("the task succeeded");
        assert_eq!(task.trace_id(), request.trace_id());
        assert_eq!(task.parent_span_id(), Some(request.span_id()));
        assert_ne!(task.span_id(), request.span_id());
        assert!(task.is_sampled());
    }

    #[tokio::test]
    async fn a_task_spawned_outside_a_request_has_no_trace() {
        let tasks = crate::Belfry::new().tasks();
        let handle = tasks.spawn("no-trace", async {
            Ok::<_, std::io::Error>(TraceContext::current())
        });
        assert_eq!(handle.await.unwrap(), Some(None));
    }
}
