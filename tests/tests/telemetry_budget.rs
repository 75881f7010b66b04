//! The telemetry budget end to end (docs/reliability.md): a panic storm stores at most the
//! per-fingerprint budget in a real Sentry-compatible server (Bugsink), with the count of what was
//! suppressed; a Sentry answering 429, 500 or nothing leaves requests as fast as Sentry off, and
//! every drop is counted under its reason and reported by one WARN; a callsite logging in a loop
//! writes at most its limit a second plus one summary line a second.
//!
//! Figures: `cargo test -p belfry-tests --test telemetry_budget -- --nocapture`.

use std::{
    collections::BTreeMap,
    thread,
    time::{Duration, Instant},
};

use belfry_tests::{
    get, latency_summary, percentile, unique, Demo, FakeSentry, KeepAlive, SentryAnswer, SentryServer,
};
use serde_json::Value;

/// The value of the sample `series` (name and labels, as written) in `/metrics`; 0 when absent.
fn metric(demo: &Demo, series: &str) -> u64 {
    let text = get(&demo.url("/metrics"), &[]).body;
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .trim()
                .split(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .map_or(0, |value| value as u64)
}

fn events_dropped(demo: &Demo, reason: &str) -> u64 {
    metric(
        demo,
        &format!("belfry_sentry_events_dropped_total{{reason=\"{reason}\"}}"),
    )
}

fn transactions_dropped(demo: &Demo, reason: &str) -> u64 {
    metric(
        demo,
        &format!("belfry_sentry_transactions_dropped_total{{reason=\"{reason}\"}}"),
    )
}

/// The WARN lines reporting Sentry drops.
fn drop_reports(demo: &Demo) -> Vec<Value> {
    demo.logs()
        .json()
        .into_iter()
        .filter(|line| line["target"] == "belfry::sentry" && line["level"] == "WARN")
        .collect()
}

const STORM_PANICS: usize = 2000;
const STORM_THREADS: usize = 4;
const STORM_DURATION: Duration = Duration::from_secs(20);
/// `BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE`'s default.
const PER_FINGERPRINT: usize = 10;

#[test]
fn a_panic_storm_stores_the_budget_with_the_count_of_what_was_suppressed() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let started = Instant::now();
    let run = unique("budget");
    let storm_prefix = format!("{run}-storm-");
    let other_prefix = format!("{run}-other-");

    // 2,000 panics from /panic in 20 s (paced), and five from /flood/panic among them.
    thread::scope(|scope| {
        for thread in 0..STORM_THREADS {
            let (address, storm_prefix, other_prefix) = (demo.address(), &storm_prefix, &other_prefix);
            scope.spawn(move || {
                let mut client = KeepAlive::new(address);
                let per_thread = STORM_PANICS / STORM_THREADS;
                let pace = STORM_DURATION / per_thread as u32;
                for n in 0..per_thread {
                    let sent = Instant::now();
                    let id = format!("{storm_prefix}{thread}-{n}");
                    let response = client.get("/panic", &[("x-request-id", &id)]).expect("an answer");
                    assert_eq!(response.status, 500);
                    if thread == 0 && n % 100 == 50 {
                        let id = format!("{other_prefix}{n}");
                        let response = client
                            .get("/flood/panic", &[("x-request-id", &id)])
                            .expect("an answer");
                        assert_eq!(response.status, 500);
                    }
                    thread::sleep(pace.saturating_sub(sent.elapsed()));
                }
            });
        }
    });
    let storm_time = started.elapsed();

    let stored = |prefix: &str| -> Vec<Value> {
        sentry
            .events()
            .into_iter()
            .filter(|event| {
                event["tags"]["request_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(prefix))
            })
            .collect()
    };
    // The second route's five panics are all reported (wait for them: Bugsink ingests slowly).
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&other_prefix).len() < 5 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        stored(&other_prefix).len(),
        5,
        "the second route's panics are reported"
    );
    let storm_stored = stored(&storm_prefix);
    assert!(
        !storm_stored.is_empty() && storm_stored.len() <= PER_FINGERPRINT,
        "{} events of the storm stored (budget {PER_FINGERPRINT})",
        storm_stored.len()
    );
    let budget = events_dropped(&demo, "budget");
    assert_eq!(
        budget,
        (STORM_PANICS - PER_FINGERPRINT) as u64,
        "every panic over the budget is counted"
    );
    assert_eq!(events_dropped(&demo, "queue_full"), 0);
    assert_eq!(events_dropped(&demo, "send_failed"), 0);

    // Once the window has slid past the storm, the next panic from /panic is sent, saying how many
    // were suppressed since the last one sent.
    let after_window = Duration::from_secs(72);
    thread::sleep(after_window.saturating_sub(started.elapsed()));
    let last = format!("{run}-after");
    assert_eq!(get(&demo.url("/panic"), &[("x-request-id", &last)]).status, 500);
    let events = sentry.wait_for_events(&last, Duration::from_secs(30));
    assert_eq!(events.len(), 1, "the panic after the window is sent");
    assert_eq!(
        events[0]["extra"]["belfry.suppressed"], budget,
        "the event carries the count suppressed: {}",
        events[0]["extra"]
    );

    // The WARN says so, once a minute at most (the first one may be about transactions: Bugsink
    // answers those with a rate limit).
    let reports = drop_reports(&demo);
    assert!(
        reports.iter().any(|line| line["message"]
            .as_str()
            .unwrap_or("")
            .contains("over the budget per minute (budget)")),
        "a WARN says events were dropped over the budget: {reports:?}"
    );
    let reported: u64 = reports
        .iter()
        .map(|line| line["events_dropped"].as_u64().unwrap_or(0))
        .sum();
    let dropped: u64 = [
        "budget",
        "queue_full",
        "rate_limited",
        "send_failed",
        "sample_rate",
    ]
    .iter()
    .map(|reason| events_dropped(&demo, reason))
    .sum();
    assert_eq!(
        reported, dropped,
        "the WARN lines account for every event dropped: {reports:?}"
    );
    let seconds = |line: &Value| -> f64 {
        // `2026-12-01T22:40:26.217941Z`: minutes and seconds are enough within one test.
        let time = &line["timestamp"].as_str().unwrap_or("")[11..26];
        let parts: Vec<f64> = time.split(':').map(|part| part.parse().unwrap_or(0.0)).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    };
    for pair in reports.windows(2) {
        let apart = seconds(&pair[1]) - seconds(&pair[0]);
        assert!(
            !(-80_000.0..59.9).contains(&apart),
            "WARN lines {apart:.1} s apart: {pair:?}"
        );
    }
    println!(
        "panic storm: {STORM_PANICS} panics in {:.1} s: {} stored, {budget} dropped over the budget, \
         the next one after {} s carries belfry.suppressed={}",
        storm_time.as_secs_f64(),
        storm_stored.len(),
        after_window.as_secs(),
        events[0]["extra"]["belfry.suppressed"]
    );
}

const LOAD_REQUESTS: usize = 1600;
const LOAD_THREADS: usize = 4;
const PANIC_EVERY: usize = 8;

/// Normal requests' latencies under a load where every eighth request panics.
fn load(demo: &Demo) -> (Vec<Duration>, usize) {
    let mut normal = Vec::new();
    let mut panics = 0;
    thread::scope(|scope| {
        let workers: Vec<_> = (0..LOAD_THREADS)
            .map(|thread| {
                let address = demo.address();
                scope.spawn(move || {
                    let mut client = KeepAlive::new(address);
                    let (mut latencies, mut panics) = (Vec::new(), 0);
                    for n in (thread..LOAD_REQUESTS).step_by(LOAD_THREADS) {
                        if n % PANIC_EVERY == 0 {
                            let response = client.get("/panic", &[]).expect("an answer");
                            assert_eq!(response.status, 500);
                            panics += 1;
                            continue;
                        }
                        let sent = Instant::now();
                        let response = client.get(&format!("/users/{n}"), &[]).expect("an answer");
                        latencies.push(sent.elapsed());
                        assert_eq!(response.status, 200);
                    }
                    (latencies, panics)
                })
            })
            .collect();
        for worker in workers {
            let (latencies, count) = worker.join().expect("a client thread failed");
            normal.extend(latencies);
            panics += count;
        }
    });
    (normal, panics)
}

fn start_demo(dsn: &str) -> Demo {
    let demo = Demo::builder()
        .env("SENTRY_DSN", dsn)
        .env("BELFRY_SENTRY_FLUSH_TIMEOUT_MS", "500")
        // Every panic reaches the transport: the drops here are the transport's.
        .env("BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE", "0")
        .env("BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE", "0")
        .start();
    for n in 0..20 {
        get(&demo.url(&format!("/users/{n}")), &[]);
        if n % 5 == 0 {
            get(&demo.url("/panic"), &[]);
        }
    }
    demo
}

#[test]
fn a_sentry_that_rate_limits_fails_or_hangs_costs_requests_nothing_and_every_drop_is_counted() {
    let cases = [
        (
            "429 Retry-After",
            SentryAnswer::RateLimited {
                retry_after_seconds: 60,
            },
            &["rate_limited"][..],
        ),
        ("500", SentryAnswer::Failing, &["send_failed", "queue_full"][..]),
        (
            "never answers",
            SentryAnswer::Silent,
            &["send_failed", "queue_full"][..],
        ),
    ];
    let healthy = FakeSentry::start(SentryAnswer::Accepting);
    for (name, answer, reasons) in cases {
        let fake = FakeSentry::start(answer);
        // A healthy Sentry, then this one, side by side: what a failing Sentry may not cost is
        // more than a working one does (Sentry's own cost is the benchmark's). Up to three times,
        // as noise on shared cores only ever makes one run slower (a stall on Sentry would fail
        // all three).
        let mut attempts = Vec::new();
        let (demo, panics) = loop {
            let working = start_demo(&healthy.dsn());
            let (baseline, _) = load(&working);
            drop(working);
            let demo = start_demo(&fake.dsn());
            let (normal, panics) = load(&demo);
            let (p99_ok, p99_failing) = (percentile(&baseline, 99.0), percentile(&normal, 99.0));
            println!("Sentry answering 200:  {}", latency_summary(&baseline));
            println!("Sentry {name:<15} {}", latency_summary(&normal));
            attempts.push((p99_failing, p99_ok));
            // Within 10 % of a working Sentry; a millisecond of slack for a p99 of a few ms.
            if p99_failing.as_secs_f64() <= p99_ok.as_secs_f64() * 1.10 + 0.001 {
                break (demo, panics);
            }
            assert!(
                attempts.len() < 3,
                "{name}: p99 (failing, working Sentry) {attempts:?}"
            );
        };
        assert!(fake.received() > 0, "{name}: the fake Sentry was called");

        // Every event the transport got is accounted for, under the expected reasons only.
        let all_panics = (panics + 4) as u64; // and the warm-up's
        let transport_drops =
            |demo: &Demo| -> u64 { reasons.iter().map(|reason| events_dropped(demo, reason)).sum() };
        let deadline = Instant::now() + Duration::from_secs(20);
        let settled = match answer {
            // The silent one holds one send per flush timeout: what is still queued is not lost yet.
            SentryAnswer::Silent => all_panics - 31,
            _ => all_panics,
        };
        // And until the first expected reason shows: a silent Sentry's first send fails only
        // when its flush timeout passes, after the queue has already overflowed.
        while (transport_drops(&demo) < settled || events_dropped(&demo, reasons[0]) == 0)
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(200));
        }
        let counted = transport_drops(&demo);
        assert!(
            (settled..=all_panics).contains(&counted),
            "{name}: {counted} events counted as dropped for {reasons:?}, of {all_panics}"
        );
        let by_reason: Vec<(&str, u64, u64)> = [
            "budget",
            "queue_full",
            "rate_limited",
            "send_failed",
            "sample_rate",
        ]
        .into_iter()
        .map(|reason| {
            (
                reason,
                events_dropped(&demo, reason),
                transactions_dropped(&demo, reason),
            )
        })
        .collect();
        assert!(
            events_dropped(&demo, reasons[0]) > 0,
            "{name}: some under {}: (reason, events, transactions) {by_reason:?}",
            reasons[0]
        );
        for other in ["budget", "sample_rate", "rate_limited", "send_failed"] {
            if !reasons.contains(&other) {
                assert_eq!(events_dropped(&demo, other), 0, "{name}: nothing under {other}");
            }
        }
        let transactions: u64 = reasons
            .iter()
            .map(|reason| transactions_dropped(&demo, reason))
            .sum();
        assert!(transactions > 0, "{name}: transactions are counted too");

        // One WARN says so (the next could come a minute later at the earliest).
        let report = demo
            .logs()
            .wait_for(Duration::from_secs(5), |line| line["target"] == "belfry::sentry");
        let report = report.unwrap_or_else(|| panic!("{name}: no WARN about the drops"));
        let message = report["message"].as_str().unwrap_or("");
        assert!(
            reasons
                .iter()
                .any(|reason| message.contains(&format!("({reason})"))),
            "{name}: the WARN says why: {message}"
        );
        assert_eq!(drop_reports(&demo).len(), 1, "{name}: one WARN, not one per drop");
        println!("Sentry {name}: {counted} of {all_panics} events dropped ({reasons:?}); WARN: {message}");
    }
}

/// `BELFRY_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND`'s default.
const LINES_PER_SECOND: usize = 100;

#[test]
fn a_callsite_logging_in_a_loop_writes_its_limit_a_second_and_one_summary() {
    let demo = Demo::start();
    let response = get(&demo.url("/flood/logs?ms=2000"), &[]);
    assert_eq!(response.status, 200);
    let logged = response.json()["logged"].as_u64().expect("a count");
    // The last second's summary is written when a line is logged in a later second (the access
    // log line of this request; health checks are not logged).
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(&demo.url("/users/1"), &[]).status, 200);

    let is_flood = |line: &Value| line["target"] == "belfry_demo::flood";
    let summarised = |demo: &Demo| -> u64 {
        demo.logs()
            .json()
            .iter()
            .filter(|line| is_flood(line) && line.get("suppressed").is_some())
            .map(|line| line["suppressed"].as_u64().unwrap_or(0))
            .sum()
    };
    let suppressed = metric(&demo, "belfry_log_lines_suppressed_total{level=\"info\"}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while summarised(&demo) < suppressed && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    let lines: Vec<Value> = demo
        .logs()
        .json()
        .into_iter()
        .filter(|line| is_flood(line))
        .collect();
    let mut by_second: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for line in &lines {
        let second = line["timestamp"].as_str().unwrap_or("")[..19].to_owned();
        let entry = by_second.entry(second).or_default();
        if line.get("suppressed").is_some() {
            entry.1 += 1;
            assert!(
                line["message"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("lines like this in the last second")
                    && line["level"] == "INFO"
                    && line["callsite"]
                        .as_str()
                        .is_some_and(|callsite| callsite.contains("flood.rs")),
                "a summary names the callsite: {line}"
            );
        } else {
            entry.0 += 1;
            assert_eq!(line["message"], "flood line");
        }
    }
    for (second, (written, summaries)) in &by_second {
        assert!(*written <= LINES_PER_SECOND, "{second}: {written} lines");
        assert!(*summaries <= 1, "{second}: {summaries} summaries");
    }
    let written = lines
        .iter()
        .filter(|line| line.get("suppressed").is_none())
        .count() as u64;
    assert!(
        logged > 10 * LINES_PER_SECOND as u64,
        "the loop logged {logged} lines"
    );
    assert_eq!(
        written + suppressed,
        logged,
        "every line written or counted as suppressed"
    );
    assert_eq!(
        summarised(&demo),
        suppressed,
        "the summaries add up to the count in /metrics"
    );
    println!(
        "log flood: {logged} lines logged in 2 s, {written} written over {} seconds, {suppressed} suppressed",
        by_second.len()
    );
}

const SAMPLED_USERS: usize = 1000;
const ERRORS: usize = 20;
const SLOW: usize = 5;

#[test]
fn access_log_sampling_keeps_every_error_and_slow_request_and_the_metrics_exact() {
    let demo = Demo::builder()
        .env(
            "BELFRY_ACCESS_LOG_SAMPLE",
            "/users/{id}=0.01,/error=0.01,/slow=0.01",
        )
        .env("BELFRY_SLOW_REQUEST_MS", "100")
        .start();
    let run = unique("sampled");
    let mut client = KeepAlive::new(demo.address());
    for n in 0..SAMPLED_USERS {
        let response = client.get(&format!("/users/{n}"), &[]).expect("an answer");
        assert_eq!(response.status, 200);
    }
    let mut kept = Vec::new();
    for n in 0..ERRORS {
        let id = format!("{run}-error-{n}");
        assert_eq!(
            client
                .get("/error", &[("x-request-id", &id)])
                .expect("an answer")
                .status,
            500
        );
        kept.push(id);
    }
    // Fast /slow requests are sampled; slow ones are not.
    for n in 0..SLOW {
        assert_eq!(client.get("/slow?ms=1", &[]).expect("an answer").status, 200);
        let id = format!("{run}-slow-{n}");
        assert_eq!(
            client
                .get("/slow?ms=150", &[("x-request-id", &id)])
                .expect("an answer")
                .status,
            200
        );
        kept.push(id);
    }
    // Every 5xx and slow request has its line (the last one written means all before it are).
    for id in &kept {
        let line = demo
            .logs()
            .wait_for_request(id, "request completed", Duration::from_secs(10));
        assert!(line.is_some(), "{id}: no access log line");
    }
    let users_lines = demo
        .logs()
        .json()
        .iter()
        .filter(|line| line["message"] == "request completed" && line["http.route"] == "/users/{id}")
        .count();
    // 1 % of 1,000: about 10; far from 1,000 whatever the draw.
    assert!(
        users_lines <= 50,
        "{users_lines} of {SAMPLED_USERS} /users lines written at 0.01"
    );

    // The metrics count every request.
    let text = get(&demo.url("/metrics"), &[]).body;
    let count = |route: &str| -> u64 {
        text.lines()
            .filter(|line| {
                line.starts_with("http_server_request_duration_seconds_count")
                    && line.contains(&format!("http_route=\"{route}\""))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    assert_eq!(count("/users/{id}"), SAMPLED_USERS as u64);
    assert_eq!(count("/error"), ERRORS as u64);
    assert_eq!(count("/slow"), 2 * SLOW as u64);
    println!(
        "access-log sampling at 0.01: {users_lines} of {SAMPLED_USERS} /users lines written, all {ERRORS} 5xx \
         and {SLOW} slow lines, metrics exact"
    );
}
