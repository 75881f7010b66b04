//! Trace context across services, end to end: the official OpenTelemetry and Sentry Python SDKs
//! call the demo, the demo calls a loopback upstream, and one trace id shows up in the demo's
//! JSON lines, its problem+json body, the event stored by the real Sentry-compatible server and
//! the headers the upstream received.

use std::time::Duration;

use belfry_tests::{get, otel_get, sentry_get, Behaviour, Demo, SentryServer, Upstream};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);
const EVENT_WAIT: Duration = Duration::from_secs(20);

fn is_lower_hex(value: &Value, len: usize) -> bool {
    value.as_str().is_some_and(|text| {
        text.len() == len
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The stored Sentry event's trace context (`contexts.trace`).
fn event_trace(event: &Value) -> &Value {
    &event["contexts"]["trace"]
}

#[test]
fn an_opentelemetry_caller_s_trace_is_on_every_line_of_the_request() {
    let demo = Demo::start();
    let called = otel_get(&demo.url("/users/7"), None);
    assert_eq!(called["status"], 200, "{called}");
    let trace_id = called["trace_id"].as_str().unwrap();
    let request_id = called["headers"]["x-request-id"]
        .as_str()
        .expect("the demo's request id");

    let handler = demo
        .logs()
        .wait_for_request(request_id, "user looked up", WAIT)
        .expect("the handler's line");
    let access = demo
        .logs()
        .wait_for_request(request_id, "request completed", WAIT)
        .expect("the access log line");
    for line in [&handler, &access] {
        assert_eq!(line["trace_id"], trace_id, "{line}");
        assert!(is_lower_hex(&line["span_id"], 16), "{line}");
        assert_ne!(
            line["span_id"], called["span_id"],
            "the demo's span is its own: {line}"
        );
    }
    assert_eq!(handler["span_id"], access["span_id"], "one span per request");
}

#[test]
fn the_panic_of_a_traced_request_carries_the_caller_s_trace_to_the_body_and_to_sentry() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let called = otel_get(&demo.url("/panic"), None);
    assert_eq!(called["status"], 500, "{called}");
    let trace_id = called["trace_id"].as_str().unwrap();
    let problem: Value = serde_json::from_str(called["body"].as_str().unwrap()).expect("problem+json");
    assert_eq!(problem["trace_id"], trace_id, "{problem}");
    let request_id = problem["request_id"].as_str().expect("request_id in the body");

    let line = demo
        .logs()
        .wait_for_request(request_id, "request panicked", WAIT)
        .expect("the panic's ERROR line");
    assert_eq!(line["trace_id"], trace_id);

    let events = sentry.wait_for_events(request_id, EVENT_WAIT);
    assert_eq!(events.len(), 1, "{events:?}");
    let trace = event_trace(&events[0]);
    assert_eq!(
        trace["trace_id"], trace_id,
        "the event is in the caller's trace: {trace}"
    );
    assert_eq!(trace["parent_span_id"], called["span_id"], "{trace}");
    assert_eq!(
        trace["span_id"], line["span_id"],
        "the event is the demo's span: {trace}"
    );
}

#[test]
fn a_sentry_sdk_caller_s_trace_reaches_the_stored_event() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let called = sentry_get(&demo.url("/panic"));
    assert_eq!(called["status"], 500, "{called}");
    assert!(
        called["sent"]["sentry-trace"].is_string(),
        "the SDK sent sentry-trace: {called}"
    );
    assert!(
        called["sent"].get("traceparent").is_none(),
        "and only sentry-trace: {called}"
    );
    let trace_id = called["trace_id"].as_str().unwrap();
    let problem: Value = serde_json::from_str(called["body"].as_str().unwrap()).expect("problem+json");
    assert_eq!(problem["trace_id"], trace_id);
    let request_id = problem["request_id"].as_str().unwrap();

    let events = sentry.wait_for_events(request_id, EVENT_WAIT);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(event_trace(&events[0])["trace_id"], trace_id);
}

#[test]
fn a_downstream_call_continues_the_trace_with_the_demo_s_span_as_parent() {
    let upstream = Upstream::start(Behaviour::Ok);
    let demo = Demo::builder().env("DEMO_UPSTREAM_URL", &upstream.url()).start();
    let trace_state = "vendor1=opaque-value,rojo=00f067aa0ba902b7";
    let called = otel_get(&demo.url("/inventory"), Some(trace_state));
    assert_eq!(called["status"], 200, "{called}");
    let trace_id = called["trace_id"].as_str().unwrap();
    let request_id = called["headers"]["x-request-id"].as_str().unwrap();
    let access = demo
        .logs()
        .wait_for_request(request_id, "request completed", WAIT)
        .expect("the access log line");
    let demo_span = access["span_id"].as_str().unwrap();

    // The demo's health check calls the same upstream: the call is the one with the request's id.
    let received = upstream
        .wait_for_request(WAIT, |headers| {
            headers
                .get("x-request-id")
                .is_some_and(|ids| ids.iter().any(|id| id == request_id))
        })
        .expect("the upstream was called with the request's id");
    let traceparent = &received["traceparent"];
    assert_eq!(traceparent.len(), 1, "{received:?}");
    let fields: Vec<&str> = traceparent[0].split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent:?}");
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1], trace_id, "the same trace");
    assert_ne!(fields[2], demo_span, "the call is a span of its own");
    assert_eq!(fields[3], "01", "sampled, as the caller said");
    assert_eq!(
        received["tracestate"],
        vec![trace_state.to_owned()],
        "tracestate forwarded"
    );
    assert_eq!(received["x-request-id"], vec![request_id.to_owned()]);
    let sentry_trace = &received["sentry-trace"][0];
    assert_eq!(sentry_trace, &format!("{trace_id}-{}-1", fields[2]));

    // The call's own line, in the request, and its parent is the demo's span.
    let call = demo
        .logs()
        .wait_for_request(request_id, "http client request", WAIT)
        .expect("one belfry::client line for the call");
    assert_eq!(call["target"], "belfry::client");
    assert_eq!(call["trace_id"], trace_id);
    assert_eq!(call["span_id"], demo_span);
    assert_eq!(call["http.request.method"], "GET");
    assert_eq!(call["server.address"], "127.0.0.1");
    assert_eq!(call["http.response.status_code"], 200);

    let metrics = get(&demo.url("/metrics"), &[]);
    assert!(
        metrics
            .body
            .contains("http_client_request_duration_seconds_count{"),
        "the call is counted: {}",
        metrics.body
    );
}

/// The invalid `traceparent` examples of the W3C Trace Context Recommendation (and its test
/// suite), plus what lax parsers accept: each starts a new trace and is never echoed.
#[test]
fn an_invalid_traceparent_starts_a_new_trace_and_is_never_echoed() {
    let demo = Demo::start();
    let valid_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let invalid = [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // uppercase
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // extra field on 00
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // 31-hex trace id
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01", // 33-hex trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",  // 15-hex parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b77-01", // 17-hex parent id
        "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // 3-character version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  // 1-character flags
        "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // a leading +
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", // not hex
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", // wrong separator
    ];
    for (n, header) in invalid.iter().enumerate() {
        let request_id = format!("invalid-traceparent-{n}");
        let response = get(
            &demo.url("/users/7"),
            &[("traceparent", header), ("x-request-id", &request_id)],
        );
        assert_eq!(response.status, 200, "{header}");
        let line = demo
            .logs()
            .wait_for_request(&request_id, "request completed", WAIT)
            .expect("the access log line");
        assert!(
            is_lower_hex(&line["trace_id"], 32),
            "a new trace for {header}: {line}"
        );
        assert_ne!(line["trace_id"], valid_trace, "{header} was not continued");
        assert!(
            line.get("trace.incoming_id").is_none(),
            "an invalid header is not an incoming trace: {line}"
        );
        for (name, value) in &response.headers {
            assert!(!value.contains(header), "{header} echoed in {name}");
        }
        assert!(!response.body.contains(header), "{header} echoed in the body");
    }
}

#[test]
fn an_edge_service_starts_its_own_trace_and_logs_the_caller_s() {
    let demo = Demo::builder().env("BELFRY_TRUST_TRACE_CONTEXT", "false").start();
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = get(
        &demo.url("/users/7"),
        &[
            ("traceparent", &format!("00-{caller_trace}-00f067aa0ba902b7-01")),
            ("x-request-id", "edge-1"),
        ],
    );
    assert_eq!(response.status, 200);
    let line = demo
        .logs()
        .wait_for_request("edge-1", "request completed", WAIT)
        .expect("the access log line");
    assert!(is_lower_hex(&line["trace_id"], 32), "{line}");
    assert_ne!(line["trace_id"], caller_trace, "{line}");
    assert_eq!(line["trace.incoming_id"], caller_trace, "{line}");
}

#[test]
fn real_prometheus_stores_the_trace_id_of_a_sampled_request_as_an_exemplar() {
    let demo = Demo::start();
    let prometheus = belfry_tests::Prometheus::scraping(demo.address());
    let trace_id = "5bf92f3577b34da6a3ce929d0e0e4736";
    let response = get(
        &demo.url("/users/8"),
        &[
            ("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01")),
            ("x-request-id", "exemplar-1"),
        ],
    );
    assert_eq!(response.status, 200);
    let line = demo
        .logs()
        .wait_for_request("exemplar-1", "request completed", WAIT)
        .expect("the access log line");
    assert_eq!(line["trace_id"], trace_id);

    // Scraped every second: bounded wait for the exemplar to be stored.
    let query = r#"http_server_request_duration_seconds_bucket{http_route="/users/{id}"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        let data = prometheus.exemplars(query);
        let traces: Vec<String> = data
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
            .filter_map(|exemplar| exemplar["labels"]["trace_id"].as_str().map(str::to_owned))
            .collect();
        if traces.iter().any(|trace| trace == trace_id) {
            break true;
        }
        if std::time::Instant::now() >= deadline {
            eprintln!("exemplars seen: {data}");
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        found,
        "Prometheus stored the logged request's trace id as an exemplar"
    );
}
