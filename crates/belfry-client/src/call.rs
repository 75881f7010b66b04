//! [`Call`]: one outgoing request being timed; when it ends it writes the log line and records
//! the metric. Shared by the tower layer and the reqwest middleware.

use std::{
    borrow::Cow,
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use belfry_scrub::ScrubPolicy;
use http::{header::HOST, HeaderMap, Method, StatusCode, Uri};
use tracing::Level;

use crate::{headers::CallSpan, TARGET};

/// What every call of one layer or middleware shares.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallConfig {
    pub(crate) scrub: ScrubPolicy,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<belfry_metrics::HttpClientMetrics>,
}

/// Where a call goes, kept for its log line.
#[derive(Debug)]
pub(crate) enum Target {
    /// A tower / hyper request: its URI, and the `Host` header for origin-form URIs.
    Uri { uri: Uri, host: Option<String> },
    /// A reqwest request.
    #[cfg(feature = "reqwest")]
    Url(reqwest::Url),
}

impl Target {
    pub(crate) fn of_uri(uri: &Uri, headers: &HeaderMap) -> Self {
        let host = match uri.host() {
            Some(_) => None,
            None => headers
                .get(HOST)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        };
        Self::Uri {
            uri: uri.clone(),
            host,
        }
    }

    /// `server.address`: the host, without port.
    fn address(&self) -> &str {
        match self {
            Self::Uri { uri, host } => match (uri.host(), host) {
                (Some(host), _) => host,
                (None, Some(host)) => authority_host(host),
                (None, None) => "",
            },
            #[cfg(feature = "reqwest")]
            Self::Url(url) => url.host_str().unwrap_or_default(),
        }
    }

    /// `server.port`: explicit, or the scheme's default.
    fn port(&self) -> Option<u16> {
        match self {
            Self::Uri { uri, host } => uri
                .port_u16()
                .or_else(|| {
                    let host = host.as_deref()?;
                    host.rsplit_once(':')
                        .filter(|(_, port)| !port.ends_with(']'))
                        .and_then(|(_, port)| port.parse().ok())
                })
                .or_else(|| default_port(uri.scheme_str()?)),
            #[cfg(feature = "reqwest")]
            Self::Url(url) => url.port_or_known_default(),
        }
    }

    /// `url.full`, before scrubbing.
    fn full(&self) -> Cow<'_, str> {
        match self {
            Self::Uri { uri, .. } => Cow::Owned(uri.to_string()),
            #[cfg(feature = "reqwest")]
            Self::Url(url) => Cow::Borrowed(url.as_str()),
        }
    }
}

/// The host of an authority (`host`, `host:port`, `[v6]:port`).
fn authority_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or(authority, |(host, _)| host);
    }
    authority.split_once(':').map_or(authority, |(host, _)| host)
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// How a call ended.
#[derive(Debug)]
pub(crate) enum Outcome<'a> {
    /// A response head arrived.
    Response(StatusCode),
    /// The client failed; the [`ErrorType`](crate::ErrorType) of its error.
    Error(Cow<'a, str>),
}

/// `error.type` of a call dropped before it completed (a timeout around it, a cancelled
/// handler).
pub const CANCELLED: &str = "cancelled";

/// An outgoing request in flight. Ending it ([`finish`](Self::finish), or dropping it unfinished:
/// [`CANCELLED`]) writes one log line and one metric observation.
pub(crate) struct Call {
    config: Arc<CallConfig>,
    method: Method,
    target: Target,
    span: Option<CallSpan>,
    start: Instant,
    finished: bool,
}

impl Call {
    pub(crate) fn start(
        config: Arc<CallConfig>,
        method: Method,
        target: Target,
        span: Option<CallSpan>,
    ) -> Self {
        Self {
            config,
            method,
            target,
            span,
            start: Instant::now(),
            finished: false,
        }
    }

    pub(crate) fn finish(mut self, outcome: Outcome<'_>) {
        self.finished = true;
        self.end(outcome);
    }

    fn end(&self, outcome: Outcome<'_>) {
        let duration = self.start.elapsed();
        let (status, error_type) = match &outcome {
            Outcome::Response(status) => (Some(*status), status_error_type(*status)),
            Outcome::Error(error_type) => (None, Some(Cow::Borrowed(&**error_type))),
        };
        let failed = matches!(outcome, Outcome::Error(_)) || status.is_some_and(|s| s.is_server_error());
        let level = if failed { Level::WARN } else { Level::INFO };
        self.log(level, status, error_type.as_deref(), duration);
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.config.metrics {
            metrics.record(
                &self.method,
                self.target.address(),
                status,
                error_type.as_deref(),
                duration,
            );
        }
    }

    fn log(&self, level: Level, status: Option<StatusCode>, error_type: Option<&str>, duration: Duration) {
        let url = FullUrl {
            target: &self.target,
            scrub: &self.config.scrub,
        };
        macro_rules! call_line {
            ($level:expr) => {
                tracing::event!(
                    target: TARGET,
                    $level,
                    http.request.method = self.method.as_str(),
                    server.address = self.target.address(),
                    server.port = self.target.port(),
                    url.full = tracing::field::display(&url),
                    http.response.status_code = status.map(|status| status.as_u16()),
                    duration_ms = millis(duration),
                    error.type = error_type,
                    call.span_id = self.span.map(|span| tracing::field::display(span.span_id)),
                    call.parent_span_id = self.span.map(|span| tracing::field::display(span.parent_span_id)),
                    "http client request"
                )
            };
        }
        if level == Level::WARN {
            call_line!(Level::WARN);
        } else {
            call_line!(Level::INFO);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.finished {
            self.end(Outcome::Error(Cow::Borrowed(CANCELLED)));
        }
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// OpenTelemetry's `error.type` for a client response: the status code when it is an error
/// (4xx and 5xx are failures from the client's side).
fn status_error_type(status: StatusCode) -> Option<Cow<'static, str>> {
    (status.is_client_error() || status.is_server_error()).then(|| Cow::Borrowed(status_str(status)))
}

/// The three digits of a status code, without allocating.
fn status_str(status: StatusCode) -> &'static str {
    // `StatusCode::as_str` borrows from the code; the table of canonical codes is static.
    const DIGITS: &str = concat!(
        "400401402403404405406407408409410411412413414415416417418419420421422423424425426427428429",
        "430431432433434435436437438439440441442443444445446447448449450451452453454455456457458459",
        "460461462463464465466467468469470471472473474475476477478479480481482483484485486487488489",
        "490491492493494495496497498499500501502503504505506507508509510511512513514515516517518519",
        "520521522523524525526527528529530531532533534535536537538539540541542543544545546547548549",
        "550551552553554555556557558559560561562563564565566567568569570571572573574575576577578579",
        "580581582583584585586587588589590591592593594595596597598599"
    );
    let index = usize::from(status.as_u16().saturating_sub(400)) * 3;
    DIGITS.get(index..index + 3).unwrap_or("500")
}

/// Milliseconds with microsecond precision.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// `url.full`, scrubbed when displayed (only when the log line is written).
struct FullUrl<'a> {
    target: &'a Target,
    scrub: &'a ScrubPolicy,
}

impl fmt::Display for FullUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.target.full();
        fmt::Display::fmt(&self.scrub.url(&full), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_digits_without_allocation() {
        for code in [400, 404, 429, 499, 500, 503, 599] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status_str(status), code.to_string());
        }
        assert_eq!(status_error_type(StatusCode::OK), None);
        assert_eq!(status_error_type(StatusCode::FOUND), None);
    }

    #[test]
    fn address_and_port_from_uri_or_host_header() {
        let mut headers = HeaderMap::new();
        let absolute = Target::of_uri(&"https://api.test/x".parse().unwrap(), &headers);
        assert_eq!((absolute.address(), absolute.port()), ("api.test", Some(443)));
        let explicit = Target::of_uri(&"http://api.test:8080/x".parse().unwrap(), &headers);
        assert_eq!((explicit.address(), explicit.port()), ("api.test", Some(8080)));
        headers.insert(HOST, "[::1]:9000".parse().unwrap());
        let origin = Target::of_uri(&"/x".parse().unwrap(), &headers);
        assert_eq!((origin.address(), origin.port()), ("::1", Some(9000)));
        headers.insert(HOST, "svc".parse().unwrap());
        let bare = Target::of_uri(&"/x".parse().unwrap(), &headers);
        assert_eq!((bare.address(), bare.port()), ("svc", None));
    }
}
