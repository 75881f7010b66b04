//! [`Demo`]: one running demo process.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, OnceLock},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::StdoutGate;

/// How long to wait for the demo to print its `listening` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a [`StdoutGate`] holds the reading back.
const GATE_LIMIT: Duration = Duration::from_secs(60);

/// Builds the demo binary once per test process, and returns its path.
fn demo_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "belfry-demo"])
            .status()
            .expect("run cargo build -p belfry-demo");
        assert!(status.success(), "cargo build -p belfry-demo failed");
        // target/debug/deps/<test binary> -> target/debug/belfry-demo
        let mut path = std::env::current_exe().expect("test binary path");
        path.pop();
        if path.ends_with("deps") {
            path.pop();
        }
        path.push(format!("belfry-demo{}", std::env::consts::EXE_SUFFIX));
        assert!(path.exists(), "{} was not built", path.display());
        path
    })
}

/// Stdout of a demo process, line by line, shared with the thread that reads it.
#[derive(Clone, Default)]
pub struct LogLines {
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl LogLines {
    fn push(&self, line: String) {
        let (lines, changed) = &*self.lines;
        lines.lock().unwrap().push(line);
        changed.notify_all();
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    /// Every line so far, parsed as JSON. Panics on a line that is not one JSON object.
    pub fn json(&self) -> Vec<Value> {
        self.all()
            .iter()
            .map(|line| {
                let value: Value =
                    serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
                assert!(value.is_object(), "not a JSON object: {line}");
                value
            })
            .collect()
    }

    /// Waits up to `timeout` for a JSON line matching `predicate`, and returns it.
    pub fn wait_for(&self, timeout: Duration, predicate: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let (lines, changed) = &*self.lines;
        let mut guard = lines.lock().unwrap();
        let mut seen = 0;
        loop {
            for line in &guard[seen..] {
                if let Ok(value) = serde_json::from_str::<Value>(line) {
                    if predicate(&value) {
                        return Some(value);
                    }
                }
            }
            seen = guard.len();
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    /// Waits for the JSON line with `message` whose `request_id` is `request_id`.
    pub fn wait_for_request(&self, request_id: &str, message: &str, timeout: Duration) -> Option<Value> {
        self.wait_for(timeout, |line| {
            line["request_id"] == request_id && line["message"] == message
        })
    }
}

/// Configures a demo process before it starts.
pub struct DemoBuilder {
    env: Vec<(String, String)>,
    gate: StdoutGate,
}

impl DemoBuilder {
    /// Sets an environment variable for the demo.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Reads the demo's stdout only while `gate` is open (it starts open).
    pub fn stdout_gate(mut self, gate: &StdoutGate) -> Self {
        self.gate = gate.clone();
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(demo_binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs a demo that is expected to stop by itself (a startup error), waiting up to
    /// `timeout`; returns its exit status (`None`: still running, then killed by its PID), its
    /// stdout and its stderr.
    pub fn run_to_exit(self, timeout: Duration) -> (Option<ExitStatus>, String, String) {
        let mut child = self
            .command()
            .stderr(Stdio::piped())
            .spawn()
            .expect("start belfry-demo");
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let read = |stream: Option<&mut dyn std::io::Read>| {
            let mut text = String::new();
            if let Some(stream) = stream {
                let _ = stream.read_to_string(&mut text);
            }
            text
        };
        let stdout = read(child.stdout.as_mut().map(|s| s as &mut dyn std::io::Read));
        let stderr = read(child.stderr.as_mut().map(|s| s as &mut dyn std::io::Read));
        (status, stdout, stderr)
    }

    /// Starts the demo on a free loopback port and waits until it listens.
    pub fn start(self) -> Demo {
        let mut child = self.command().spawn().expect("start belfry-demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let logs = LogLines::default();
        let reader_logs = logs.clone();
        let gate = self.gate.clone();
        let reader = thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                gate.wait_open(GATE_LIMIT);
                match lines.next() {
                    Some(Ok(line)) => reader_logs.push(line),
                    Some(Err(_)) | None => break,
                }
            }
        });
        let mut demo = Demo {
            child,
            logs,
            reader: Some(reader),
            address: String::new(),
        };
        let listening = demo
            .logs
            .wait_for(START_TIMEOUT, |line| line["message"] == "listening");
        let Some(listening) = listening else {
            let _ = demo.child.kill();
            panic!("the demo did not start; stdout: {:?}", demo.logs.all());
        };
        demo.address = listening["address"].as_str().expect("address field").to_owned();
        demo
    }
}

/// A running `belfry-demo` process, killed (by its PID) when dropped.
pub struct Demo {
    child: Child,
    logs: LogLines,
    reader: Option<thread::JoinHandle<()>>,
    address: String,
}

impl Demo {
    /// A demo with the test defaults: JSON logs, `RUST_LOG=info`, a free loopback port.
    pub fn builder() -> DemoBuilder {
        DemoBuilder {
            env: Vec::new(),
            gate: StdoutGate::default(),
        }
    }

    /// Starts a demo with the test defaults.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The demo's stdout.
    pub fn logs(&self) -> &LogLines {
        &self.logs
    }

    /// The PID of the demo process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to the demo.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a PID this process started and has not reaped yet.
        let result = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(result, 0, "kill -TERM {pid}");
    }

    /// Waits up to `timeout` for the demo to exit; returns its status, or `None` if it is still
    /// running. Stdout is fully read once it has exited.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
