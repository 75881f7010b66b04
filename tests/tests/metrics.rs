//! `GET /metrics` end to end against the demo binary: the exposition passes `promtool check
//! metrics`, series are labelled by route template so random paths add none, made-up methods
//! and panics are counted, and the demo's business counters move.
//!
//! promtool is required: without it these tests fail and say how to install it.

use std::{
    collections::{hash_map::RandomState, BTreeSet},
    hash::BuildHasher,
    thread,
    time::{Duration, Instant},
};

use belfry_tests::{get, promtool, raw_request, Demo};

/// What curl sends; `/metrics` answers it with the Prometheus text format, which is what
/// `promtool check metrics` reads.
const CURL_ACCEPT: &str = "*/*";

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// How long to wait for the demo's first health-check run to show up in the metrics.
const HEALTH_WAIT: Duration = Duration::from_secs(10);

const DURATION_COUNT: &str = "http_server_request_duration_seconds_count";

/// One sample line of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    /// The series identity: name and labels (sorted), without the value.
    fn identity(&self) -> String {
        let mut labels = self.labels.clone();
        labels.sort();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn has_labels(&self, wanted: &[(&str, &str)]) -> bool {
        wanted.iter().all(|(key, value)| self.label(key) == Some(*value))
    }
}

/// Parses a sample line: `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Sample {
    let bad = |why: &str| -> ! { panic!("bad sample line ({why}): {line:?}") };
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| bad("no value"));
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = inner.trim_start_matches([' ', ',']);
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = inner.split_once("=\"").unwrap_or_else(|| bad("label"));
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((index, '"')) => break index,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, escaped)) => value.push(escaped),
                        None => bad("escape"),
                    },
                    Some((_, c)) => value.push(c),
                    None => bad("unterminated label value"),
                }
            };
            labels.push((key.trim().to_owned(), value));
            inner = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next().unwrap_or_else(|| bad("no value"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => number.parse().unwrap_or_else(|_| bad("value")),
    };
    Sample { name, labels, value }
}

fn samples(exposition: &str) -> Vec<Sample> {
    exposition
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(parse_sample)
        .collect()
}

/// The value of the one sample named `name` with (at least) `labels`.
fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let samples = samples(exposition);
    let mut matching = samples
        .iter()
        .filter(|sample| sample.name == name && sample.has_labels(labels));
    let found = matching.next()?;
    assert!(
        matching.next().is_none(),
        "several {name} {labels:?} in\n{exposition}"
    );
    Some(found.value)
}

fn request_count(exposition: &str, method: &str, route: &str, status: &str) -> f64 {
    let labels = [
        ("http_request_method", method),
        ("http_route", route),
        ("http_response_status_code", status),
    ];
    value(exposition, DURATION_COUNT, &labels).unwrap_or(0.0)
}

/// `GET /metrics` as curl asks for it; checks the format negotiated.
fn scrape(demo: &Demo) -> String {
    let response = get(&demo.url("/metrics"), &[("accept", CURL_ACCEPT)]);
    assert_eq!(response.status, 200, "{}", response.body);
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with(PROMETHEUS_TEXT),
        "content type {content_type:?}"
    );
    assert!(response.body.ends_with("# EOF\n"), "{}", response.body);
    response.body
}

/// Scrapes until the health-check gauges (filled by the demo's first background run) appear.
fn scrape_with_health(demo: &Demo) -> String {
    let deadline = Instant::now() + HEALTH_WAIT;
    loop {
        let exposition = scrape(demo);
        if exposition.contains("\nbelfry_health_check_status{") {
            return exposition;
        }
        assert!(
            Instant::now() < deadline,
            "no health-check metrics:\n{exposition}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// `promtool check metrics` (parse and lint) must accept `exposition` without a word.
fn assert_promtool_accepts(exposition: &str) {
    let (status, output) = promtool(&["check", "metrics"], Some(exposition));
    assert!(
        status.success() && output.trim().is_empty(),
        "promtool check metrics ({status}): {output}\n{exposition}"
    );
}

/// `count` paths that are random for each run (uuid-shaped tokens from std's per-process
/// random hash keys), of the kinds scanners send. Returns (path, token) pairs.
fn random_paths(count: usize) -> Vec<(String, String)> {
    let keys = RandomState::new();
    (0..count)
        .map(|i| {
            let (a, b) = (keys.hash_one((i, 'a')), keys.hash_one((i, 'b')));
            let token = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xffff,
                b >> 48,
                b & 0xffff_ffff_ffff
            );
            let path = match i % 4 {
                0 => format!("/scan/{token}"),
                1 => format!("/{token}.php"),
                2 => format!("/scan/{token}/x?token={token}"),
                // Matches `/users/{id}`, rejected (400) by the `u64` extractor.
                _ => format!("/users/{token}"),
            };
            (path, token)
        })
        .collect()
}

fn send_all(demo: &Demo, paths: &[(String, String)]) {
    for (path, _) in paths {
        let status = get(&demo.url(path), &[]).status;
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
}

fn series(exposition: &str) -> BTreeSet<String> {
    samples(exposition).iter().map(Sample::identity).collect()
}

fn assert_no_label_holds_a_random_path(exposition: &str, paths: &[(String, String)]) {
    let samples = samples(exposition);
    let values: BTreeSet<&str> = samples
        .iter()
        .flat_map(|sample| sample.labels.iter().map(|(_, value)| value.as_str()))
        .collect();
    for (path, token) in paths {
        assert!(
            !exposition.contains(token.as_str()),
            "{path} leaked into\n{exposition}"
        );
        for value in &values {
            assert!(
                !value.contains(token.as_str()),
                "label value {value:?} holds {path}"
            );
        }
    }
}

#[test]
fn series_are_bounded_by_route_template_and_pass_promtool() {
    let demo = Demo::start();
    for path in ["/users/1", "/users/2", "/slow?ms=10"] {
        assert_eq!(get(&demo.url(path), &[]).status, 200, "{path}");
    }
    let first = random_paths(200);
    send_all(&demo, &first);
    // The first scrape adds the `/metrics` route's own series; the health gauges appear after
    // the demo's first background check run.
    scrape_with_health(&demo);

    let before = scrape(&demo);
    assert_promtool_accepts(&before);
    assert!(before.contains(r#"http_route="/users/{id}""#), "{before}");
    assert_eq!(
        request_count(&before, "GET", "/users/{id}", "200"),
        2.0,
        "{before}"
    );
    assert_eq!(
        request_count(&before, "GET", "/users/{id}", "400"),
        50.0,
        "{before}"
    );
    // Every unmatched path, whatever it was, shares `http_route=""`.
    assert_eq!(request_count(&before, "GET", "", "404"), 150.0, "{before}");
    let slow = [("http_route", "/slow")];
    let slow_seconds = value(&before, "http_server_request_duration_seconds_sum", &slow).expect("/slow");
    assert!(slow_seconds >= 0.010, "/slow took {slow_seconds} s");
    assert_no_label_holds_a_random_path(&before, &first);

    let second = random_paths(200);
    send_all(&demo, &second);
    let after = scrape(&demo);
    assert_promtool_accepts(&after);
    assert_no_label_holds_a_random_path(&after, &second);
    assert_eq!(request_count(&after, "GET", "", "404"), 300.0, "{after}");
    let (before_series, after_series) = (series(&before), series(&after));
    assert_eq!(
        before_series,
        after_series,
        "200 more random paths changed the series: added {:?}, removed {:?}",
        after_series.difference(&before_series).collect::<Vec<_>>(),
        before_series.difference(&after_series).collect::<Vec<_>>(),
    );
    assert_eq!(samples(&before).len(), samples(&after).len());
}

#[test]
fn made_up_methods_panics_active_requests_and_business_metrics_are_counted() {
    let demo = Demo::start();
    let hit = [("result", "hit")];
    let miss = [("result", "miss")];
    let start = scrape(&demo);
    let hits = value(&start, "demo_cache_lookups_total", &hit).unwrap_or(0.0);
    let misses = value(&start, "demo_cache_lookups_total", &miss).unwrap_or(0.0);

    // Even ids are cached in the demo.
    assert_eq!(get(&demo.url("/users/2"), &[]).status, 200);
    let after_hit = scrape(&demo);
    assert_eq!(
        value(&after_hit, "demo_cache_lookups_total", &hit),
        Some(hits + 1.0)
    );
    assert_eq!(value(&after_hit, "demo_cache_lookups_total", &miss), Some(misses));

    let request = b"FOO /users/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let response = raw_request(demo.address(), request);
    assert_eq!(response.status, 405, "{response:?}");
    assert_eq!(get(&demo.url("/panic"), &[]).status, 500);

    let text = scrape(&demo);
    assert_promtool_accepts(&text);
    assert_eq!(
        request_count(&text, "_OTHER", "/users/{id}", "405"),
        1.0,
        "{text}"
    );
    let methods: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.split("http_request_method=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!methods.contains("FOO"), "{text}");
    assert_eq!(request_count(&text, "GET", "/panic", "500"), 1.0, "{text}");

    assert!(
        text.contains("# TYPE http_server_active_requests gauge\n"),
        "{text}"
    );
    let active = |method| {
        value(
            &text,
            "http_server_active_requests",
            &[("http_request_method", method)],
        )
    };
    // This scrape is in flight while the exposition is rendered.
    assert!(active("GET").is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(active("_OTHER"), Some(0.0), "{text}");
}

#[test]
fn sample_parser_reads_escaped_label_values() {
    let sample = parse_sample(r#"m_total{a="x\"y",b="c\\d\ne",le="+Inf"} +Inf 1700000000"#);
    assert_eq!(sample.name, "m_total");
    assert_eq!(sample.label("a"), Some("x\"y"));
    assert_eq!(sample.label("b"), Some("c\\d\ne"));
    assert_eq!(sample.value, f64::INFINITY);
    assert_eq!(parse_sample("up 1").identity(), "up{}");
}
