//! [`HttpCheck`]: does a plain-HTTP `GET` answer 2xx?

use std::error::Error;
use std::fmt;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use http::header::{CONNECTION, HOST, USER_AGENT};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{CheckFuture, CheckOutcome, HealthCheck};

const AGENT: HeaderValue = HeaderValue::from_static(concat!("belfry-health/", env!("CARGO_PKG_VERSION")));

/// Passes when a `GET` to a URL answers with a `2xx` status; any other
/// status, or a connection error, fails it with a message saying which.
///
/// Only plain `http://` URLs are supported: this check speaks HTTP/1.1 over
/// a bare TCP connection and has no TLS. Use it for sidecars and internal
/// services; for `https://` write a [`check_fn`](crate::check_fn) around the
/// app's own HTTP client. The response body is not read.
///
/// ```
/// use std::time::Duration;
/// use belfry_health::checks::HttpCheck;
///
/// let check = HttpCheck::new("http://127.0.0.1:9000/health/ready")
///     .unwrap()
///     .timeout(Duration::from_millis(500));
/// # let _ = check;
///
/// assert!(HttpCheck::new("https://example.com/").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct HttpCheck {
    url: Uri,
    connect_to: String,
    host: HeaderValue,
    target: Uri,
    timeout: Option<Duration>,
}

impl HttpCheck {
    /// A check of `url`, which must be an absolute `http://` URL.
    ///
    /// # Errors
    ///
    /// If `url` does not parse, is not `http://` (notably `https://`, which
    /// is not supported), or has no host.
    ///
    /// ```
    /// let check = belfry_health::checks::HttpCheck::new("http://localhost:8080/ping")?;
    /// # let _ = check;
    /// # Ok::<(), belfry_health::checks::InvalidHttpCheckUrl>(())
    /// ```
    pub fn new(url: &str) -> Result<Self, InvalidHttpCheckUrl> {
        let invalid = |reason: String| InvalidHttpCheckUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed: Uri = url.parse().map_err(|err| invalid(format!("{err}")))?;
        match parsed.scheme() {
            Some(scheme) if *scheme == Scheme::HTTP => {}
            Some(scheme) if *scheme == Scheme::HTTPS => {
                return Err(invalid("https is not supported by HttpCheck".into()))
            }
            Some(scheme) => return Err(invalid(format!("unsupported scheme `{scheme}`"))),
            None => return Err(invalid("expected an absolute http:// URL".into())),
        }
        let authority = parsed
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| invalid("missing host".into()))?;
        if authority.as_str().contains('@') {
            // It would end up in messages, and so in `/health` bodies.
            return Err(invalid("credentials in the URL are not supported".into()));
        }
        let host = authority.host();
        let port = authority.port_u16();
        let host_header = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let target = parsed
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Self {
            connect_to: format!("{host}:{}", port.unwrap_or(80)),
            host: HeaderValue::try_from(host_header).map_err(|err| invalid(err.to_string()))?,
            target: Uri::from(target),
            url: parsed,
            timeout: None,
        })
    }

    /// Fails the check if the response head takes longer than `timeout`
    /// to arrive (connect included).
    ///
    /// ```
    /// use std::time::Duration;
    /// let check = belfry_health::checks::HttpCheck::new("http://localhost:8080/")?
    ///     .timeout(Duration::from_millis(300));
    /// # let _ = check;
    /// # Ok::<(), belfry_health::checks::InvalidHttpCheckUrl>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn get(&self) -> Result<StatusCode, String> {
        let stream = TcpStream::connect(self.connect_to.as_str())
            .await
            .map_err(|err| format!("connect to {}: {err}", self.connect_to))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|err| format!("GET {}: {err}", self.url))?;
        let request = Request::get(self.target.clone())
            .header(HOST, self.host.clone())
            .header(USER_AGENT, AGENT)
            .header(CONNECTION, "close")
            .body(Empty::new())
            .map_err(|err| format!("GET {}: {err}", self.url))?;
        // Drive the connection and the request together; dropping both after
        // the response head closes the connection without reading the body.
        let response = pin!(sender.send_request(request));
        let response = match select(response, pin!(connection)).await {
            Either::Left((response, _)) => response,
            // With `Connection: close` the connection may finish in the same
            // poll that delivers the response.
            Either::Right((Ok(()), response)) => response.await,
            Either::Right((Err(err), _)) => return Err(format!("GET {}: {err}", self.url)),
        };
        response
            .map(|response| response.status())
            .map_err(|err| format!("GET {}: {err}", self.url))
    }

    async fn run(&self) -> CheckOutcome {
        match self.get().await {
            Ok(status) if status.is_success() => CheckOutcome::pass(),
            Ok(status) => CheckOutcome::fail(format!("GET {} returned {status}", self.url)),
            Err(message) => CheckOutcome::fail(message),
        }
    }
}

impl HealthCheck for HttpCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match self.timeout {
                None => self.run().await,
                Some(timeout) => tokio::time::timeout(timeout, self.run())
                    .await
                    .unwrap_or_else(|_| {
                        CheckOutcome::fail(format!("GET {} timed out after {timeout:?}", self.url))
                    }),
            }
        })
    }
}

/// The error of [`HttpCheck::new`] for a URL it cannot check.
///
/// ```
/// let err = belfry_health::checks::HttpCheck::new("https://example.com/").unwrap_err();
/// assert!(err.to_string().contains("https is not supported"));
/// ```
#[derive(Clone, Debug)]
pub struct InvalidHttpCheckUrl {
    url: String,
    reason: String,
}

impl fmt::Display for InvalidHttpCheckUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid HttpCheck URL `{}`: {}", self.url, self.reason)
    }
}

impl Error for InvalidHttpCheckUrl {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use axum::routing::get;
    use axum::Router;
    use http::HeaderMap;
    use std::net::SocketAddr;

    async fn serve(app: Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    #[test]
    fn parses_urls() {
        let check = HttpCheck::new("http://localhost:8080/a?b=c").unwrap();
        assert_eq!(check.connect_to, "localhost:8080");
        assert_eq!(check.host, "localhost:8080");
        assert_eq!(check.target, "/a?b=c");

        let check = HttpCheck::new("http://[::1]").unwrap();
        assert_eq!(check.connect_to, "[::1]:80");
        assert_eq!(check.host, "[::1]");
        assert_eq!(check.target, "/");

        for bad in [
            "https://x/",
            "ftp://x/",
            "/relative",
            "http://",
            "not a url",
            "http://u:p@x/",
        ] {
            assert!(HttpCheck::new(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn status_decides_outcome() {
        let addr = serve(
            Router::new()
                .route("/ok", get(|| async { "ok" }))
                .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
                .route(
                    "/host",
                    get(|headers: HeaderMap| async move {
                        let host = headers[HOST].to_str().unwrap().to_owned();
                        let agent = headers[USER_AGENT].to_str().unwrap().to_owned();
                        if agent.starts_with("belfry-health/") && host.starts_with("127.0.0.1:") {
                            StatusCode::NO_CONTENT
                        } else {
                            StatusCode::BAD_REQUEST
                        }
                    }),
                ),
        )
        .await;
        let check = |path: &str| {
            HttpCheck::new(&format!("http://{addr}{path}"))
                .unwrap()
                .timeout(Duration::from_secs(5))
        };

        assert_eq!(check("/ok").check().await, CheckOutcome::pass());
        assert_eq!(check("/host").check().await, CheckOutcome::pass());
        let down = check("/down").check().await;
        assert_eq!(
            down,
            CheckOutcome::fail(format!("GET http://{addr}/down returned 503 Service Unavailable"))
        );
        assert_eq!(check("/missing").check().await.status(), Status::Fail);
    }

    #[tokio::test]
    async fn connection_errors_and_timeouts_fail() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts (the kernel does) but never answers.
        let silent = HttpCheck::new(&format!("http://{addr}/"))
            .unwrap()
            .timeout(Duration::from_millis(100));
        let outcome = silent.check().await;
        assert_eq!(
            outcome.message(),
            Some(&*format!("GET http://{addr}/ timed out after 100ms"))
        );

        drop(listener);
        let refused = HttpCheck::new(&format!("http://{addr}/"))
            .unwrap()
            .timeout(Duration::from_secs(5))
            .check()
            .await;
        assert_eq!(refused.status(), Status::Fail);
        assert!(refused.message().unwrap().starts_with("connect to "));
    }
}
