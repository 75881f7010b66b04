//! The `/metrics` endpoint end to end: both formats, and the text one (what `curl` gets) passes
//! `promtool check metrics` (parse and lint). promtool is required: without it that test fails
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
use http::Request;
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
    for path in ["/users/1", "/users/2", "/missing"] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
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

/// Sample lines, with process values (which move between scrapes) cut off.
fn samples(body: &str) -> Vec<&str> {
    let lines = body.lines().filter(|line| !line.starts_with('#'));
    lines
        .map(|line| {
            if line.starts_with("process_") {
                line.split(' ').next().unwrap()
            } else {
                line
            }
        })
        .collect()
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
    let child = Command::new("promtool")
        .args(["check", "metrics"])
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
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
