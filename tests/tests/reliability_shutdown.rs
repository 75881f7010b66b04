//! Graceful shutdown under load: 64 keep-alive clients loop on `GET /users/N` while SIGTERM
//! arrives. Every request sent before the drain ends is answered 200, readiness is 503 for the
//! whole drain, and the demo exits 0.
//!
//! Figures: `cargo test -p belfry-tests --test reliability_shutdown -- --nocapture`.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use belfry_tests::{latency_summary, Demo, KeepAlive};

const THREADS: usize = 64;
const DRAIN: Duration = Duration::from_millis(1500);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Load before the signal.
const BEFORE_SIGNAL: Duration = Duration::from_millis(1000);
/// Load goes on this long after the drain ended (connections are refused by then).
const AFTER_DRAIN: Duration = Duration::from_millis(500);
/// A request sent this close to the end of the drain may still sit unread in the socket when the
/// server stops (the keep-alive race every HTTP client retries): its failure is not counted.
const RACE_WINDOW: Duration = Duration::from_millis(250);
/// SIGTERM reaches the demo's handler within this.
const SIGNAL_LATENCY: Duration = Duration::from_millis(100);

/// One request: when it was sent, relative to the signal (negative: before), and its outcome.
struct Outcome {
    sent: f64,
    took: Duration,
    result: Result<u16, String>,
}

/// Whether process `pid` (a child not reaped yet) has exited: gone, or a zombie.
fn has_exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn no_request_accepted_before_the_drain_ends_fails_and_readiness_is_503_throughout() {
    let mut demo = Demo::builder()
        .env("BELFRY_DRAIN_DELAY_MS", &DRAIN.as_millis().to_string())
        .env(
            "BELFRY_SHUTDOWN_TIMEOUT_MS",
            &SHUTDOWN_TIMEOUT.as_millis().to_string(),
        )
        .env("SENTRY_DSN", "")
        .start();
    let address = demo.address().to_owned();
    let signal_at: Mutex<Option<Instant>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let since_signal = |at: Instant| -> f64 {
        match *signal_at.lock().unwrap() {
            Some(signal) if at >= signal => (at - signal).as_secs_f64(),
            Some(signal) => -(signal - at).as_secs_f64(),
            None => f64::NEG_INFINITY,
        }
    };

    let pid = demo.pid();
    let (outcomes, polls, exited) = thread::scope(|scope| {
        let load: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (address, stop, since_signal) = (&address, &stop, &since_signal);
                scope.spawn(move || {
                    let mut client = KeepAlive::new(address);
                    let mut outcomes = Vec::new();
                    let mut n = thread;
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let result = client.get(&format!("/users/{n}"), &[]);
                        let refused = matches!(&result, Err(error) if error.kind() == "connect refused");
                        outcomes.push(Outcome {
                            sent: since_signal(sent),
                            took: sent.elapsed(),
                            result: result
                                .map(|response| response.status)
                                .map_err(|error| error.kind().to_owned()),
                        });
                        if refused {
                            // Nothing listens any more: do not spin.
                            thread::sleep(Duration::from_millis(20));
                        }
                        n += THREADS;
                    }
                    outcomes
                })
            })
            .collect();

        thread::sleep(BEFORE_SIGNAL);
        demo.terminate();
        let signal = Instant::now();
        *signal_at.lock().unwrap() = Some(signal);

        // Readiness during the drain, on a fresh connection each time (as a kubelet probes); and
        // when the process exits (a zombie until `wait_exit` reaps it below).
        let mut polls = Vec::new();
        let mut exited = None;
        while signal.elapsed() < DRAIN + AFTER_DRAIN {
            if exited.is_none() && has_exited(pid) {
                exited = Some(signal.elapsed());
            }
            let sent = Instant::now();
            let result = KeepAlive::new(&address).get("/health/ready", &[]);
            polls.push((
                since_signal(sent),
                result.map(|response| response.status).map_err(|e| e.to_string()),
            ));
            thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let outcomes: Vec<Outcome> = load
            .into_iter()
            .flat_map(|worker| worker.join().expect("client"))
            .collect();
        (outcomes, polls, exited)
    });
    let signal = signal_at.lock().unwrap().expect("signalled");
    let status = demo
        .wait_exit(DRAIN + SHUTDOWN_TIMEOUT)
        .expect("the demo exits within the drain delay and the shutdown timeout");
    let exited_after = exited.unwrap_or_else(|| signal.elapsed());
    assert!(status.success(), "exit status {status}");

    let drain = DRAIN.as_secs_f64();
    let race_start = drain - RACE_WINDOW.as_secs_f64();
    let mut failures = Vec::new();
    let mut by_phase: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut latencies = Vec::new();
    for outcome in &outcomes {
        let phase = if outcome.sent < 0.0 {
            "1 before signal"
        } else if outcome.sent < race_start {
            "2 draining"
        } else if outcome.sent < drain {
            "3 last 250 ms of the drain"
        } else {
            "4 after the drain"
        };
        let kind = match &outcome.result {
            Ok(status) => format!("HTTP {status}"),
            Err(kind) => kind.clone(),
        };
        *by_phase
            .entry(phase)
            .or_default()
            .entry(kind.clone())
            .or_default() += 1;
        match &outcome.result {
            Ok(200) => latencies.push(outcome.took),
            Ok(_) => failures.push(format!("{:+.3} s: {kind}", outcome.sent)),
            Err(_) if outcome.sent < race_start => failures.push(format!("{:+.3} s: {kind}", outcome.sent)),
            Err(_) => {}
        }
    }
    println!(
        "shutdown: {THREADS} keep-alive clients, SIGTERM after {:.1} s of load, drain {:.1} s; {} requests; \
         exit 0 {:.2} s after SIGTERM (exit seen every 20 ms until {:.1} s)",
        BEFORE_SIGNAL.as_secs_f64(),
        drain,
        outcomes.len(),
        exited_after.as_secs_f64(),
        (DRAIN + AFTER_DRAIN).as_secs_f64()
    );
    for (phase, kinds) in &by_phase {
        println!("shutdown: {phase}: {kinds:?}");
    }
    println!("shutdown: answered requests: {}", latency_summary(&latencies));
    // Readiness: 503 from the first moment the handler could have run to the end of the drain.
    let mut readiness = BTreeMap::<String, usize>::new();
    let mut wrong = Vec::new();
    for (sent, result) in &polls {
        let in_drain = *sent >= SIGNAL_LATENCY.as_secs_f64() && *sent < race_start;
        let kind = match result {
            Ok(status) => format!("HTTP {status}"),
            Err(error) => error.clone(),
        };
        if in_drain {
            *readiness.entry(kind.clone()).or_default() += 1;
            if result != &Ok(503) {
                wrong.push(format!("{sent:+.3} s: {kind}"));
            }
        }
    }
    let first_503 = polls
        .iter()
        .find(|(_, result)| result == &Ok(503))
        .map(|(sent, _)| *sent);
    println!(
        "shutdown: readiness polls during the drain: {readiness:?}; first 503 at {:+.3} s",
        first_503.unwrap_or(f64::NAN)
    );

    assert!(
        failures.is_empty(),
        "{} requests sent before the drain ended failed: {failures:?}",
        failures.len()
    );
    let served_while_draining = by_phase
        .get("2 draining")
        .and_then(|kinds| kinds.get("HTTP 200"))
        .copied()
        .unwrap_or(0);
    assert!(
        served_while_draining > 0,
        "requests were served during the drain: {by_phase:?}"
    );
    assert!(
        wrong.is_empty(),
        "readiness was not 503 during the drain: {wrong:?}"
    );
    assert!(
        readiness.get("HTTP 503").copied().unwrap_or(0) >= 20,
        "readiness was polled: {readiness:?}"
    );
    assert!(
        first_503.is_some_and(|at| at < SIGNAL_LATENCY.as_secs_f64()),
        "first 503 at {first_503:?}"
    );
    demo.logs().json();
}
