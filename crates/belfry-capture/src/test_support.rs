//! The harness the capture layer's tests share with belfry-sentry's (the `test-support`
//! feature; not for users): one global subscriber recording every event with the fields of its
//! spans, an application stacked like belfry's (request id outside, capture inside) with a route
//! for each way a request can fail, and helpers to send requests and read the answers.
//!
//! Events are recorded by one global subscriber (tracing's callsite cache is process-wide, so a
//! thread-local one would race with the other tests). Each test uses its own request ids and
//! reads only its own events.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{Mutex, OnceLock},
};

use axum::{
    body::Body,
    http::{Request, Response, StatusCode},
    routing::get,
    Router,
};
use belfry_request_id::{RequestId, RequestIdLayer};
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracing::Level;
use tracing_subscriber::{
    layer::{Layered, SubscriberExt},
    registry::LookupSpan,
    Layer, Registry,
};

use crate::{CaptureBody, CaptureLayer, ErrorReport, Reporter, ResponseForPanic};

/// One event the [`Recorder`] saw.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Its level.
    pub level: Level,
    /// Its target (`belfry::capture` for the layer's own).
    pub target: String,
    /// Its message.
    pub message: String,
    /// Its other fields, values as `Debug` prints them (strings as they are).
    pub fields: BTreeMap<String, String>,
    /// The fields of the event's spans, innermost last.
    pub span_fields: BTreeMap<String, String>,
}

impl Recorded {
    /// The field `name`, if the event has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// The layer that records every event (see [`install`]).
pub struct Recorder;

impl<S> Layer<S> for Recorder
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let mut span_fields = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(recorded) = span.extensions().get::<Fields>() {
                    span_fields.extend(recorded.0.clone());
                }
            }
        }
        let message = fields.remove("message").unwrap_or_default();
        if message == "thread panicked" {
            // The panic hook replaces the default one: keep failing tests readable.
            eprintln!("thread panicked: {fields:?}");
        }
        // Unset only while `install` sets the subscriber up: an event of a test that has not
        // installed it (and reads nothing) may go unrecorded then.
        if let Some(events) = EVENTS.get() {
            events.lock().unwrap().push(Recorded {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                message,
                fields,
                span_fields,
            });
        }
    }
}

static EVENTS: OnceLock<Mutex<Vec<Recorded>>> = OnceLock::new();

fn events() -> &'static Mutex<Vec<Recorded>> {
    EVENTS.get().expect("test_support::install first")
}

/// Installs the recording subscriber, with `extra` layered on top (belfry-sentry's tracing
/// bridge; `tracing_subscriber::layer::Identity` for none), and the panic hook — once: later
/// calls change nothing.
pub fn install<L>(extra: L)
where
    L: Layer<Layered<Recorder, Registry>> + Send + Sync + 'static,
{
    EVENTS.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Recorder).with(extra);
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        Mutex::new(Vec::new())
    });
    crate::install_panic_hook();
}

/// The events logged in the request span of `request_id`.
pub fn events_for(request_id: &str) -> Vec<Recorded> {
    events()
        .lock()
        .unwrap()
        .iter()
        .filter(|event| event.span_fields.get("request_id").map(String::as_str) == Some(request_id))
        .cloned()
        .collect()
}

/// The events of the capture layer (target `belfry::capture`) for `request_id`.
pub fn capture_events_for(request_id: &str) -> Vec<Recorded> {
    events_for(request_id)
        .into_iter()
        .filter(|event| event.target == crate::TARGET)
        .collect()
}

/// The outer error of [`chained_error`]: "loading the report".
#[derive(Debug)]
pub struct Outer(Middle);

/// The middle error of [`chained_error`]: "querying the database".
#[derive(Debug)]
pub struct Middle(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the report")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl std::fmt::Display for Middle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("querying the database")
    }
}

impl std::error::Error for Middle {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An error with two causes, as the `/down` route reports it: loading the report ← querying
/// the database ← connection refused.
pub fn chained_error() -> Outer {
    Outer(Middle(std::io::Error::other("connection refused")))
}

/// The message of the `/panic` route's panic.
pub const PANIC_MESSAGE: &str = "handler exploded: secret internals";

/// The panic site of `/panic`, for location assertions.
pub const PANIC_FILE: &str = file!();
/// The line of the `/panic` route's panic.
pub const PANIC_LINE: u32 = line!() + 4;

async fn panicking_handler() -> &'static str {
    tokio::task::yield_now().await;
    panic!("{}", PANIC_MESSAGE);
}

/// Logs a breadcrumb, yields (so concurrent requests interleave), logs another, and fails.
async fn chatty_handler(id: RequestId) -> (StatusCode, &'static str) {
    tracing::info!("first step of {id}");
    tokio::task::yield_now().await;
    tracing::warn!("second step of {id}");
    tokio::task::yield_now().await;
    (StatusCode::BAD_GATEWAY, "upstream failed")
}

async fn spawning_handler() -> &'static str {
    let handle = crate::spawn(async {
        tracing::info!("background work started");
        panic!("background work exploded");
    });
    assert!(handle.await.unwrap_err().is_panic());
    "spawned"
}

/// The application of the tests, stacked like belfry's: request id outside, capture inside.
pub fn app<P, R>(capture: CaptureLayer<P, R>) -> Router
where
    P: ResponseForPanic<Body>,
    R: Reporter,
{
    Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/panic", get(panicking_handler))
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/down",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorReport::new(chained_error()),
                    "down for maintenance",
                )
            }),
        )
        .route(
            "/bare-500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "plain failure") }),
        )
        .route(
            "/health/ready",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "draining") }),
        )
        .route("/chatty", get(chatty_handler))
        .route(
            "/stream-panic",
            get(|| async { Body::new(PanickingBody::default()) }),
        )
        .route(
            "/caught-inside",
            get(|| async {
                let caught = std::panic::catch_unwind(|| panic!("{}", CAUGHT_INSIDE_MESSAGE));
                assert!(caught.is_err());
                "recovered"
            }),
        )
        .route("/spawn", get(spawning_handler))
        .layer(capture)
        .layer(RequestIdLayer::new())
}

/// The message of the panic the `/caught-inside` handler catches itself.
pub const CAUGHT_INSIDE_MESSAGE: &str = "caught by the handler itself";

/// The line of the panic in [`PanickingBody`].
pub const BODY_PANIC_LINE: u32 = line!() + 17;

/// Two chunks, then a panic inside `poll_frame`: a streaming body that fails after the headers.
#[derive(Default)]
pub struct PanickingBody {
    chunks_sent: u8,
}

impl http_body::Body for PanickingBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.chunks_sent == 2 {
            panic!("the body exploded after two chunks");
        }
        self.chunks_sent += 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"chunk ")))))
    }
}

/// A response, read to its end.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Answer {
    /// The body, parsed as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Reads `response` to its end.
pub async fn collect<B>(response: Response<B>) -> Answer
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Sends `GET uri` with the request id `id` through `app`.
pub async fn get_with_id(app: Router, uri: &str, id: &str) -> Answer {
    let request = Request::get(uri)
        .header("x-request-id", id)
        .header("host", "api.example.com")
        .header("user-agent", "belfry-tests/1")
        .header("authorization", "Bearer s3cr3t-bearer")
        .header("cookie", "session=s3cr3t-cookie")
        .body(Body::empty())
        .unwrap();
    collect(app.oneshot(request).await.unwrap()).await
}

/// A service whose `call` itself panics, behind the request id and `capture` layers.
pub fn panicking_in_call<R: Reporter>(
    capture: CaptureLayer<crate::ProblemJson, R>,
) -> impl tower::Service<Request<Body>, Response = Response<CaptureBody<Body, R>>, Error = Infallible> + Clone
{
    tower::ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(capture)
        .service(tower::service_fn(
            |_: Request<Body>| -> std::future::Ready<Result<Response<Body>, Infallible>> {
                panic!("call exploded")
            },
        ))
}
