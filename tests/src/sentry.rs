//! The real Sentry-compatible server (Bugsink) the tests send events to, started through
//! `scripts/sentry-server/up` and read back through `scripts/sentry-server/events`.

use std::{
    path::PathBuf,
    process::Command,
    sync::OnceLock,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

/// A running server: its DSN and where its state lives.
pub struct SentryServer {
    home: PathBuf,
    dsn: String,
}

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/sentry-server")
}

impl SentryServer {
    /// The server for this test process. `scripts/test.sh` starts one and names its home in
    /// `BELFRY_TEST_SENTRY_HOME` (and stops it afterwards); without that, one is started under
    /// `target/sentry-server` and left running for the next run (`scripts/sentry-server/down`
    /// with `SENTRY_SERVER_HOME=target/sentry-server` stops it).
    pub fn shared() -> &'static SentryServer {
        static SERVER: OnceLock<SentryServer> = OnceLock::new();
        SERVER.get_or_init(|| {
            let home = std::env::var_os("BELFRY_TEST_SENTRY_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sentry-server"));
            let output = Command::new("bash")
                .arg(scripts_dir().join("up"))
                .env("SENTRY_SERVER_HOME", &home)
                .output()
                .expect("run scripts/sentry-server/up");
            assert!(
                output.status.success(),
                "scripts/sentry-server/up failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            let dsn = stdout
                .lines()
                .find_map(|line| line.strip_prefix("SENTRY_DSN="))
                .expect("up prints SENTRY_DSN=...")
                .trim_matches('\'')
                .to_owned();
            SentryServer { home, dsn }
        })
    }

    /// The DSN to give the demo.
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// Every stored event, oldest first.
    pub fn events(&self) -> Vec<Value> {
        let output = Command::new("bash")
            .arg(scripts_dir().join("events"))
            .env("SENTRY_SERVER_HOME", &self.home)
            .output()
            .expect("run scripts/sentry-server/events");
        assert!(
            output.status.success(),
            "events failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("events prints JSON lines"))
            .collect()
    }

    /// The stored events tagged with `request_id`.
    pub fn events_for(&self, request_id: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|event| event["tags"]["request_id"] == request_id)
            .collect()
    }

    /// Waits up to `timeout` for at least one event tagged with `request_id`; returns them all.
    pub fn wait_for_events(&self, request_id: &str, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events_for(request_id);
            if !events.is_empty() || Instant::now() >= deadline {
                return events;
            }
            thread::sleep(Duration::from_millis(250));
        }
    }
}
