//! [`PropagateLayer`] driven with `oneshot`: the headers it sends on behalf of a request served
//! through belfry's trace-context and request-id layers, and the one log line per call.

mod support;

use std::{
    convert::Infallible,
    future::Future,
    io,
    sync::{Arc, Mutex},
    task::{Context, Waker},
};

use belfry_client::{box_error_type, PropagateLayer, CANCELLED};
use belfry_request_id::{RequestId, RequestIdLayer};
use belfry_trace_context::{TraceContext, TraceContextLayer};
use http::{HeaderMap, Request, Response, StatusCode};
use support::{client_events, record_events};
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};
use tracing::Level;

const INCOMING_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INCOMING_PARENT: &str = "00f067aa0ba902b7";

/// The headers a [`capturing_client`] was sent.
type Sent = Arc<Mutex<Option<HeaderMap>>>;

/// A client that records the headers it is sent and answers `status`.
fn capturing_client(
    status: StatusCode,
) -> (
    impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future: Send> + Clone + Send,
    Sent,
) {
    let sent = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&sent);
    let client = service_fn(move |request: Request<()>| {
        *sink.lock().unwrap() = Some(request.headers().clone());
        let mut response = Response::new(());
        *response.status_mut() = status;
        async move { Ok::<_, Infallible>(response) }
    });
    (client, sent)
}

/// Serves one request through belfry's context layers; the handler makes one call with
/// `client` to `url` (caller headers `extra`) and answers the request's own trace context.
async fn serve_and_call<C>(
    incoming: Request<()>,
    client: C,
    url: &'static str,
    extra: HeaderMap,
) -> TraceContext
where
    C: Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone + Send + 'static,
    C::Future: Send,
{
    let server = ServiceBuilder::new()
        .layer(TraceContextLayer::new())
        .layer(RequestIdLayer::new())
        .service(service_fn(move |_: Request<()>| {
            let client = PropagateLayer::new().layer(client.clone());
            let extra = extra.clone();
            async move {
                let serving = TraceContext::current().expect("served in a trace");
                let mut call = Request::get(url).body(()).unwrap();
                call.headers_mut().extend(extra);
                client.oneshot(call).await.unwrap();
                Ok::<_, Infallible>(Response::new(serving))
            }
        }));
    server.oneshot(incoming).await.unwrap().into_body()
}

fn incoming() -> Request<()> {
    Request::get("/orders")
        .header("traceparent", format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"))
        .header("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        .header("x-request-id", "req-42")
        .body(())
        .unwrap()
}

#[tokio::test]
async fn the_call_continues_the_served_trace_in_a_span_of_its_own() {
    let (client, sent) = capturing_client(StatusCode::OK);
    let serving = serve_and_call(incoming(), client, "http://continue.test/items", HeaderMap::new()).await;
    let sent = sent.lock().unwrap().take().unwrap();

    let traceparent = sent["traceparent"].to_str().unwrap();
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1], INCOMING_TRACE);
    assert_eq!(serving.trace_id().to_string(), INCOMING_TRACE);
    // A new span: neither the caller's span nor the served request's own.
    assert_ne!(fields[2], INCOMING_PARENT);
    assert_ne!(fields[2], serving.span_id().to_string());
    assert_eq!(fields[2].len(), 16);
    assert_eq!(fields[3], "01");
    assert_eq!(sent["tracestate"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    assert_eq!(
        sent["sentry-trace"],
        format!("{INCOMING_TRACE}-{}-1", fields[2]).as_str()
    );
    assert_eq!(sent["x-request-id"], "req-42");
}

#[tokio::test]
async fn headers_the_caller_set_are_kept() {
    let (client, sent) = capturing_client(StatusCode::OK);
    let mut extra = HeaderMap::new();
    extra.insert("x-request-id", "caller-chosen".parse().unwrap());
    extra.insert("baggage", "tenant=acme".parse().unwrap());
    serve_and_call(incoming(), client, "http://kept.test/", extra).await;
    let sent = sent.lock().unwrap().take().unwrap();
    assert_eq!(sent["x-request-id"], "caller-chosen");
    assert_eq!(sent["baggage"], "tenant=acme");
    assert!(sent["traceparent"].to_str().unwrap().contains(INCOMING_TRACE));

    // A caller-set traceparent: the caller propagates the trace itself, nothing is added.
    let (client, sent) = capturing_client(StatusCode::OK);
    let mut extra = HeaderMap::new();
    let theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    extra.insert("traceparent", theirs.parse().unwrap());
    serve_and_call(incoming(), client, "http://theirs.test/", extra).await;
    let sent = sent.lock().unwrap().take().unwrap();
    assert_eq!(sent["traceparent"], theirs);
    assert!(sent.get("tracestate").is_none());
    assert!(sent.get("sentry-trace").is_none());
    assert_eq!(sent["x-request-id"], "req-42");
}

#[tokio::test]
async fn extensions_override_the_current_context() {
    let (client, sent) = capturing_client(StatusCode::OK);
    let client = PropagateLayer::new().layer(client);
    let explicit = TraceContext::new_root(false);
    let other = TraceContext::new_root(true);
    let mut call = Request::get("http://explicit.test/").body(()).unwrap();
    call.extensions_mut().insert(explicit.clone());
    call.extensions_mut()
        .insert(RequestId::from_incoming(b"from-extensions").unwrap());
    other.clone().scope(client.oneshot(call)).await.unwrap();
    let sent = sent.lock().unwrap().take().unwrap();
    let traceparent = sent["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{}-", explicit.trace_id())),
        "{traceparent}"
    );
    assert!(traceparent.ends_with("-00"));
    assert_eq!(sent["x-request-id"], "from-extensions");
}

#[tokio::test]
async fn outside_a_request_nothing_is_added() {
    let (client, sent) = capturing_client(StatusCode::OK);
    PropagateLayer::new()
        .layer(client)
        .oneshot(Request::get("http://outside.test/").body(()).unwrap())
        .await
        .unwrap();
    assert!(sent.lock().unwrap().take().unwrap().is_empty());
}

#[tokio::test]
async fn one_info_line_per_successful_call_with_the_opentelemetry_fields() {
    record_events();
    let (client, _) = capturing_client(StatusCode::OK);
    serve_and_call(
        incoming(),
        client,
        "http://user:secret@logged.test:8080/items?page=2&token=abc",
        HeaderMap::new(),
    )
    .await;
    let events = client_events("logged.test");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.level, Level::INFO);
    assert_eq!(event.field("message"), Some("http client request"));
    assert_eq!(event.field("http.request.method"), Some("GET"));
    assert_eq!(event.field("server.port"), Some("8080"));
    assert_eq!(
        event.field("url.full"),
        Some("http://logged.test:8080/items?page=2&token=[REDACTED]")
    );
    assert_eq!(event.field("http.response.status_code"), Some("200"));
    let duration: f64 = event.field("duration_ms").unwrap().parse().unwrap();
    assert!((0.0..10_000.0).contains(&duration));
    assert_eq!(event.field("error.type"), None);
}

#[tokio::test]
async fn server_errors_and_failures_are_warnings_with_an_error_type() {
    record_events();
    let (client, _) = capturing_client(StatusCode::SERVICE_UNAVAILABLE);
    serve_and_call(incoming(), client, "https://unavailable.test/", HeaderMap::new()).await;
    let events = client_events("unavailable.test");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(events[0].field("http.response.status_code"), Some("503"));
    assert_eq!(events[0].field("error.type"), Some("503"));
    assert_eq!(events[0].field("server.port"), Some("443"));

    // A 404 is an error for the caller (error.type), but not a warning.
    let (client, _) = capturing_client(StatusCode::NOT_FOUND);
    serve_and_call(incoming(), client, "http://missing.test/", HeaderMap::new()).await;
    let events = client_events("missing.test");
    assert_eq!(events[0].level, Level::INFO);
    assert_eq!(events[0].field("error.type"), Some("404"));

    // The client fails: no status, the error's type.
    let failing = service_fn(|_: Request<()>| async {
        Err::<Response<()>, BoxError>(Box::new(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "refused",
        )))
    });
    let result = PropagateLayer::new()
        .error_type(box_error_type)
        .layer(failing)
        .oneshot(Request::get("http://refused.test/").body(()).unwrap())
        .await;
    assert!(result.is_err());
    let events = client_events("refused.test");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(events[0].field("http.response.status_code"), None);
    assert_eq!(events[0].field("error.type"), Some("connect"));
}

#[test]
fn a_call_dropped_before_its_response_is_logged_as_cancelled() {
    record_events();
    let pending = service_fn(|_: Request<()>| std::future::pending::<Result<Response<()>, Infallible>>());
    let mut client = PropagateLayer::new().layer(pending);
    let mut future = Box::pin(client.call(Request::get("http://dropped.test/").body(()).unwrap()));
    assert!(future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    assert!(client_events("dropped.test").is_empty());
    drop(future);
    let events = client_events("dropped.test");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(events[0].field("error.type"), Some(CANCELLED));
}

#[tokio::test]
async fn outgoing_headers_for_any_client() {
    let server = ServiceBuilder::new()
        .layer(TraceContextLayer::new())
        .layer(RequestIdLayer::new())
        .service(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(belfry_client::outgoing_headers()))
        }));
    let headers = server.oneshot(incoming()).await.unwrap().into_body();
    assert!(headers["traceparent"].to_str().unwrap().contains(INCOMING_TRACE));
    assert_eq!(headers["tracestate"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    assert_eq!(headers["x-request-id"], "req-42");
    assert!(belfry_client::outgoing_headers().is_empty());
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn calls_are_recorded_in_the_client_histogram() {
    let metrics = belfry_metrics::Metrics::new();
    for status in [StatusCode::OK, StatusCode::OK, StatusCode::BAD_GATEWAY] {
        let (client, _) = capturing_client(status);
        PropagateLayer::new()
            .metrics(metrics.http_client())
            .layer(client)
            .oneshot(Request::post("http://measured.test/").body(()).unwrap())
            .await
            .unwrap();
    }
    let text = metrics.render();
    let ok = r#"http_client_request_duration_seconds_count{http_request_method="POST",server_address="measured.test",http_response_status_code="200",error_type=""} 2"#;
    let bad = r#"http_client_request_duration_seconds_count{http_request_method="POST",server_address="measured.test",http_response_status_code="502",error_type="502"} 1"#;
    assert!(text.contains(ok), "{text}");
    assert!(text.contains(bad), "{text}");
}
