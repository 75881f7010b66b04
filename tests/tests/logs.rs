//! Logs that keep the user's context and never stall the service, against the real demo:
//!
//! - a handler's `#[instrument]` fields and a later `Span::record` are on its JSON lines, a
//!   request field it sets is on the `request completed` line, and a `log`-crate record comes out
//!   with its own target;
//! - with stdout not read for 5 s, requests stay fast, INFO lines are dropped and counted, a WARN
//!   says how many once stdout drains, and no WARN/ERROR line below the second bound is lost;
//! - on SIGTERM under load, every answered request has its access-log line;
//! - request fields reach the request's Sentry event in the real server: as tags, and `user.id`
//!   as the user only when `SENTRY_SEND_DEFAULT_PII` is on.

use std::{
    collections::HashSet,
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use belfry_tests::{get, Demo, KeepAlive, SentryServer, StdoutGate};
use serde_json::Value;

const LINE_TIMEOUT: Duration = Duration::from_secs(10);

fn request_id(response: &belfry_tests::HttpResponse) -> String {
    response
        .header("x-request-id")
        .expect("an x-request-id header")
        .to_owned()
}

#[test]
fn handler_lines_carry_span_fields_request_fields_and_log_records() {
    let demo = Demo::start();
    let response = get(&demo.url("/tenants/acme/report"), &[]);
    assert_eq!(response.status, 200, "{}", response.body);
    let id = request_id(&response);
    let logs = demo.logs();

    let building = logs
        .wait_for_request(&id, "building report", LINE_TIMEOUT)
        .expect("the handler's first line");
    assert_eq!(building["tenant_id"], "acme", "{building}");
    assert_eq!(building["target"], "belfry_demo::tenants");
    assert!(
        building.get("report.rows").is_none(),
        "not recorded yet: {building}"
    );

    let built = logs
        .wait_for_request(&id, "report built", LINE_TIMEOUT)
        .expect("the handler's last line");
    assert_eq!(built["tenant_id"], "acme", "{built}");
    assert_eq!(built["report.rows"], 40, "recorded with Span::record: {built}");
    assert_eq!(built["rows"], 40);
    assert_eq!(built["user.id"], "acme-admin", "a request field: {built}");

    let from_log_crate = logs
        .wait_for_request(&id, "computed 40 invoice rows", LINE_TIMEOUT)
        .expect("the log-crate record");
    assert_eq!(
        from_log_crate["target"], "belfry_demo::tenants::legacy_billing",
        "{from_log_crate}"
    );
    assert_eq!(from_log_crate["level"], "INFO");
    assert_eq!(from_log_crate["tenant_id"], "acme", "{from_log_crate}");
    assert!(
        from_log_crate
            .as_object()
            .unwrap()
            .keys()
            .all(|key| !key.starts_with("log.")),
        "{from_log_crate}"
    );

    let completed = logs
        .wait_for_request(&id, "request completed", LINE_TIMEOUT)
        .expect("the access-log line");
    assert_eq!(completed["user.id"], "acme-admin", "{completed}");
    assert_eq!(completed["plan"], "enterprise", "{completed}");
    assert_eq!(completed["http.route"], "/tenants/{tenant}/report");
    assert_eq!(completed["target"], "belfry::access");

    // Every line so far is one JSON object (`json` panics otherwise) without a repeated key.
    for line in logs.all() {
        let keys = object_keys(&line);
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "a repeated key: {line}");
    }
    assert!(!logs.json().is_empty());
}

/// The keys of a JSON object line, repeats kept (serde_json's map would merge them).
fn object_keys(line: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            deserializer.deserialize_map(Visitor)
        }
    }
    serde_json::from_str::<Keys>(line)
        .unwrap_or_else(|error| panic!("not a JSON object ({error}): {line}"))
        .0
}

/// The sum of `belfry_log_lines_dropped_total` over `levels`, from a scrape.
fn dropped_on_metrics(demo: &Demo, levels: &[&str]) -> u64 {
    let scrape = get(&demo.url("/metrics"), &[]);
    assert_eq!(scrape.status, 200);
    levels
        .iter()
        .map(|level| {
            let prefix = format!("belfry_log_lines_dropped_total{{level=\"{level}\"}} ");
            scrape
                .body
                .lines()
                .find_map(|line| line.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {}", scrape.body))
                .trim()
                .parse::<u64>()
                .expect("a count")
        })
        .sum()
}

/// Queue bound for TRACE..INFO lines in the stalled-stdout test; WARN/ERROR get twice as many.
const QUEUE_LINES: usize = 200;
/// How long stdout is not read.
const STALL: Duration = Duration::from_secs(5);
/// `/error` requests during the stall: two ERROR lines each, 60 in all, well below the
/// `QUEUE_LINES` extra slots WARN and ERROR have.
const ERROR_REQUESTS: usize = 30;
const SLOWEST_ALLOWED: Duration = Duration::from_millis(100);

#[test]
fn a_stalled_stdout_drops_info_lines_but_never_stalls_requests_nor_loses_errors() {
    let gate = StdoutGate::default();
    let demo = Demo::builder()
        .env("BELFRY_LOG_QUEUE_LINES", &QUEUE_LINES.to_string())
        .env("SENTRY_DSN", "")
        .stdout_gate(&gate)
        .start();
    let logs = demo.logs();
    gate.close();

    let mut client = KeepAlive::new(demo.address());
    let mut slowest = Duration::ZERO;
    let mut requests = 0usize;
    let mut error_ids = Vec::new();
    let started = Instant::now();
    // Bounded: at most STALL of requests, and at most 1 000 000 of them.
    while started.elapsed() < STALL && requests < 1_000_000 {
        let path = if requests % 50 == 25 && error_ids.len() < ERROR_REQUESTS {
            "/error".to_owned()
        } else {
            format!("/users/{requests}")
        };
        let sent = Instant::now();
        let response = client.get(&path, &[]).expect("an answer while stdout is stalled");
        let took = sent.elapsed();
        slowest = slowest.max(took);
        assert!(
            took < SLOWEST_ALLOWED,
            "request {requests} ({path}) took {took:?}"
        );
        if path == "/error" {
            assert_eq!(response.status, 500);
            error_ids.push(request_id(&response));
        } else {
            assert_eq!(response.status, 200);
        }
        requests += 1;
    }
    assert_eq!(
        error_ids.len(),
        ERROR_REQUESTS,
        "{requests} requests in {STALL:?}"
    );
    // Far more lines were logged than the pipe and the queue hold: INFO lines were dropped.
    let dropped_info = dropped_on_metrics(&demo, &["info"]);
    assert!(dropped_info > 0, "no INFO line dropped after {requests} requests");
    assert_eq!(dropped_on_metrics(&demo, &["warn", "error"]), 0);
    eprintln!("{requests} requests in {STALL:?} with stdout stalled, slowest {slowest:?}, {dropped_info} INFO lines dropped");

    gate.open();
    let report = logs
        .wait_for(LINE_TIMEOUT, |line| {
            line["target"] == "belfry_log::writer" && line["level"] == "WARN"
        })
        .expect("a WARN saying how many lines were dropped");
    let reported = report["dropped_lines"].as_u64().expect("dropped_lines");
    assert!(
        reported > 0 && reported <= dropped_on_metrics(&demo, &["info"]),
        "{report}"
    );
    assert_eq!(
        report["message"],
        format!("{reported} log lines dropped: the log output could not keep up")
    );
    // Every ERROR line of every /error request is there: the capture's and the access log's.
    for id in &error_ids {
        for message in ["request failed", "request completed"] {
            let line = logs
                .wait_for_request(id, message, LINE_TIMEOUT)
                .unwrap_or_else(|| panic!("lost: {message} of {id}"));
            assert_eq!(line["level"], "ERROR", "{line}");
        }
    }
    assert!(logs.json().iter().all(Value::is_object));
}

const LOAD_THREADS: usize = 8;

#[test]
fn on_sigterm_under_load_every_answered_request_has_its_access_line() {
    let mut demo = Demo::builder()
        .env("BELFRY_DRAIN_DELAY_MS", "300")
        .env("SENTRY_DSN", "")
        .start();
    let address = demo.address().to_owned();
    let answered = Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|scope| {
        for thread in 0..LOAD_THREADS {
            let (address, answered) = (&address, &answered);
            scope.spawn(move || {
                let mut client = KeepAlive::new(address);
                let mut ids = Vec::new();
                // Bounded: until the demo stops answering, at most 20 s or 100 000 requests.
                for n in 0..100_000u64 {
                    if started.elapsed() > Duration::from_secs(20) {
                        break;
                    }
                    match client.get(&format!("/users/{thread}{n}"), &[]) {
                        Ok(response) if response.status == 200 => ids.push(request_id(&response)),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                answered.lock().unwrap().extend(ids);
            });
        }
        thread::sleep(Duration::from_millis(700));
        demo.terminate();
    });
    let status = demo.wait_exit(Duration::from_secs(30)).expect("the demo exits");
    assert!(status.success(), "{status:?}");
    let answered = answered.into_inner().unwrap();
    assert!(answered.len() > 100, "only {} requests answered", answered.len());
    let logged: HashSet<String> = demo
        .logs()
        .json()
        .into_iter()
        .filter(|line| line["message"] == "request completed")
        .filter_map(|line| line["request_id"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = answered.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no access-log line, e.g. {:?}",
        missing.len(),
        answered.len(),
        missing.first()
    );
    assert!(
        demo.logs()
            .all()
            .iter()
            .all(|line| !line.contains("log lines dropped")),
        "lines were dropped"
    );
}

#[test]
fn request_fields_reach_the_sentry_event_and_the_user_only_with_pii() {
    let sentry = SentryServer::shared();
    for send_pii in [false, true] {
        let demo = Demo::builder()
            .env("SENTRY_DSN", sentry.dsn())
            .env("SENTRY_SEND_DEFAULT_PII", if send_pii { "true" } else { "false" })
            .start();
        let request_id = belfry_tests::unique("request-fields");
        let response = get(
            &demo.url("/tenants/broken/report"),
            &[("x-request-id", &request_id)],
        );
        assert_eq!(response.status, 200);
        let line = demo
            .logs()
            .wait_for_request(&request_id, "request completed", LINE_TIMEOUT)
            .expect("the access line");
        assert_eq!(line["user.id"], "broken-admin", "{line}");
        let events = sentry.wait_for_events(&request_id, Duration::from_secs(20));
        assert_eq!(events.len(), 1, "one event for the ERROR line: {events:?}");
        let event = &events[0];
        assert_eq!(event["tags"]["plan"], "enterprise", "{event}");
        if send_pii {
            assert_eq!(event["user"]["id"], "broken-admin", "{event}");
        } else {
            assert!(
                event["user"]["id"].is_null(),
                "no user id without SENTRY_SEND_DEFAULT_PII: {event}"
            );
            assert!(!event.to_string().contains("broken-admin"), "{event}");
        }
    }
}
