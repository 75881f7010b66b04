//! Fake upstream servers on loopback, for health checks: one that answers, one that never does.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

/// How a fake upstream treats a connection.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Answers `200 OK` to every request.
    Ok,
    /// Accepts connections and never answers.
    Silent,
}

/// A fake upstream on `127.0.0.1`, stopped when dropped.
pub struct Upstream {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    /// Starts a fake upstream with `behaviour`.
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => match behaviour {
                        Behaviour::Ok => {
                            thread::spawn(move || answer_ok(stream));
                        }
                        Behaviour::Silent => held.push(stream),
                    },
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { address, stop }
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer_ok(mut stream: TcpStream) {
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
}

/// A loopback address where nothing listens (bound, then closed).
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("address")
}
