//! Liveness, readiness, detailed health and graceful shutdown, end to end against the demo.

use std::{
    thread,
    time::{Duration, Instant},
};

use belfry_tests::{closed_port, get, Behaviour, Demo, Upstream};

#[test]
fn a_dead_upstream_makes_the_service_unready_but_alive() {
    let demo = Demo::builder()
        .env("DEMO_UPSTREAM_URL", &format!("http://{}/", closed_port()))
        .start();
    assert_eq!(get(&demo.url("/health/live"), &[]).status, 200);
    let ready = get(&demo.url("/health/ready"), &[]);
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.header("content-type"), Some("application/health+json"));
    let health = get(&demo.url("/health"), &[]);
    assert_eq!(health.status, 503);
    let report = health.json();
    assert_eq!(report["status"], "fail");
    assert_eq!(report["checks"]["upstream"]["status"], "fail");
    assert!(report["checks"]["upstream"]["message"].as_str().is_some());
}

#[test]
fn a_healthy_upstream_makes_the_service_ready() {
    let upstream = Upstream::start(Behaviour::Ok);
    let demo = Demo::builder().env("DEMO_UPSTREAM_URL", &upstream.url()).start();
    assert_eq!(get(&demo.url("/health/live"), &[]).status, 200);
    assert_eq!(get(&demo.url("/health/ready"), &[]).status, 200);
    let report = get(&demo.url("/health"), &[]).json();
    assert_eq!(report["status"], "pass");
    assert_eq!(report["checks"]["upstream"]["status"], "pass");
    assert!(report["checks"]["upstream"]["duration_ms"].as_f64().is_some());
    assert!(report["checks"]["upstream"]["last_success"].as_str().is_some());
}

#[test]
fn a_hung_upstream_fails_readiness_within_the_check_timeout() {
    let upstream = Upstream::start(Behaviour::Silent);
    let demo = Demo::builder().env("DEMO_UPSTREAM_URL", &upstream.url()).start();
    let started = Instant::now();
    let ready = get(&demo.url("/health/ready"), &[]);
    let took = started.elapsed();
    assert_eq!(ready.status, 503);
    assert!(
        took < Duration::from_millis(2500),
        "answered in {took:?}, the check timeout is 2 s"
    );
    let report = get(&demo.url("/health"), &[]).json();
    assert_eq!(report["checks"]["upstream"]["message"], "timed out");
}

#[test]
fn a_failing_non_critical_check_is_a_warning() {
    let demo = Demo::builder()
        .env("DEMO_CACHE_ADDR", &closed_port().to_string())
        .start();
    let health = get(&demo.url("/health"), &[]);
    assert_eq!(health.status, 200);
    let report = health.json();
    assert_eq!(report["status"], "warn");
    assert_eq!(report["checks"]["cache"]["status"], "fail");
    assert_eq!(get(&demo.url("/health/ready"), &[]).status, 200);
}

#[test]
fn sigterm_drains_then_exits_cleanly_without_losing_a_request() {
    let mut demo = Demo::builder()
        .env("BELFRY_DRAIN_DELAY_MS", "1000")
        .env("BELFRY_SHUTDOWN_TIMEOUT_MS", "10000")
        .start();
    assert_eq!(get(&demo.url("/health/ready"), &[]).status, 200);

    let slow_url = demo.url("/slow?ms=2000");
    let slow = thread::spawn(move || get(&slow_url, &[]));
    // Let the slow request reach the handler before the signal (loopback: well within 300 ms).
    thread::sleep(Duration::from_millis(300));

    demo.terminate();
    let signalled = Instant::now();
    let mut unready_after = None;
    while signalled.elapsed() < Duration::from_millis(900) {
        if get(&demo.url("/health/ready"), &[]).status == 503 {
            unready_after = Some(signalled.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let unready_after = unready_after.expect("readiness turned 503 during the drain");
    assert!(
        unready_after < Duration::from_millis(100),
        "503 after {unready_after:?}"
    );
    // Still serving during the drain delay.
    assert_eq!(get(&demo.url("/users/1"), &[]).status, 200);

    let slow = slow.join().expect("slow request thread");
    assert_eq!(slow.status, 200, "the in-flight request completed");
    let status = demo.wait_exit(Duration::from_secs(15)).expect("the demo exits");
    assert!(status.success(), "exit status {status}");
    demo.logs().json();
}
