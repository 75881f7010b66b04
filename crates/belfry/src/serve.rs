//! [`Belfry::serve`]: the server, so that what happens on the connection is told too.
//!
//! `axum::serve` hides what hyper rejects before a request reaches the router — a request line
//! that does not parse (`400`), headers too large or too many (`431`), a client too slow to
//! send its headers — and cannot tell belfry when a connection goes. [`Serve`] serves with
//! hyper's HTTP/1 server (through hyper-util) and:
//!
//! - counts every connection that ends in an error in `http_server_connection_errors_total`,
//!   labelled by [`error_type`](ConnectionErrorKind), and logs them at WARN, at most one line
//!   per [`CONNECTION_ERROR_LOG_INTERVAL`] (with how many were not logged), each at DEBUG;
//! - puts axum's `ConnectInfo<SocketAddr>` (the peer, for `client.address`) and a
//!   [`ConnectionStatus`] in every request, set when a read or write fails or the peer closes:
//!   the access log then says `client.disconnected` only for clients that really left, and
//!   warns once when a layer outside belfry dropped a request on a connection still open;
//! - drains on SIGTERM or Ctrl-C (readiness flips to 503, the drain delay passes), stops
//!   accepting, lets in-flight requests finish within the shutdown timeout — the settings of
//!   the [`Belfry`], or a [`GracefulShutdown`] of the application's own;
//! - with [`health`](Serve::health), marks readiness started once listening, drains it on
//!   shutdown, refreshes the health checks in the background (every
//!   [`DEFAULT_HEALTH_REFRESH`]) and exports them as metrics.

use std::{
    convert::Infallible,
    future::{Future, IntoFuture},
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{body::Body, extract::ConnectInfo, Router};
use belfry_access_log::ConnectionStatus;
use belfry_health::{GracefulShutdown, Health};
#[cfg(feature = "metrics")]
use belfry_metrics::prometheus_client::metrics::{counter::Counter, family::Family};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
};
use tower_service::Service;

use crate::Belfry;

/// How often the health checks are refreshed in the background when [`Serve::health`] is given.
pub const DEFAULT_HEALTH_REFRESH: Duration = Duration::from_secs(10);

/// At most one WARN line about connection errors per interval.
pub const CONNECTION_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The counter of connections that ended in an error, by `error_type`.
pub const CONNECTION_ERRORS: &str = "http_server_connection_errors";

/// How long a client may take to send a request's headers before the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why hyper ended a connection with an error: the `error_type` label of
/// `http_server_connection_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionErrorKind {
    /// `header_too_large`: headers too large or too many; hyper answered `431`.
    HeaderTooLarge,
    /// `malformed_request`: a request line or header that does not parse; hyper answered `400`.
    MalformedRequest,
    /// `header_timeout`: the client did not send its headers in time ([`HEADER_READ_TIMEOUT`]).
    HeaderTimeout,
    /// `incomplete_message`: the connection closed in the middle of a request.
    IncompleteMessage,
    /// `body_write_aborted`: the response body could not be sent to its end.
    BodyWriteAborted,
    /// `io`: reading or writing the socket failed (a reset connection).
    Io,
    /// `other`: anything else hyper reports.
    Other,
}

impl ConnectionErrorKind {
    /// Classifies a connection error.
    pub fn of(error: &hyper::Error) -> Self {
        if error.is_parse_too_large() {
            Self::HeaderTooLarge
        } else if error.is_parse() || error.is_parse_status() {
            Self::MalformedRequest
        } else if error.is_timeout() {
            Self::HeaderTimeout
        } else if error.is_incomplete_message() {
            Self::IncompleteMessage
        } else if error.is_body_write_aborted() {
            Self::BodyWriteAborted
        } else if std::error::Error::source(error).is_some_and(|source| source.is::<io::Error>()) {
            Self::Io
        } else {
            Self::Other
        }
    }

    /// The label value.
    ///
    /// ```
    /// assert_eq!(belfry::ConnectionErrorKind::HeaderTooLarge.as_str(), "header_too_large");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeaderTooLarge => "header_too_large",
            Self::MalformedRequest => "malformed_request",
            Self::HeaderTimeout => "header_timeout",
            Self::IncompleteMessage => "incomplete_message",
            Self::BodyWriteAborted => "body_write_aborted",
            Self::Io => "io",
            Self::Other => "other",
        }
    }
}

#[cfg(feature = "metrics")]
type ErrorLabels = [(&'static str, &'static str); 1];

/// Counts connection errors (feature `metrics`) and logs them, rate-limited. Shared by every
/// connection.
struct ConnectionErrors {
    #[cfg(feature = "metrics")]
    counter: Family<ErrorLabels, Counter>,
    started: Instant,
    /// Seconds since `started` of the last WARN line, plus one (0: none yet).
    last_logged: AtomicU64,
    /// Errors not logged at WARN since the last line.
    suppressed: AtomicU64,
}

impl ConnectionErrors {
    fn record(&self, error: &hyper::Error, peer: SocketAddr) {
        let kind = ConnectionErrorKind::of(error);
        #[cfg(feature = "metrics")]
        self.counter.get_or_create(&[("error_type", kind.as_str())]).inc();
        tracing::debug!(target: TARGET, error_type = kind.as_str(), %error, client.address = %peer.ip(), "connection error");
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.last_logged.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= CONNECTION_ERROR_LOG_INTERVAL.as_secs();
        if due
            && self
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                target: TARGET,
                error_type = kind.as_str(),
                %error,
                client.address = %peer.ip(),
                suppressed,
                "connection error: hyper rejected a request or the connection failed before a \
                 response (counted in http_server_connection_errors_total; at most one line every \
                 10 s, `suppressed` errors since the last one)"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The target of `serve`'s own log lines (`listening`, connection errors).
pub const TARGET: &str = "belfry::serve";

impl Belfry {
    /// Serves `app` (a router already [wrapped](Self::wrap)) on `listener` with hyper's HTTP/1
    /// server, until SIGTERM or Ctrl-C; see [`Serve`]. Await it.
    ///
    /// Graceful shutdown is on: on the signal, readiness answers `503` for the
    /// [drain delay](Self::drain_delay) (`BELFRY_DRAIN_DELAY_MS`), then the server stops
    /// accepting and in-flight requests get the [shutdown timeout](Self::shutdown_timeout)
    /// (`BELFRY_SHUTDOWN_TIMEOUT_MS`) to finish. With [`Serve::health`], the health checks are
    /// refreshed and exported, the readiness probe is the one that drains, and it turns ready
    /// once the server listens.
    ///
    /// ```no_run
    /// use axum::{routing::get, Router};
    /// use belfry::{health::Health, Belfry};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let belfry = Belfry::from_env()?;
    /// let health = Health::new();
    /// let app = belfry.wrap(Router::new().route("/", get(|| async { "hi" })).merge(health.routes()));
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
    /// belfry.serve(listener, app).health(&health).await?; // returns once drained
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve(&self, listener: TcpListener, app: Router) -> Serve {
        Serve {
            belfry: self.clone(),
            listener,
            app,
            shutdown: None,
            health: None,
        }
    }
}

/// A server for a belfry-wrapped router, made by [`Belfry::serve`]; see the [module
/// docs](self). Awaiting it serves until shutdown; it resolves to an error only when the
/// listener's address cannot be read. A shutdown that timed out is logged at WARN and resolves
/// `Ok`.
#[must_use = "a server does nothing until awaited"]
pub struct Serve {
    belfry: Belfry,
    listener: TcpListener,
    app: Router,
    shutdown: Option<GracefulShutdown>,
    health: Option<Health>,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl Serve {
    /// Drains and stops with `shutdown` (its signals, `shutdown.trigger()`, its delays and its
    /// readiness gates) instead of the default one [`Belfry::serve`] describes. A readiness gate
    /// it should drain must be given to it (`GracefulShutdown::builder().readiness(..)`).
    pub fn graceful_shutdown(mut self, shutdown: GracefulShutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Refreshes `health`'s checks every [`DEFAULT_HEALTH_REFRESH`] while serving, exports them
    /// on [`Belfry::metrics`] ([`Belfry::export_health_checks`]), marks its readiness started
    /// once listening (a warm-up that must finish first is a readiness check of its own), and
    /// drains that readiness on shutdown.
    #[cfg_attr(
        not(feature = "metrics"),
        doc = "",
        doc = "[`Belfry::metrics`]: ../index.html#cargo-features",
        doc = "[`Belfry::export_health_checks`]: ../index.html#cargo-features"
    )]
    pub fn health(mut self, health: &Health) -> Self {
        self.health = Some(health.clone());
        self
    }

    async fn run(self) -> io::Result<()> {
        let Serve {
            belfry,
            listener,
            app,
            shutdown,
            health,
        } = self;
        let address = listener.local_addr()?;
        let errors = Arc::new(ConnectionErrors {
            #[cfg(feature = "metrics")]
            counter: belfry.metrics().register(
                CONNECTION_ERRORS,
                "Connections hyper ended with an error before or while answering (431, 400, timeouts, resets), by error_type",
                Family::default(),
            ),
            started: Instant::now(),
            last_logged: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        });
        let shutdown = shutdown.unwrap_or_else(|| {
            let mut builder = GracefulShutdown::builder()
                .drain_delay(belfry.drain_delay)
                .shutdown_timeout(belfry.shutdown_timeout);
            if let Some(health) = &health {
                builder = builder.readiness(health.readiness().clone());
            }
            builder.build()
        });
        let _refresh = health.as_ref().map(|health| {
            #[cfg(feature = "metrics")]
            belfry.export_health_checks(health);
            AbortOnDrop(health.spawn_refresh(DEFAULT_HEALTH_REFRESH))
        });
        belfry.log_listening(address);
        if let Some(health) = &health {
            health.readiness().mark_started();
        }
        // Each connection holds a receiver: told to finish, it closes once its in-flight
        // request is answered; the sender sees every receiver gone once all have.
        let (finish, finishing) = tokio::sync::watch::channel(false);
        let stop = shutdown.signal();
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a little, as axum does.
                        tracing::debug!(target: TARGET, %error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let status = ConnectionStatus::new();
            let io = TokioIo::new(WatchedStream {
                inner: stream,
                status: status.clone(),
            });
            let service = ConnectionService {
                app: app.clone(),
                peer,
                status: status.clone(),
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(io, service)
                .with_upgrades();
            let errors = errors.clone();
            let mut finishing = finishing.clone();
            tokio::spawn(async move {
                // Marks the connection gone before its requests are dropped, however it ends.
                let _closed = MarkClosedOnDrop(status);
                tokio::pin!(connection);
                let served = tokio::select! {
                    served = connection.as_mut() => served,
                    () = async { drop(finishing.wait_for(|finish| *finish).await) } => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(error) = served {
                    errors.record(&error, peer);
                }
            });
        }
        drop(listener);
        drop(finishing);
        let _ = finish.send(true);
        let drained = async move { finish.closed().await };
        if let Err(timed_out) = shutdown.run(drained).await {
            tracing::warn!(target: TARGET, "{timed_out}");
        }
        Ok(())
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl Belfry {
    /// The one start-up line, `listening`: where, and what is on — the log format, Sentry
    /// (host, environment, release, sample rates; never the DSN's key), OpenTelemetry export
    /// (endpoints without credentials, sampler), the share of traces sampled and the thresholds.
    fn log_listening(&self, address: SocketAddr) {
        let telemetry = crate::telemetry::startup_summary();
        let ms = |duration: Duration| duration.as_millis() as u64;
        tracing::info!(
            target: TARGET,
            address = %address,
            log.format = telemetry.map(|summary| summary.log_format),
            sentry = telemetry.map(|summary| summary.sentry.as_str()),
            otel = telemetry.map(|summary| summary.otel.as_str()),
            traces.sample_rate = self.trace_context.get_sampler().ratio(),
            slow_request_ms = ms(self.access_log.slow_threshold_in_force()),
            hung_request_ms = self.access_log.hung_threshold_in_force().map(ms),
            drain_delay_ms = ms(self.drain_delay),
            shutdown_timeout_ms = ms(self.shutdown_timeout),
            "listening"
        );
    }
}

/// Aborts the health refresh when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Marks a connection's status closed when its task ends (or is dropped at the shutdown
/// timeout), before the requests it still holds are dropped.
struct MarkClosedOnDrop(ConnectionStatus);

impl Drop for MarkClosedOnDrop {
    fn drop(&mut self) {
        self.0.mark_closed();
    }
}

/// Hands each request of one connection to the router, with the peer address and the
/// connection's status in its extensions.
#[derive(Clone)]
struct ConnectionService {
    app: Router,
    peer: SocketAddr,
    status: ConnectionStatus,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = <Router as Service<Request<Body>>>::Future;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        request.extensions_mut().insert(self.status.clone());
        // A router is always ready (`poll_ready` is `Ready(Ok)`), as `axum::serve` relies on.
        self.app.clone().call(request)
    }
}

/// The socket of a connection, marking its [`ConnectionStatus`] closed when the peer closes it
/// (a read returns end of file) or a read or write fails: what the access log needs to say
/// `client.disconnected`.
struct WatchedStream<S> {
    inner: S,
    status: ConnectionStatus,
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                self.status.mark_closed()
            }
            Poll::Ready(Err(_)) => self.status.mark_closed(),
            _ => {}
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Err(_)) = &polled {
            self.status.mark_closed();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Err(_)) = &polled {
            self.status.mark_closed();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Err(_)) = &polled {
            self.status.mark_closed();
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::io::{Read, Write};

    use axum::routing::get;

    use super::*;

    fn raw(address: SocketAddr, request: &[u8]) -> String {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rejected_requests_are_counted_by_kind() {
        let belfry = Belfry::new();
        let app = belfry.wrap(Router::new().route("/", get(|| async { "hi" })));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(belfry.serve(listener, app).into_future());

        let ok = tokio::task::spawn_blocking(move || {
            raw(address, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        })
        .await
        .unwrap();
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        let mut too_many = String::from("GET / HTTP/1.1\r\nhost: x\r\n");
        for index in 0..150 {
            too_many.push_str(&format!("x-filler-{index}: y\r\n"));
        }
        too_many.push_str("\r\n");
        for _ in 0..3 {
            let request = too_many.clone();
            let answer = tokio::task::spawn_blocking(move || raw(address, request.as_bytes()))
                .await
                .unwrap();
            assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        }
        let answer = tokio::task::spawn_blocking(move || raw(address, b"NOT A REQUEST\r\n\r\n"))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

        // The connection tasks record their error as they end, just after the answer.
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = belfry.metrics().render();
            let counted = text
                .contains(r#"http_server_connection_errors_total{error_type="header_too_large"} 3"#)
                && text.contains(r#"http_server_connection_errors_total{error_type="malformed_request"} 1"#);
            if counted || Instant::now() >= deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            text.contains(r#"http_server_connection_errors_total{error_type="header_too_large"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_server_connection_errors_total{error_type="malformed_request"} 1"#),
            "{text}"
        );
        server.abort();
    }
}
