//! Fake upstream servers on loopback, for health checks and downstream calls: one that answers
//! (and keeps the headers of every request it answered), one that never does.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

/// How a fake upstream treats a connection.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Answers `200 OK` to every request.
    Ok,
    /// Accepts connections and never answers.
    Silent,
}

/// The headers of one request, names lowercased; a repeated header keeps every value.
pub type RecordedHeaders = BTreeMap<String, Vec<String>>;

/// The requests an upstream answered, shared with the threads that answer them.
type Recorded = Arc<(Mutex<Vec<RecordedHeaders>>, Condvar)>;

/// A fake upstream on `127.0.0.1`, stopped when dropped.
pub struct Upstream {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Recorded,
}

impl Upstream {
    /// Starts a fake upstream with `behaviour`.
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Recorded::default();
        let (stopped, recorded) = (stop.clone(), requests.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => match behaviour {
                        Behaviour::Ok => {
                            let recorded = recorded.clone();
                            thread::spawn(move || answer_ok(stream, &recorded));
                        }
                        Behaviour::Silent => held.push(stream),
                    },
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            address,
            stop,
            requests,
        }
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Waits up to `timeout` for an answered request whose headers match `predicate`, and
    /// returns them.
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

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads the request head, answers `200 OK`, and records the request's headers.
fn answer_ok(mut stream: TcpStream, recorded: &Recorded) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buffer = [0u8; 4096];
    let mut request = Vec::new();
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let mut headers = RecordedHeaders::new();
    // The request line first, then the headers up to the blank line.
    for line in String::from_utf8_lossy(&request).split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            break;
        };
        headers
            .entry(name.trim().to_ascii_lowercase())
            .or_default()
            .push(value.trim().to_owned());
    }
    let (list, changed) = &**recorded;
    list.lock().unwrap().push(headers);
    changed.notify_all();
}

/// A loopback address where nothing listens (bound, then closed).
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("address")
}
