//! Running Prometheus' `promtool`, which the metrics, alert-rule and dashboard tests need.

use std::{
    io::{Read, Write},
    path::Path,
    process::{Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

/// What to do when promtool is missing: the tests fail rather than pass silently.
pub const PROMTOOL_INSTALL_HINT: &str =
    "promtool not found on PATH: run `bash scripts/install-test-tools.sh` \
                                         (Debian: apt-get install prometheus)";

/// promtool never needs this long; past it the test fails instead of hanging.
const PROMTOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `promtool args…` in the workspace root, feeding it `stdin` (if any); returns its status
/// and its stdout and stderr together. Fails the test, saying how to install it, when promtool
/// is missing.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> (ExitStatus, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| match error.kind() {
            std::io::ErrorKind::NotFound => panic!("{PROMTOOL_INSTALL_HINT}"),
            _ => panic!("cannot run promtool ({error}); {PROMTOOL_INSTALL_HINT}"),
        });
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let input = input.to_owned();
        thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        })
    });
    let readers = [
        child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    });
    let deadline = Instant::now() + PROMTOOL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for promtool") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("promtool {args:?} did not finish within {PROMTOOL_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    if let Some(writer) = writer {
        writer.join().expect("stdin writer");
    }
    let output = readers
        .map(|reader| reader.join().expect("output reader"))
        .concat();
    (status, output)
}
