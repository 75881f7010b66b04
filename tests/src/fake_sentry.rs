//! A fake Sentry on loopback that answers every envelope the same way — 200, 429 with
//! `Retry-After`, 500, or never — and counts the envelopes it received.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

/// How the fake Sentry answers.
#[derive(Clone, Copy, Debug)]
pub enum SentryAnswer {
    /// `200 OK` with an event id, as a healthy Sentry.
    Accepting,
    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    RateLimited { retry_after_seconds: u32 },
    /// `500 Internal Server Error`.
    Failing,
    /// Accepts connections and never answers.
    Silent,
}

/// A fake Sentry on `127.0.0.1`, stopped when dropped.
pub struct FakeSentry {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
}

impl FakeSentry {
    /// Starts one answering `answer`.
    pub fn start(answer: SentryAnswer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (stopped, count) = (stop.clone(), received.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => match answer {
                        SentryAnswer::Silent => {
                            count.fetch_add(1, Ordering::Relaxed);
                            held.push(stream);
                        }
                        _ => {
                            let count = count.clone();
                            thread::spawn(move || serve(stream, answer, &count));
                        }
                    },
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            address,
            stop,
            received,
        }
    }

    /// A DSN pointing at it.
    pub fn dsn(&self) -> String {
        format!("http://public@{}/1", self.address)
    }

    /// Envelopes (connections, for the silent one) received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for FakeSentry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers each request on the connection (keep-alive) until the client closes it.
fn serve(mut stream: TcpStream, answer: SentryAnswer, count: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Bounded: at most 10,000 requests on one connection.
    for _ in 0..10_000 {
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < header_end + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        }
        buffer.drain(..header_end + length);
        count.fetch_add(1, Ordering::Relaxed);
        let response = match answer {
            SentryAnswer::Accepting => {
                let body = r#"{"id":"00000000000000000000000000000000"}"#;
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len())
            }
            SentryAnswer::RateLimited {
                retry_after_seconds,
            } => format!(
                "HTTP/1.1 429 Too Many Requests\r\nretry-after: {retry_after_seconds}\r\ncontent-length: 0\r\n\r\n"
            ),
            SentryAnswer::Failing => {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\n{}".to_owned()
            }
            SentryAnswer::Silent => return,
        };
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
