//! Serves one variant on a loopback address, for `wrk`:
//!
//! ```text
//! bench_server --variant belfry --addr 127.0.0.1:8080 [--no-sentry] [--routes K] [--span-fields F]
//! ```
//!
//! `--routes K` and `--span-fields F` shape the app as in `callgrind_driver` (K routes, a user
//! span with F fields around the handler; see `belfry_bench::Shape`); by default, the one route
//! and no span.
//!
//! A tokio runtime with one worker thread (the accept loop and every connection run on it);
//! logs go to stdout (`scripts/bench.sh` sends them to /dev/null). Prints `listening on ADDR`
//! on stderr once it accepts connections; runs until killed.

use std::{net::SocketAddr, process::ExitCode};

use belfry_bench::{app_shaped, init, Args, Shape};

fn main() -> ExitCode {
    const USAGE: &str =
        "bench_server --variant bare|towerhttp|sentrytower|belfry-nosentry|belfry|otel --addr IP:PORT [--no-sentry] [--routes K] [--span-fields F]";
    let args = match Args::parse("bench_server", USAGE, &["--addr", "--routes", "--span-fields"]) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let (variant, sentry) = (args.variant, args.sentry);
    let shaped = args
        .option("--addr", SocketAddr::from(([127, 0, 0, 1], 8080)))
        .and_then(|addr| Ok((addr, Shape::from_args(&args)?)));
    let (addr, shape) = match shaped {
        Ok(shaped) => shaped,
        Err(problem) => {
            eprintln!("bench_server: {problem}");
            return ExitCode::from(2);
        }
    };
    if !addr.ip().is_loopback() {
        eprintln!("bench_server: {addr} is not a loopback address");
        return ExitCode::from(2);
    }

    let guard = init(variant, std::io::stdout, sentry);
    eprintln!(
        "bench_server: sentry {}, otlp {}",
        guard
            .sentry_dsn()
            .filter(|_| guard.sentry_enabled())
            .unwrap_or_else(|| "off".to_owned()),
        guard.otlp_endpoint().unwrap_or_else(|| "off".to_owned())
    );
    let app = app_shaped(variant, shape).into_make_service_with_connect_info::<SocketAddr>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("bench_server: {variant} listening on {}", listener.local_addr()?);
        // Spawned, so the accept loop runs on the worker thread too, not on `main`'s.
        tokio::spawn(async move { axum::serve(listener, app).await })
            .await
            .map_err(std::io::Error::other)?
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_server: {error}");
            ExitCode::FAILURE
        }
    }
}
