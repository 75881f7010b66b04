//! The HTTP endpoints: `/health`, `/health/live` and `/health/ready`.

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use serde::Serialize;

use crate::{Health, ReadinessState, Status};

const HEALTH_JSON: HeaderValue = HeaderValue::from_static("application/health+json");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

impl Health {
    /// The health endpoints, to [`merge`](Router::merge) into the app's
    /// router:
    ///
    /// - `GET /health/live`: liveness. Always `200 {"status":"pass"}` while
    ///   the process can answer; never runs checks.
    /// - `GET /health/ready`: readiness. `200` once the app is
    ///   [started](crate::ReadinessGate::mark_started), not draining, and no
    ///   readiness check fails; otherwise `503` with a `reason`
    ///   (`"starting"`, `"draining"` or `"failing_checks"`, the latter with
    ///   `failed_checks` names when details are shown).
    /// - `GET /health`: the detailed [`HealthReport`](crate::HealthReport)
    ///   (or `{"status":...}` alone for callers that may not see details);
    ///   `200` for `pass` and `warn`, `503` for `fail`.
    ///
    /// All answer `application/health+json` with `Cache-Control: no-store`.
    ///
    /// ```
    /// use axum::body::Body;
    /// use http::{Request, StatusCode};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = belfry_health::Health::new();
    /// let app: axum::Router = axum::Router::new().merge(health.routes());
    ///
    /// let ready = |app: axum::Router| async move {
    ///     let request = Request::get("/health/ready").body(Body::empty()).unwrap();
    ///     app.oneshot(request).await.unwrap().status()
    /// };
    /// assert_eq!(ready(app.clone()).await, StatusCode::SERVICE_UNAVAILABLE);
    /// health.readiness().mark_started();
    /// assert_eq!(ready(app).await, StatusCode::OK);
    /// # }
    /// ```
    pub fn routes<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let detailed = self.clone();
        let ready = self.clone();
        Router::new()
            .route(
                crate::HEALTH_PATH,
                get(move |headers: HeaderMap| async move { detailed.detailed(&headers).await }),
            )
            .route(
                crate::LIVENESS_PATH,
                get(|| async { health_json(StatusCode::OK, &Short { status: Status::Pass }) }),
            )
            .route(
                crate::READINESS_PATH,
                get(move |headers: HeaderMap| async move { ready.ready(&headers).await }),
            )
    }

    async fn detailed(&self, headers: &HeaderMap) -> Response {
        let report = self.report().await;
        let code = report.status().http_status();
        if self.inner.show_details.allows(headers) {
            health_json(code, &*report)
        } else {
            health_json(
                code,
                &Short {
                    status: report.status(),
                },
            )
        }
    }

    async fn ready(&self, headers: &HeaderMap) -> Response {
        if let Some(not_ready) = self.gate_refusal() {
            return not_ready;
        }
        let report = self.report().await;
        // Shutdown may have begun while the checks ran.
        if let Some(not_ready) = self.gate_refusal() {
            return not_ready;
        }
        match report.readiness_status() {
            Status::Fail => {
                let failed_checks = if self.inner.show_details.allows(headers) {
                    report.failed_readiness_checks().map(|c| c.name()).collect()
                } else {
                    Vec::new()
                };
                health_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &NotReady {
                        status: Status::Fail,
                        reason: "failing_checks",
                        failed_checks,
                    },
                )
            }
            status => health_json(StatusCode::OK, &Short { status }),
        }
    }

    /// The 503 answer when the gate is not open.
    fn gate_refusal(&self) -> Option<Response> {
        match self.readiness().state() {
            ReadinessState::Ready => None,
            state => Some(health_json(
                StatusCode::SERVICE_UNAVAILABLE,
                &NotReady {
                    status: Status::Fail,
                    reason: state.as_str(),
                    failed_checks: Vec::new(),
                },
            )),
        }
    }
}

#[derive(Serialize)]
struct Short {
    status: Status,
}

#[derive(Serialize)]
struct NotReady<'a> {
    status: Status,
    reason: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failed_checks: Vec<&'a str>,
}

fn health_json(code: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(body) => (
            code,
            [(CONTENT_TYPE, HEALTH_JSON), (CACHE_CONTROL, NO_STORE)],
            body,
        )
            .into_response(),
        // Unreachable for these types (string keys, finite floats).
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_fn, CheckOptions, CheckOutcome, ShowDetails};
    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tower::ServiceExt;

    async fn get(health: &Health, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let app: Router = Router::new().merge(health.routes());
        let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.headers()[CONTENT_TYPE], "application/health+json");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    fn counting(runs: &Arc<AtomicUsize>, outcome: CheckOutcome) -> impl crate::HealthCheck {
        let runs = runs.clone();
        check_fn(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let outcome = outcome.clone();
            async move { outcome }
        })
    }

    #[tokio::test]
    async fn live_never_runs_checks() {
        let runs = Arc::new(AtomicUsize::new(0));
        let health = Health::builder()
            .check("db", counting(&runs, CheckOutcome::fail("down")))
            .build();
        let (status, body) = get(&health, "/health/live", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "pass"}));
        health.readiness().mark_draining();
        assert_eq!(get(&health, "/health/live", None).await.0, StatusCode::OK);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn ready_follows_the_gate() {
        let health = Health::new();
        let (status, body) = get(&health, "/health/ready", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, json!({"status": "fail", "reason": "starting"}));

        health.readiness().mark_started();
        let (status, body) = get(&health, "/health/ready", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "pass"}));

        health.readiness().mark_draining();
        let (status, body) = get(&health, "/health/ready", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, json!({"status": "fail", "reason": "draining"}));
    }

    #[tokio::test]
    async fn ready_skips_checks_until_started() {
        let runs = Arc::new(AtomicUsize::new(0));
        let health = Health::builder()
            .check("db", counting(&runs, CheckOutcome::pass()))
            .build();
        get(&health, "/health/ready", None).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn ready_reports_failing_readiness_checks() {
        let health = Health::builder()
            .check("db", check_fn(|| async { CheckOutcome::fail("refused") }))
            .check_with(
                "cache",
                check_fn(|| async { false }),
                CheckOptions::new().critical(false),
            )
            .check("queue", check_fn(|| async { CheckOutcome::warn("slow") }))
            .start_ready(true)
            .build();
        let (status, body) = get(&health, "/health/ready", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({"status": "fail", "reason": "failing_checks", "failed_checks": ["db"]})
        );
    }

    #[tokio::test]
    async fn ready_ignores_non_readiness_failures_and_passes_warnings() {
        let health = Health::builder()
            .check_with(
                "cache",
                check_fn(|| async { false }),
                CheckOptions::new().critical(false),
            )
            .check("queue", check_fn(|| async { CheckOutcome::warn("slow") }))
            .start_ready(true)
            .build();
        let (status, body) = get(&health, "/health/ready", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "warn"}));
    }

    #[tokio::test]
    async fn detailed_report() {
        let health = Health::builder()
            .check("db", check_fn(|| async { true }))
            .check_with(
                "cache",
                check_fn(|| async { CheckOutcome::fail("refused") }),
                CheckOptions::new().critical(false),
            )
            .build();
        let (status, body) = get(&health, "/health", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "warn");
        assert_eq!(body["checks"]["db"]["status"], "pass");
        assert_eq!(body["checks"]["db"]["critical"], true);
        assert!(body["checks"]["db"]["duration_ms"].is_f64());
        let last_success = body["checks"]["db"]["last_success"].as_str().unwrap();
        assert!(last_success.len() == 20 && last_success.ends_with('Z'));
        assert_eq!(
            body["checks"]["cache"],
            json!({"status": "fail", "critical": false, "duration_ms": body["checks"]["cache"]["duration_ms"], "message": "refused"})
        );
    }

    #[tokio::test]
    async fn critical_failure_is_503() {
        let health = Health::builder()
            .check("db", check_fn(|| async { false }))
            .build();
        let (status, body) = get(&health, "/health", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "fail");
    }

    #[tokio::test]
    async fn details_hidden_without_token() {
        let health = Health::builder()
            .check("db", check_fn(|| async { false }))
            .show_details(ShowDetails::bearer_token("s3cret"))
            .start_ready(true)
            .build();

        let (status, body) = get(&health, "/health", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, json!({"status": "fail"}));
        let (_, body) = get(&health, "/health", Some("wrong")).await;
        assert_eq!(body, json!({"status": "fail"}));
        let (_, body) = get(&health, "/health", Some("s3cret")).await;
        assert_eq!(body["checks"]["db"]["status"], "fail");

        let (_, body) = get(&health, "/health/ready", None).await;
        assert_eq!(body, json!({"status": "fail", "reason": "failing_checks"}));
        let (_, body) = get(&health, "/health/ready", Some("s3cret")).await;
        assert_eq!(body["failed_checks"], json!(["db"]));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_probes_run_checks_once() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let health = Health::builder()
            .check(
                "slow",
                check_fn(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        true
                    }
                }),
            )
            .check("other", counting(&runs, CheckOutcome::pass()))
            .start_ready(true)
            .build();
        let app: Router = Router::new().merge(health.routes());
        let probes = (0..20).map(|i| {
            let path = if i % 2 == 0 { "/health" } else { "/health/ready" };
            let request = Request::get(path).body(Body::empty()).unwrap();
            tokio::spawn(app.clone().oneshot(request))
        });
        for response in futures_util::future::join_all(probes).await {
            assert_eq!(response.unwrap().unwrap().status(), StatusCode::OK);
        }
        // One run of each of the two checks.
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn mounts_into_a_stateful_router() {
        #[derive(Clone)]
        struct AppState;
        let app: Router<AppState> = Router::new().merge(Health::new().routes());
        let app: Router = app.with_state(AppState);
        let response = app
            .oneshot(Request::head("/health/live").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
