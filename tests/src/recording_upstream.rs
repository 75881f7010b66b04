//! [`RecordingUpstream`]: a loopback HTTP server that answers `200 OK` and keeps the headers of
//! every request it got, for tests of what the demo sends downstream.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

/// The headers of one request, names lowercased; a repeated header keeps every value.
pub type RecordedHeaders = BTreeMap<String, Vec<String>>;

/// A recording upstream on `127.0.0.1`, stopped when dropped.
pub struct RecordingUpstream {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<(Mutex<Vec<RecordedHeaders>>, Condvar)>,
}

impl RecordingUpstream {
    /// Starts one.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (stopped, recorded) = (stop.clone(), requests.clone());
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                let mut headers = RecordedHeaders::new();
                let mut line = String::new();
                // Request line, then headers up to the blank line; GET only: no body to read.
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        headers
                            .entry(name.trim().to_ascii_lowercase())
                            .or_default()
                            .push(value.trim().to_owned());
                    }
                }
                let mut stream = reader.into_inner();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                let (list, changed) = &*recorded;
                list.lock().unwrap().push(headers);
                changed.notify_all();
            }
        });
        Self {
            address,
            stop,
            requests,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Waits up to `timeout` for a request whose headers match `predicate`, and returns them.
    pub fn wait_for_request(
        &self,
        timeout: Duration,
        predicate: impl Fn(&RecordedHeaders) -> bool,
    ) -> Option<RecordedHeaders> {
        let deadline = Instant::now() + timeout;
        let (list, changed) = &*self.requests;
        let mut guard = list.lock().unwrap();
        loop {
            if let Some(headers) = guard.iter().find(|headers| predicate(headers)) {
                return Some(headers.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
