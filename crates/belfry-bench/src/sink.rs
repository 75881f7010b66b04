//! [`Sink`]: a loopback HTTP endpoint that reads every POST to its end and answers `200 OK` with
//! an empty body — the Sentry server of the variants with Sentry and the OTLP collector of the
//! `otel` variant: a receiver that keeps up and costs almost nothing, so what is measured is the
//! sending side (the SDK's transport, the exporter) as it runs against a reachable server.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
};

/// Connections served at most, each on its own thread (transports and exporters keep one or two
/// alive).
const MAX_CONNECTIONS: usize = 64;

/// A running sink; its threads end with the process.
#[derive(Debug)]
pub struct Sink {
    address: SocketAddr,
}

impl Sink {
    /// Listens on a free loopback port and serves from background threads.
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let sink = belfry_bench::Sink::start().unwrap();
    /// let mut stream = std::net::TcpStream::connect(sink.address()).unwrap();
    /// stream
    ///     .write_all(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc")
    ///     .unwrap();
    /// let mut answer = String::new();
    /// stream.read_to_string(&mut answer).unwrap();
    /// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    /// ```
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        std::thread::Builder::new().name("sink".into()).spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                let _ = std::thread::Builder::new()
                    .name("sink-conn".into())
                    .spawn(move || serve(stream));
            }
        })?;
        Ok(Self { address })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A Sentry DSN for project 1 on this sink: `http://public@127.0.0.1:PORT/1`.
    ///
    /// ```
    /// let sink = belfry_bench::Sink::start().unwrap();
    /// let dsn: sentry::types::Dsn = sink.sentry_dsn().parse().unwrap();
    /// assert_eq!(dsn.port(), sink.address().port());
    /// ```
    pub fn sentry_dsn(&self) -> String {
        format!("http://public@{}/1", self.address)
    }
}

/// Answers every request of one keep-alive connection, until the client closes it.
fn serve(stream: TcpStream) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        let mut length = 0_u64;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        io::copy(&mut (&mut reader).take(length), &mut io::sink())?;
        writer.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )?;
        if close {
            return Ok(());
        }
    }
}
