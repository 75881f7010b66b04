//! The `/metrics` endpoint end to end: both formats, and the text one (what `curl` gets) passes
//! `promtool check metrics` (parse and lint); the OpenMetrics one, exemplars included, passes
//! Prometheus' own OpenMetrics parser (`promtool tsdb create-blocks-from openmetrics`). promtool is required: without it that test fails
//! and says to run `bash scripts/install-test-tools.sh` (Debian: `apt-get install prometheus`).

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use axum::{body::Body, routing::get, Router};
use belfry_metrics::{
    HealthCheckSample, HealthCheckStatus, Metrics, METRICS_PATH, OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_TEXT_CONTENT_TYPE,
};
use belfry_trace_context::TraceContext;
use http::Request;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use prometheus_client::metrics::{counter::Counter, family::Family};
use tower::ServiceExt;

/// What Prometheus sends.
const PROMETHEUS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Scrapes of an app with every kind of series this crate writes: `(content type, body)` for
/// each `Accept` header given.
async fn scrapes(accepts: &[Option<&str>]) -> Vec<(String, String)> {
    let metrics = Metrics::new();
    let jobs = metrics.register(
        "jobs_processed",
        "Jobs processed by status",
        Family::<[(&'static str, &'static str); 1], Counter>::default(),
    );
    jobs.get_or_create(&[("status", "done")]).inc();
    metrics.register_health_checks(|| {
        vec![
            HealthCheckSample::new("db", HealthCheckStatus::Pass, Duration::from_millis(4)),
            HealthCheckSample::new("queue", HealthCheckStatus::Warn, Duration::from_millis(1)),
        ]
    });
    // Scrapes unmeasured, so that two scrapes see the same HTTP series.
    let app: Router = metrics.router().merge(
        Router::new()
            .route("/users/{id}", get(|| async { "user" }))
            .layer(metrics.layer()),
    );
    // Sampled requests leave exemplars; an unsampled one does not.
    let traces = [true, false, true].map(TraceContext::new_root);
    for (path, trace) in ["/users/1", "/users/2", "/missing"].into_iter().zip(traces) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = trace.scope(app.clone().oneshot(request)).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let client = metrics.http_client();
    client.record(
        &Method::GET,
        "inventory",
        Some(StatusCode::OK),
        None,
        Duration::from_millis(7),
    );
    client.record(
        &Method::POST,
        "inventory",
        None,
        Some("timeout"),
        Duration::from_secs(3),
    );
    let mut scrapes = Vec::new();
    for accept in accepts {
        let mut request = Request::get(METRICS_PATH);
        if let Some(accept) = accept {
            request = request.header("accept", *accept);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        scrapes.push((content_type, String::from_utf8(body.to_vec()).unwrap()));
    }
    scrapes
}

/// Sample lines, with process values (which move between scrapes) and exemplars (which only
/// OpenMetrics has) cut off.
fn samples(body: &str) -> Vec<&str> {
    let lines = body.lines().filter(|line| !line.starts_with('#'));
    lines
        .map(|line| {
            if line.starts_with("process_") {
                line.split(' ').next().unwrap()
            } else {
                line.split_once(" # {").map_or(line, |(sample, _)| sample)
            }
        })
        .collect()
}

/// Runs promtool with `args`, feeding it `stdin`; fails the test, saying how to install it,
/// when promtool is missing. Returns (success, stdout + stderr).
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|error| {
        panic!(
            "promtool not found on PATH ({error}): run `bash scripts/install-test-tools.sh` \
             (Debian: apt-get install prometheus)"
        )
    });
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `promtool tsdb create-blocks-from openmetrics` imports only samples with a timestamp: this
/// adds one after each sample's value (before its exemplar), changing nothing else.
fn with_sample_timestamps(openmetrics: &str) -> String {
    let mut stamped = String::new();
    for line in openmetrics.lines() {
        if line.starts_with('#') {
            stamped.push_str(line);
        } else {
            // The value follows the label set, whose values may hold spaces and ` # `.
            let mut labels_end = 0;
            if line
                .find(['{', ' '])
                .is_some_and(|at| line.as_bytes()[at] == b'{')
            {
                let (mut quoted, mut escaped) = (false, false);
                for (at, byte) in line.bytes().enumerate() {
                    match byte {
                        _ if escaped => escaped = false,
                        b'\\' if quoted => escaped = true,
                        b'"' => quoted = !quoted,
                        b'}' if !quoted => {
                            labels_end = at + 1;
                            break;
                        }
                        _ => {}
                    }
                }
            }
            let value_start = labels_end + line[labels_end..].find(' ').unwrap() + 1;
            let value_end = line[value_start..]
                .find(' ')
                .map_or(line.len(), |at| value_start + at);
            stamped.push_str(&line[..value_end]);
            stamped.push_str(" 1700000000");
            stamped.push_str(&line[value_end..]);
        }
        stamped.push('\n');
    }
    stamped
}

#[tokio::test]
async fn both_formats_carry_the_same_samples_and_end_with_eof() {
    let scrapes = scrapes(&[Some(PROMETHEUS_ACCEPT), None]).await;
    let (openmetrics, text) = (&scrapes[0], &scrapes[1]);
    assert_eq!(openmetrics.0, OPENMETRICS_CONTENT_TYPE);
    assert_eq!(text.0, PROMETHEUS_TEXT_CONTENT_TYPE);
    assert_eq!(samples(&openmetrics.1), samples(&text.1));
    assert!(openmetrics.1.contains("# TYPE jobs_processed counter\n"));
    assert!(text.1.contains("# TYPE jobs_processed_total counter\n"));
    for (_, body) in &scrapes {
        assert!(body.ends_with("# EOF\n"));
        assert!(body.contains(r#"http_route="/users/{id}""#));
        assert!(body.contains(r#"http_route="""#));
        assert!(body.contains(r#"belfry_health_check_status{check="queue",critical="true"} 0.5"#));
    }
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let (_, text) = scrapes(&[None]).await.remove(0);
    let (success, output) = promtool(&["check", "metrics"], &text);
    assert!(success && output.is_empty(), "promtool: {output}\n{text}");
}

#[tokio::test]
async fn prometheus_parses_the_openmetrics_exposition_and_its_exemplars() {
    let (_, openmetrics) = scrapes(&[Some(PROMETHEUS_ACCEPT)]).await.remove(0);
    assert_eq!(openmetrics.matches(" # {trace_id=\"").count(), 2, "{openmetrics}");
    assert!(openmetrics.contains("http_client_request_duration_seconds_count{"));
    let stamped = with_sample_timestamps(&openmetrics);
    let dir = std::env::temp_dir().join(format!("belfry-openmetrics-{}", std::process::id()));
    let input = dir.with_extension("txt");
    std::fs::write(&input, &stamped).unwrap();
    let (success, output) = promtool(
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            input.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
        "",
    );
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(success, "promtool: {output}\n{stamped}");

    // The same parser rejects a damaged exemplar, so the check above means something.
    let damaged = stamped.replacen("{trace_id=\"", "{trace_id=", 1);
    let input = dir.with_extension("damaged.txt");
    std::fs::write(&input, &damaged).unwrap();
    let (success, _) = promtool(
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            input.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
        "",
    );
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!success);
}
