//! The official Python SDKs (opentelemetry-sdk, sentry-sdk) as upstream callers of the demo:
//! the scripts in `tests/peers/`, run with the venv that `scripts/python-peers.sh` installs.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::Value;

/// The workspace root (this crate lives in `tests/`).
pub(crate) fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
}

/// The venv's python, installed once per test process by `scripts/python-peers.sh`.
pub(crate) fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("bash")
            .arg(workspace().join("scripts/python-peers.sh"))
            .output()
            .expect("run scripts/python-peers.sh");
        assert!(
            output.status.success(),
            "scripts/python-peers.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8(output.stdout).expect("a UTF-8 path").trim())
    })
}

/// Runs `tests/peers/<script>` with `args` and parses the one JSON object it prints.
fn run(script: &str, args: &[&str]) -> Value {
    let output = Command::new(python())
        .arg(workspace().join("tests/peers").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("run {script}: {error}"));
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{script} printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// GET `url` from inside a span of the OpenTelemetry SDK, its context injected by the SDK's W3C
/// propagator (with `trace_state` as `tracestate`, when given). Returns `trace_id`, `span_id`,
/// `sent` (the headers), `status`, `headers` and `body`.
pub fn otel_get(url: &str, trace_state: Option<&str>) -> Value {
    match trace_state {
        Some(state) => run("otel_client.py", &[url, state]),
        None => run("otel_client.py", &[url]),
    }
}

/// GET `url` from inside a transaction of the Sentry SDK, with its `sentry-trace` and `baggage`
/// headers. Returns `trace_id`, `sent`, `status` and `body`.
pub fn sentry_get(url: &str) -> Value {
    run("sentry_client.py", &[url])
}
