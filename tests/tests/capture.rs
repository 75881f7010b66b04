//! Panics and 5xx: clean problem+json responses, ERROR logs, and Sentry events stored by a real
//! Sentry-compatible server (Bugsink), end to end against the demo binary.

use std::time::{Duration, Instant};

use belfry_tests::{closed_port, get, unique, Demo, SentryServer};
use serde_json::Value;

const EVENT_WAIT: Duration = Duration::from_secs(20);

fn assert_problem(response: &belfry_tests::HttpResponse) {
    assert_eq!(response.status, 500);
    assert_eq!(response.header("content-type"), Some("application/problem+json"));
    let problem = response.json();
    assert_eq!(problem["type"], "about:blank");
    assert_eq!(problem["title"], "Internal Server Error");
    assert_eq!(problem["status"], 500);
    assert_eq!(problem["request_id"], response.header("x-request-id").unwrap());
    assert!(
        !response.body.contains("panicked on purpose"),
        "the panic text is never sent: {}",
        response.body
    );
}

#[test]
fn a_panic_becomes_a_problem_response_an_error_line_and_one_sentry_event() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder()
        .env("SENTRY_DSN", sentry.dsn())
        .env("SENTRY_ENVIRONMENT", "e2e")
        .start();
    let request_id = unique("panic");
    let secret = unique("secret");
    let response = get(
        &demo.url(&format!("/panic?access_token={secret}&page=3")),
        &[
            ("x-request-id", &request_id),
            ("authorization", &format!("Bearer {secret}")),
            ("cookie", &format!("session={secret}")),
        ],
    );
    assert_problem(&response);
    assert_eq!(response.header("x-request-id"), Some(request_id.as_str()));
    assert_eq!(get(&demo.url("/"), &[]).status, 200, "the server keeps answering");

    let line = demo
        .logs()
        .wait_for_request(&request_id, "request panicked", Duration::from_secs(10))
        .expect("an ERROR line for the panic");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["panic.message"], "the demo panicked on purpose");
    assert!(
        line["code.filepath"].as_str().unwrap().ends_with("routes.rs"),
        "{line}"
    );

    let events = sentry.wait_for_events(&request_id, EVENT_WAIT);
    assert_eq!(events.len(), 1, "one event per panic: {events:?}");
    let event = &events[0];
    assert_eq!(
        event["exception"]["values"][0]["value"],
        "the demo panicked on purpose"
    );
    assert_eq!(event["transaction"], "GET /panic");
    assert_eq!(event["environment"], "e2e");
    assert_eq!(event["request"]["method"], "GET");
    let headers = event["request"]["headers"].as_object().expect("request headers");
    assert!(
        headers.contains_key("x-request-id") || headers.contains_key("X-Request-Id"),
        "{headers:?}"
    );
    let text = event.to_string();
    assert!(!text.contains(&secret), "the secret reached Sentry: {text}");
    assert!(
        text.contains("page=3"),
        "the rest of the query is kept: {}",
        event["request"]
    );
    assert!(event["request"].get("cookies").is_none());
    assert!(event["request"].get("data").is_none());
}

#[test]
fn an_application_error_is_reported_with_its_chain_and_a_success_is_not() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let ok_id = unique("ok");
    assert_eq!(
        get(&demo.url("/users/1"), &[("x-request-id", &ok_id)]).status,
        200
    );
    let error_id = unique("error");
    let response = get(&demo.url("/error"), &[("x-request-id", &error_id)]);
    assert_eq!(response.status, 500);
    assert_eq!(
        response.json()["error"],
        "the inventory service failed",
        "the app keeps its own body"
    );

    let events = sentry.wait_for_events(&error_id, EVENT_WAIT);
    assert_eq!(events.len(), 1, "{events:?}");
    let values: Vec<&Value> = events[0]["exception"]["values"]
        .as_array()
        .expect("exceptions")
        .iter()
        .collect();
    let messages: Vec<&str> = values
        .iter()
        .filter_map(|value| value["value"].as_str())
        .collect();
    assert!(messages.contains(&"the inventory service failed"), "{messages:?}");
    assert!(
        messages.contains(&"inventory answered HTTP 503"),
        "the source is in the chain: {messages:?}"
    );
    assert_eq!(events[0]["transaction"], "GET /error");
    // The success was sent before the error, on the same transport: nothing came for it.
    assert!(sentry.events_for(&ok_id).is_empty(), "a 200 is not an event");

    let line = demo
        .logs()
        .wait_for_request(&error_id, "request failed", Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        line["error.chain"],
        "the inventory service failed: inventory answered HTTP 503"
    );
}

#[test]
fn an_unreachable_sentry_does_not_break_requests_or_shutdown() {
    let mut demo = Demo::builder()
        .env("SENTRY_DSN", &format!("http://public@{}/1", closed_port()))
        .env("BELFRY_DRAIN_DELAY_MS", "0")
        .start();
    for _ in 0..5 {
        assert_problem(&get(&demo.url("/panic"), &[]));
        assert_eq!(get(&demo.url("/users/3"), &[]).status, 200);
    }
    demo.terminate();
    let started = Instant::now();
    let status = demo
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success());
    // Drain 0 s, nothing in flight, Sentry flush bounded by its 2 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn without_a_dsn_there_is_no_sentry_and_the_same_responses() {
    let demo = Demo::builder().env("SENTRY_DSN", "").start();
    assert_problem(&get(&demo.url("/panic"), &[]));
    assert_eq!(get(&demo.url("/error"), &[]).status, 500);
    assert_eq!(get(&demo.url("/users/3"), &[]).status, 200);
    demo.logs().json();
}
