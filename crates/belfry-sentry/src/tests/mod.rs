//! Tests driving the capture layer with the Sentry reporter through `oneshot`, with the SDK's
//! test transport. Events are recorded by one global subscriber (tracing's callsite cache is
//! process-wide, so a thread-local one would race with the other tests), which also carries the
//! [`TracingBridge`](crate::TracingBridge) as belfry's telemetry wires it. Each test uses its
//! own request ids and reads only its own events.

mod events;

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{Arc, Mutex, OnceLock},
};

use axum::{
    body::Body,
    http::{Request, Response, StatusCode},
    routing::get,
    Router,
};
use belfry_capture::{CaptureLayer, ErrorReport};
use belfry_request_id::{RequestId, RequestIdLayer};
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracing_subscriber::{layer::SubscriberExt, registry::LookupSpan, Layer};

use crate::{SentryPanicReporter, SentryReporter, TracingBridge};

#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) target: String,
    /// The fields of the event's spans, innermost last.
    pub(crate) span_fields: BTreeMap<String, String>,
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

struct Recorder;

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
        events().lock().unwrap().push(Recorded {
            target: event.metadata().target().to_owned(),
            span_fields,
        });
    }
}

fn events() -> &'static Mutex<Vec<Recorded>> {
    static EVENTS: OnceLock<Mutex<Vec<Recorded>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let subscriber = tracing_subscriber::registry()
            .with(Recorder)
            .with(TracingBridge::new());
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        Mutex::new(Vec::new())
    })
}

/// Installs the subscriber, the panic hook and its Sentry reporter, once.
pub(crate) fn setup() {
    events();
    belfry_capture::install_panic_hook();
    let _ = belfry_capture::set_panic_reporter(SentryPanicReporter::new());
}

/// The capture layer with the Sentry reporter.
pub(crate) fn capture() -> CaptureLayer<belfry_capture::ProblemJson, SentryReporter> {
    CaptureLayer::new().reporter(SentryReporter::new())
}

/// The events logged in the request span of `request_id`.
pub(crate) fn events_for(request_id: &str) -> Vec<Recorded> {
    events()
        .lock()
        .unwrap()
        .iter()
        .filter(|event| event.span_fields.get("request_id").map(String::as_str) == Some(request_id))
        .cloned()
        .collect()
}

/// The events of the capture layer (target `belfry::capture`) for `request_id`.
pub(crate) fn capture_events_for(request_id: &str) -> Vec<Recorded> {
    events_for(request_id)
        .into_iter()
        .filter(|event| event.target == belfry_capture::TARGET)
        .collect()
}

#[derive(Debug)]
pub(crate) struct Outer(Middle);

#[derive(Debug)]
pub(crate) struct Middle(std::io::Error);

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

pub(crate) fn chained_error() -> Outer {
    Outer(Middle(std::io::Error::other("connection refused")))
}

pub(crate) const PANIC_MESSAGE: &str = "handler exploded: secret internals";

/// The panic site of `/panic`, for location assertions.
pub(crate) const PANIC_FILE: &str = file!();
pub(crate) const PANIC_LINE: u32 = line!() + 4;

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
    let handle = belfry_capture::spawn(async {
        tracing::info!("background work started");
        panic!("background work exploded");
    });
    assert!(handle.await.unwrap_err().is_panic());
    "spawned"
}

/// The application of the tests, stacked like belfry's: request id outside, capture inside.
pub(crate) fn app(capture: CaptureLayer<belfry_capture::ProblemJson, SentryReporter>) -> Router {
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
        .route("/stream-panic", get(|| async { Body::new(PanickingBody(0)) }))
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
pub(crate) const CAUGHT_INSIDE_MESSAGE: &str = "caught by the handler itself";

/// Two chunks, then a panic inside `poll_frame`: a streaming body that fails after the headers.
pub(crate) struct PanickingBody(u8);

impl http_body::Body for PanickingBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0 += 1;
        if self.0 > 2 {
            panic!("the body exploded after two chunks");
        }
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"chunk ")))))
    }
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

pub(crate) async fn collect<B>(response: Response<B>) -> Answer
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Sends `GET uri` with the request id `id` through `app`.
pub(crate) async fn get_with_id(app: Router, uri: &str, id: &str) -> Answer {
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

/// A response of the capture layer with the Sentry reporter.
pub(crate) type SentryResponse = Response<belfry_capture::CaptureBody<Body, SentryReporter>>;

/// A service whose `call` itself panics, behind the request id and capture layers.
pub(crate) fn panicking_in_call() -> impl tower::Service<
    Request<Body>,
    Response = SentryResponse,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<SentryResponse, Infallible>>,
> + Clone {
    tower::ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(capture())
        .service(tower::service_fn(
            |_: Request<Body>| -> std::future::Ready<Result<Response<Body>, Infallible>> {
                panic!("call exploded")
            },
        ))
}

/// A hub with a client sending to a test transport.
pub(crate) fn sentry_hub(
    options: sentry::ClientOptions,
) -> (Arc<sentry::Hub>, Arc<sentry::test::TestTransport>) {
    let transport = sentry::test::TestTransport::new();
    let mut options = options;
    options.dsn = Some("https://public@sentry.invalid/1".parse().unwrap());
    options.transport = Some(Arc::new(transport.clone()));
    let client = Arc::new(sentry::Client::from(crate::prepare_client_options(options)));
    let hub = Arc::new(sentry::Hub::new(Some(client), Default::default()));
    (hub, transport)
}
