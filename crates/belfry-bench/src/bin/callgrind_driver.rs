//! Drives requests in-process through one variant, for callgrind:
//!
//! ```text
//! callgrind_driver --variant belfry --requests 2000 [--warmup 300] [--no-sentry] [--traceparent VALUE]
//! ```
//!
//! `--no-sentry` leaves Sentry off in the variants that have it (to see what it costs);
//! `--traceparent` sends that header with every request (a caller's trace to continue).
//!
//! Builds the stack once (with `with_state(())`, as `axum::serve` does: each route built once, not
//! per request), sends `--warmup` requests, then `--requests` more, each through a clone of the
//! `Router` with `tower::ServiceExt::oneshot` on a current-thread runtime, reading each
//! body to the end. Logs go to `io::sink`. Running it at N and 2N requests and subtracting the
//! instruction counts gives the cost of one request, without start-up and warm-up.

use std::process::ExitCode;

use belfry_bench::{app, current_thread_runtime, drive_with_headers, init, Args};

fn main() -> ExitCode {
    const USAGE: &str =
        "callgrind_driver --variant bare|towerhttp|sentrytower|belfry|otel --requests N [--warmup N] [--no-sentry] [--traceparent VALUE]";
    let args = match Args::parse(
        "callgrind_driver",
        USAGE,
        &["--requests", "--warmup", "--traceparent"],
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
    let app = app(variant).with_state(());
    let runtime = current_thread_runtime();
    let bytes = runtime.block_on(async {
        drive_with_headers(&app, warmup, &headers).await;
        drive_with_headers(&app, requests, &headers).await
    });
    println!(
        "{variant}: {requests} requests after {warmup} warm-up, {bytes} body bytes, sentry {}, otlp {}",
        if guard.sentry_enabled() { "on" } else { "off" },
        guard.otlp_endpoint().unwrap_or_else(|| "off".to_owned())
    );
    drop(guard);
    ExitCode::SUCCESS
}
