//! Soak: a bounded run of keep-alive requests against the demo; its resident memory must level
//! off after the warm-up. Figures: `cargo test -p belfry-tests --test reliability_soak -- --nocapture`.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use belfry_tests::{get, latency_summary, vm_rss_kib, Demo, KeepAlive};

/// Requests in the run (override with `BELFRY_SOAK_REQUESTS`). Chosen so the run takes well under
/// a minute in a debug build on two cores; see docs/reliability.md for the measured rate.
const DEFAULT_REQUESTS: u64 = 60_000;
const THREADS: u64 = 8;
/// Allowed growth of the demo's VmRSS between the end of the warm-up (first 10 %) and the end.
const RSS_GROWTH_BOUND_KIB: u64 = 5 * 1024;

/// The path of request number `n`: mostly `/users/N`, with the other kinds of request the stack
/// treats differently mixed in (a 404, a handled 5xx, a panic, a route without parameters).
fn path_for(n: u64) -> String {
    match n % 100 {
        0 => "/panic".to_owned(),
        1 => "/error".to_owned(),
        2 => format!("/no/such/route/{n}"),
        3 => format!("/?page={n}&access_token=soak-{n}"),
        _ => format!("/users/{n}"),
    }
}

fn expected_status(n: u64) -> u16 {
    match n % 100 {
        0 | 1 => 500,
        2 => 404,
        _ => 200,
    }
}

/// Sends requests `range` (striped over the threads), counting them in `done`.
fn run(address: &str, first: u64, last: u64, done: &AtomicU64) -> Vec<Duration> {
    let mut latencies = Vec::new();
    thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    let mut client = KeepAlive::new(address);
                    let mut latencies = Vec::new();
                    let mut n = first + thread;
                    while n < last {
                        // Every request brings its own id: per-request data must not pile up.
                        let id = format!("soak-{n}");
                        let started = Instant::now();
                        let response = client
                            .get(&path_for(n), &[("x-request-id", &id)])
                            .unwrap_or_else(|error| panic!("request {n}: {error}"));
                        latencies.push(started.elapsed());
                        assert_eq!(
                            response.status,
                            expected_status(n),
                            "request {n}: {}",
                            response.body
                        );
                        assert_eq!(response.header("x-request-id"), Some(id.as_str()));
                        done.fetch_add(1, Ordering::Relaxed);
                        n += THREADS;
                    }
                    latencies
                })
            })
            .collect();
        for worker in workers {
            latencies.extend(worker.join().expect("load thread"));
        }
    });
    latencies
}

#[test]
fn memory_levels_off_over_a_bounded_soak() {
    let requests = std::env::var("BELFRY_SOAK_REQUESTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS);
    // Sentry off: this is about the stack's own memory (the Sentry queue is covered by
    // reliability_sentry_blackhole). The panic hook and capture still run.
    let demo = Demo::builder().env("SENTRY_DSN", "").start();
    let pid = demo.pid();
    let rss_start = vm_rss_kib(pid);
    let done = AtomicU64::new(0);
    let started = Instant::now();

    let warm_up = requests / 10;
    let mut latencies = run(demo.address(), 0, warm_up, &done);
    let rss_warm = vm_rss_kib(pid);
    let warm_time = started.elapsed();
    latencies.extend(run(demo.address(), warm_up, requests, &done));
    let total_time = started.elapsed();
    let rss_end = vm_rss_kib(pid);

    assert_eq!(done.load(Ordering::Relaxed), requests);
    assert_eq!(
        get(&demo.url("/health/live"), &[]).status,
        200,
        "alive after the soak"
    );
    let rate = requests as f64 / total_time.as_secs_f64();
    let growth = rss_end.saturating_sub(rss_warm);
    println!(
        "soak: {requests} requests, {THREADS} keep-alive threads, {:.1} s ({rate:.0} req/s; warm-up {:.1} s)",
        total_time.as_secs_f64(),
        warm_time.as_secs_f64()
    );
    println!("soak: latency {}", latency_summary(&latencies));
    println!(
        "soak: VmRSS start {rss_start} KiB, after warm-up (10 %) {rss_warm} KiB, end {rss_end} KiB, \
         growth after warm-up {growth} KiB (bound {RSS_GROWTH_BOUND_KIB} KiB)"
    );
    assert!(
        growth <= RSS_GROWTH_BOUND_KIB,
        "VmRSS grew by {growth} KiB after the warm-up ({rss_warm} -> {rss_end} KiB)"
    );
}
