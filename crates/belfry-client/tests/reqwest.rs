//! [`PropagateMiddleware`] on a real reqwest client, against a loopback HTTP server that answers
//! with the request head it received.
#![cfg(feature = "reqwest")]

mod support;

use std::time::Duration;

use belfry_client::PropagateMiddleware;
use belfry_request_id::RequestId;
use belfry_trace_context::TraceContext;
use support::{client_events, record_events};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    time::timeout,
};
use tracing::Level;

/// No step of these tests needs more than this on loopback.
const BOUND: Duration = Duration::from_secs(10);

/// Serves one connection on 127.0.0.1: reads the request head and answers it as the body.
async fn echo_head_server() -> (u16, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = timeout(BOUND, listener.accept()).await.unwrap().unwrap();
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let read = timeout(BOUND, stream.read(&mut buffer)).await.unwrap().unwrap();
            assert!(read > 0, "connection closed before the end of the head");
            head.extend_from_slice(&buffer[..read]);
            assert!(head.len() < 64 * 1024);
        }
        let head = String::from_utf8(head).unwrap();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
            head.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap();
        head
    });
    (port, server)
}

fn client(middleware: PropagateMiddleware) -> reqwest_middleware::ClientWithMiddleware {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(BOUND)
        .build()
        .unwrap();
    reqwest_middleware::ClientBuilder::new(client)
        .with(middleware)
        .build()
}

/// The value of header `name` in a raw request head (names are lowercase on the wire from
/// reqwest's hyper).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn a_reqwest_call_carries_the_context_and_is_logged_and_measured() {
    record_events();
    let (port, server) = echo_head_server().await;
    let metrics = metrics_if_enabled();
    let client = client(with_metrics(PropagateMiddleware::new(), &metrics));
    let serving = TraceContext::new_root(true);
    let url = format!("http://127.0.0.1:{port}/stock?item=7&api_key=hunter2");
    let request_id = RequestId::from_incoming(b"req-reqwest").unwrap();
    let response = timeout(
        BOUND,
        serving.clone().scope(
            client
                .get(&url)
                .header("x-custom", "kept")
                .with_extension(request_id)
                .send(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    let echoed = response.text().await.unwrap();
    let head = timeout(BOUND, server).await.unwrap().unwrap();
    assert_eq!(echoed, head);

    let traceparent = header(&head, "traceparent").unwrap();
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields[1], serving.trace_id().to_string(), "{head}");
    assert_ne!(fields[2], serving.span_id().to_string());
    assert_eq!(fields[3], "01");
    assert_eq!(
        header(&head, "sentry-trace"),
        Some(format!("{}-{}-1", fields[1], fields[2]).as_str())
    );
    assert_eq!(header(&head, "x-request-id"), Some("req-reqwest"));
    assert_eq!(header(&head, "x-custom"), Some("kept"));

    let events = client_events("127.0.0.1");
    let event = events
        .iter()
        .find(|event| event.field("server.port") == Some(&port.to_string()))
        .unwrap_or_else(|| panic!("no event for port {port}: {events:?}"));
    assert_eq!(event.level, Level::INFO);
    assert_eq!(event.field("http.request.method"), Some("GET"));
    assert_eq!(event.field("http.response.status_code"), Some("200"));
    assert_eq!(
        event.field("url.full"),
        Some(format!("http://127.0.0.1:{port}/stock?item=7&api_key=[REDACTED]").as_str())
    );
    assert!(event.field("duration_ms").is_some());
    assert_measured(&metrics, "200", "");
}

#[tokio::test]
async fn a_refused_connection_is_a_warning_with_error_type_connect() {
    record_events();
    // A port nothing listens on any more.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let metrics = metrics_if_enabled();
    let client = client(with_metrics(PropagateMiddleware::new(), &metrics));
    let result = timeout(BOUND, client.get(format!("http://127.0.0.1:{port}/")).send())
        .await
        .unwrap();
    assert!(result.is_err());
    let events = client_events("127.0.0.1");
    let event = events
        .iter()
        .find(|event| event.field("server.port") == Some(&port.to_string()))
        .unwrap_or_else(|| panic!("no event for port {port}: {events:?}"));
    assert_eq!(event.level, Level::WARN);
    assert_eq!(event.field("error.type"), Some("connect"));
    assert_eq!(event.field("http.response.status_code"), None);
    assert_measured(&metrics, "", "connect");
}

#[cfg(feature = "metrics")]
fn metrics_if_enabled() -> belfry_metrics::Metrics {
    belfry_metrics::Metrics::new()
}

#[cfg(feature = "metrics")]
fn with_metrics(middleware: PropagateMiddleware, metrics: &belfry_metrics::Metrics) -> PropagateMiddleware {
    middleware.metrics(metrics.http_client())
}

#[cfg(feature = "metrics")]
fn assert_measured(metrics: &belfry_metrics::Metrics, status: &str, error_type: &str) {
    let text = metrics.render();
    let count = format!(
        r#"http_client_request_duration_seconds_count{{http_request_method="GET",server_address="127.0.0.1",http_response_status_code="{status}",error_type="{error_type}"}} 1"#
    );
    assert!(text.contains(&count), "{count}\n{text}");
}

/// Without the `metrics` feature there is nothing to measure into.
#[cfg(not(feature = "metrics"))]
struct NoMetrics;

#[cfg(not(feature = "metrics"))]
fn metrics_if_enabled() -> NoMetrics {
    NoMetrics
}

#[cfg(not(feature = "metrics"))]
fn with_metrics(middleware: PropagateMiddleware, _: &NoMetrics) -> PropagateMiddleware {
    middleware
}

#[cfg(not(feature = "metrics"))]
fn assert_measured(_: &NoMetrics, _: &str, _: &str) {}
