//! [`GracefulShutdown`]: drain, then stop, on SIGTERM or Ctrl-C.

use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::ReadinessGate;

/// How long readiness answers 503 before the server stops accepting, unless set otherwise.
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);
/// How long in-flight requests get to finish after the drain delay, unless set otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Graceful shutdown for an axum server behind a load balancer.
///
/// On SIGTERM or Ctrl-C (or [`trigger`](GracefulShutdown::trigger)):
///
/// 1. the [`ReadinessGate`]s it was given flip to draining at once, so
///    `/health/ready` answers 503 and load balancers stop routing here,
/// 2. the server keeps serving for the **drain delay** (default 5 s), while
///    they notice,
/// 3. then [`signal`](GracefulShutdown::signal) resolves: the server stops
///    accepting and waits for in-flight requests,
/// 4. which [`run`](GracefulShutdown::run) bounds by the **shutdown timeout**
///    (default 30 s).
///
/// belfry's facade reads both from `BELFRY_DRAIN_DELAY_MS` and
/// `BELFRY_SHUTDOWN_TIMEOUT_MS`, and `belfry.serve(..)` wires all of this.
///
/// After `run` returns, drop the telemetry guards (flushing logs and Sentry)
/// and exit 0. Clones share the same state.
///
/// ```no_run
/// use belfry_health::{GracefulShutdown, Health};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let health = Health::new();
///     let app = axum::Router::new().merge(health.routes());
///     let shutdown = GracefulShutdown::builder()
///         .readiness(health.readiness().clone())
///         .build();
///
///     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
///     health.readiness().mark_started();
///     let served = shutdown
///         .run(axum::serve(listener, app).with_graceful_shutdown(shutdown.signal()))
///         .await;
///     match served {
///         Ok(result) => result?,
///         Err(timed_out) => eprintln!("{timed_out}"),
///     }
///     Ok(()) // telemetry guards drop (and flush) here
/// }
/// ```
#[derive(Clone)]
pub struct GracefulShutdown {
    shared: Arc<Shared>,
}

struct Shared {
    drain_delay: Duration,
    shutdown_timeout: Duration,
    listen_for_signals: bool,
    gates: Vec<ReadinessGate>,
    /// When shutdown was triggered.
    triggered: watch::Sender<Option<Instant>>,
}

impl GracefulShutdown {
    /// A shutdown with the defaults (5 s drain delay, 30 s timeout, listening
    /// for signals) and no readiness gate.
    ///
    /// ```
    /// let shutdown = belfry_health::GracefulShutdown::new();
    /// assert_eq!(shutdown.drain_delay(), std::time::Duration::from_secs(5));
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, starting from the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// let shutdown = belfry_health::GracefulShutdown::builder()
    ///     .drain_delay(Duration::from_secs(10))
    ///     .build();
    /// assert_eq!(shutdown.drain_delay(), Duration::from_secs(10));
    /// ```
    pub fn builder() -> GracefulShutdownBuilder {
        GracefulShutdownBuilder::default()
    }

    /// How long the server keeps serving after the signal.
    ///
    /// ```
    /// # let shutdown = belfry_health::GracefulShutdown::new();
    /// assert_eq!(shutdown.drain_delay(), std::time::Duration::from_secs(5));
    /// ```
    pub fn drain_delay(&self) -> Duration {
        self.shared.drain_delay
    }

    /// How long in-flight requests may take once the server stops accepting.
    ///
    /// ```
    /// # let shutdown = belfry_health::GracefulShutdown::new();
    /// assert_eq!(shutdown.shutdown_timeout(), std::time::Duration::from_secs(30));
    /// ```
    pub fn shutdown_timeout(&self) -> Duration {
        self.shared.shutdown_timeout
    }

    /// Starts the shutdown as a signal would: readiness gates flip to
    /// draining now and the drain delay starts. Later calls do nothing.
    ///
    /// ```
    /// use belfry_health::{GracefulShutdown, ReadinessGate};
    ///
    /// let gate = ReadinessGate::started();
    /// let shutdown = GracefulShutdown::builder().readiness(gate.clone()).build();
    /// shutdown.trigger();
    /// assert!(shutdown.is_triggered());
    /// assert!(!gate.is_ready());
    /// ```
    pub fn trigger(&self) {
        self.shared.trigger();
    }

    /// Whether the shutdown has started.
    ///
    /// ```
    /// assert!(!belfry_health::GracefulShutdown::new().is_triggered());
    /// ```
    pub fn is_triggered(&self) -> bool {
        self.shared.triggered.borrow().is_some()
    }

    /// A future for [`axum::serve(..).with_graceful_shutdown`][wgs]: it
    /// resolves once shutdown was triggered (by a signal, if listening, or
    /// by [`trigger`](GracefulShutdown::trigger)) and the drain delay has
    /// passed.
    ///
    /// [wgs]: https://docs.rs/axum/latest/axum/serve/struct.Serve.html#method.with_graceful_shutdown
    ///
    /// ```
    /// use std::time::Duration;
    /// use belfry_health::GracefulShutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shutdown = GracefulShutdown::builder()
    ///     .drain_delay(Duration::from_millis(10))
    ///     .listen_for_signals(false)
    ///     .build();
    /// shutdown.trigger();
    /// shutdown.signal().await; // about 10 ms later
    /// # }
    /// ```
    pub fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let at = shared.triggered_at().await;
            tokio::time::sleep_until(at + shared.drain_delay).await;
            tracing::info!("drain delay over; no longer accepting connections");
        }
    }

    /// Runs `serve` (typically `axum::serve(..).with_graceful_shutdown(
    /// shutdown.signal())`) to completion, but gives up on it once the
    /// shutdown timeout has passed after the drain delay.
    ///
    /// # Errors
    ///
    /// [`ShutdownTimedOut`] if in-flight requests were still running at the
    /// deadline (`serve` is dropped, aborting them). Otherwise `serve`'s
    /// output, whether or not shutdown was triggered.
    ///
    /// ```
    /// use std::time::Duration;
    /// use belfry_health::GracefulShutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shutdown = GracefulShutdown::builder()
    ///     .drain_delay(Duration::ZERO)
    ///     .shutdown_timeout(Duration::from_millis(10))
    ///     .listen_for_signals(false)
    ///     .build();
    /// shutdown.trigger();
    /// let stuck = std::future::pending::<()>();
    /// assert!(shutdown.run(stuck).await.is_err());
    /// # }
    /// ```
    pub async fn run<F: IntoFuture>(&self, serve: F) -> Result<F::Output, ShutdownTimedOut> {
        let shared = &self.shared;
        let deadline = async {
            let at = shared.triggered_at().await;
            tokio::time::sleep_until(at + shared.drain_delay + shared.shutdown_timeout).await;
        };
        tokio::select! {
            biased;
            output = serve.into_future() => Ok(output),
            () = deadline => {
                tracing::warn!(
                    timeout = ?shared.shutdown_timeout,
                    "in-flight requests did not finish in time; shutting down anyway"
                );
                Err(ShutdownTimedOut { timeout: shared.shutdown_timeout })
            }
        }
    }
}

impl Default for GracefulShutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for GracefulShutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulShutdown")
            .field("drain_delay", &self.shared.drain_delay)
            .field("shutdown_timeout", &self.shared.shutdown_timeout)
            .field("listen_for_signals", &self.shared.listen_for_signals)
            .field("readiness_gates", &self.shared.gates.len())
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shared {
    fn trigger(&self) {
        for gate in &self.gates {
            gate.mark_draining();
        }
        let first = self.triggered.send_if_modified(|triggered| {
            let first = triggered.is_none();
            triggered.get_or_insert_with(Instant::now);
            first
        });
        if first {
            tracing::info!(
                drain_delay = ?self.drain_delay,
                "shutdown triggered; readiness now fails, draining"
            );
        }
    }

    /// Waits until shutdown is triggered (listening for signals if
    /// configured) and returns when it was.
    async fn triggered_at(&self) -> Instant {
        let mut triggered = self.triggered.subscribe();
        if self.listen_for_signals {
            tokio::select! {
                _ = triggered.wait_for(Option::is_some) => {}
                () = os_signal() => self.trigger(),
            }
        } else {
            // Cannot fail: `self` owns the sender.
            let _ = triggered.wait_for(Option::is_some).await;
        }
        let at = *self.triggered.borrow();
        at.unwrap_or_else(Instant::now)
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM; never, for a signal whose
/// handler could not be installed.
async fn os_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Builds a [`GracefulShutdown`]; see [`GracefulShutdown::builder`].
///
/// ```
/// use std::time::Duration;
/// use belfry_health::{GracefulShutdown, Health};
///
/// let health = Health::new();
/// let shutdown = GracefulShutdown::builder()
///     .drain_delay(Duration::from_secs(10))
///     .shutdown_timeout(Duration::from_secs(20))
///     .readiness(health.readiness().clone())
///     .build();
/// # let _ = shutdown;
/// ```
#[derive(Clone, Debug)]
pub struct GracefulShutdownBuilder {
    drain_delay: Duration,
    shutdown_timeout: Duration,
    listen_for_signals: bool,
    gates: Vec<ReadinessGate>,
}

impl Default for GracefulShutdownBuilder {
    fn default() -> Self {
        Self {
            drain_delay: DEFAULT_DRAIN_DELAY,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            listen_for_signals: true,
            gates: Vec::new(),
        }
    }
}

impl GracefulShutdownBuilder {
    /// How long to keep serving, not ready, after the signal (default 5 s).
    /// Make it longer than the load balancer's probe interval times its
    /// failure threshold.
    ///
    /// ```
    /// let _ = belfry_health::GracefulShutdown::builder().drain_delay(std::time::Duration::from_secs(15));
    /// ```
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// How long in-flight requests may take after the server stops accepting
    /// (default 30 s). Keep drain delay plus this below the orchestrator's
    /// grace period (Kubernetes: `terminationGracePeriodSeconds`).
    ///
    /// ```
    /// let _ = belfry_health::GracefulShutdown::builder().shutdown_timeout(std::time::Duration::from_secs(10));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// A readiness gate to mark draining when shutdown starts; may be called
    /// more than once.
    ///
    /// ```
    /// let health = belfry_health::Health::new();
    /// let _ = belfry_health::GracefulShutdown::builder().readiness(health.readiness().clone());
    /// ```
    pub fn readiness(mut self, gate: ReadinessGate) -> Self {
        self.gates.push(gate);
        self
    }

    /// Whether SIGTERM and Ctrl-C start the shutdown (default `true`).
    /// Without, only [`GracefulShutdown::trigger`] does.
    ///
    /// ```
    /// let _ = belfry_health::GracefulShutdown::builder().listen_for_signals(false);
    /// ```
    pub fn listen_for_signals(mut self, listen: bool) -> Self {
        self.listen_for_signals = listen;
        self
    }

    /// Builds the [`GracefulShutdown`].
    ///
    /// ```
    /// let shutdown = belfry_health::GracefulShutdown::builder().build();
    /// # let _ = shutdown;
    /// ```
    pub fn build(self) -> GracefulShutdown {
        GracefulShutdown {
            shared: Arc::new(Shared {
                drain_delay: self.drain_delay,
                shutdown_timeout: self.shutdown_timeout,
                listen_for_signals: self.listen_for_signals,
                gates: self.gates,
                triggered: watch::Sender::new(None),
            }),
        }
    }
}

/// [`GracefulShutdown::run`] gave up on in-flight requests at the shutdown
/// timeout.
///
/// ```
/// use std::time::Duration;
/// use belfry_health::GracefulShutdown;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shutdown = GracefulShutdown::builder()
///     .drain_delay(Duration::ZERO)
///     .shutdown_timeout(Duration::from_millis(10))
///     .listen_for_signals(false)
///     .build();
/// shutdown.trigger();
/// let err = shutdown.run(std::future::pending::<()>()).await.unwrap_err();
/// assert_eq!(err.to_string(), "in-flight requests did not finish within 10ms of shutdown");
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownTimedOut {
    timeout: Duration,
}

impl ShutdownTimedOut {
    /// The shutdown timeout that passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use belfry_health::GracefulShutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shutdown = GracefulShutdown::builder()
    ///     .drain_delay(Duration::ZERO)
    ///     .shutdown_timeout(Duration::from_millis(20))
    ///     .listen_for_signals(false)
    ///     .build();
    /// shutdown.trigger();
    /// let err = shutdown.run(std::future::pending::<()>()).await.unwrap_err();
    /// assert_eq!(err.timeout(), Duration::from_millis(20));
    /// # }
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl fmt::Display for ShutdownTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in-flight requests did not finish within {:?} of shutdown",
            self.timeout
        )
    }
}

impl Error for ShutdownTimedOut {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::HttpCheck;
    use crate::{Health, HealthCheck, ReadinessState, Status};

    fn shutdown(gate: &ReadinessGate) -> GracefulShutdown {
        GracefulShutdown::builder()
            .drain_delay(Duration::from_secs(5))
            .shutdown_timeout(Duration::from_secs(30))
            .readiness(gate.clone())
            .listen_for_signals(false)
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn trigger_drains_then_signals() {
        let gate = ReadinessGate::started();
        let shutdown = shutdown(&gate);

        // Nothing happens until triggered.
        let waited = tokio::time::timeout(Duration::from_secs(3600), shutdown.signal()).await;
        assert!(waited.is_err());
        assert_eq!(gate.state(), ReadinessState::Ready);

        let start = Instant::now();
        shutdown.clone().trigger();
        assert_eq!(gate.state(), ReadinessState::Draining);
        assert!(shutdown.is_triggered());

        shutdown.signal().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));

        // Later triggers do not restart the clock.
        shutdown.trigger();
        let again = Instant::now();
        shutdown.signal().await;
        assert_eq!(again.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn run_returns_the_output_of_a_clean_shutdown() {
        let gate = ReadinessGate::started();
        let shutdown = shutdown(&gate);
        let signal = shutdown.signal();
        let serve = async {
            signal.await;
            tokio::time::sleep(Duration::from_secs(29)).await; // in-flight work
            "served"
        };
        let start = Instant::now();
        shutdown.trigger();
        assert_eq!(shutdown.run(serve).await, Ok("served"));
        assert_eq!(start.elapsed(), Duration::from_secs(34));
    }

    #[tokio::test(start_paused = true)]
    async fn run_gives_up_at_the_timeout() {
        let gate = ReadinessGate::started();
        let shutdown = shutdown(&gate);
        let signal = shutdown.signal();
        let serve = async {
            signal.await;
            std::future::pending::<()>().await;
        };
        let start = Instant::now();
        shutdown.trigger();
        let err = shutdown.run(serve).await.unwrap_err();
        assert_eq!(err.timeout(), Duration::from_secs(30));
        assert_eq!(start.elapsed(), Duration::from_secs(35));
    }

    #[tokio::test(start_paused = true)]
    async fn run_without_shutdown_returns_at_once() {
        let shutdown = shutdown(&ReadinessGate::started());
        assert_eq!(shutdown.run(async { 7 }).await, Ok(7));
    }

    /// A real server: readiness fails at once on trigger while requests are
    /// still served during the drain delay; then `run` returns cleanly.
    #[tokio::test]
    async fn axum_server_drains_and_stops() {
        let health = Health::builder().start_ready(true).build();
        let shutdown = GracefulShutdown::builder()
            .drain_delay(Duration::from_millis(300))
            .shutdown_timeout(Duration::from_secs(5))
            .readiness(health.readiness().clone())
            .listen_for_signals(false)
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app: axum::Router = health.routes();
        let server = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown.signal());
                shutdown.run(serve).await
            }
        });

        let probe = |path: &str| {
            HttpCheck::new(&format!("http://{addr}{path}"))
                .unwrap()
                .timeout(Duration::from_secs(5))
        };
        assert_eq!(probe("/health/ready").check().await.status(), Status::Pass);

        shutdown.trigger();
        let ready = probe("/health/ready").check().await;
        assert!(ready.message().unwrap().ends_with("503 Service Unavailable"));
        assert_eq!(probe("/health/live").check().await.status(), Status::Pass);

        let served = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server should stop")
            .unwrap();
        assert!(matches!(served, Ok(Ok(()))));
    }
}
