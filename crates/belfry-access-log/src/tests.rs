//! The access log driven with `oneshot`: how each kind of ending is told.

use std::{
    convert::Infallible,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use tower::{service_fn, Layer, ServiceExt};

use crate::{record::tests::capture_events, AccessLogLayer, BodyError, ConnectionStatus};

type Frames =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, BodyError>>>>;

fn frames(items: Vec<Result<&'static str, BodyError>>) -> Frames {
    let items: Vec<_> = items
        .into_iter()
        .map(|item| item.map(|text| http_body::Frame::data(Bytes::from_static(text.as_bytes()))))
        .collect();
    StreamBody::new(futures_util::stream::iter(items))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn completed(events: &[String]) -> &String {
    let lines: Vec<_> = events
        .iter()
        .filter(|event| event.starts_with("request completed "))
        .collect();
    assert_eq!(lines.len(), 1, "one line per request: {events:?}");
    lines[0]
}

#[test]
fn head_204_and_304_are_complete_with_their_headers() {
    for (method, status) in [
        ("HEAD", StatusCode::OK),
        ("GET", StatusCode::NO_CONTENT),
        ("GET", StatusCode::NOT_MODIFIED),
        ("GET", StatusCode::SWITCHING_PROTOCOLS),
    ] {
        let (events, ()) = capture_events(|| {
            let service = AccessLogLayer::new().layer(service_fn(move |_: Request<()>| async move {
                let mut response = Response::new(Full::new(Bytes::from_static(b"never sent")));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }));
            let request = Request::builder().method(method).uri("/x").body(()).unwrap();
            let response = runtime().block_on(service.oneshot(request)).unwrap();
            drop(response); // as hyper does: the body is never polled
        });
        let line = completed(&events);
        assert!(!line.contains("client.disconnected"), "{method} {status}: {line}");
        assert!(!line.contains("error.type"), "{method} {status}: {line}");
        assert!(
            line.contains(&format!("http.response.status_code={}", status.as_u16())),
            "{line}"
        );
        assert!(line.contains("http.response.body.size=0"), "{line}");
    }
}

#[test]
fn a_streamed_body_is_counted_to_its_end() {
    let (events, body) = capture_events(|| {
        let service = AccessLogLayer::new().layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(frames(vec![Ok("hello "), Ok("world")])))
        }));
        runtime().block_on(async {
            let response = service.oneshot(Request::new(())).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        })
    });
    assert_eq!(body, "hello world");
    let line = completed(&events);
    assert!(line.contains("http.response.body.size=11"), "{line}");
    assert!(line.contains("level=INFO"), "{line}");
    assert!(!line.contains("error.type"), "{line}");
}

#[test]
fn a_body_that_panicked_is_told_as_a_panic_with_what_was_sent() {
    let (events, outcome) = capture_events(|| {
        let service = AccessLogLayer::new().layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(frames(vec![
                Ok("part"),
                Err(BodyError::panicked()),
            ])))
        }));
        runtime().block_on(async {
            let response = service.oneshot(Request::new(())).await.unwrap();
            response.into_body().collect().await.map(|_| ())
        })
    });
    assert!(outcome.is_err());
    let line = completed(&events);
    assert!(line.contains("error.type=\"panic\""), "{line}");
    assert!(
        line.contains("http.response.status_code=200"),
        "the status that was sent: {line}"
    );
    assert!(line.contains("http.response.body.size=4"), "{line}");
    assert!(line.contains("level=ERROR"), "{line}");
}

#[test]
fn a_dropped_body_is_cancelled_and_disconnected_only_when_the_server_says_so() {
    for closed in [None, Some(false), Some(true)] {
        let (events, ()) = capture_events(|| {
            let service = AccessLogLayer::new().layer(service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(frames(vec![Ok("a"), Ok("b")])))
            }));
            let mut request = Request::new(());
            let status = ConnectionStatus::new();
            if let Some(closed) = closed {
                request.extensions_mut().insert(status.clone());
                if closed {
                    status.mark_closed();
                }
            }
            let response = runtime().block_on(service.oneshot(request)).unwrap();
            drop(response);
        });
        let line = completed(&events);
        assert!(line.contains("error.type=\"cancelled\""), "{closed:?}: {line}");
        assert_eq!(
            line.contains("client.disconnected=true"),
            closed == Some(true),
            "{closed:?}: {line}"
        );
        let warned = events.iter().any(|event| event.contains("wrap_with"));
        assert_eq!(
            warned,
            closed == Some(false),
            "the outer-layer warning, {closed:?}: {events:?}"
        );
    }
}

#[test]
fn a_dropped_future_is_cancelled_not_disconnected() {
    let (events, ()) = capture_events(|| {
        let service = AccessLogLayer::new().layer(service_fn(|_: Request<()>| {
            std::future::pending::<Result<Response<Empty<Bytes>>, Infallible>>()
        }));
        let runtime = runtime();
        let outcome = runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(5), service.oneshot(Request::new(()))).await
        });
        assert!(outcome.is_err(), "timed out");
    });
    let line = completed(&events);
    assert!(line.contains("error.type=\"cancelled\""), "{line}");
    assert!(!line.contains("client.disconnected"), "{line}");
    assert!(!line.contains("http.response.status_code"), "{line}");
}

#[test]
fn a_handler_blocking_its_thread_is_reported_while_it_blocks() {
    let (events, ()) = capture_events(|| {
        let layer = AccessLogLayer::new().hung_threshold(Some(Duration::from_millis(40)));
        let service = layer.layer(service_fn(|_: Request<()>| async {
            // Blocks the only thread of the runtime: the request's task is never polled again
            // before it returns.
            std::thread::sleep(Duration::from_millis(400));
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        }));
        let started = Instant::now();
        runtime().block_on(service.oneshot(Request::new(()))).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(400));
    });
    let mine: Vec<_> = events
        .iter()
        .filter(|event| {
            event.starts_with("request still running ") || event.starts_with("request completed ")
        })
        .collect();
    assert_eq!(mine.len(), 2, "{events:?}");
    assert!(
        mine[0].starts_with("request still running "),
        "reported before the end: {events:?}"
    );
    assert!(mine[0].contains("level=WARN"), "{events:?}");
    assert!(mine[1].starts_with("request completed "), "{events:?}");
}

#[test]
fn a_handed_over_span_is_entered_in_call_unless_told_not_to_and_always_in_polls() {
    use std::sync::{Arc, Mutex};

    fn current_span() -> Option<&'static str> {
        tracing::Span::current()
            .metadata()
            .map(|metadata| metadata.name())
    }
    for enter_in_call in [true, false] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (events, ()) = capture_events(|| {
            let inner = tower::service_fn({
                let seen = seen.clone();
                move |_: Request<()>| {
                    seen.lock().unwrap().push(("call", current_span()));
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(("poll", current_span()));
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                }
            });
            let service = belfry_request_id::RequestIdLayer::new()
                .hand_over_span(true)
                .layer(
                    AccessLogLayer::new()
                        .enter_span_in_call(enter_in_call)
                        .layer(inner),
                );
            let response = runtime()
                .block_on(service.oneshot(Request::get("/x").body(()).unwrap()))
                .unwrap();
            runtime().block_on(response.into_body().collect()).unwrap();
        });
        completed(&events);
        let in_call = enter_in_call.then_some("request");
        assert_eq!(
            *seen.lock().unwrap(),
            [("call", in_call), ("poll", Some("request"))],
            "enter_span_in_call({enter_in_call})"
        );
    }
}

#[test]
fn a_logged_body_at_its_end_is_not_polled_again() {
    use std::{
        pin::Pin,
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        task::{Context, Poll},
    };

    /// One data frame, then the end; counts its polls.
    struct OneFrame {
        sent: bool,
        polls: Arc<AtomicUsize>,
    }

    impl http_body::Body for OneFrame {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if std::mem::replace(&mut self.sent, true) {
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"x")))))
        }

        fn is_end_stream(&self) -> bool {
            self.sent
        }
    }

    let polls = Arc::new(AtomicUsize::new(0));
    let (events, ()) = capture_events(|| {
        let polls = polls.clone();
        let service = AccessLogLayer::new().layer(service_fn(move |_: Request<()>| {
            let body = OneFrame {
                sent: false,
                polls: polls.clone(),
            };
            async move { Ok::<_, Infallible>(Response::new(body)) }
        }));
        let response = runtime()
            .block_on(service.oneshot(Request::get("/x").body(()).unwrap()))
            .unwrap();
        let collected = runtime().block_on(response.into_body().collect()).unwrap();
        assert_eq!(collected.to_bytes(), "x");
    });
    assert!(
        completed(&events).contains("http.response.body.size=1"),
        "{events:?}"
    );
    assert_eq!(
        polls.load(Ordering::Relaxed),
        1,
        "the end answered without a poll"
    );
}
