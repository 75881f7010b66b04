//! [`UreqClient`]: the HTTP client the OTLP exporters send with — ureq, blocking, on the batch
//! processors' own threads, every send bounded by the export timeout.
//!
//! ureq is already in belfry's tree (Sentry's transport), needs no async runtime, and does not
//! create one: the SDK's batch processors run each export on their own thread, so a blocking
//! send there never touches the service's tokio runtime, and a collector that is down, slow or
//! never answers costs that thread at most the timeout per batch, never a request.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// Longest collector answer read (an `ExportTraceServiceResponse` is a few bytes).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// An [`HttpClient`] built on a ureq agent whose every request is bounded by one timeout.
#[derive(Clone)]
pub(crate) struct UreqClient {
    agent: ureq::Agent,
}

impl std::fmt::Debug for UreqClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UreqClient").finish_non_exhaustive()
    }
}

impl UreqClient {
    /// A client whose requests each take at most `timeout`, connection included.
    pub(crate) fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // The exporter reads the status itself (retries on 429/503, drops on 400).
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Self { agent }
    }
}

impl UreqClient {
    /// POSTs `request` and reads the (small) answer; the status is the caller's to judge. For
    /// the metrics exporter, which runs on its own thread and needs no async runtime.
    #[cfg(feature = "metrics")]
    pub(crate) fn send_blocking(&self, request: Request<Vec<u8>>) -> Result<http::StatusCode, ureq::Error> {
        let (parts, body) = request.into_parts();
        let response = self.agent.run(Request::from_parts(parts, &body[..]))?;
        let status = response.status();
        // Read the answer to its end, so the connection is reused by the next export.
        let _ = response
            .into_body()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec();
        Ok(status)
    }
}

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, &body[..]);
        let response = self.agent.run(request)?;
        let (parts, mut body) = response.into_parts();
        let body = body.with_config().limit(MAX_RESPONSE_BYTES).read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{io::Read, net::TcpListener, time::Instant};

    #[test]
    fn a_collector_that_never_answers_costs_at_most_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        // Accepts, reads, never answers.
        let blackhole = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buffer = [0; 1024];
            let _ = stream.read(&mut buffer);
            std::thread::sleep(Duration::from_millis(800));
        });
        let client = UreqClient::new(Duration::from_millis(200));
        let request = Request::post(format!("http://{address}/v1/traces"))
            .body(Bytes::from_static(b"x"))
            .unwrap();
        let started = Instant::now();
        let result = futures_executor::block_on(client.send_bytes(request));
        assert!(result.is_err());
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
        blackhole.join().unwrap();
    }
}
