//! Every request told truly, end to end against the demo binary: answers without a body, a
//! client leaving mid-response, the application's timeout inside and outside belfry, a body
//! that panics while streaming, blocked handlers and stalled bodies, requests hyper rejects,
//! and the application's own panic hook.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use belfry_tests::{get, raw_request, unique, Demo, SentryServer};
use serde_json::Value;

const LOG_WAIT: Duration = Duration::from_secs(15);

fn completed(demo: &Demo, request_id: &str) -> Value {
    demo.logs()
        .wait_for_request(request_id, "request completed", LOG_WAIT)
        .unwrap_or_else(|| panic!("no `request completed` for {request_id}: {:?}", demo.logs().all()))
}

/// `GET path` (or another method) over a raw connection, with the request id `id`.
fn raw(demo: &Demo, method: &str, path: &str, id: &str) -> belfry_tests::HttpResponse {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n",
        demo.address()
    );
    raw_request(demo.address(), request.as_bytes())
}

/// Waits up to `timeout` for `/metrics` to contain `needle`; returns the last exposition.
fn wait_for_metric(demo: &Demo, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = get(&demo.url("/metrics"), &[]).body;
        if text.contains(needle) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn answers_without_a_body_are_complete_not_disconnected() {
    let demo = Demo::start();
    for (method, path, status) in [
        ("HEAD", "/users/7", 200),
        ("GET", "/lifecycle/no-content", 204),
        ("GET", "/lifecycle/not-modified", 304),
    ] {
        let id = unique("nobody");
        let response = raw(&demo, method, path, &id);
        assert_eq!(response.status, status, "{method} {path}");
        assert_eq!(response.body, "", "{method} {path}");
        let line = completed(&demo, &id);
        assert_eq!(line["http.response.status_code"], status, "{line}");
        assert_eq!(line["http.request.method"], method, "{line}");
        assert!(
            line.get("client.disconnected").is_none(),
            "{method} {path}: {line}"
        );
        assert!(line.get("error.type").is_none(), "{method} {path}: {line}");
        assert_eq!(line["http.response.body.size"], 0, "{line}");
        assert_eq!(line["level"], "INFO", "{line}");
    }
}

#[test]
fn a_client_closing_its_connection_mid_response_is_logged_as_disconnected() {
    let demo = Demo::start();
    let id = unique("leaves");
    let mut stream = TcpStream::connect(demo.address()).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "GET /lifecycle/stream?chunks=5000&ms=5 HTTP/1.1\r\nhost: {}\r\nx-request-id: {id}\r\n\r\n",
        demo.address()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut first = [0_u8; 4096];
    let read = stream.read(&mut first).expect("the response starts");
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    drop(stream); // the client goes away with 5000 chunks still to come

    let line = completed(&demo, &id);
    assert_eq!(line["client.disconnected"], true, "{line}");
    assert_eq!(line["error.type"], "cancelled", "{line}");
    assert_eq!(line["http.response.status_code"], 200, "{line}");
    let sent = line["http.response.body.size"].as_u64().unwrap();
    assert!(sent < 5000 * 1024, "only part of the body was sent: {sent}");
}

#[test]
fn a_timeout_given_to_wrap_with_is_logged_counted_and_carries_the_id() {
    let demo = Demo::builder().env("DEMO_REQUEST_TIMEOUT_MS", "300").start();
    let id = unique("timeout-inside");
    let started = Instant::now();
    let response = get(&demo.url("/slow?ms=5000"), &[("x-request-id", &id)]);
    assert_eq!(response.status, 408);
    assert!(started.elapsed() < Duration::from_secs(4), "the timeout answered");
    assert_eq!(response.header("x-request-id"), Some(id.as_str()));

    let line = completed(&demo, &id);
    assert_eq!(line["http.response.status_code"], 408, "{line}");
    assert_eq!(line["http.route"], "/slow", "{line}");
    assert!(line.get("error.type").is_none(), "{line}");
    assert!(line.get("client.disconnected").is_none(), "{line}");

    let needle = r#"http_route="/slow",http_response_status_code="408"} 1"#;
    let metrics = wait_for_metric(&demo, needle, LOG_WAIT);
    assert!(metrics.contains(needle), "{metrics}");
    assert!(
        !metrics.contains(r#"http_route="/slow",http_response_status_code=""}"#),
        "{metrics}"
    );
    let warned = demo
        .logs()
        .all()
        .iter()
        .any(|line| line.contains("wrap_with") && line.contains("\"WARN\""));
    assert!(
        !warned,
        "no misapplication warning when the layer is in its place"
    );
}

#[test]
fn a_timeout_applied_outside_is_cancelled_not_disconnected_and_warned_about() {
    let demo = Demo::builder()
        .env("DEMO_REQUEST_TIMEOUT_MS", "300")
        .env("DEMO_TIMEOUT_OUTSIDE", "true")
        .start();
    let id = unique("timeout-outside");
    let response = get(&demo.url("/slow?ms=5000"), &[("x-request-id", &id)]);
    assert_eq!(response.status, 408);
    assert_eq!(
        response.header("x-request-id"),
        None,
        "answered outside belfry: no id (what the warning is about)"
    );

    let line = completed(&demo, &id);
    assert_eq!(line["error.type"], "cancelled", "{line}");
    assert!(
        line.get("client.disconnected").is_none(),
        "the connection stayed open: {line}"
    );
    assert!(line.get("http.response.status_code").is_none(), "{line}");

    let warning = demo
        .logs()
        .wait_for(LOG_WAIT, |line| {
            line["level"] == "WARN"
                && line["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("wrap_with"))
        })
        .expect("a warning naming the fix");
    assert_eq!(warning["request_id"], id.as_str(), "{warning}");

    // Said once.
    let second = unique("timeout-outside");
    assert_eq!(
        get(&demo.url("/slow?ms=5000"), &[("x-request-id", &second)]).status,
        408
    );
    completed(&demo, &second);
    let warnings = demo
        .logs()
        .json()
        .into_iter()
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|message| message.contains("wrap_with"))
        })
        .count();
    assert_eq!(warnings, 1);
}

#[test]
fn a_body_that_panics_while_streaming_is_told_in_the_log_metrics_and_sentry() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let id = unique("stream-panic");
    let started = Instant::now();
    let mut stream = TcpStream::connect(demo.address()).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "GET /lifecycle/stream-panic HTTP/1.1\r\nhost: {}\r\nx-request-id: {id}\r\n\r\n",
        demo.address()
    );
    stream.write_all(request.as_bytes()).unwrap();
    // hyper ends the connection when the body fails: the client gets what was flushed (often
    // nothing), never a body ended as complete.
    let mut received = Vec::new();
    let ended = stream.read_to_end(&mut received);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the connection ended instead of hanging"
    );
    let received = String::from_utf8_lossy(&received);
    assert!(
        ended.is_err() || !received.contains("\r\n0\r\n\r\n"),
        "the body was not ended as complete: {received:?}"
    );
    assert!(
        received.is_empty() || received.starts_with("HTTP/1.1 200"),
        "{received:?}"
    );

    let line = completed(&demo, &id);
    assert_eq!(line["error.type"], "panic", "{line}");
    assert_eq!(line["http.response.status_code"], 200, "{line}");
    assert_eq!(
        line["http.response.body.size"], 12,
        "two chunks were sent: {line}"
    );
    assert_eq!(line["level"], "ERROR", "{line}");

    let panicked = demo
        .logs()
        .wait_for_request(&id, "request panicked", LOG_WAIT)
        .expect("an ERROR line in the request's context");
    assert_eq!(panicked["http.route"], "/lifecycle/stream-panic", "{panicked}");
    assert_eq!(
        panicked["panic.message"],
        "the report stream broke after two chunks"
    );
    assert!(
        panicked["code.filepath"]
            .as_str()
            .unwrap()
            .ends_with("lifecycle.rs"),
        "{panicked}"
    );
    assert!(panicked["trace_id"].is_string(), "{panicked}");

    let needle = r#"http_route="/lifecycle/stream-panic",http_response_status_code="500"} 1"#;
    let metrics = wait_for_metric(&demo, needle, LOG_WAIT);
    assert!(metrics.contains(needle), "counted as an error: {metrics}");

    let events = sentry.wait_for_events(&id, Duration::from_secs(20));
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["exception"]["values"][0]["type"], "panic", "{event}");
    assert_eq!(event["transaction"], "GET /lifecycle/stream-panic", "{event}");
    assert!(
        event["request"]["url"]
            .as_str()
            .is_some_and(|url| url.contains("/lifecycle/stream-panic")),
        "{event}"
    );
    let frames = event["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        frames <= 1,
        "no resolved stack trace unless BELFRY_PANIC_STACKTRACES: {frames} frames"
    );
}

/// Sends `path`, and checks that `request still running` was written while it ran.
fn assert_reported_while_running(demo: &Demo, path: &str, runs_ms: f64) {
    let id = unique("hung");
    let response = get(&demo.url(path), &[("x-request-id", &id)]);
    assert_eq!(response.status, 200);
    completed(demo, &id);
    let mine: Vec<_> = demo
        .logs()
        .json()
        .into_iter()
        .filter(|line| line["request_id"] == id.as_str())
        .collect();
    let messages: Vec<_> = mine
        .iter()
        .map(|line| line["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        messages,
        ["request still running", "request completed"],
        "{path}: {mine:?}"
    );
    let hung = &mine[0];
    assert_eq!(hung["level"], "WARN");
    assert_eq!(hung["http.request.method"], "GET");
    assert!(hung["trace_id"].is_string(), "{hung}");
    let elapsed = hung["elapsed_ms"].as_f64().unwrap();
    assert!(
        (200.0..runs_ms).contains(&elapsed),
        "{path}: reported at {elapsed} ms"
    );
}

#[test]
fn a_blocked_handler_and_a_stalled_body_are_reported_while_running() {
    let demo = Demo::builder().env("BELFRY_HUNG_REQUEST_MS", "200").start();
    assert_reported_while_running(&demo, "/lifecycle/block?ms=1500", 1500.0);
    assert_reported_while_running(&demo, "/lifecycle/stall?ms=1500", 1500.0);
}

#[test]
fn a_flood_of_oversized_headers_is_counted_and_logged_rate_limited() {
    let demo = Demo::start();
    let mut request = format!("GET /users/1 HTTP/1.1\r\nhost: {}\r\n", demo.address());
    for index in 0..150 {
        request.push_str(&format!("x-filler-{index}: {}\r\n", "y".repeat(40)));
    }
    request.push_str("\r\n");
    for _ in 0..60 {
        let response = raw_request(demo.address(), request.as_bytes());
        assert_eq!(response.status, 431);
    }
    let malformed = raw_request(demo.address(), b"NOT A REQUEST\r\n\r\n");
    assert_eq!(malformed.status, 400);

    let needle = r#"http_server_connection_errors_total{error_type="header_too_large"} 60"#;
    let metrics = wait_for_metric(&demo, needle, LOG_WAIT);
    assert!(metrics.contains(needle), "{metrics}");
    assert!(
        metrics.contains(r#"http_server_connection_errors_total{error_type="malformed_request"} 1"#),
        "{metrics}"
    );
    let warnings: Vec<_> = demo
        .logs()
        .json()
        .into_iter()
        .filter(|line| {
            line["level"] == "WARN"
                && line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("connection error"))
        })
        .collect();
    assert!(!warnings.is_empty(), "the flood is visible in the log");
    assert!(warnings.len() < 5, "rate-limited: {} lines", warnings.len());
    assert_eq!(warnings[0]["error_type"], "header_too_large");
}

#[test]
fn a_panic_hook_installed_before_belfry_is_still_called() {
    let file = std::env::temp_dir().join(format!("{}.hook", unique("belfry-hook")));
    let demo = Demo::builder()
        .env("DEMO_PANIC_HOOK_FILE", file.to_str().unwrap())
        .start();
    let id = unique("hooked");
    let response = get(&demo.url("/panic"), &[("x-request-id", &id)]);
    assert_eq!(response.status, 500);
    demo.logs()
        .wait_for_request(&id, "request panicked", LOG_WAIT)
        .expect("belfry reported it");
    let deadline = Instant::now() + LOG_WAIT;
    let seen = loop {
        let seen = std::fs::read_to_string(&file).unwrap_or_default();
        if !seen.is_empty() || Instant::now() >= deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = std::fs::remove_file(&file);
    assert_eq!(seen, "application hook saw: the demo panicked on purpose\n");
}
