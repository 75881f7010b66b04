//! Harness for the end-to-end tests: starts the real `belfry-demo` binary on a loopback port,
//! collects its stdout line by line, and stops it by PID.

mod demo;
mod fake_sentry;
mod http;
mod ids;
mod load;
mod otlp;
mod peers;
mod prometheus;
mod promtool;
mod sentry;
mod stdout_gate;
mod upstream;

pub use demo::{Demo, DemoBuilder, LogLines};
pub use fake_sentry::{FakeSentry, SentryAnswer};
pub use http::{get, post_json, raw_request, HttpResponse};
pub use ids::unique;
pub use load::{latency_summary, percentile, vm_rss_kib, KeepAlive, LoadError};
pub use otlp::{attribute, OtlpMode, OtlpReceiver};
pub use peers::{otel_get, sentry_get};
pub use prometheus::Prometheus;
pub use promtool::{promtool, PROMTOOL_INSTALL_HINT};
pub use sentry::SentryServer;
pub use stdout_gate::StdoutGate;
pub use upstream::{closed_port, Behaviour, RecordedHeaders, Upstream};
