//! Recording a request whose (method, route, status) was seen before allocates nothing, sampled
//! (with an exemplar) or not; nor does recording a known HTTP client label set.
//!
//! A counting global allocator counts the allocations made on this test's thread while requests
//! go through the real middleware: `HttpMetrics::call`, its response future, and the response
//! body to its end. Requests are built beforehand and the inner service allocates nothing, so
//! every allocation counted would be the middleware's.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    convert::Infallible,
    future::Future,
    pin::pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use axum::{body::Body as AxumBody, extract::MatchedPath, routing::get, Router};
use belfry_metrics::Metrics;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, Service, ServiceExt};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: thread-locals may be gone while a thread shuts down.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made on this thread by `f`.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    f();
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// A real `MatchedPath` (axum has no public constructor), captured from a router.
fn matched_path(template: &str, path: &str) -> MatchedPath {
    let captured = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&captured);
    let router: Router = Router::new().route(
        template,
        get(move |matched: MatchedPath| async move {
            *sink.lock().unwrap() = Some(matched);
        }),
    );
    let response = router.oneshot(Request::get(path).body(AxumBody::empty()).unwrap());
    assert!(poll_once(pin!(response)).is_ready());
    let matched = captured.lock().unwrap().take();
    matched.unwrap()
}

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_known_label_set_is_recorded_without_allocating() {
    const REQUESTS: usize = 1000;
    // The counter counts.
    assert_eq!(allocations_in(|| drop(std::hint::black_box(Box::new(1u8)))), 1);

    let metrics = Metrics::new();
    let mut service = metrics.layer().layer(service_fn(|_: Request<()>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
            b"ok",
        )))))
    }));
    let route = matched_path("/users/{id}", "/users/1");
    let build = |matched: Option<&MatchedPath>| {
        let mut request = Request::new(());
        if let Some(matched) = matched {
            request.extensions_mut().insert(matched.clone());
        }
        request
    };
    let mut record = |request: Request<()>| {
        let Poll::Ready(Ok(response)) = poll_once(pin!(service.call(request))) else {
            panic!("the inner service is ready at once");
        };
        let mut body = pin!(response.into_body());
        let Poll::Ready(Some(Ok(_))) = poll_once(pin!(body.frame())) else {
            panic!("one data frame");
        };
    };

    // First sight of each label set: creates its series (allowed to allocate).
    record(build(Some(&route)));
    record(build(None));

    let mut matched: Vec<_> = (0..REQUESTS).map(|_| build(Some(&route))).collect();
    let mut unmatched: Vec<_> = (0..REQUESTS).map(|_| build(None)).collect();
    let allocations = allocations_in(|| {
        while let Some(request) = matched.pop() {
            record(request);
        }
        while let Some(request) = unmatched.pop() {
            record(request);
        }
    });
    assert_eq!(allocations, 0);

    let text = metrics.render();
    let count = REQUESTS + 1;
    for route in ["/users/{id}", ""] {
        let labels =
            format!(r#"http_request_method="GET",http_route="{route}",http_response_status_code="200""#);
        assert!(
            text.contains(&format!("_count{{{labels}}} {count}\n")),
            "{route:?}"
        );
    }
}

#[test]
fn sampled_requests_record_their_exemplar_without_allocating() {
    const REQUESTS: usize = 1000;
    let metrics = Metrics::new();
    let mut service = metrics.layer().layer(service_fn(|_: Request<()>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
            b"ok",
        )))))
    }));
    let sampled = belfry_trace_context::TraceContext::new_root(true);
    let build = || Request::new(());
    let mut record = |request: Request<()>| {
        // As belfry's trace-context layer does: the context is current during the call.
        let call = sampled.in_scope(|| service.call(request));
        let Poll::Ready(Ok(response)) = poll_once(pin!(call)) else {
            panic!("the inner service is ready at once");
        };
        let mut body = pin!(response.into_body());
        let Poll::Ready(Some(Ok(_))) = poll_once(pin!(body.frame())) else {
            panic!("one data frame");
        };
    };
    // The first sampled request creates the series and its exemplar slots.
    record(build());
    let mut requests: Vec<_> = (0..REQUESTS).map(|_| build()).collect();
    let allocations = allocations_in(|| {
        while let Some(request) = requests.pop() {
            record(request);
        }
    });
    assert_eq!(allocations, 0);
    assert!(metrics
        .render()
        .contains(&format!(r#" # {{trace_id="{}"}} "#, sampled.trace_id())));
}

#[test]
fn a_known_client_label_set_is_recorded_without_allocating() {
    use http::{Method, StatusCode};
    use std::time::Duration;

    let metrics = Metrics::new();
    let client = metrics.http_client();
    let record = || {
        client.record(
            &Method::GET,
            "inventory",
            Some(StatusCode::OK),
            None,
            Duration::from_millis(3),
        );
        client.record(
            &Method::POST,
            "billing",
            None,
            Some("timeout"),
            Duration::from_secs(1),
        );
    };
    // First sight: the addresses, the error type and the series are created.
    record();
    let allocations = allocations_in(|| {
        for _ in 0..1000 {
            record();
        }
    });
    assert_eq!(allocations, 0);
    assert!(metrics.render().contains(
        r#"http_client_request_duration_seconds_count{http_request_method="GET",server_address="inventory",http_response_status_code="200",error_type=""} 1001"#
    ));
}
