//! Benchmark harness: belfry against bare axum and the idiomatic tower-http (+ sentry-tower)
//! stacks, all serving the same `GET /users/{id}` → `{"id":..,"name":..}`.
//!
//! - [`Variant`] names the five stacks; [`app`] builds one, [`init`] installs its logging (and
//!   Sentry where the variant has it).
//! - `src/bin/callgrind_driver.rs` drives requests in-process (instructions per request under
//!   callgrind), `src/bin/bench_server.rs` serves one variant on loopback (for `wrk`),
//!   `tests/allocations.rs` counts allocations per request, and `scripts/bench.sh` runs it all.
//!
//! Sentry, where a variant has it, points at [`SENTRY_DSN`], a loopback port nothing listens on,
//! with [`TRACES_SAMPLE_RATE`]: the SDK does all its work (hubs, scopes, transactions, envelopes)
//! and the transport fails to connect.
//!
//! The `otel` variant exports its traces over OTLP to an [`OtlpSink`] in the same process (a
//! loopback listener answering `200` to every POST): the exporter does all its work, batches,
//! encodes and sends, and the sink's share of the CPU is small.

mod args;
mod otlp_sink;
pub mod report;

pub use args::Args;
pub use otlp_sink::OtlpSink;

use std::{fmt, str::FromStr};

use axum::{
    body::Body,
    extract::Path,
    http::{HeaderName, Request},
    routing::get,
    Json, Router,
};
use http_body_util::BodyExt;
use sentry::integrations::tower::{NewSentryLayer, SentryHttpLayer};
use serde_json::{json, Value};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::{DefaultOnResponse, TraceLayer},
    LatencyUnit,
};
use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

/// Where Sentry sends events: a loopback port nothing listens on (9, `discard`).
pub const SENTRY_DSN: &str = "http://public@127.0.0.1:9/1";

/// The share of requests that start a Sentry transaction.
pub const TRACES_SAMPLE_RATE: f32 = 0.1;

/// The log filter of every variant that logs (`RUST_LOG` syntax).
pub const LOG_FILTER: &str = "info";

/// The request path every variant serves; `{id}` is any number.
pub const ROUTE: &str = "/users/{id}";

/// One of the stacks under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The axum `Router` alone: the baseline.
    Bare,
    /// tower-http's request id (UUID v4), sensitive headers, `TraceLayer` (span with the request
    /// id, INFO line with the latency per response), `CatchPanicLayer`; tracing-subscriber JSON.
    TowerHttp,
    /// [`Variant::TowerHttp`] plus sentry-tower's `NewSentryLayer` (a hub per request) and
    /// `SentryHttpLayer` with transactions.
    SentryTower,
    /// belfry's full default stack (`Belfry::new().wrap(router)` with `/metrics` merged in),
    /// belfry's JSON telemetry, and Sentry through belfry's own set-up (`SENTRY_DSN`). No
    /// `OTEL_*` endpoint: with belfry-bench's `otel` feature (the default) belfry's OTLP code is
    /// compiled in and idle.
    Belfry,
    /// [`Variant::Belfry`] with OTLP traces on (`OTEL_EXPORTER_OTLP_ENDPOINT` to an
    /// [`OtlpSink`], `OTEL_TRACES_SAMPLER_ARG=0.1`: the share Sentry samples too).
    Otel,
}

impl Variant {
    /// Every variant, in the order they are reported.
    pub const ALL: [Variant; 5] = [
        Variant::Bare,
        Variant::TowerHttp,
        Variant::SentryTower,
        Variant::Belfry,
        Variant::Otel,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::TowerHttp => "towerhttp",
            Variant::SentryTower => "sentrytower",
            Variant::Belfry => "belfry",
            Variant::Otel => "otel",
        }
    }

    /// Whether the variant initialises Sentry.
    pub fn has_sentry(self) -> bool {
        matches!(self, Variant::SentryTower | Variant::Belfry | Variant::Otel)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|variant| variant.name() == value)
            .ok_or_else(|| {
                format!("unknown variant `{value}`: expected bare, towerhttp, sentrytower, belfry or otel")
            })
    }
}

/// The idiomatic tower-http stack, appended to a `ServiceBuilder`, outermost first: sensitive
/// headers, request id (UUID v4), trace (span with the request id; one INFO line per response
/// with the latency), propagate the id to the response, catch panics.
macro_rules! tower_http_stack {
    ($builder:expr) => {
        $builder
            .layer(SetSensitiveRequestHeadersLayer::new([
                HeaderName::from_static("authorization"),
                HeaderName::from_static("cookie"),
            ]))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span as fn(&Request<Body>) -> tracing::Span)
                    .on_response(
                        DefaultOnResponse::new()
                            .level(Level::INFO)
                            .latency_unit(LatencyUnit::Micros),
                    ),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(CatchPanicLayer::new())
    };
}

/// The handler every variant serves.
async fn user(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id, "name": format!("user {id}") }))
}

fn routes() -> Router {
    Router::new().route(ROUTE, get(user))
}

/// The app of `variant`. Every middleware is applied with `Router::layer` (after routing), as
/// `Belfry::wrap` does, so all variants pay the same per-route boxing.
pub fn app(variant: Variant) -> Router {
    match variant {
        Variant::Bare => routes(),
        Variant::TowerHttp => routes().layer(tower_http_stack!(ServiceBuilder::new())),
        Variant::SentryTower => routes().layer(tower_http_stack!(ServiceBuilder::new()
            .layer(NewSentryLayer::<Request<Body>>::new_from_top())
            .layer(SentryHttpLayer::new().enable_transaction()))),
        Variant::Belfry | Variant::Otel => belfry_app(),
    }
}

/// belfry's full default stack, as the demo sets it up: `/metrics` merged in, `wrap` last.
/// Settings come from the environment like the demo's (e.g. `BELFRY_HUNG_REQUEST_MS=0` turns the
/// hung-request watch off, to measure what it costs).
fn belfry_app() -> Router {
    let belfry = belfry::Belfry::from_env().expect("valid BELFRY_* settings");
    belfry.wrap(routes().merge(belfry.metrics().router()))
}

fn request_span(request: &Request<Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        uri = %request.uri(),
    )
}

/// What [`init`] set up; drop it at the end (flushes Sentry).
#[must_use = "dropping the guard shuts Sentry down"]
pub struct Guard {
    sentry: Option<sentry::ClientInitGuard>,
    telemetry: Option<belfry::telemetry::TelemetryGuard>,
    /// The `otel` variant's collector.
    otlp_sink: Option<OtlpSink>,
}

impl Guard {
    /// Whether Sentry is on (its client bound and enabled).
    pub fn sentry_enabled(&self) -> bool {
        self.sentry.is_some() || self.telemetry.as_ref().is_some_and(|t| t.sentry_enabled())
    }

    /// Where the `otel` variant exports to (its [`OtlpSink`]).
    pub fn otlp_endpoint(&self) -> Option<String> {
        self.otlp_sink.as_ref().map(OtlpSink::endpoint)
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// Installs `variant`'s logging as the global subscriber, writing to `writer` (`io::sink` in
/// process, stdout under wrk), and Sentry when the variant has it and `with_sentry` is true.
///
/// # Panics
///
/// If a global subscriber is already installed.
pub fn init<W>(variant: Variant, writer: W, with_sentry: bool) -> Guard
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let with_sentry = with_sentry && variant.has_sentry();
    let sentry = (with_sentry && variant == Variant::SentryTower).then(init_sentry);
    let otlp_sink = (variant == Variant::Otel).then(|| OtlpSink::start().expect("a loopback port"));
    let telemetry = match variant {
        Variant::Bare => None,
        Variant::TowerHttp | Variant::SentryTower => {
            tracing::subscriber::set_global_default(tower_http_subscriber(writer))
                .expect("no global subscriber yet");
            None
        }
        Variant::Belfry | Variant::Otel => Some({
            // belfry sets Sentry up itself, from the environment: the same DSN and rate as
            // `init_sentry` gives the sentry-tower variant.
            for (variable, value) in BELFRY_SENTRY_ENV {
                match with_sentry {
                    true => std::env::set_var(variable, value),
                    false => std::env::remove_var(variable),
                }
            }
            match &otlp_sink {
                Some(sink) => {
                    if !cfg!(feature = "otel") {
                        panic!("the otel variant needs belfry-bench's `otel` feature");
                    }
                    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint());
                    std::env::set_var("OTEL_TRACES_SAMPLER_ARG", OTEL_TRACES_SAMPLER_ARG);
                    std::env::set_var("OTEL_SERVICE_NAME", "belfry-bench");
                }
                None => std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT"),
            }
            belfry::telemetry::Telemetry::from_env()
                .expect("valid settings")
                .log_format(belfry::telemetry::LogFormat::Json)
                .filter(LOG_FILTER)
                .try_init_with_writer(writer)
                .expect("no global subscriber yet")
        }),
    };
    Guard {
        sentry,
        telemetry,
        otlp_sink,
    }
}

/// The tower-http variants' subscriber: tracing-subscriber's JSON format with an `EnvFilter`
/// at [`LOG_FILTER`] (the filter belfry uses too, so filtering costs the same).
pub fn tower_http_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(LOG_FILTER)
        .with_writer(writer)
        .finish()
}

/// The `otel` variant's share of new traces exported: Sentry's [`TRACES_SAMPLE_RATE`].
pub const OTEL_TRACES_SAMPLER_ARG: &str = "0.1";

/// The environment belfry's telemetry reads to set Sentry up like [`init_sentry`].
const BELFRY_SENTRY_ENV: [(&str, &str); 2] =
    [("SENTRY_DSN", SENTRY_DSN), ("SENTRY_TRACES_SAMPLE_RATE", "0.1")];

/// Sentry as the sentry-tower variant uses it (belfry's telemetry does the same from
/// `SENTRY_DSN` and `SENTRY_TRACES_SAMPLE_RATE`): [`SENTRY_DSN`], [`TRACES_SAMPLE_RATE`].
pub fn init_sentry() -> sentry::ClientInitGuard {
    sentry::init(
        sentry::ClientOptions::new()
            .dsn(SENTRY_DSN)
            .traces_sample_rate(TRACES_SAMPLE_RATE),
    )
}

/// A request as `wrk` sends it: `GET /users/{id}` with a `host` header.
pub fn request(id: u64) -> Request<Body> {
    Request::get(format!("/users/{id}"))
        .header("host", "127.0.0.1")
        .body(Body::empty())
        .expect("a valid request")
}

/// Sends `count` requests through `app` (a clone per request, as hyper does per connection),
/// reading each body to the end; returns the number of body bytes read.
///
/// # Panics
///
/// If a response is not `200 OK`.
pub async fn drive(app: &Router, count: u64) -> u64 {
    drive_with_headers(app, count, &[]).await
}

/// [`drive`], with `headers` added to every request (e.g. an incoming `traceparent`).
///
/// # Panics
///
/// If a response is not `200 OK`.
pub async fn drive_with_headers(
    app: &Router,
    count: u64,
    headers: &[(HeaderName, http::HeaderValue)],
) -> u64 {
    let mut bytes = 0;
    for i in 0..count {
        let mut request = request(i % 1000);
        for (name, value) in headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a readable body")
            .to_bytes();
        bytes += body.len() as u64;
    }
    bytes
}

/// A current-thread tokio runtime, as the in-process measurements use.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
