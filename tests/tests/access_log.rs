//! Access logs, slow and hung requests, and scrubbing, end to end against the demo binary.

use std::time::{Duration, Instant};

use belfry_tests::{get, Demo};
use serde_json::Value;

const LOG_WAIT: Duration = Duration::from_secs(10);

fn completed(demo: &Demo, request_id: &str) -> Value {
    demo.logs()
        .wait_for_request(request_id, "request completed", LOG_WAIT)
        .unwrap_or_else(|| panic!("no `request completed` for {request_id}: {:?}", demo.logs().all()))
}

#[test]
fn requests_are_logged_with_route_template_level_and_duration() {
    let demo = Demo::start();

    let response = get(&demo.url("/users/7"), &[("user-agent", "belfry-e2e/1")]);
    let line = completed(&demo, response.header("x-request-id").unwrap());
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["http.route"], "/users/{id}");
    assert_eq!(line["url.path"], "/users/7");
    assert_eq!(line["http.request.method"], "GET");
    assert_eq!(line["http.response.status_code"], 200);
    assert_eq!(line["user_agent.original"], "belfry-e2e/1");
    assert_eq!(line["client.address"], "127.0.0.1");
    let duration = line["duration_ms"].as_f64().expect("a duration");
    assert!(
        duration > 0.0 && duration < 10_000.0,
        "measured, in milliseconds: {line}"
    );
    assert!(line.get("url.query").is_none());

    let response = get(&demo.url("/slow?ms=1500"), &[]);
    let line = completed(&demo, response.header("x-request-id").unwrap());
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["http.route"], "/slow");
    assert!(line["duration_ms"].as_f64().unwrap() >= 1500.0, "{line}");

    let response = get(&demo.url("/definitely/not/a/route"), &[]);
    assert_eq!(response.status, 404);
    let line = completed(&demo, response.header("x-request-id").unwrap());
    assert!(
        line.get("http.route").is_none(),
        "no route for an unmatched path: {line}"
    );
    assert_eq!(line["url.path"], "/definitely/not/a/route");

    let response = get(&demo.url("/error"), &[]);
    assert_eq!(response.status, 500);
    assert_eq!(
        completed(&demo, response.header("x-request-id").unwrap())["level"],
        "ERROR"
    );
    demo.logs().json();
}

#[test]
fn a_hung_request_is_reported_before_it_finishes() {
    let demo = Demo::builder().env("BELFRY_HUNG_REQUEST_MS", "300").start();
    let started = Instant::now();
    let response = get(&demo.url("/slow?ms=1200"), &[("x-request-id", "hung-1")]);
    assert_eq!(response.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(1200));
    // Lines reach stdout through the log writer thread: wait for the last one.
    demo.logs()
        .wait_for_request("hung-1", "request completed", Duration::from_secs(10))
        .expect("the access-log line");

    let lines = demo.logs().json();
    let mine: Vec<_> = lines
        .iter()
        .filter(|line| line["request_id"] == "hung-1")
        .collect();
    let messages: Vec<_> = mine
        .iter()
        .map(|line| line["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["request still running", "request completed"],
        "{mine:?}"
    );
    let hung = mine[0];
    assert_eq!(hung["level"], "WARN");
    assert_eq!(hung["http.route"], "/slow");
    assert_eq!(hung["http.request.method"], "GET");
    let elapsed = hung["elapsed_ms"].as_f64().unwrap();
    assert!(
        (300.0..1200.0).contains(&elapsed),
        "reported while running, at {elapsed} ms"
    );
}

#[test]
fn secrets_in_headers_and_query_never_reach_stdout() {
    let demo = Demo::start();
    let secret = "e2e-secret-7f3a9c";
    let response = get(
        &demo.url(&format!("/users/5?access_token={secret}&page=2")),
        &[
            ("authorization", &format!("Bearer {secret}")),
            ("cookie", &format!("session={secret}")),
        ],
    );
    assert_eq!(response.status, 200);
    let line = completed(&demo, response.header("x-request-id").unwrap());
    assert_eq!(line["url.query"], "access_token=[REDACTED]&page=2");

    let stdout = demo.logs().all().join("\n");
    assert!(!stdout.contains(secret), "the secret leaked:\n{stdout}");
    assert!(stdout.contains("page=2"), "the rest of the query is still logged");
}
