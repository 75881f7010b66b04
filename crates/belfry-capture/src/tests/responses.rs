//! Responses and log events, with and without Sentry.

use std::convert::Infallible;

use axum::{body::Body, http::StatusCode, routing::get, Router};
use belfry_request_id::RequestIdLayer;
use http::Request;
use tower::ServiceExt;

use super::*;

#[tokio::test]
async fn a_panicking_handler_answers_a_problem_document() {
    setup();
    let answer = get_with_id(app(CaptureLayer::new()), "/panic", "resp-panic-1").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(answer.headers["x-request-id"], "resp-panic-1");
    assert_eq!(
        answer.body,
        r#"{"type":"about:blank","title":"Internal Server Error","status":500,"request_id":"resp-panic-1"}"#
    );
    let body = String::from_utf8_lossy(&answer.body);
    assert!(!body.contains("exploded") && !body.contains("secret"), "{body}");

    let events = capture_events_for("resp-panic-1");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.level, Level::ERROR);
    assert_eq!(event.message, "request panicked");
    assert_eq!(event.field("panic.message"), Some(PANIC_MESSAGE));
    assert_eq!(event.field("code.filepath"), Some(PANIC_FILE));
    assert_eq!(event.field("code.lineno"), Some(PANIC_LINE.to_string().as_str()));
    assert!(event.field("code.column").is_some());
    assert_eq!(event.field("http.route"), Some("/panic"));
    assert_eq!(event.field("http.request.method"), Some("GET"));
    assert_eq!(event.field("http.response.status_code"), Some("500"));
}

#[tokio::test]
async fn a_panic_in_call_answers_500_too() {
    setup();
    let request = Request::get("/anything")
        .header("x-request-id", "resp-call-1")
        .body(Body::empty())
        .unwrap();
    let answer = collect(
        panicking_in_call(CaptureLayer::new())
            .oneshot(request)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.json()["request_id"], "resp-call-1");

    let events = capture_events_for("resp-call-1");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].field("panic.message"), Some("call exploded"));
    assert_eq!(events[0].field("http.route"), None, "no router, no route");
}

#[tokio::test]
async fn without_a_request_id_the_problem_has_none() {
    setup();
    let app = Router::new()
        .route("/panic", get(|| async { panic!("no id here") as &'static str }))
        .layer(CaptureLayer::new());
    let answer = collect(
        app.oneshot(Request::get("/panic").body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        answer.json(),
        serde_json::json!({"type": "about:blank", "title": "Internal Server Error", "status": 500})
    );
}

#[tokio::test]
async fn a_future_that_panics_again_when_dropped_still_answers() {
    struct Bomb;

    impl std::future::Future for Bomb {
        type Output = Result<http::Response<Body>, Infallible>;

        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Self::Output> {
            panic!("poll exploded");
        }
    }

    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("drop exploded");
            }
        }
    }

    setup();
    let service = tower::ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(CaptureLayer::new())
        .service(tower::service_fn(|_: Request<Body>| Bomb));
    let request = Request::get("/")
        .header("x-request-id", "resp-bomb-1")
        .body(Body::empty())
        .unwrap();
    let answer = collect(service.oneshot(request).await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    let events = capture_events_for("resp-bomb-1");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].field("panic.message"), Some("poll exploded"));
}

#[tokio::test]
async fn an_application_5xx_keeps_its_body_and_is_reported_with_its_error() {
    setup();
    let answer = get_with_id(app(CaptureLayer::new()), "/down", "resp-down-1").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body, "down for maintenance");

    let events = capture_events_for("resp-down-1");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.level, Level::ERROR);
    assert_eq!(event.message, "request failed");
    assert_eq!(event.field("http.response.status_code"), Some("503"));
    assert_eq!(event.field("http.route"), Some("/down"));
    assert_eq!(event.field("error.message"), Some("loading the report"));
    assert_eq!(
        event.field("error.chain"),
        Some("loading the report: querying the database: connection refused")
    );
    assert_eq!(
        event.field("error.type"),
        Some(std::any::type_name::<super::Outer>())
    );
}

#[tokio::test]
async fn an_application_5xx_without_error_is_reported_with_its_status() {
    setup();
    let answer = get_with_id(app(CaptureLayer::new()), "/bare-500", "resp-bare-1").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.body, "plain failure");
    let events = capture_events_for("resp-bare-1");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].message, "request failed");
    assert_eq!(events[0].field("http.response.status_code"), Some("500"));
    assert_eq!(events[0].field("error.message"), None);
}

#[tokio::test]
async fn a_probe_answering_503_is_a_state_not_a_failure() {
    setup();
    let probes = CaptureLayer::new().probe_routes(["/health/live", "/health/ready"]);
    let answer = get_with_id(app(probes), "/health/ready", "resp-probe-1").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(capture_events_for("resp-probe-1").is_empty(), "not reported");
    // The same answer on a route that is not a probe is a failure: no route is one by default.
    get_with_id(app(CaptureLayer::new()), "/health/ready", "resp-probe-2").await;
    assert_eq!(capture_events_for("resp-probe-2").len(), 1);
}

#[tokio::test]
async fn success_is_not_reported() {
    setup();
    let answer = get_with_id(app(CaptureLayer::new()), "/ok", "resp-ok-1").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "fine");
    let answer = get_with_id(app(CaptureLayer::new()), "/missing", "resp-404-1").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    for id in ["resp-ok-1", "resp-404-1"] {
        let errors: Vec<_> = events_for(id)
            .into_iter()
            .filter(|event| event.level == Level::ERROR)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}

#[tokio::test]
async fn a_panic_in_spawned_work_is_logged_in_the_request_span() {
    setup();
    let answer = get_with_id(app(CaptureLayer::new()), "/spawn", "resp-spawn-1").await;
    assert_eq!(answer.status, StatusCode::OK, "the request itself succeeded");
    let events = capture_events_for("resp-spawn-1");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.message, "thread panicked");
    assert_eq!(event.field("panic.message"), Some("background work exploded"));
    assert_eq!(event.field("code.filepath"), Some(PANIC_FILE));
    let started = events_for("resp-spawn-1")
        .iter()
        .any(|event| event.message == "background work started");
    assert!(started, "the task's own events carry the request id");
}

#[tokio::test]
async fn a_body_that_panics_while_streaming_ends_with_an_error_and_is_reported() {
    setup();
    let request = Request::get("/stream-panic")
        .header("x-request-id", "resp-stream-1")
        .body(Body::empty())
        .unwrap();
    let response = app(CaptureLayer::new()).oneshot(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the headers were sent before the panic"
    );
    let (_, mut body) = response.into_parts();
    let mut sent = Vec::new();
    let error = loop {
        match http_body_util::BodyExt::frame(&mut body).await {
            Some(Ok(frame)) => sent.extend_from_slice(frame.data_ref().unwrap()),
            Some(Err(error)) => break error,
            None => panic!("the body must end with an error, not as complete"),
        }
    };
    assert_eq!(sent, b"chunk chunk ");
    let source = std::error::Error::source(&error).expect("axum wraps the body's error");
    let body_error = source
        .downcast_ref::<belfry_access_log::BodyError>()
        .expect("a BodyError");
    assert!(body_error.is_panic());

    let events = capture_events_for("resp-stream-1");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.level, Level::ERROR);
    assert_eq!(event.message, "request panicked");
    assert_eq!(
        event.field("panic.message"),
        Some("the body exploded after two chunks")
    );
    assert_eq!(event.field("http.route"), Some("/stream-panic"));
    assert_eq!(event.field("http.response.status_code"), Some("200"));
    assert_eq!(
        event.field("code.lineno"),
        Some(BODY_PANIC_LINE.to_string().as_str())
    );
}

#[tokio::test]
async fn a_panic_caught_inside_the_request_is_still_logged_once() {
    setup();
    let answer = get_with_id(app(CaptureLayer::new()), "/caught-inside", "resp-caught-1").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "recovered");
    let events = capture_events_for("resp-caught-1");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.message, "thread panicked");
    assert_eq!(event.field("panic.message"), Some(CAUGHT_INSIDE_MESSAGE));
    assert_eq!(event.field("code.filepath"), Some(PANIC_FILE));
}

#[tokio::test]
async fn under_an_access_log_a_body_panic_is_logged_in_the_request_span_it_lends() {
    setup();
    // The access log lends the request span while it polls the body: the capture layer keeps
    // no handle of its own, and still logs inside the request's span.
    let router = Router::new()
        .route(
            "/stream-panic",
            get(|| async { Body::new(PanickingBody::default()) }),
        )
        .layer(CaptureLayer::new().borrow_request_span(true))
        .layer(belfry_access_log::AccessLogLayer::new())
        .layer(RequestIdLayer::new());
    let request = Request::get("/stream-panic")
        .header("x-request-id", "resp-stream-lent-1")
        .body(Body::empty())
        .unwrap();
    let mut body = router.oneshot(request).await.unwrap().into_body();
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        if frame.is_err() {
            break;
        }
    }
    let events = capture_events_for("resp-stream-lent-1");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].message, "request panicked");
    assert_eq!(events[0].field("http.route"), Some("/stream-panic"));
}
