//! Health, liveness and readiness endpoints for axum services, with cached,
//! concurrent checks and graceful shutdown draining.
//!
//! One call mounts three endpoints, answering `application/health+json` in
//! the style of the IETF draft "Health Check Response Format for HTTP APIs":
//!
//! | path | question | answers |
//! | --- | --- | --- |
//! | `/health/live` | is the process up and responsive? (never runs checks) | `200 {"status":"pass"}` |
//! | `/health/ready` | should it get traffic? started, not draining, readiness checks not failing | `200` / `503` with a `reason` |
//! | `/health` | how is every dependency? | `200` for `pass`/`warn`, `503` for `fail`, with per-check details |
//!
//! Checks ([`HealthCheck`], or a closure via [`check_fn`]; ready-made
//! [`checks::TcpCheck`] and [`checks::HttpCheck`]) run concurrently, each
//! under a timeout (2 s). Results are cached (1 s) and concurrent probes
//! share one run, so probes never hammer a database. A failing
//! [non-critical](CheckOptions::critical) check only makes the status
//! `warn`; only checks [tagged for readiness](CheckOptions::readiness)
//! (by default, the critical ones) can take the service out of rotation.
//!
//! Readiness also waits for the app to [mark itself
//! started](ReadinessGate::mark_started), and fails at once when
//! [`GracefulShutdown`] sees SIGTERM or Ctrl-C, while the server keeps
//! serving for a drain delay so load balancers can move traffic away.
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use belfry_health::{check_fn, checks::TcpCheck, CheckOptions, Health};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let health = Health::builder()
//!     .check("db", check_fn(|| async { Ok::<_, std::io::Error>(()) }))
//!     .check_with(
//!         "cache",
//!         TcpCheck::new("127.0.0.1:1"), // nothing listens there
//!         CheckOptions::new().critical(false),
//!     )
//!     .build();
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .merge(health.routes());
//! health.readiness().mark_started();
//!
//! let get = |path: &'static str| {
//!     let app = app.clone();
//!     async move { app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap() }
//! };
//! assert_eq!(get("/health/live").await.status(), StatusCode::OK);
//! assert_eq!(get("/health/ready").await.status(), StatusCode::OK); // the cache is not critical
//! let detailed = get("/health").await;
//! assert_eq!(detailed.status(), StatusCode::OK); // overall `warn`
//! assert_eq!(detailed.headers()["content-type"], "application/health+json");
//! assert_eq!(health.last_report().unwrap().status(), belfry_health::Status::Warn);
//! # }
//! ```
//!
//! Wiring graceful shutdown with `axum::serve`:
//!
//! ```no_run
//! use belfry_health::{GracefulShutdown, Health};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let health = Health::new();
//!     let app = axum::Router::new().merge(health.routes());
//!     // A 5 s drain delay and a 30 s shutdown timeout, unless the builder says otherwise.
//!     let shutdown = GracefulShutdown::builder()
//!         .readiness(health.readiness().clone())
//!         .build();
//!
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//!     health.readiness().mark_started();
//!     let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown.signal());
//!     if let Err(timed_out) = shutdown.run(serve).await {
//!         tracing::warn!("{timed_out}");
//!     }
//!     Ok(()) // drop telemetry guards here to flush logs and Sentry, then exit 0
//! }
//! ```
//!
//! For exporters (metrics), [`Health::last_report`] and
//! [`Health::subscribe`] give the latest [`HealthReport`] without running
//! anything; [`Health::spawn_refresh`] keeps it current without probes.
#![deny(missing_docs)]

mod check;
pub mod checks;
mod details;
mod health;
mod readiness;
mod report;
mod routes;
mod runner;
mod shutdown;
mod status;

pub use crate::check::{check_fn, CheckFn, CheckFuture, CheckOutcome, HealthCheck};
pub use crate::details::ShowDetails;
pub use crate::health::{CheckOptions, Health, HealthBuilder};
pub use crate::readiness::{ReadinessGate, ReadinessState};
pub use crate::report::{CheckReport, HealthReport};
pub use crate::shutdown::{
    GracefulShutdown, GracefulShutdownBuilder, ShutdownTimedOut, DEFAULT_DRAIN_DELAY,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use crate::status::Status;

/// The path of the detailed health report mounted by [`Health::routes`].
pub const HEALTH_PATH: &str = "/health";
/// The path of the liveness probe mounted by [`Health::routes`].
pub const LIVENESS_PATH: &str = "/health/live";
/// The path of the readiness probe mounted by [`Health::routes`].
pub const READINESS_PATH: &str = "/health/ready";
/// Every path [`Health::routes`] mounts: the routes other layers treat as probes (belfry logs
/// them at DEBUG when fine, and their `503` while draining is a state, not a failure).
///
/// ```
/// assert_eq!(belfry_health::PATHS, ["/health", "/health/live", "/health/ready"]);
/// ```
pub const PATHS: [&str; 3] = [HEALTH_PATH, LIVENESS_PATH, READINESS_PATH];
