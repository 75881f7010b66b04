//! Drives `N` requests through `TraceContextLayer` around a trivial service, without a runtime,
//! for counting instructions with callgrind:
//!
//! ```text
//! cargo build --release -p belfry-trace-context --example instructions
//! valgrind --tool=callgrind target/release/examples/instructions layer none 0
//! valgrind --tool=callgrind target/release/examples/instructions layer none 10000
//! ```
//!
//! The difference between the two totals, divided by 10 000, is the cost of one request; `bare`
//! runs the same service without the layer. The second argument is the incoming trace headers:
//! `none`, `traceparent`, or `all` (traceparent, tracestate, baggage). Every request also has
//! `host`, `user-agent` and `accept`, and one extension already, as hyper's requests do.

use std::{
    convert::Infallible,
    future::{ready, Future, Ready},
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
};

use belfry_trace_context::{TraceContext, TraceContextLayer};
use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

#[derive(Clone)]
struct Handler;

impl Service<Request<()>> for Handler {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        black_box(&request);
        ready(Ok(Response::new(())))
    }
}

/// Stands for the extension hyper puts in each HTTP/1 request.
#[derive(Clone)]
struct AlreadyThere;

fn run<S>(mut service: S, requests: usize, headers: &[(&'static str, &'static str)])
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..requests {
        let mut request = Request::new(());
        request.extensions_mut().insert(AlreadyThere);
        for (name, value) in [
            ("host", "example.com"),
            ("user-agent", "bench/1"),
            ("accept", "*/*"),
        ] {
            request
                .headers_mut()
                .append(name, HeaderValue::from_static(value));
        }
        for (name, value) in headers {
            request
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        let _ = service.poll_ready(&mut cx);
        let future = pin!(service.call(request));
        match future.poll(&mut cx) {
            Poll::Ready(response) => drop(black_box(response)),
            Poll::Pending => unreachable!(),
        }
    }
    black_box(TraceContext::current());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let service = args.next().unwrap_or_else(|| "layer".into());
    let incoming = args.next().unwrap_or_else(|| "none".into());
    let requests: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let traceparent = (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    let all = [
        traceparent,
        ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        (
            "baggage",
            "sentry-trace_id=4bf92f3577b34da6a3ce929d0e0e4736,sentry-sample_rate=1,userId=alice",
        ),
    ];
    let headers: &[_] = match incoming.as_str() {
        "none" => &[],
        "traceparent" => &[traceparent],
        "all" => &all,
        other => panic!("unknown incoming headers {other}"),
    };
    match service.as_str() {
        "bare" => run(Handler, requests, headers),
        "layer" => run(TraceContextLayer::new().layer(Handler), requests, headers),
        other => panic!("unknown service {other}"),
    }
}
