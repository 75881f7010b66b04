//! Drives log events in-process through one JSON-lines set-up, for callgrind:
//!
//! ```text
//! log_driver --scenario access-fmt-json|access|access-queued|handler|handler-spans|handler-spans-created --events N [--warmup N]
//! ```
//!
//! Everything runs on the main thread and writes to `io::sink`. The access scenarios open a
//! belfry request span with its `request_id` in each iteration, write the access log's
//! `request completed` event (its twelve fields, the span as explicit parent) and close the span,
//! as a request does:
//!
//! - `access-fmt-json`: through tracing-subscriber's own JSON formatter (`fmt().json()`, events
//!   flattened, current span included), the ecosystem's layer to compare against;
//! - `access`: through `belfry_log::JsonLines`, written on this thread;
//! - `access-queued`: the same through `belfry_log::NonBlocking` (what belfry installs): the
//!   write happens on the writer thread;
//! - `access-trace-ids`: `access-queued` with `trace_id` and `span_id` on the request span too,
//!   as the stack records them now.
//!
//! The handler scenarios write a handler's event with three fields in each iteration, inside one
//! request span opened before the loop:
//!
//! - `handler`: in the request span only;
//! - `handler-spans`: inside two user spans with three fields each, also opened before the loop
//!   (the difference with `handler` is what the spans add to each event);
//! - `handler-spans-created`: the two spans opened and closed in every iteration (what they cost
//!   in all, for one event each).
//!
//! `--callsite-limit N` gives belfry's layer a callsite limit of N lines a second
//! (`belfry_log::CallsiteLimit`; default 0, none): with a limit no callsite reaches, the cost of
//! the check when nothing floods.
//!
//! Run at N and 2N events and subtract: the difference divided by N is the cost of one
//! iteration, start-up and warm-up cancelled out (`scripts/bench-logs.sh` does that).

use std::{process::ExitCode, str::FromStr};

use belfry_request_id::REQUEST_SPAN_TARGET;
use tracing::{Dispatch, Level};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    AccessFmtJson,
    Access,
    AccessQueued,
    AccessTraceIds,
    Handler,
    HandlerSpans,
    HandlerSpansCreated,
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(match value {
            "access-fmt-json" => Self::AccessFmtJson,
            "access" => Self::Access,
            "access-queued" => Self::AccessQueued,
            "access-trace-ids" => Self::AccessTraceIds,
            "handler" => Self::Handler,
            "handler-spans" => Self::HandlerSpans,
            "handler-spans-created" => Self::HandlerSpansCreated,
            other => return Err(format!("unknown scenario `{other}`")),
        })
    }
}

/// The request span as belfry-request-id opened it before trace context: the id only.
fn request_span_id_only() -> tracing::Span {
    tracing::error_span!(
        target: REQUEST_SPAN_TARGET,
        "request",
        request_id = "0193a5b2-7c1e-7d3f-9a4b-5c6d7e8f9a0b",
    )
}

fn request_span() -> tracing::Span {
    tracing::error_span!(
        target: REQUEST_SPAN_TARGET,
        "request",
        request_id = "0193a5b2-7c1e-7d3f-9a4b-5c6d7e8f9a0b",
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id = "00f067aa0ba902b7",
    )
}

/// The access log's `request completed`, with the fields belfry-access-log writes.
fn access_event(request: &tracing::Span, n: u64) {
    tracing::event!(
        target: belfry::access_log::TARGET,
        parent: request,
        Level::INFO,
        http.request.method = "GET",
        http.route = "/users/{id}",
        url.path = "/users/42",
        http.response.status_code = 200u64,
        duration_ms = 0.125,
        user_agent.original = "wrk/4.2.0",
        client.address = "127.0.0.1",
        n,
        "request completed"
    );
}

fn handler_event(n: u64) {
    tracing::info!(target: "bench_app", user_id = n, cached = true, source = "db", "user looked up");
}

fn user_spans() -> (tracing::Span, tracing::Span) {
    let outer = tracing::info_span!("load_user", tenant_id = "acme", shard = 3u64, cache = "warm");
    let inner =
        outer.in_scope(|| tracing::info_span!("query", table = "users", attempt = 1u64, replica = true));
    (outer, inner)
}

fn run(scenario: Scenario, events: u64) {
    for n in 0..events {
        match scenario {
            Scenario::AccessFmtJson | Scenario::Access | Scenario::AccessQueued => {
                let request = request_span_id_only();
                let _request = request.enter();
                access_event(&request, n);
            }
            Scenario::AccessTraceIds => {
                let request = request_span();
                let _request = request.enter();
                access_event(&request, n);
            }
            Scenario::Handler | Scenario::HandlerSpans => handler_event(n),
            Scenario::HandlerSpansCreated => {
                let (outer, inner) = user_spans();
                let _entered = (outer.enter(), inner.enter());
                handler_event(n);
            }
        }
    }
}

fn main() -> ExitCode {
    let mut scenario = None;
    let mut events = 2000u64;
    let mut warmup = 300u64;
    let mut limit = 0u32;
    let mut print = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--print" {
            print = true;
            continue;
        }
        let value = args.next().unwrap_or_default();
        let parsed = match arg.as_str() {
            "--scenario" => value.parse().map(|s| scenario = Some(s)),
            "--events" => value.parse().map(|n| events = n).map_err(|e| format!("{e}")),
            "--warmup" => value.parse().map(|n| warmup = n).map_err(|e| format!("{e}")),
            "--callsite-limit" => value.parse().map(|n| limit = n).map_err(|e| format!("{e}")),
            other => Err(format!("unexpected argument `{other}`")),
        };
        if let Err(problem) = parsed {
            eprintln!("log_driver: {problem}");
            return ExitCode::from(2);
        }
    }
    let Some(scenario) = scenario else {
        eprintln!("log_driver: --scenario is required");
        return ExitCode::from(2);
    };
    let (queued, guard) = belfry_log::NonBlocking::new(std::io::sink);
    let dispatch = match scenario {
        Scenario::AccessFmtJson => Dispatch::new(
            tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::sink),
            ),
        ),
        Scenario::AccessQueued | Scenario::AccessTraceIds => Dispatch::new(
            tracing_subscriber::registry().with(
                belfry_log::JsonLines::new(queued)
                    .limit_callsites(belfry_log::CallsiteLimit::per_second(limit)),
            ),
        ),
        // `--print`: the lines on stdout, to see what is measured.
        _ if print => {
            Dispatch::new(tracing_subscriber::registry().with(belfry_log::JsonLines::new(std::io::stdout)))
        }
        _ => Dispatch::new(
            tracing_subscriber::registry().with(
                belfry_log::JsonLines::new(std::io::sink)
                    .limit_callsites(belfry_log::CallsiteLimit::per_second(limit)),
            ),
        ),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let handler = matches!(
            scenario,
            Scenario::Handler | Scenario::HandlerSpans | Scenario::HandlerSpansCreated
        );
        let request = handler.then(request_span);
        let _request = request.as_ref().map(tracing::Span::enter);
        let spans = (scenario == Scenario::HandlerSpans).then(user_spans);
        let _entered = spans
            .as_ref()
            .map(|(outer, inner)| (outer.enter(), inner.enter()));
        run(scenario, warmup);
        run(scenario, events);
    });
    drop(guard);
    println!("{scenario:?}: {events} events after {warmup} warm-up");
    ExitCode::SUCCESS
}
