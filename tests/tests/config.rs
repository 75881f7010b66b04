//! Configuration end to end: the real demo binary with wrong and blank variables.

use std::time::Duration;

use belfry_tests::Demo;

/// docs/configuration.md describes every variable belfry reads.
#[test]
fn every_variable_is_documented() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let docs = std::fs::read_to_string(path).expect("docs/configuration.md");
    for variable in belfry::config::VARIABLES {
        assert!(
            docs.contains(&format!("`{variable}`")),
            "{variable} is read but docs/configuration.md does not describe it"
        );
    }
}

/// Several invalid variables at once — of logging, the stack, shutdown and Sentry — stop the
/// demo before it serves, with one error naming each (and never the DSN's key).
#[test]
fn several_invalid_variables_stop_start_up_with_one_error_naming_each() {
    let invalid = [
        ("LOG_FORMAT", "xml"),
        ("RUST_LOG", "info,belfry_demo=loud"),
        ("BELFRY_SLOW_REQUEST_MS", "1s"),
        ("BELFRY_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
        ("BELFRY_DRAIN_DELAY_MS", "5s"),
        ("SENTRY_TRACES_SAMPLE_RATE", "10%"),
        ("SENTRY_DSN", "s3cr3t-key-not-a-dsn"),
        ("BELFRY_LOG_QUEUE_LINES", "lots"),
    ];
    let mut demo = Demo::builder();
    for (variable, value) in invalid {
        demo = demo.env(variable, value);
    }
    let (status, stdout, stderr) = demo.run_to_exit(Duration::from_secs(30));
    assert!(!status.success(), "the demo started: {status:?}\n{stdout}");
    assert!(
        !stdout.contains("listening"),
        "it must not serve with a wrong setting: {stdout}"
    );
    let error: Vec<&str> = stderr.lines().collect();
    assert!(
        error
            .first()
            .is_some_and(|line| line.contains("8 settings are not valid")),
        "one error for all: {stderr}"
    );
    for (variable, value) in invalid {
        let line = error
            .iter()
            .find(|line| line.trim_start().starts_with(variable))
            .unwrap_or_else(|| panic!("{variable} is not named: {stderr}"));
        if variable == "SENTRY_DSN" {
            assert!(!line.contains(value), "the DSN is printed: {line}");
        } else {
            assert!(line.contains(&format!("`{value}`")), "{variable}: {line}");
        }
        assert!(
            line.contains("expected"),
            "{variable} says what it expects: {line}"
        );
    }
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

/// Blank values are unset, for every variable belfry reads: the demo starts with its defaults
/// and serves.
#[test]
fn blank_variables_are_unset_and_the_demo_serves_with_its_defaults() {
    let mut demo = Demo::builder();
    for variable in belfry::config::VARIABLES {
        demo = demo.env(variable, " ");
    }
    let demo = demo.start();
    assert_eq!(belfry_tests::get(&demo.url("/users/7"), &[]).status, 200);
    let line = demo
        .logs()
        .wait_for(Duration::from_secs(10), |line| {
            line["message"] == "request completed" && line["url.path"] == "/users/7"
        })
        .expect("the access line");
    assert_eq!(line["level"], "INFO", "the defaults: JSON lines at INFO");
}

/// One INFO line at start-up says what is on — Sentry's host, environment, release and rates,
/// the thresholds, the traces ratio — and never the DSN's key.
#[test]
fn the_start_up_line_says_what_is_on_and_never_the_dsn_key() {
    let closed = belfry_tests::closed_port();
    let demo = Demo::builder()
        .env("SENTRY_DSN", &format!("http://k3y-s3cr3t@{closed}/42"))
        .env("SENTRY_ENVIRONMENT", "staging")
        .env("SENTRY_RELEASE", "demo@1.2.3")
        .env("SENTRY_TRACES_SAMPLE_RATE", "0.25")
        .env("BELFRY_SLOW_REQUEST_MS", "750")
        .env("BELFRY_HUNG_REQUEST_MS", "0")
        .env("BELFRY_DRAIN_DELAY_MS", "0")
        .start();
    let listening = demo
        .logs()
        .wait_for(Duration::from_secs(10), |line| line["message"] == "listening")
        .expect("the start-up line");
    assert_eq!(listening["level"], "INFO");
    let sentry = listening["sentry"].as_str().expect("sentry");
    assert!(sentry.starts_with("Sentry to 127.0.0.1 (project 42)"), "{sentry}");
    for part in ["environment staging", "release demo@1.2.3", "traces 0.25"] {
        assert!(sentry.contains(part), "{part}: {sentry}");
    }
    assert_eq!(listening["traces.sample_rate"], 0.25);
    assert_eq!(listening["slow_request_ms"], 750);
    assert!(listening.get("hung_request_ms").is_none(), "off: {listening}");
    assert_eq!(listening["drain_delay_ms"], 0);
    assert_eq!(listening["log.format"], "json");
    assert_eq!(
        demo.logs()
            .all()
            .iter()
            .filter(|line| line.contains("listening"))
            .count(),
        1,
        "one line"
    );
    assert!(
        !demo.logs().all().iter().any(|line| line.contains("k3y-s3cr3t")),
        "the DSN key is never logged"
    );
}
