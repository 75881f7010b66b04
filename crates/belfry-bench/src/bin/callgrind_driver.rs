//! Drives requests in-process through one variant, for callgrind:
//!
//! ```text
//! callgrind_driver --variant belfry --requests 2000 [--warmup 300] [--no-sentry] [--traceparent VALUE]
//!                  [--routes K] [--route-traffic all|first] [--span-fields F]
//! ```
//!
//! `--no-sentry` leaves Sentry off in the variants that have it (to see what it costs);
//! `--traceparent` sends that header with every request (a caller's trace to continue).
//! `--routes K` (default 1) gives the router K routes (`/users/{id}` and K-1 of distinct
//! templates `/r{i}/items/{id}`) and sends request `i` to route `i % K` (with `--route-traffic
//! first`, every request to `/users/{id}`: what the other routes cost by being there); `--span-fields F`
//! (default: no span) runs the handler inside a user span with F fields that logs one event
//! (see `belfry_bench::Shape`). `scripts/bench-scaling.sh` uses both.
//!
//! Builds the stack once (with `with_state(())`, as `axum::serve` does: each route built once, not
//! per request), sends `--warmup` requests, then `--requests` more, each through a clone of the
//! `Router` with `tower::ServiceExt::oneshot` on a current-thread runtime, reading each
//! body to the end. Logs go to `io::sink`. Running it at N and 2N requests and subtracting the
//! instruction counts gives the cost of one request, without start-up and warm-up.

use std::process::ExitCode;

use belfry_bench::{app_shaped, current_thread_runtime, drive_routes, init, Args, Shape};

fn main() -> ExitCode {
    const USAGE: &str =
        "callgrind_driver --variant bare|towerhttp|sentrytower|belfry-nosentry|belfry|otel|sentry-hub|sentry-hub-transactions --requests N [--warmup N] [--no-sentry] [--traceparent VALUE] [--routes K] [--route-traffic all|first] [--span-fields F]";
    let args = match Args::parse(
        "callgrind_driver",
        USAGE,
        &[
            "--requests",
            "--warmup",
            "--traceparent",
            "--routes",
            "--route-traffic",
            "--span-fields",
        ],
    ) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let (variant, sentry) = (args.variant, args.sentry);
    let counts = args
        .option("--requests", 2000_u64)
        .and_then(|requests| Ok((requests, args.option("--warmup", 300_u64)?)));
    let (requests, warmup) = match counts {
        Ok(counts) => counts,
        Err(problem) => {
            eprintln!("callgrind_driver: {problem}");
            return ExitCode::from(2);
        }
    };

    let shape = match Shape::from_args(&args) {
        Ok(shape) => shape,
        Err(problem) => {
            eprintln!("callgrind_driver: {problem}");
            return ExitCode::from(2);
        }
    };

    // The routes requests go to: all of them in turn, or the first only.
    let hit_routes = match args.option("--route-traffic", String::from("all")).as_deref() {
        Ok("all") => shape.routes,
        Ok("first") => 1,
        Ok(other) => {
            eprintln!("callgrind_driver: --route-traffic `{other}`: expected all or first");
            return ExitCode::from(2);
        }
        Err(problem) => {
            eprintln!("callgrind_driver: {problem}");
            return ExitCode::from(2);
        }
    };

    let headers = match args.option("--traceparent", String::new()) {
        Ok(value) if value.is_empty() => Vec::new(),
        Ok(value) => match http::HeaderValue::from_str(&value) {
            Ok(value) => vec![(http::HeaderName::from_static("traceparent"), value)],
            Err(_) => {
                eprintln!("callgrind_driver: --traceparent `{value}` is not a header value");
                return ExitCode::from(2);
            }
        },
        Err(problem) => {
            eprintln!("callgrind_driver: {problem}");
            return ExitCode::from(2);
        }
    };

    let guard = init(variant, std::io::sink, sentry);
    // As `axum::serve` serves it (`into_make_service` calls `with_state(())`): every route
    // built once, not its handler turned into a route and every layer applied per request.
    let app = app_shaped(variant, shape).with_state(());
    let runtime = current_thread_runtime();
    let bytes = runtime.block_on(async {
        drive_routes(&app, warmup, &headers, hit_routes).await;
        drive_routes(&app, requests, &headers, hit_routes).await
    });
    println!(
        "{variant}: {requests} requests after {warmup} warm-up, {bytes} body bytes, sentry {}, otlp {}, {} routes ({hit_routes} hit), span fields {:?}",
        guard.sentry_dsn().filter(|_| guard.sentry_enabled()).unwrap_or_else(|| "off".to_owned()),
        guard.otlp_endpoint().unwrap_or_else(|| "off".to_owned()),
        shape.routes,
        shape.span_fields,
    );
    drop(guard);
    ExitCode::SUCCESS
}
