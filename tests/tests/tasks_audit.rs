//! Background tasks and audit events, end to end against the demo binary.

use std::time::Duration;

use belfry_tests::{get, post_json, unique, Demo, SentryServer};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_task_logs_start_and_finish_with_the_request_id_of_its_request() {
    let demo = Demo::start();
    let request_id = unique("reindex");
    let response = post_json(&demo.url("/jobs/reindex"), &[("x-request-id", &request_id)], "{}");
    assert_eq!(response.status, 202);
    let started = demo
        .logs()
        .wait_for_request(&request_id, "task started", WAIT)
        .expect("task started");
    assert_eq!(started["task.name"], "reindex");
    let finished = demo
        .logs()
        .wait_for_request(&request_id, "task finished", WAIT)
        .expect("task finished");
    assert_eq!(finished["task.outcome"], "succeeded");
    assert!(finished["duration_ms"].as_f64().unwrap() >= 50.0);
    let metrics = get(&demo.url("/metrics"), &[]).body;
    assert!(
        metrics.contains(r#"belfry_task_runs_total{task="reindex",outcome="succeeded"} 1"#),
        "{metrics}"
    );
}

#[test]
fn a_panicking_task_is_captured_with_its_name_and_request_id() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let request_id = unique("explode");
    let response = post_json(&demo.url("/jobs/explode"), &[("x-request-id", &request_id)], "{}");
    assert_eq!(response.status, 202, "answered at once");

    let finished = demo
        .logs()
        .wait_for_request(&request_id, "task finished", WAIT)
        .expect("task finished");
    assert_eq!(finished["level"], "ERROR");
    assert_eq!(finished["task.name"], "explode");
    assert_eq!(finished["task.outcome"], "panicked");
    assert_eq!(finished["panic.message"], "the explode job blew up on purpose");
    let panicked = demo
        .logs()
        .wait_for_request(&request_id, "thread panicked", WAIT)
        .expect("the hook's line");
    assert!(panicked["code.filepath"].as_str().unwrap().ends_with("jobs.rs"));
    assert_eq!(
        get(&demo.url("/health/live"), &[]).status,
        200,
        "the server is alive"
    );

    let events = sentry.wait_for_events(&request_id, Duration::from_secs(20));
    assert_eq!(events.len(), 1, "one Sentry event for the panic: {events:?}");
    assert_eq!(events[0]["tags"]["task.name"], "explode");
    assert_eq!(
        events[0]["exception"]["values"][0]["value"],
        "the explode job blew up on purpose"
    );
}

#[test]
fn logins_are_audited_without_secrets_and_failures_are_counted() {
    let demo = Demo::start();
    let password = unique("pw");
    let failed = post_json(
        &demo.url("/login"),
        &[("x-request-id", "login-fail-1")],
        &format!(r#"{{"username":"mallory","password":"{password}"}}"#),
    );
    assert_eq!(failed.status, 401);
    let ok = post_json(
        &demo.url("/login"),
        &[("x-request-id", "login-ok-1")],
        r#"{"username":"alice","password":"correct-horse"}"#,
    );
    assert_eq!(ok.status, 200);

    let failure = demo
        .logs()
        .wait_for_request("login-fail-1", "audit", WAIT)
        .expect("audit line");
    assert_eq!(failure["target"], "audit");
    assert_eq!(failure["level"], "WARN");
    assert_eq!(failure["event.action"], "login");
    assert_eq!(failure["event.outcome"], "failure");
    assert_eq!(failure["event.reason"], "bad_credentials");
    assert_eq!(failure["user.id"], "mallory");
    assert_eq!(failure["client.address"], "127.0.0.1");
    let success = demo
        .logs()
        .wait_for_request("login-ok-1", "audit", WAIT)
        .expect("audit line");
    assert_eq!(success["event.outcome"], "success");
    assert_eq!(success["user.id"], "alice");

    let stdout = demo.logs().all().join("\n");
    assert!(!stdout.contains(&password), "the password leaked");
    assert!(!stdout.contains("correct-horse"), "the password leaked");

    let count = |body: &str| {
        body.lines()
            .find_map(|line| line.strip_prefix("demo_login_failures_total "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .expect("demo_login_failures_total")
    };
    assert_eq!(count(&get(&demo.url("/metrics"), &[]).body), 1.0);
    post_json(
        &demo.url("/login"),
        &[],
        r#"{"username":"mallory","password":"guess"}"#,
    );
    assert_eq!(
        count(&get(&demo.url("/metrics"), &[]).body),
        2.0,
        "the counter increments"
    );
}

#[test]
fn audit_events_can_go_to_their_own_file() {
    let dir = std::env::temp_dir().join(unique("belfry-audit"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("audit.jsonl");
    let demo = Demo::builder()
        .env("BELFRY_AUDIT_LOG", path.to_str().unwrap())
        .start();
    post_json(
        &demo.url("/login"),
        &[("x-request-id", "audit-file-1")],
        r#"{"username":"bob","password":"nope"}"#,
    );
    demo.logs()
        .wait_for_request("audit-file-1", "request completed", WAIT)
        .expect("access line");
    let audit = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{audit}");
    assert_eq!(lines[0]["request_id"], "audit-file-1");
    assert_eq!(lines[0]["user.id"], "bob");
    assert!(
        demo.logs()
            .all()
            .iter()
            .all(|line| !line.contains(r#""target":"audit""#)),
        "not on stdout"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
