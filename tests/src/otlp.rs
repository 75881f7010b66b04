//! [`OtlpReceiver`]: an OTLP/HTTP receiver built on the official protocol definitions
//! (`tests/peers/otlp_receiver.py`, opentelemetry-proto), started on a loopback port and
//! stopped by its PID.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::peers::{python, workspace};

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpMode {
    /// `200 OK`, every request decoded and recorded.
    Normal,
    /// `503 Service Unavailable` to every request, nothing recorded.
    Unavailable,
    /// Accepts connections, never reads nor answers.
    Blackhole,
}

impl OtlpMode {
    fn arg(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Unavailable => "503",
            Self::Blackhole => "blackhole",
        }
    }
}

/// A running receiver; killed (by its PID) when dropped.
pub struct OtlpReceiver {
    child: Option<Child>,
    port: u16,
    output: PathBuf,
}

impl OtlpReceiver {
    /// Starts a receiver in `mode` and waits until it listens.
    pub fn start(mode: OtlpMode) -> Self {
        let output = std::env::temp_dir().join(format!("belfry-otlp-{}.jsonl", crate::unique("otlp")));
        let mut child = Command::new(python())
            .arg(workspace().join("tests/peers/otlp_receiver.py"))
            .arg(&output)
            .arg(mode.arg())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start otlp_receiver.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the receiver's port");
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|value| value["port"].as_u64())
            .unwrap_or_else(|| panic!("otlp_receiver.py printed no port: {line:?}"));
        Self {
            child: Some(child),
            port: u16::try_from(port).expect("a port"),
            output,
        }
    }

    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the receiver (its port is then closed: connections are refused).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every decoded request so far, as `{"signal": .., "request": ..}`.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.output)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Every span received so far, each with its resource's attributes as `resource`.
    pub fn spans(&self) -> Vec<Value> {
        self.items("traces", "resourceSpans", "scopeSpans", "spans")
    }

    /// Every log record received so far, each with its resource's attributes as `resource`.
    pub fn log_records(&self) -> Vec<Value> {
        self.items("logs", "resourceLogs", "scopeLogs", "logRecords")
    }

    /// Every metric received so far (one per export request that carried it), each with its
    /// resource's attributes as `resource`.
    pub fn metrics(&self) -> Vec<Value> {
        self.items("metrics", "resourceMetrics", "scopeMetrics", "metrics")
    }

    /// Waits up to `timeout` (polling every 50 ms) for a metric matching `predicate`; the
    /// latest export's, as the values are cumulative.
    pub fn wait_for_metric(&self, timeout: Duration, predicate: impl Fn(&Value) -> bool) -> Option<Value> {
        poll(timeout, || {
            self.metrics().into_iter().rev().find(|metric| predicate(metric))
        })
    }

    fn items(&self, signal: &str, resources: &str, scopes: &str, items: &str) -> Vec<Value> {
        let mut found = Vec::new();
        for request in self
            .requests()
            .into_iter()
            .filter(|request| request["signal"] == signal)
        {
            for resource in request["request"][resources].as_array().into_iter().flatten() {
                for scope in resource[scopes].as_array().into_iter().flatten() {
                    for item in scope[items].as_array().into_iter().flatten() {
                        let mut item = item.clone();
                        item["resource"] = resource["resource"]["attributes"].clone();
                        found.push(item);
                    }
                }
            }
        }
        found
    }

    /// Waits up to `timeout` (polling every 50 ms) for a span matching `predicate`.
    pub fn wait_for_span(&self, timeout: Duration, predicate: impl Fn(&Value) -> bool) -> Option<Value> {
        poll(timeout, || self.spans().into_iter().find(|span| predicate(span)))
    }

    /// Waits up to `timeout` (polling every 50 ms) for a log record matching `predicate`.
    pub fn wait_for_log(&self, timeout: Duration, predicate: impl Fn(&Value) -> bool) -> Option<Value> {
        poll(timeout, || {
            self.log_records().into_iter().find(|record| predicate(record))
        })
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.output);
    }
}

fn poll<T>(timeout: Duration, mut find: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = find() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The value of attribute `key` of an OTLP span, log record or resource (`attributes` as
/// decoded: `[{"key": .., "value": {"stringValue": ..}}]`), as JSON: a string, or a number for
/// `intValue` (which protobuf's JSON writes as a string).
pub fn attribute(attributes: &Value, key: &str) -> Option<Value> {
    let value = &attributes
        .as_array()?
        .iter()
        .find(|attribute| attribute["key"] == key)?["value"];
    if let Some(text) = value["stringValue"].as_str() {
        return Some(Value::from(text));
    }
    if let Some(number) = value["intValue"].as_str().and_then(|n| n.parse::<i64>().ok()) {
        return Some(Value::from(number));
    }
    value
        .get("doubleValue")
        .or_else(|| value.get("boolValue"))
        .or_else(|| value.get("intValue"))
        .cloned()
}
