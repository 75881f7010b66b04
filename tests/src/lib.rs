//! Harness for the end-to-end tests: starts the real `belfry-demo` binary on a loopback port,
//! collects its stdout line by line, and stops it by PID.

mod demo;
mod http;
mod sentry;
mod upstream;

pub use demo::{Demo, DemoBuilder, LogLines};
pub use http::{get, raw_request, HttpResponse};
pub use upstream::{closed_port, Behaviour, Upstream};
pub use sentry::SentryServer;
