//! Drives requests in-process through one variant, for callgrind:
//!
//! ```text
//! callgrind_driver --variant belfry --requests 2000 [--warmup 300] [--no-sentry]
//! ```
//!
//! `--no-sentry` leaves Sentry off in the variants that have it (to see what it costs).
//!
//! Builds the stack once, sends `--warmup` requests, then `--requests` more, each through a clone
//! of the `Router` with `tower::ServiceExt::oneshot` on a current-thread runtime, reading each
//! body to the end. Logs go to `io::sink`. Running it at N and 2N requests and subtracting the
//! instruction counts gives the cost of one request, without start-up and warm-up.

use std::process::ExitCode;

use belfry_bench::{app, current_thread_runtime, drive, init, Variant};

fn main() -> ExitCode {
    let mut variant = None;
    let mut requests = 2000_u64;
    let mut warmup = 300_u64;
    let mut sentry = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--no-sentry" {
            sentry = false;
            continue;
        }
        let value = args.next();
        let parsed = match (arg.as_str(), value) {
            ("--variant", Some(value)) => value.parse().map(|v: Variant| variant = Some(v)),
            ("--requests", Some(value)) => value.parse().map(|n| requests = n).map_err(|e| format!("{e}")),
            ("--warmup", Some(value)) => value.parse().map(|n| warmup = n).map_err(|e| format!("{e}")),
            (other, _) => Err(format!("unexpected argument `{other}`")),
        };
        if let Err(problem) = parsed {
            eprintln!("callgrind_driver: {problem}");
            eprintln!("usage: callgrind_driver --variant bare|towerhttp|sentrytower|belfry --requests N [--warmup N] [--no-sentry]");
            return ExitCode::from(2);
        }
    }
    let Some(variant) = variant else {
        eprintln!("callgrind_driver: --variant is required");
        return ExitCode::from(2);
    };

    let guard = init(variant, std::io::sink, sentry);
    let app = app(variant);
    let runtime = current_thread_runtime();
    let bytes = runtime.block_on(async {
        drive(&app, warmup).await;
        drive(&app, requests).await
    });
    println!(
        "{variant}: {requests} requests after {warmup} warm-up, {bytes} body bytes, sentry {}",
        if guard.sentry_enabled() { "on" } else { "off" }
    );
    drop(guard);
    ExitCode::SUCCESS
}
