//! The Sentry side of a request: its hub, scope, transaction and events.
//!
//! Nothing here runs unless a Sentry client is bound to the current hub: [`SentryRequest::start`]
//! returns `None` after one look at the hub, without allocating.

use std::sync::Arc;

use belfry_scrub::ScrubPolicy;
use http::{header, Request, StatusCode};
use sentry::{
    protocol::{self, Event, Exception, Frame, Mechanism, SpanStatus, Stacktrace},
    Hub, Level, TracesSamplingStrategy, Transaction, TransactionContext,
};

use crate::{panic::CaughtPanic, request::RequestInfo, ErrorReport};

/// Whether a Sentry client is bound to the current hub (and has somewhere to send to).
pub(crate) fn client_bound() -> bool {
    Hub::current().client().is_some_and(|client| client.is_enabled())
}

/// One request's hub, and its performance transaction if traces are sampled.
pub(crate) struct SentryRequest {
    pub(crate) hub: Arc<Hub>,
    transaction: Option<Transaction>,
}

impl SentryRequest {
    /// A hub for this request, or `None` when Sentry is disabled.
    ///
    /// The hub starts from the current hub's top scope without its breadcrumbs, with the tag
    /// `request_id`, the transaction name `METHOD /route/template` and the scrubbed request on
    /// every event.
    pub(crate) fn start<B>(request: &Request<B>, info: &RequestInfo, scrub: &ScrubPolicy) -> Option<Self> {
        let parent = Hub::current();
        let client = parent.client().filter(|client| client.is_enabled())?;
        let hub = Arc::new(Hub::new_from_top(&parent));
        let name = info.transaction_name();
        let sentry_request = sentry_request(request, scrub);
        let traces = match client.options().traces_sampling_strategy {
            TracesSamplingStrategy::Disabled => false,
            TracesSamplingStrategy::FixedRate(rate) => rate > 0.0,
            _ => true,
        };
        let transaction = hub.configure_scope(|scope| {
            if let Some(id) = &info.request_id {
                scope.set_tag("request_id", id.as_str());
            }
            scope.set_transaction(Some(&name));
            // Only this request's breadcrumbs: not those left on the thread's hub before it.
            scope.clear_breadcrumbs();
            // A transaction already on the scope belongs to an outer layer: leave it in charge.
            let transaction = (traces && scope.get_span().is_none()).then(|| {
                let headers = request
                    .headers()
                    .iter()
                    .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
                let context = TransactionContext::continue_from_headers(&name, "http.server", headers);
                let transaction = hub.start_transaction(context);
                transaction.set_origin("auto.http.belfry");
                transaction.set_request(sentry_request.clone());
                scope.set_span(Some(transaction.clone().into()));
                transaction
            });
            scope.add_event_processor(move |mut event| {
                if event.request.is_none() {
                    event.request = Some(sentry_request.clone());
                }
                Some(event)
            });
            transaction
        });
        Some(Self { hub, transaction })
    }

    /// Finishes the transaction (if any) with the response's status, on this request's hub.
    pub(crate) fn finish(&mut self, status: Result<StatusCode, SpanStatus>) {
        let Some(transaction) = self.transaction.take() else {
            return;
        };
        match status {
            Ok(status) => {
                transaction.set_data("http.response.status_code", status.as_u16().into());
                transaction.set_status(span_status(status));
            }
            Err(status) => transaction.set_status(status),
        }
        // `finish` applies the current hub's scope (tags, request) to the transaction.
        Hub::run(self.hub.clone(), || transaction.finish());
    }

    /// Captures `event` on this request's hub.
    pub(crate) fn capture(&self, event: Event<'static>) {
        self.hub.capture_event(event);
    }
}

impl Drop for SentryRequest {
    fn drop(&mut self) {
        // Dropped before the response: the client went away.
        self.finish(Err(SpanStatus::Cancelled));
    }
}

/// The request as Sentry shows it: method, URL and headers scrubbed by `scrub`, no cookies, no
/// body. Sensitive headers keep their name with the value `[REDACTED]`.
fn sentry_request<B>(request: &Request<B>, scrub: &ScrubPolicy) -> protocol::Request {
    let uri = request.uri();
    let authority = uri
        .authority()
        .map(|authority| authority.as_str())
        .or_else(|| request.headers().get(header::HOST)?.to_str().ok());
    let url = authority.and_then(|authority| {
        let target = uri.path_and_query().map_or("/", |target| target.as_str());
        let url = format!("{}://{authority}{target}", uri.scheme_str().unwrap_or("http"));
        scrub.url(&url).to_string().parse().ok()
    });
    let mut headers = protocol::Map::new();
    for (name, value) in scrub.headers(request.headers()) {
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined: &mut String| {
                joined.push_str(", ");
                joined.push_str(&value.to_cow());
            })
            .or_insert_with(|| value.to_string());
    }
    protocol::Request {
        url,
        method: Some(request.method().as_str().to_owned()),
        query_string: uri.query().map(|query| scrub.query(query).to_string()),
        headers,
        ..Default::default()
    }
}

/// Sentry's span status for an HTTP status, as sentry-tower maps it.
fn span_status(status: StatusCode) -> SpanStatus {
    match status {
        StatusCode::UNAUTHORIZED => SpanStatus::Unauthenticated,
        StatusCode::FORBIDDEN => SpanStatus::PermissionDenied,
        StatusCode::NOT_FOUND => SpanStatus::NotFound,
        StatusCode::TOO_MANY_REQUESTS => SpanStatus::ResourceExhausted,
        StatusCode::CONFLICT => SpanStatus::AlreadyExists,
        status if status.is_client_error() => SpanStatus::InvalidArgument,
        StatusCode::NOT_IMPLEMENTED => SpanStatus::Unimplemented,
        StatusCode::SERVICE_UNAVAILABLE => SpanStatus::Unavailable,
        StatusCode::GATEWAY_TIMEOUT => SpanStatus::DeadlineExceeded,
        status if status.is_server_error() => SpanStatus::InternalError,
        status if status.is_success() || status.is_redirection() => SpanStatus::Ok,
        _ => SpanStatus::UnknownError,
    }
}

/// A panic as a Sentry event: exception type `panic`, value the message, with the stack trace
/// recorded by the hook or, failing that, a single frame at the panic's location.
pub(crate) fn panic_event(panic: &CaughtPanic, level: Level) -> Event<'static> {
    let stacktrace = panic.stacktrace.clone().or_else(|| {
        let location = panic.location.as_ref()?;
        Some(Stacktrace {
            frames: vec![Frame {
                filename: Some(location.file.clone()),
                abs_path: Some(location.file.clone()),
                lineno: Some(location.line.into()),
                colno: Some(location.column.into()),
                in_app: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        })
    });
    let mut event = Event {
        exception: vec![Exception {
            ty: "panic".into(),
            value: Some(panic.message.clone()),
            mechanism: Some(Mechanism {
                ty: "panic".into(),
                handled: Some(false),
                ..Default::default()
            }),
            stacktrace,
            ..Default::default()
        }]
        .into(),
        level,
        ..Default::default()
    };
    if let Some(location) = &panic.location {
        event
            .extra
            .insert("panic.location".into(), location.to_string().into());
    }
    event
}

/// A 5xx answered by the application as a Sentry event: the attached error's chain (root cause
/// first, as Sentry expects) with the concrete type of the outermost error, or a message event
/// `HTTP 503 GET /route`.
pub(crate) fn failure_event(
    status: StatusCode,
    info: &RequestInfo,
    report: Option<&ErrorReport>,
) -> Event<'static> {
    let mut event = match report {
        Some(report) => {
            let mut event = sentry::event_from_error(report.error());
            if let (Some(outermost), Some(type_name)) = (event.exception.last_mut(), report.type_name()) {
                outermost.ty = type_name.to_owned();
            }
            event
        }
        None => Event {
            message: Some(format!("HTTP {} {}", status.as_u16(), info.transaction_name())),
            level: Level::Error,
            ..Default::default()
        },
    };
    event
        .tags
        .insert("http.response.status_code".into(), status.as_u16().to_string());
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_scrubbed() {
        let request = Request::get("/cb?access_token=s3cr3t&page=2")
            .header("host", "api.example.com")
            .header("authorization", "Bearer s3cr3t")
            .header("cookie", "sid=s3cr3t")
            .header("accept", "text/html")
            .header("accept", "application/json")
            .body(())
            .unwrap();
        let sentry_request = sentry_request(&request, &ScrubPolicy::default());
        assert_eq!(
            sentry_request.url.unwrap().as_str(),
            "http://api.example.com/cb?access_token=[REDACTED]&page=2"
        );
        assert_eq!(
            sentry_request.query_string.as_deref(),
            Some("access_token=[REDACTED]&page=2")
        );
        assert_eq!(sentry_request.method.as_deref(), Some("GET"));
        assert_eq!(sentry_request.headers["authorization"], "[REDACTED]");
        assert_eq!(sentry_request.headers["cookie"], "[REDACTED]");
        assert_eq!(sentry_request.headers["accept"], "text/html, application/json");
        assert!(sentry_request.cookies.is_none() && sentry_request.data.is_none());
    }

    #[test]
    fn absolute_uri_and_missing_host() {
        let request = Request::get("https://user:pw@example.com/a?q=1")
            .body(())
            .unwrap();
        let url = sentry_request(&request, &ScrubPolicy::default()).url.unwrap();
        assert_eq!(url.as_str(), "https://example.com/a?q=1");
        let request = Request::get("/no-host").body(()).unwrap();
        assert!(sentry_request(&request, &ScrubPolicy::default()).url.is_none());
    }

    #[test]
    fn span_statuses() {
        assert_eq!(span_status(StatusCode::OK), SpanStatus::Ok);
        assert_eq!(span_status(StatusCode::NOT_FOUND), SpanStatus::NotFound);
        assert_eq!(span_status(StatusCode::BAD_REQUEST), SpanStatus::InvalidArgument);
        assert_eq!(
            span_status(StatusCode::SERVICE_UNAVAILABLE),
            SpanStatus::Unavailable
        );
        assert_eq!(
            span_status(StatusCode::INTERNAL_SERVER_ERROR),
            SpanStatus::InternalError
        );
    }

    #[test]
    fn disabled_without_a_client() {
        let hub = Arc::new(Hub::new(None, Default::default()));
        Hub::run(hub, || {
            assert!(!client_bound());
            let request = Request::get("/").body(()).unwrap();
            let info = RequestInfo::new(&request);
            assert!(SentryRequest::start(&request, &info, &ScrubPolicy::default()).is_none());
        });
    }
}
