//! Benchmark harness: belfry against bare axum and the idiomatic tower-http (+ sentry-tower)
//! stacks, all serving the same `GET /users/{id}` → `{"id":..,"name":..}`.
//!
//! - [`Variant`] names the stacks compared ([`Variant::ALL`]) and two references that measure
//!   the Sentry SDK's own cost ([`Variant::REFERENCES`], callgrind only); [`app`] builds one,
//!   [`init`] installs its logging (and Sentry where the variant has it).
//! - `src/bin/callgrind_driver.rs` drives requests in-process (instructions per request under
//!   callgrind), `src/bin/bench_server.rs` serves one variant on loopback (for `wrk`),
//!   `tests/allocations.rs` counts allocations per request, and `scripts/bench.sh` runs it all.
//!
//! [`Shape`] changes the app for the scaling measurements (`scripts/bench-scaling.sh`): more
//! routes, a user span with fields around the handler's work; its default is the app every
//! other figure measures.
//!
//! Sentry, where a variant has it, sends to a [`Sink`] in the same process (a loopback listener
//! answering `200` to every POST), with [`TRACES_SAMPLE_RATE`]: the SDK does all its work (hubs,
//! scopes, transactions, envelopes) and its transport delivers, as against a Sentry that keeps
//! up. (Until this sink, the DSN named a closed port: the transport backed off and, under
//! valgrind, dropped most transactions as `queue_full` on the serving thread — a Sentry outage,
//! not Sentry on.)
//!
//! The `otel` variant exports its traces over OTLP to the same kind of [`Sink`]: the exporter does
//! all its work, batches, encodes and sends, and the sink's share of the CPU is small.

mod args;
pub mod report;
mod sdk_floor;
mod sink;

pub use args::Args;
pub use sdk_floor::{OneInTenTransactions, OneInTenTransactionsLayer, TransactionFuture};
pub use sink::Sink;

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

/// The share of requests that start a Sentry transaction.
pub const TRACES_SAMPLE_RATE: f32 = 0.1;

/// The log filter of every variant that logs (`RUST_LOG` syntax).
pub const LOG_FILTER: &str = "info";

/// The request path every variant serves; `{id}` is any number.
pub const ROUTE: &str = "/users/{id}";

/// One of the stacks under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// [`Variant::Belfry`] with Sentry off (no `SENTRY_DSN`): what Sentry adds, side by side.
    BelfrySentryOff,
    /// [`Variant::Belfry`] with OTLP traces on (`OTEL_EXPORTER_OTLP_ENDPOINT` to a
    /// [`Sink`], `OTEL_TRACES_SAMPLER_ARG=0.1`: the share Sentry samples too).
    Otel,
    /// A reference, not a stack to compare: the axum `Router` with sentry-tower's
    /// `NewSentryLayer` alone — a Sentry hub per request, made from the current one and bound
    /// around each poll, nothing else. The floor of any integration that keeps each request's
    /// scope its own.
    SentryHub,
    /// A reference: [`Variant::SentryHub`] plus a performance transaction for one request in
    /// ten, started, set as the scope's span and finished by sentry-core with nothing on it
    /// ([`OneInTenTransactionsLayer`]). Less than Sentry's transactions can carry (no request,
    /// no tag), so what sentry-core itself costs at [`TRACES_SAMPLE_RATE`].
    SentryHubTransactions,
}

impl Variant {
    /// Every variant, in the order they are reported.
    pub const ALL: [Variant; 6] = [
        Variant::Bare,
        Variant::TowerHttp,
        Variant::SentryTower,
        Variant::BelfrySentryOff,
        Variant::Belfry,
        Variant::Otel,
    ];

    /// The references to the Sentry SDK's own cost, measured with callgrind beside
    /// [`Variant::ALL`] (not served to wrk).
    pub const REFERENCES: [Variant; 2] = [Variant::SentryHub, Variant::SentryHubTransactions];

    /// [`Variant::ALL`], then [`Variant::REFERENCES`]: every name the command line takes.
    pub fn every() -> impl Iterator<Item = Variant> {
        Variant::ALL.into_iter().chain(Variant::REFERENCES)
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::TowerHttp => "towerhttp",
            Variant::SentryTower => "sentrytower",
            Variant::Belfry => "belfry",
            Variant::BelfrySentryOff => "belfry-nosentry",
            Variant::Otel => "otel",
            Variant::SentryHub => "sentry-hub",
            Variant::SentryHubTransactions => "sentry-hub-transactions",
        }
    }

    /// Whether the variant is belfry's stack (which sets up its logging and Sentry itself).
    pub fn is_belfry(self) -> bool {
        matches!(self, Variant::Belfry | Variant::BelfrySentryOff | Variant::Otel)
    }

    /// Whether the variant initialises Sentry.
    pub fn has_sentry(self) -> bool {
        matches!(
            self,
            Variant::SentryTower
                | Variant::Belfry
                | Variant::Otel
                | Variant::SentryHub
                | Variant::SentryHubTransactions
        )
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
        Variant::every()
            .find(|variant| variant.name() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Variant::every().map(Variant::name).collect();
                format!("unknown variant `{value}`: expected one of {}", names.join(", "))
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

/// The most fields [`Shape::span_fields`] can give the user span.
pub const MAX_SPAN_FIELDS: usize = 16;

/// The shape of the app, for the scaling measurements; [`Shape::default`] is the app every other
/// figure measures (one route, no user span).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Routes in the router (at least 1): [`ROUTE`] and `routes - 1` more of distinct templates,
    /// `/r{i}/items/{id}` for `i` in `1..routes` (see [`path`]), all served by the same
    /// handler and merged into the router before the stack wraps it. `--routes K`.
    pub routes: usize,
    /// `Some(f)`: the handler runs inside a user `tracing::info_span!("user_work", ..)` with `f`
    /// fields (`f0` … , each the request's id; at most [`MAX_SPAN_FIELDS`]) and logs one
    /// `tracing::info!` event in it. `None` (the default): no span, no event.
    /// `--span-fields F`.
    pub span_fields: Option<usize>,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            routes: 1,
            span_fields: None,
        }
    }
}

impl Shape {
    /// The shape given by `--routes K` (default 1) and `--span-fields F` (default none).
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let routes = args.option("--routes", 1_usize)?;
        let span_fields = match args.option("--span-fields", String::new())? {
            value if value.is_empty() => None,
            value => Some(
                value
                    .parse::<usize>()
                    .map_err(|error| format!("--span-fields `{value}`: {error}"))?,
            ),
        };
        if routes == 0 {
            return Err("--routes must be at least 1".to_owned());
        }
        if span_fields.is_some_and(|fields| fields > MAX_SPAN_FIELDS) {
            return Err(format!("--span-fields is at most {MAX_SPAN_FIELDS}"));
        }
        Ok(Self { routes, span_fields })
    }
}

/// The handler every variant serves.
async fn user(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id, "name": format!("user {id}") }))
}

/// [`user`] inside a user span with `fields` fields, logging one event in it.
async fn user_in_span(Path(id): Path<u64>, fields: usize) -> Json<Value> {
    user_span(fields, id).in_scope(|| {
        tracing::info!("user looked up");
        Json(json!({ "id": id, "name": format!("user {id}") }))
    })
}

/// `info_span!("user_work", f0 = id, …)` with `fields` fields (field names are static, hence
/// one arm per count).
fn user_span(fields: usize, id: u64) -> tracing::Span {
    macro_rules! arms {
        ($($count:literal => [$($field:ident)*]),* $(,)?) => {
            match fields {
                $($count => tracing::info_span!("user_work", $($field = id),*),)*
                _ => panic!("at most {MAX_SPAN_FIELDS} span fields"),
            }
        };
    }
    arms! {
        0 => [],
        1 => [f0],
        2 => [f0 f1],
        3 => [f0 f1 f2],
        4 => [f0 f1 f2 f3],
        5 => [f0 f1 f2 f3 f4],
        6 => [f0 f1 f2 f3 f4 f5],
        7 => [f0 f1 f2 f3 f4 f5 f6],
        8 => [f0 f1 f2 f3 f4 f5 f6 f7],
        9 => [f0 f1 f2 f3 f4 f5 f6 f7 f8],
        10 => [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9],
        11 => [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10],
        12 => [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11],
        13 => [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12],
        14 => [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13],
        15 => [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14],
        16 => [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15],
    }
}

/// The router of `shape`, before any middleware.
fn routes(shape: Shape) -> Router {
    let handler = match shape.span_fields {
        None => get(user),
        Some(fields) => get(move |id| user_in_span(id, fields)),
    };
    (1..shape.routes).fold(Router::new().route(ROUTE, handler.clone()), |router, i| {
        router.route(&format!("/r{i}/items/{{id}}"), handler.clone())
    })
}

/// The app of `variant`. Every middleware is applied with `Router::layer` (after routing), as
/// `Belfry::wrap` does, so all variants pay the same per-route boxing.
pub fn app(variant: Variant) -> Router {
    app_shaped(variant, Shape::default())
}

/// [`app`] with the routes and user span of `shape`.
pub fn app_shaped(variant: Variant, shape: Shape) -> Router {
    match variant {
        Variant::Bare => routes(shape),
        Variant::TowerHttp => routes(shape).layer(tower_http_stack!(ServiceBuilder::new())),
        Variant::SentryTower => routes(shape).layer(tower_http_stack!(ServiceBuilder::new()
            .layer(NewSentryLayer::<Request<Body>>::new_from_top())
            .layer(SentryHttpLayer::new().enable_transaction()))),
        Variant::Belfry | Variant::BelfrySentryOff | Variant::Otel => belfry_app(shape),
        Variant::SentryHub => routes(shape).layer(NewSentryLayer::<Request<Body>>::new_from_top()),
        Variant::SentryHubTransactions => routes(shape).layer(
            ServiceBuilder::new()
                .layer(NewSentryLayer::<Request<Body>>::new_from_top())
                .layer(OneInTenTransactionsLayer::new()),
        ),
    }
}

/// belfry's full default stack, as the demo sets it up: `/metrics` merged in, `wrap` last.
/// Settings come from the environment like the demo's (e.g. `BELFRY_HUNG_REQUEST_MS=0` turns the
/// hung-request watch off, to measure what it costs).
fn belfry_app(shape: Shape) -> Router {
    let belfry = belfry::Belfry::from_env().expect("valid BELFRY_* settings");
    belfry.wrap(routes(shape).merge(belfry.metrics().router()))
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
    /// Where Sentry sends (variants with Sentry on).
    sentry_sink: Option<Sink>,
    /// The `otel` variant's collector.
    otlp_sink: Option<Sink>,
}

impl Guard {
    /// Whether Sentry is on (its client bound and enabled).
    pub fn sentry_enabled(&self) -> bool {
        self.sentry.is_some() || self.telemetry.as_ref().is_some_and(|t| t.sentry_enabled())
    }

    /// Where the `otel` variant exports to (its [`Sink`]).
    pub fn otlp_endpoint(&self) -> Option<String> {
        self.otlp_sink.as_ref().map(Sink::endpoint)
    }

    /// The DSN Sentry sends to (a [`Sink`]), when Sentry is on.
    pub fn sentry_dsn(&self) -> Option<String> {
        self.sentry_sink.as_ref().map(Sink::sentry_dsn)
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
    let sentry_sink = with_sentry.then(|| Sink::start().expect("a loopback port"));
    let sentry = match &sentry_sink {
        Some(sink) if !variant.is_belfry() => Some(init_sentry(&sink.sentry_dsn())),
        _ => None,
    };
    let otlp_sink = (variant == Variant::Otel).then(|| Sink::start().expect("a loopback port"));
    let telemetry = match variant {
        Variant::Bare | Variant::SentryHub | Variant::SentryHubTransactions => None,
        Variant::TowerHttp | Variant::SentryTower => {
            tracing::subscriber::set_global_default(tower_http_subscriber(writer))
                .expect("no global subscriber yet");
            None
        }
        Variant::Belfry | Variant::BelfrySentryOff | Variant::Otel => Some({
            // belfry sets Sentry up itself, from the environment: a DSN on a sink like the
            // sentry-tower variant's, and the same rate.
            match &sentry_sink {
                Some(sink) => {
                    std::env::set_var("SENTRY_DSN", sink.sentry_dsn());
                    std::env::set_var("SENTRY_TRACES_SAMPLE_RATE", TRACES_SAMPLE_RATE.to_string());
                }
                None => {
                    std::env::remove_var("SENTRY_DSN");
                    std::env::remove_var("SENTRY_TRACES_SAMPLE_RATE");
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
        sentry_sink,
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

/// Sentry as the sentry-tower variant uses it (belfry's telemetry does the same from
/// `SENTRY_DSN` and `SENTRY_TRACES_SAMPLE_RATE`): `dsn` (a [`Sink`]'s), [`TRACES_SAMPLE_RATE`].
pub fn init_sentry(dsn: &str) -> sentry::ClientInitGuard {
    sentry::init(
        sentry::ClientOptions::new()
            .dsn(dsn)
            .traces_sample_rate(TRACES_SAMPLE_RATE),
    )
}

/// The path of route `route` of a [`Shape`] (0: [`ROUTE`], `/users/{id}`; `i`:
/// `/r{i}/items/{id}`) for `id`.
///
/// ```
/// assert_eq!(belfry_bench::path(0, 7), "/users/7");
/// assert_eq!(belfry_bench::path(12, 7), "/r12/items/7");
/// ```
pub fn path(route: usize, id: u64) -> String {
    match route {
        0 => format!("/users/{id}"),
        route => format!("/r{route}/items/{id}"),
    }
}

/// A request as `wrk` sends it: `GET /users/{id}` with a `host` header.
pub fn request(id: u64) -> Request<Body> {
    request_to(0, id)
}

/// A request as `wrk` sends it to route `route` ([`path`]), with a `host` header.
pub fn request_to(route: usize, id: u64) -> Request<Body> {
    Request::get(path(route, id))
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
    drive_routes(app, count, headers, 1).await
}

/// [`drive_with_headers`], request `i` going to route `i % routes` ([`path`]): every route of
/// a [`Shape`] with that many routes in turn.
///
/// # Panics
///
/// If a response is not `200 OK`.
pub async fn drive_routes(
    app: &Router,
    count: u64,
    headers: &[(HeaderName, http::HeaderValue)],
    routes: usize,
) -> u64 {
    let routes = routes.max(1) as u64;
    let mut bytes = 0;
    for i in 0..count {
        let mut request = request_to((i % routes) as usize, i % 1000);
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
        // The threads behind the stack (Sentry's transport, the log writer) get their turn, as
        // they would on a spare core: under valgrind, which runs one thread at a time (with
        // `--fair-sched=yes`, taking turns), they would otherwise fall behind and drop what a
        // real machine delivers. About ten instructions, the same for every variant.
        std::thread::yield_now();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_and_span_field_count_serves() {
        for fields in [None, Some(0), Some(3), Some(MAX_SPAN_FIELDS)] {
            let shape = Shape {
                routes: 5,
                span_fields: fields,
            };
            let app = app_shaped(Variant::Bare, shape).with_state(());
            let bytes = current_thread_runtime().block_on(drive_routes(&app, 10, &[], 5));
            assert!(bytes > 0, "{fields:?}");
        }
    }
}
