use std::{
    collections::VecDeque,
    convert::Infallible,
    future::Future,
    pin::{pin, Pin},
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use axum::{body::Body as AxumBody, extract::MatchedPath, routing::get, Router};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use tower::{service_fn, Layer, Service, ServiceExt};

use super::method::MethodLabel;
use crate::{Metrics, HTTP_SERVER_REQUEST_DURATION};

/// Number of duration series in an exposition.
fn duration_series(text: &str) -> usize {
    text.lines()
        .filter(|line| line.starts_with(&format!("{HTTP_SERVER_REQUEST_DURATION}_count{{")))
        .count()
}

fn active(metrics: &Metrics, method: Method) -> i64 {
    metrics.http().active().get(MethodLabel::of(&method))
}

fn app(metrics: &Metrics) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async { "user" }).post(|| async { StatusCode::CREATED }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(metrics.layer())
}

async fn send(app: &Router, method: Method, path: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(AxumBody::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

/// A real `MatchedPath` (axum offers no constructor): route `path` through a router for `template`.
async fn matched_path(template: &str, path: &str) -> MatchedPath {
    let captured = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&captured);
    let router: Router = Router::new().route(
        template,
        get(move |matched: MatchedPath| async move {
            *sink.lock().unwrap() = Some(matched);
        }),
    );
    router
        .oneshot(Request::get(path).body(AxumBody::empty()).unwrap())
        .await
        .unwrap();
    let matched = captured.lock().unwrap().take();
    matched.unwrap()
}

/// A body yielding its chunks one per poll; reports its end only when asked past the last chunk.
struct Chunks(VecDeque<&'static str>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.0
                .pop_front()
                .map(|chunk| Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))),
        )
    }
}

fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn rendered_series_use_the_route_template() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    for id in [1, 2, 3] {
        assert_eq!(
            send(&app, Method::GET, &format!("/users/{id}")).await,
            StatusCode::OK
        );
    }
    assert_eq!(send(&app, Method::POST, "/users/9").await, StatusCode::CREATED);

    let text = metrics.render();
    let get = r#"http_request_method="GET",http_route="/users/{id}",http_response_status_code="200""#;
    assert!(
        text.contains(&format!("{HTTP_SERVER_REQUEST_DURATION}_count{{{get}}} 3")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{HTTP_SERVER_REQUEST_DURATION}_bucket{{le=\"0.005\",{get}}}"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "{HTTP_SERVER_REQUEST_DURATION}_bucket{{le=\"+Inf\",{get}}} 3"
    )));
    assert!(text.contains(r#"http_route="/users/{id}",http_response_status_code="201""#));
    assert!(text.contains("# TYPE http_server_request_duration_seconds histogram\n"));
    assert!(!text.contains("/users/1"));
    assert_eq!(duration_series(&text), 2);
}

#[tokio::test]
async fn unmatched_requests_share_one_series() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    assert_eq!(send(&app, Method::GET, "/users/1").await, StatusCode::OK);
    assert_eq!(send(&app, Method::GET, "/nope").await, StatusCode::NOT_FOUND);
    let before = duration_series(&metrics.render());
    assert_eq!(before, 2);

    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..1000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        assert_eq!(
            send(&app, Method::GET, &format!("/{seed:x}/{}", seed % 977)).await,
            StatusCode::NOT_FOUND
        );
    }

    let text = metrics.render();
    assert_eq!(duration_series(&text), before);
    assert!(text
        .contains(r#"_count{http_request_method="GET",http_route="",http_response_status_code="404"} 1001"#));
}

#[tokio::test]
async fn unknown_methods_are_other() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    for name in ["PURGE", "BREW", "get"] {
        let method = Method::from_bytes(name.as_bytes()).unwrap();
        assert_eq!(
            send(&app, method, "/users/1").await,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
    let text = metrics.render();
    assert!(text.contains(
        r#"_count{http_request_method="_OTHER",http_route="/users/{id}",http_response_status_code="405"} 3"#
    ));
    assert!(text.contains(r#"http_server_active_requests{http_request_method="_OTHER"} 0"#));
    assert!(!text.contains("PURGE") && !text.contains("BREW"));
}

#[tokio::test]
async fn active_gauge_returns_to_zero_at_body_end() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks(VecDeque::from(["a", "b"]))))
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(active(&metrics, Method::GET), 1);
    let mut body = pin!(response.into_body());
    assert!(body.frame().await.is_some());
    assert!(body.frame().await.is_some());
    assert_eq!(
        active(&metrics, Method::GET),
        1,
        "the body has not said it ended yet"
    );
    assert!(body.frame().await.is_none());
    assert_eq!(active(&metrics, Method::GET), 0);
    assert!(metrics.render().contains(r#"http_response_status_code="200"} 1"#));
}

#[tokio::test]
async fn body_ending_by_is_end_stream_ends_the_request_at_its_last_frame() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"all"))))
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let mut body = pin!(response.into_body());
    assert!(body.frame().await.is_some());
    assert_eq!(active(&metrics, Method::GET), 0);
    assert_eq!(duration_series(&metrics.render()), 1);
}

#[tokio::test]
async fn empty_body_ends_the_request_with_the_response() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(active(&metrics, Method::GET), 0);
    assert_eq!(duration_series(&metrics.render()), 1);
    drop(response);
    assert_eq!(duration_series(&metrics.render()), 1);
    assert!(metrics
        .render()
        .contains(r#"_count{http_request_method="GET",http_route="",http_response_status_code="200"} 1"#));
}

#[tokio::test]
async fn active_gauge_returns_to_zero_when_the_body_is_dropped_early() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .status(206)
                .body(Chunks(VecDeque::from(["a", "b"])))
                .unwrap(),
        )
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let mut body = Box::pin(response.into_body());
    assert!(body.frame().await.is_some());
    assert_eq!(active(&metrics, Method::GET), 1);
    drop(body);
    assert_eq!(active(&metrics, Method::GET), 0);
    assert!(metrics.render().contains(r#"http_response_status_code="206"} 1"#));
}

#[test]
fn active_gauge_returns_to_zero_when_the_future_is_dropped() {
    let metrics = Metrics::new();
    let mut service = metrics.layer().layer(service_fn(|_: Request<()>| {
        std::future::pending::<Result<Response<Empty<Bytes>>, Infallible>>()
    }));
    let mut future = Box::pin(service.call(Request::new(())));
    assert!(poll_once(future.as_mut()).is_pending());
    assert_eq!(active(&metrics, Method::GET), 1);
    drop(future);
    assert_eq!(active(&metrics, Method::GET), 0);
    assert!(metrics
        .render()
        .contains(r#"http_route="",http_response_status_code=""} 1"#));
}

#[tokio::test]
async fn service_errors_are_recorded_without_status() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
        Err::<Response<Empty<Bytes>>, _>("down")
    }));
    assert!(service.oneshot(Request::new(())).await.is_err());
    assert_eq!(active(&metrics, Method::GET), 0);
    assert!(metrics.render().contains(r#"http_response_status_code=""} 1"#));
}

#[test]
fn duration_runs_to_the_end_of_the_body() {
    let metrics = Metrics::new();
    let mut service = metrics.layer().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks(VecDeque::from(["a"]))))
    }));
    let Poll::Ready(Ok(response)) = poll_once(pin!(service.call(Request::new(())))) else {
        panic!("service_fn is ready at once");
    };
    let mut body = pin!(response.into_body());
    assert!(matches!(poll_once(pin!(body.frame())), Poll::Ready(Some(_))));
    std::thread::sleep(Duration::from_millis(30));
    assert!(matches!(poll_once(pin!(body.frame())), Poll::Ready(None)));
    let route = metrics.http().unmatched().series();
    assert_eq!(route.len(), 1);
    assert!(route[0].histogram.sum() >= 0.03, "{}", route[0].histogram.sum());
}

#[tokio::test]
async fn one_instance_serving_several_templates_keeps_them_apart() {
    let metrics = Metrics::new();
    let users = matched_path("/users/{id}", "/users/1").await;
    let orders = matched_path("/orders/{id}", "/orders/1").await;
    let service = metrics.layer().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    }));
    for matched in [&users, &orders, &orders, &users, &users] {
        let mut request = Request::new(());
        request.extensions_mut().insert(matched.clone());
        service.clone().oneshot(request).await.unwrap();
    }
    let text = metrics.render();
    assert!(
        text.contains(r#"http_route="/users/{id}",http_response_status_code="200"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"http_route="/orders/{id}",http_response_status_code="200"} 2"#));
}

#[tokio::test]
async fn concurrent_requests_are_counted_exactly() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                send(&app, Method::GET, "/health").await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(metrics
        .render()
        .contains(r#"http_route="/health",http_response_status_code="200"} 400"#));
    assert_eq!(active(&metrics, Method::GET), 0);
}

/// Not a benchmark: a loose bound that catches an accidental lock, allocation or O(n) on the
/// path (100k requests through the layer, around a service that does nothing).
#[test]
fn recording_is_cheap() {
    let metrics = Metrics::new();
    let mut service = metrics.layer().layer(service_fn(|_: Request<()>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
            b"x",
        )))))
    }));
    const REQUESTS: u32 = 100_000;
    let start = Instant::now();
    for _ in 0..REQUESTS {
        let Poll::Ready(Ok(response)) = poll_once(pin!(service.call(Request::new(())))) else {
            panic!("ready at once");
        };
        let mut body = pin!(response.into_body());
        assert!(matches!(poll_once(pin!(body.frame())), Poll::Ready(Some(_))));
    }
    let per_request = start.elapsed() / REQUESTS;
    println!("{per_request:?} per request");
    assert!(metrics.render().contains(&format!(
        "_count{{http_request_method=\"GET\",http_route=\"\",http_response_status_code=\"200\"}} {REQUESTS}"
    )));
    assert!(
        per_request < Duration::from_micros(50),
        "{per_request:?} per request"
    );
}

#[tokio::test]
async fn a_body_that_fails_while_streaming_counts_as_an_error() {
    let metrics = Metrics::new();
    let app = Router::new()
        .route("/stream", get(|| async { AxumBody::new(CutBody(false)) }))
        .layer(metrics.layer());
    let response = app
        .oneshot(Request::get("/stream").body(AxumBody::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the headers said 200");
    assert!(response.into_body().collect().await.is_err());
    let text = metrics.render();
    assert!(
        text.contains(r#"http_route="/stream",http_response_status_code="500"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains(r#"http_route="/stream",http_response_status_code="200"}"#),
        "{text}"
    );
}

/// One chunk, then an error: a body cut while streaming.
struct CutBody(bool);

impl Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Some(Err(std::io::Error::other("cut"))))
        } else {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"part")))))
        }
    }
}
