//! [`Prometheus`]: a real Prometheus server (Debian's `prometheus`) on loopback, scraping one
//! target every second with exemplar storage on, stopped (by its PID) when dropped.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{get, unique};

/// How long Prometheus may take to answer its readiness endpoint.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Prometheus server.
pub struct Prometheus {
    child: Child,
    address: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `http://{target}/metrics` every second, with
    /// `--enable-feature=exemplar-storage`. Fails the test when `prometheus` is missing.
    pub fn scraping(target: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/prometheus-test")
            .join(unique("run"));
        std::fs::create_dir_all(&dir).expect("create the Prometheus directory");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        // A free loopback port: bound, read, released for Prometheus.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .arg("--enable-feature=exemplar-storage")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log file"))
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start prometheus ({error}): run `bash scripts/install-test-tools.sh`")
            });
        let prometheus = Self { child, address, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        // `get` fails the test on a refused connection: wait for the port first.
        while std::net::TcpStream::connect(&prometheus.address).is_err()
            || get(&prometheus.url("/-/ready"), &[]).status != 200
        {
            assert!(
                Instant::now() < deadline,
                "prometheus did not get ready; see {}",
                prometheus.dir.join("prometheus.log").display()
            );
            thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    /// `http://127.0.0.1:PORT{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The `data` of `/api/v1/query_exemplars` for `query` over the last ten minutes.
    pub fn exemplars(&self, query: &str) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let encoded: String = query
            .bytes()
            .map(|byte| match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (byte as char).to_string(),
                _ => format!("%{byte:02X}"),
            })
            .collect();
        let response = get(
            &self.url(&format!(
                "/api/v1/query_exemplars?query={encoded}&start={}&end={}",
                now - 600,
                now + 60
            )),
            &[],
        );
        assert_eq!(response.status, 200, "{}", response.body);
        response.json()["data"].clone()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
