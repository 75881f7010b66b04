//! What the layer tells a [`Reporter`], and when.

use std::{
    cell::Cell,
    sync::{Arc, Mutex},
};

use axum::{body::Body, http::StatusCode, routing::get, Router};
use belfry_request_id::RequestIdLayer;
use http::Request;
use tower::ServiceExt;

use super::*;
use crate::{Outcome, Panic, Reporter, RequestDetails};

/// Records what it is told, per request id.
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<String>>>);

struct RecordingRequest {
    id: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl RecordingRequest {
    fn push(&self, what: String) {
        self.log.lock().unwrap().push(format!("{} {what}", self.id));
    }
}

thread_local! {
    /// The request id of the state entered on this thread.
    static ENTERED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

fn entered() -> Option<&'static str> {
    ENTERED.with(Cell::get)
}

impl Reporter for Recording {
    type Request = RecordingRequest;
    type Task = &'static str;

    fn start<B>(&self, _: &Request<B>, details: &RequestDetails) -> Option<Self::Request> {
        let id = details.request_id()?.as_str().to_owned();
        let state = RecordingRequest {
            id,
            log: self.0.clone(),
        };
        state.push(format!("start {}", details.route().unwrap_or("-")));
        Some(state)
    }

    fn enter<T>(request: &Self::Request, f: impl FnOnce() -> T) -> T {
        let id: &'static str = Box::leak(request.id.clone().into_boxed_str());
        let previous = ENTERED.with(|entered| entered.replace(Some(id)));
        let value = f();
        ENTERED.with(|entered| entered.set(previous));
        value
    }

    fn panicked(request: &Self::Request, panic: &Panic) {
        request.push(format!("panicked {}", panic.message()));
    }

    fn failed(request: &Self::Request, status: StatusCode, report: Option<&ErrorReport>) {
        request.push(format!("failed {} {}", status.as_u16(), report.is_some()));
    }

    fn finish(request: &mut Self::Request, outcome: Outcome) {
        request.push(format!("finish {outcome:?}"));
    }

    fn task() -> Option<Self::Task> {
        entered()
    }

    fn enter_task<T>(task: &Self::Task, f: impl FnOnce() -> T) -> T {
        let previous = ENTERED.with(|entered| entered.replace(Some(task)));
        let value = f();
        ENTERED.with(|entered| entered.set(previous));
        value
    }
}

impl Recording {
    fn log_of(&self, id: &str) -> Vec<String> {
        let prefix = format!("{id} ");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

#[tokio::test]
async fn the_reporter_hears_of_panics_failures_and_outcomes() {
    setup();
    let reporter = Recording::default();
    let app = app(CaptureLayer::new()
        .probe_routes(["/health/ready"])
        .reporter(reporter.clone()));
    get_with_id(app.clone(), "/panic", "rep-panic-1").await;
    get_with_id(app.clone(), "/down", "rep-down-1").await;
    get_with_id(app.clone(), "/health/ready", "rep-probe-1").await;
    get_with_id(app, "/ok", "rep-ok-1").await;
    assert_eq!(
        reporter.log_of("rep-panic-1"),
        [
            "start /panic",
            &format!("panicked {PANIC_MESSAGE}"),
            "finish Response(500)"
        ]
    );
    assert_eq!(
        reporter.log_of("rep-down-1"),
        ["start /down", "failed 503 true", "finish Response(503)"]
    );
    assert_eq!(
        reporter.log_of("rep-probe-1"),
        ["start /health/ready", "finish Response(503)"],
        "a probe's 503 is a state"
    );
    assert_eq!(reporter.log_of("rep-ok-1"), ["start /ok", "finish Response(200)"]);
}

#[tokio::test]
async fn a_panic_while_the_body_streams_reaches_the_reporter_after_the_finish() {
    setup();
    let reporter = Recording::default();
    let request = Request::get("/stream-panic")
        .header("x-request-id", "rep-stream-1")
        .body(Body::empty())
        .unwrap();
    let response = app(CaptureLayer::new().reporter(reporter.clone()))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(http_body_util::BodyExt::collect(response.into_body())
        .await
        .is_err());
    assert_eq!(
        reporter.log_of("rep-stream-1"),
        [
            "start /stream-panic",
            "finish Response(200)",
            "panicked the body exploded after two chunks"
        ]
    );
}

#[tokio::test]
async fn a_request_dropped_before_its_answer_is_cancelled() {
    setup();
    let reporter = Recording::default();
    let app = Router::new()
        .route("/never", get(std::future::pending::<&'static str>))
        .layer(CaptureLayer::new().reporter(reporter.clone()))
        .layer(RequestIdLayer::new());
    let request = Request::get("/never")
        .header("x-request-id", "rep-cancel-1")
        .body(Body::empty())
        .unwrap();
    let served = tokio::time::timeout(std::time::Duration::from_millis(10), app.oneshot(request)).await;
    assert!(served.is_err(), "still pending");
    assert_eq!(
        reporter.log_of("rep-cancel-1"),
        ["start /never", "finish Cancelled"]
    );
}

#[tokio::test]
async fn handlers_and_spawned_tasks_run_with_the_state_entered() {
    setup();
    let app = Router::new()
        .route(
            "/entered",
            get(|| async {
                let in_handler = entered().unwrap_or("none");
                let in_task = crate::spawn(async { entered().unwrap_or("none") }).await.unwrap();
                let nested = crate::spawn(async {
                    crate::spawn(async { entered().unwrap_or("none") }).await.unwrap()
                })
                .await
                .unwrap();
                format!("{in_handler} {in_task} {nested}")
            }),
        )
        .layer(CaptureLayer::new().reporter(Recording::default()))
        .layer(RequestIdLayer::new());
    let answer = get_with_id(app, "/entered", "rep-task-1").await;
    assert_eq!(answer.body, "rep-task-1 rep-task-1 rep-task-1");
    // Outside a request, nothing is carried.
    assert_eq!(
        crate::spawn(async { entered() }).await.unwrap(),
        None,
        "no reporter outside requests"
    );
}

#[test]
fn without_a_reporter_the_state_takes_no_room() {
    assert_eq!(std::mem::size_of::<Option<<() as Reporter>::Request>>(), 0);
}

#[tokio::test]
async fn the_state_is_entered_in_call_unless_told_not_to_and_always_in_polls() {
    use tower::Layer;

    setup();
    for enter_in_call in [true, false] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let inner = tower::service_fn({
            let seen = seen.clone();
            move |_: Request<Body>| {
                seen.lock().unwrap().push(("call", entered()));
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(("poll", entered()));
                    Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("ok")))
                }
            }
        });
        let service = CaptureLayer::new()
            .reporter(Recording::default())
            .enter_reporter_in_call(enter_in_call)
            .layer(inner);
        let mut request = Request::get("/").body(Body::empty()).unwrap();
        let id = belfry_request_id::RequestId::from_incoming(b"rep-call-1").unwrap();
        request.extensions_mut().insert(id);
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("call", enter_in_call.then_some("rep-call-1")),
                ("poll", Some("rep-call-1"))
            ],
            "enter_reporter_in_call({enter_in_call})"
        );
    }
}
