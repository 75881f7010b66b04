//! Load for the reliability tests: a minimal keep-alive HTTP/1.1 client (cheaper per request than
//! a full client library in a debug build, and explicit about how a request failed), latency
//! percentiles, and the resident memory of a process.

use std::{
    fmt,
    io::{self, BufRead, BufReader, Read, Write},
    net::TcpStream,
    time::Duration,
};

use crate::HttpResponse;

/// How a request through [`KeepAlive`] failed.
#[derive(Debug)]
pub enum LoadError {
    /// No connection could be opened (for example refused: nothing listens any more).
    Connect(io::Error),
    /// The connection was closed before any byte of the response arrived. `reused` tells whether
    /// the connection had already carried a request (the keep-alive race: the server may close an
    /// idle connection while a request is on its way).
    ClosedBeforeResponse {
        /// Whether the connection had carried an earlier request.
        reused: bool,
    },
    /// Sending, or reading the response, failed on an open connection.
    Io(io::Error),
    /// The response could not be parsed.
    Malformed(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(error) => write!(f, "connect: {error}"),
            Self::ClosedBeforeResponse { reused } => {
                write!(f, "closed before the response (reused connection: {reused})")
            }
            Self::Io(error) => write!(f, "i/o: {error}"),
            Self::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

impl LoadError {
    /// A short name for the kind of failure, to count failures by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect(error) if error.kind() == io::ErrorKind::ConnectionRefused => "connect refused",
            Self::Connect(_) => "connect failed",
            Self::ClosedBeforeResponse { reused: true } => "closed before response (reused)",
            Self::ClosedBeforeResponse { reused: false } => "closed before response (new)",
            Self::Io(error) if error.kind() == io::ErrorKind::ConnectionReset => "reset",
            Self::Io(_) => "i/o error",
            Self::Malformed(_) => "malformed",
        }
    }
}

/// One client connection, kept open across requests and reopened when the server closes it.
pub struct KeepAlive {
    address: String,
    stream: Option<BufReader<TcpStream>>,
    used: bool,
    /// Connections opened so far.
    pub connections: u64,
}

impl KeepAlive {
    /// A client for `127.0.0.1:PORT`; connects on the first request.
    pub fn new(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            stream: None,
            used: false,
            connections: 0,
        }
    }

    /// `GET path` with extra headers, on the open connection (or a new one).
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, LoadError> {
        let result = self.exchange(path, headers);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, LoadError> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address).map_err(LoadError::Connect)?;
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(LoadError::Io)?;
            stream.set_nodelay(true).map_err(LoadError::Io)?;
            self.stream = Some(BufReader::new(stream));
            self.used = false;
            self.connections += 1;
        }
        let reused = self.used;
        self.used = true;
        let reader = self.stream.as_mut().expect("connected above");
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n", self.address);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        if let Err(error) = reader.get_mut().write_all(request.as_bytes()) {
            return Err(match error.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                    LoadError::ClosedBeforeResponse { reused }
                }
                _ => LoadError::Io(error),
            });
        }
        let mut status_line = Vec::new();
        match reader.read_until(b'\n', &mut status_line) {
            Ok(0) => return Err(LoadError::ClosedBeforeResponse { reused }),
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                return Err(LoadError::ClosedBeforeResponse { reused })
            }
            Err(error) => return Err(LoadError::Io(error)),
            Ok(_) => {}
        }
        let status_text = String::from_utf8_lossy(&status_line);
        let status = status_text
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| LoadError::Malformed(format!("status line {status_text:?}")))?;
        let mut response_headers = Vec::new();
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line).map_err(LoadError::Io)? == 0 {
                return Err(LoadError::Malformed("headers cut short".to_owned()));
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| LoadError::Malformed(format!("header line {line:?}")))?;
            response_headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let header = |name: &str| {
            response_headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let close = header("connection").is_some_and(|value| value.eq_ignore_ascii_case("close"));
        let body = if let Some(length) = header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| LoadError::Malformed(format!("content-length {length:?}")))?;
            let mut body = vec![0; length];
            reader.read_exact(&mut body).map_err(LoadError::Io)?;
            body
        } else if header("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked")) {
            read_chunked(reader)?
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body).map_err(LoadError::Io)?;
            self.stream = None;
            body
        };
        if close {
            self.stream = None;
        }
        Ok(HttpResponse {
            status,
            headers: response_headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, LoadError> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).map_err(LoadError::Io)?;
        let size_text = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| LoadError::Malformed(format!("chunk size {size_line:?}")))?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).map_err(LoadError::Io)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// The `p`-th percentile (0–100, nearest rank) of `samples`; zero when there are none.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `p50 / p99 / max` of `samples`, in milliseconds, for a report line.
pub fn latency_summary(samples: &[Duration]) -> String {
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 99.0)),
        ms(percentile(samples, 100.0)),
        samples.len()
    )
}

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("read /proc/{pid}/status: {error}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}
