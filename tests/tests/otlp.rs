//! OpenTelemetry export over OTLP, end to end: the demo sends its spans (and, opted in, its
//! logs and metrics) to a receiver built on the official protocol definitions (opentelemetry-proto), and
//! the spans carry the ids of the demo's JSON lines, the handler's own span, the downstream
//! call's client span and the caller's parent span. A collector that answers 503, never answers
//! or is gone slows no request, and SIGTERM still exits within the flush bound.
//!
//! Figures: `cargo test -p belfry-tests --test otlp -- --nocapture`.

use std::{
    thread,
    time::{Duration, Instant},
};

use belfry_tests::{
    attribute, get, latency_summary, otel_get, percentile, vm_rss_kib, Behaviour, Demo, DemoBuilder,
    KeepAlive, OtlpMode, OtlpReceiver, Upstream,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);
/// `OTEL_EXPORTER_OTLP_TIMEOUT` of the failure-mode runs: each export, and the flush at exit.
const EXPORT_TIMEOUT: Duration = Duration::from_millis(1000);

/// A demo exporting to `receiver`, every new trace sampled, batches sent every 100 ms.
fn exporting_to(receiver: &OtlpReceiver) -> DemoBuilder {
    Demo::builder()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint())
        .env("OTEL_SERVICE_NAME", "belfry-demo-e2e")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .env("SENTRY_TRACES_SAMPLE_RATE", "1")
}

fn request_id(response: &belfry_tests::HttpResponse) -> String {
    response
        .headers
        .iter()
        .find(|(name, _)| name == "x-request-id")
        .map(|(_, value)| value.clone())
        .expect("x-request-id")
}

#[test]
fn the_server_span_of_a_request_carries_its_route_status_and_the_ids_of_its_log_lines() {
    let receiver = OtlpReceiver::start(OtlpMode::Normal);
    let demo = exporting_to(&receiver).start();
    // The one start-up line says what is exported where.
    let startup = demo
        .logs()
        .wait_for(WAIT, |line| line["message"] == "listening")
        .expect("the startup line");
    assert_eq!(startup["level"], "INFO");
    let message = startup["otel"].as_str().unwrap();
    assert!(message.starts_with("OpenTelemetry export"), "{message}");
    assert!(
        message.contains(&format!("traces to {}/v1/traces", receiver.endpoint())),
        "{message}"
    );
    assert!(message.contains("logs off"), "{message}");

    let response = get(&demo.url("/users/42"), &[]);
    assert_eq!(response.status, 200);
    let request_id = request_id(&response);
    let access = demo
        .logs()
        .wait_for_request(&request_id, "request completed", WAIT)
        .expect("the access log line");

    let server = receiver
        .wait_for_span(WAIT, |span| {
            attribute(&span["attributes"], "request_id")
                .as_ref()
                .and_then(Value::as_str)
                == Some(request_id.as_str())
        })
        .expect("the request's server span");
    assert_eq!(server["name"], "GET /users/{id}");
    assert_eq!(server["kind"], "SPAN_KIND_SERVER");
    assert_eq!(server["traceId"], access["trace_id"], "{server}");
    assert_eq!(server["spanId"], access["span_id"], "{server}");
    assert_eq!(
        attribute(&server["attributes"], "http.route"),
        Some("/users/{id}".into())
    );
    assert_eq!(
        attribute(&server["attributes"], "http.request.method"),
        Some("GET".into())
    );
    assert_eq!(
        attribute(&server["attributes"], "url.path"),
        Some("/users/42".into())
    );
    assert_eq!(
        attribute(&server["attributes"], "http.response.status_code"),
        Some(200.into())
    );
    assert_eq!(
        attribute(&server["resource"], "service.name"),
        Some("belfry-demo-e2e".into())
    );

    let child = receiver
        .wait_for_span(WAIT, |span| {
            span["name"] == "look_up_user" && span["traceId"] == server["traceId"]
        })
        .expect("the handler's #[instrument] span");
    assert_eq!(child["kind"], "SPAN_KIND_INTERNAL");
    assert_eq!(child["parentSpanId"], server["spanId"]);
}

#[test]
fn a_downstream_call_is_a_client_span_whose_id_the_upstream_sees_as_parent() {
    let receiver = OtlpReceiver::start(OtlpMode::Normal);
    let upstream = Upstream::start(Behaviour::Ok);
    let demo = exporting_to(&receiver)
        .env("DEMO_UPSTREAM_URL", &upstream.url())
        .start();
    let response = get(&demo.url("/inventory"), &[]);
    assert_eq!(response.status, 200, "{}", response.body);
    let request_id = request_id(&response);
    let received = upstream
        .wait_for_request(WAIT, |headers| {
            headers
                .get("x-request-id")
                .is_some_and(|ids| ids[0] == request_id)
        })
        .expect("the downstream call");
    let traceparent = &received["traceparent"][0];
    let (trace_id, sent_span_id) = (&traceparent[3..35], &traceparent[36..52]);

    let client = receiver
        .wait_for_span(WAIT, |span| span["spanId"] == sent_span_id)
        .expect("the client span of the call");
    assert_eq!(client["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(client["traceId"], trace_id);
    assert_eq!(client["name"], "GET");
    let server = receiver
        .wait_for_span(WAIT, |span| span["spanId"] == client["parentSpanId"])
        .expect("the client span's parent");
    assert_eq!(server["kind"], "SPAN_KIND_SERVER");
    assert_eq!(server["name"], "GET /inventory");
    assert_eq!(server["traceId"], trace_id);
}

#[test]
fn with_an_opentelemetry_caller_the_server_span_is_the_child_of_the_caller_s_span() {
    let receiver = OtlpReceiver::start(OtlpMode::Normal);
    // The caller's sampled flag decides: no SENTRY_TRACES_SAMPLE_RATE override needed.
    let demo = Demo::builder()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start();
    let called = otel_get(&demo.url("/users/7"), None);
    assert_eq!(called["status"], 200, "{called}");
    let server = receiver
        .wait_for_span(WAIT, |span| {
            span["traceId"] == called["trace_id"] && span["kind"] == "SPAN_KIND_SERVER"
        })
        .expect("the demo's server span in the caller's trace");
    assert_eq!(server["parentSpanId"], called["span_id"], "{server}");
    assert_ne!(server["spanId"], called["span_id"]);
}

#[test]
fn logs_go_over_otlp_with_the_request_s_trace_and_span_ids_when_opted_in() {
    let receiver = OtlpReceiver::start(OtlpMode::Normal);
    let demo = exporting_to(&receiver).env("OTEL_LOGS_EXPORTER", "otlp").start();
    let response = get(&demo.url("/users/42"), &[]);
    let request_id = request_id(&response);
    let line = demo
        .logs()
        .wait_for_request(&request_id, "user looked up", WAIT)
        .expect("the handler's JSON line");
    let record = receiver
        .wait_for_log(WAIT, |record| {
            record["body"]["stringValue"] == "user looked up" && record["traceId"] == line["trace_id"]
        })
        .expect("the handler's log record");
    assert_eq!(record["spanId"], line["span_id"]);
    assert_eq!(record["severityText"], "INFO");
    assert_eq!(attribute(&record["attributes"], "user_id"), Some(42.into()));
    let access = receiver
        .wait_for_log(WAIT, |record| {
            record["body"]["stringValue"] == "request completed" && record["traceId"] == line["trace_id"]
        })
        .expect("the access log record (written after the handler, at the end of the body)");
    assert_eq!(access["spanId"], line["span_id"]);
    assert_eq!(
        attribute(&access["attributes"], "http.route"),
        Some("/users/{id}".into())
    );
}

/// The data point of `metric` (a decoded OTLP histogram) with these attributes.
fn histogram_point(metric: &Value, method: &str, route: &str, status: i64) -> Option<Value> {
    metric["histogram"]["dataPoints"]
        .as_array()?
        .iter()
        .find(|point| {
            attribute(&point["attributes"], "http.request.method") == Some(method.into())
                && attribute(&point["attributes"], "http.route") == Some(route.into())
                && attribute(&point["attributes"], "http.response.status_code") == Some(status.into())
        })
        .cloned()
}

#[test]
fn metrics_go_over_otlp_when_opted_in_and_stay_on_metrics() {
    const REQUESTS: usize = 5;
    let receiver = OtlpReceiver::start(OtlpMode::Normal);
    let demo = exporting_to(&receiver)
        .env("OTEL_METRICS_EXPORTER", "otlp")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .start();
    let startup = demo
        .logs()
        .wait_for(WAIT, |line| line["message"] == "listening")
        .expect("the startup line");
    let message = startup["otel"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "metrics to {}/v1/metrics every 200 ms",
            receiver.endpoint()
        )),
        "{message}"
    );

    let mut trace_ids = Vec::new();
    for n in 0..REQUESTS {
        let response = get(&demo.url(&format!("/users/{n}")), &[]);
        assert_eq!(response.status, 200);
        let access = demo
            .logs()
            .wait_for_request(&request_id(&response), "request completed", WAIT)
            .expect("the access log line");
        trace_ids.push(access["trace_id"].clone());
    }

    // Cumulative: the latest export counts every request to the route.
    let duration = receiver
        .wait_for_metric(WAIT, |metric| {
            metric["name"] == "http.server.request.duration"
                && histogram_point(metric, "GET", "/users/{id}", 200).is_some_and(|point| {
                    point["count"].as_str().and_then(|n| n.parse().ok()) == Some(REQUESTS)
                })
        })
        .unwrap_or_else(|| panic!("no duration point counting {REQUESTS}: {:#?}", receiver.metrics()));
    assert_eq!(duration["unit"], "s");
    assert_eq!(
        duration["histogram"]["aggregationTemporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    assert_eq!(
        attribute(&duration["resource"], "service.name"),
        Some("belfry-demo-e2e".into())
    );
    let point = histogram_point(&duration, "GET", "/users/{id}", 200).unwrap();
    let buckets = point["bucketCounts"].as_array().unwrap();
    assert_eq!(
        buckets.len(),
        point["explicitBounds"].as_array().unwrap().len() + 1
    );
    let counted: u64 = buckets
        .iter()
        .map(|count| count.as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, REQUESTS as u64);
    // Every request is sampled here: the exemplars are some of those requests' traces.
    let exemplars = point["exemplars"].as_array().expect("exemplars");
    assert!(!exemplars.is_empty());
    assert!(exemplars
        .iter()
        .all(|exemplar| trace_ids.contains(&exemplar["traceId"])));

    let active = receiver
        .wait_for_metric(WAIT, |metric| metric["name"] == "http.server.active_requests")
        .expect("the in-flight gauge");
    assert_eq!(
        active["sum"]["isMonotonic"],
        Value::Null,
        "false is protobuf's default: left out"
    );

    // `/metrics` still has them (the scrape itself is counted under its own route).
    let scrape = get(&demo.url("/metrics"), &[]);
    assert!(
        scrape.body.contains(&format!(
            "http_server_request_duration_seconds_count{{http_request_method=\"GET\",http_route=\"/users/{{id}}\",http_response_status_code=\"200\"}} {REQUESTS}"
        )),
        "{}",
        scrape.body
    );
}

#[test]
fn an_invalid_otel_variable_stops_the_start_naming_it() {
    let (status, stdout, stderr) = Demo::builder()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .env("OTEL_TRACES_SAMPLER", "sometimes")
        .run_to_exit(WAIT);
    assert!(!status.success(), "{status}");
    // main returns the ConfigError, before logging is set up: nothing is served or logged.
    assert!(
        stderr.contains("OTEL_TRACES_SAMPLER=`sometimes` is not valid: expected"),
        "{stderr}"
    );
    assert!(!stdout.contains("listening"), "{stdout}");
}

/// Interleaved rounds of every setting in the failure-mode test.
const ROUNDS: usize = 3;
/// Requests per run, on `THREADS` keep-alive connections.
const REQUESTS: usize = 800;
const THREADS: usize = 4;
/// Spans queued at most (2048) times a few hundred bytes, plus the batch in flight.
const RSS_GROWTH_BOUND_KIB: u64 = 8 * 1024;

struct Run {
    latencies: Vec<Duration>,
    rss_growth_kib: u64,
    exit_after: Option<Duration>,
}

/// Loads a demo exporting to `endpoint` (`None`: OTLP off), then SIGTERM.
fn load(endpoint: Option<&str>) -> Run {
    let mut builder = Demo::builder()
        .env("SENTRY_TRACES_SAMPLE_RATE", "1")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env(
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            &EXPORT_TIMEOUT.as_millis().to_string(),
        )
        .env("BELFRY_DRAIN_DELAY_MS", "0");
    if let Some(endpoint) = endpoint {
        builder = builder.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let mut demo = builder.start();
    for n in 0..50 {
        get(&demo.url(&format!("/users/{n}")), &[]);
    }
    let rss_before = vm_rss_kib(demo.pid());
    let mut latencies = Vec::new();
    thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let address = demo.address();
                scope.spawn(move || {
                    let mut client = KeepAlive::new(address);
                    let mut latencies = Vec::new();
                    for n in (thread..REQUESTS).step_by(THREADS) {
                        let sent = Instant::now();
                        let response = client.get(&format!("/users/{n}"), &[]).expect("request");
                        latencies.push(sent.elapsed());
                        assert_eq!(response.status, 200);
                    }
                    latencies
                })
            })
            .collect();
        for worker in workers {
            latencies.extend(worker.join().expect("client thread"));
        }
    });
    let rss_growth_kib = vm_rss_kib(demo.pid()).saturating_sub(rss_before);
    demo.terminate();
    let signalled = Instant::now();
    let exit_after = demo
        .wait_exit(EXPORT_TIMEOUT + Duration::from_secs(5))
        .map(|status| {
            assert!(status.success(), "exit status {status}");
            signalled.elapsed()
        });
    Run {
        latencies,
        rss_growth_kib,
        exit_after,
    }
}

#[test]
fn a_collector_that_answers_503_never_answers_or_is_gone_slows_no_request() {
    let unavailable = OtlpReceiver::start(OtlpMode::Unavailable);
    let blackhole = OtlpReceiver::start(OtlpMode::Blackhole);
    let mut stopped = OtlpReceiver::start(OtlpMode::Normal);
    let stopped_endpoint = stopped.endpoint();
    stopped.stop();
    // Interleaved rounds; each setting is judged by its best round's p99, the baseline (OTLP
    // off) likewise: on a shared 2-core machine one round can be disturbed by other work, while
    // a collector that slowed requests would slow every round.
    let unavailable_endpoint = unavailable.endpoint();
    let blackhole_endpoint = blackhole.endpoint();
    let settings: [(&str, Option<&str>); 4] = [
        ("off", None),
        ("503", Some(&unavailable_endpoint)),
        ("blackhole", Some(&blackhole_endpoint)),
        ("stopped", Some(&stopped_endpoint)),
    ];
    let mut rounds: Vec<(&str, Run)> = Vec::new();
    for _ in 0..ROUNDS {
        for (setting, endpoint) in settings {
            rounds.push((setting, load(endpoint)));
        }
    }
    let best_p99 = |setting: &str| {
        rounds
            .iter()
            .filter(|(name, _)| *name == setting)
            .map(|(_, run)| percentile(&run.latencies, 99.0))
            .min()
            .expect("a round")
    };
    let baseline = best_p99("off");
    for (setting, run) in rounds.iter().filter(|(name, _)| *name == "off") {
        println!("otlp [{setting}]: {}", latency_summary(&run.latencies));
    }
    let runs: Vec<_> = rounds.iter().filter(|(name, _)| *name != "off").collect();
    let flush_bound = EXPORT_TIMEOUT + Duration::from_secs(2);
    for (setting, run) in runs {
        let p99 = percentile(&run.latencies, 99.0);
        let bound = baseline.mul_f64(1.1) + Duration::from_millis(3);
        println!(
            "otlp [{setting}]: {}; p99 {:.2} ms vs off {:.2} ms (bound {:.2} ms); VmRSS {:+} KiB; exit {:?} after SIGTERM",
            latency_summary(&run.latencies),
            p99.as_secs_f64() * 1000.0,
            baseline.as_secs_f64() * 1000.0,
            bound.as_secs_f64() * 1000.0,
            run.rss_growth_kib,
            run.exit_after
        );
        let best = best_p99(setting);
        assert!(
            best <= bound,
            "{setting}: best p99 of {ROUNDS} rounds {best:?} > {bound:?}"
        );
        assert!(
            run.rss_growth_kib <= RSS_GROWTH_BOUND_KIB,
            "{setting}: VmRSS grew {} KiB",
            run.rss_growth_kib
        );
        let exit = run
            .exit_after
            .unwrap_or_else(|| panic!("{setting}: no exit after SIGTERM"));
        assert!(
            exit <= flush_bound,
            "{setting}: exit took {exit:?} (bound {flush_bound:?})"
        );
    }
}
