//! [`ResponseFuture`]: polls the inner service's future, catching a panic.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;
use sentry::protocol::SpanStatus;

use http_body::Body;
use tracing::Span;

use crate::{
    body::{BodyContext, CaptureBody},
    panic::{catching, CaughtPanic},
    problem::{problem_response, AlreadyReported},
    request::RequestInfo,
    sentry_hub::{failure_event, panic_event, SentryRequest},
    ErrorReport,
};

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Waiting { #[pin] future: F },
        Ready { response: Option<Response<B>> },
    }
}

pin_project! {
    /// Response future of [`Capture`](crate::Capture).
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        // Moved into the body once the response is ready.
        info: Option<RequestInfo>,
        sentry: Option<SentryRequest>,
    }
}

impl<F, B: From<Bytes>> ResponseFuture<F, B> {
    pub(crate) fn new(future: F, info: RequestInfo, sentry: Option<SentryRequest>) -> Self {
        Self {
            state: State::Waiting { future },
            info: Some(info),
            sentry,
        }
    }

    /// The inner service panicked in `call`: reported now, answered on the first poll.
    pub(crate) fn panicked(panic: &CaughtPanic, info: RequestInfo, sentry: Option<SentryRequest>) -> Self {
        let response = answer_panic(&info, sentry.as_ref(), panic);
        Self {
            state: State::Ready {
                response: Some(response),
            },
            info: Some(info),
            sentry,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes> + Body,
{
    type Output = Result<Response<CaptureBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let info = this
            .info
            .as_ref()
            .expect("ResponseFuture polled after completion");
        // A problem document (or an empty body) has nothing left to panic.
        let (response, streams) = match this.state.as_mut().project() {
            StateProj::Ready { response } => (
                response.take().expect("ResponseFuture polled after completion"),
                false,
            ),
            StateProj::Waiting { future } => {
                let outcome = match catching(this.sentry.as_ref(), || future.poll(cx)) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(result)) => Ok(result),
                    Err(panic) => Err(panic),
                };
                // Done with the inner future (which may have panicked): drop it now, ignoring a
                // panic in its destructor.
                let _ = catching(None, || this.state.set(State::Ready { response: None }));
                match outcome {
                    Ok(Ok(mut response)) => {
                        report_failure(info, this.sentry.as_ref(), &mut response);
                        let streams = !response.body().is_end_stream();
                        (response, streams)
                    }
                    Ok(Err(error)) => {
                        if let Some(mut sentry) = this.sentry.take() {
                            sentry.finish(Err(SpanStatus::UnknownError));
                        }
                        return Poll::Ready(Err(error));
                    }
                    Err(panic) => (answer_panic(info, this.sentry.as_ref(), &panic), false),
                }
            }
        };
        let status = response.status();
        let mut sentry = this.sentry.take();
        if let Some(sentry) = sentry.as_mut() {
            sentry.finish(Ok(status));
        }
        let context = match (streams, this.info.take()) {
            // Polled inside the request's span: the body keeps it to report a panic in it.
            (true, Some(info)) => Some(BodyContext {
                method: info.method,
                route: info.route,
                span: Span::current(),
                status,
                sentry,
            }),
            _ => None,
        };
        Poll::Ready(Ok(response.map(|body| CaptureBody::new(body, context))))
    }
}

/// Logs the panic, sends it to Sentry, and answers the problem document.
fn answer_panic<B: From<Bytes>>(
    info: &RequestInfo,
    sentry: Option<&SentryRequest>,
    panic: &CaughtPanic,
) -> Response<B> {
    info.log_panic(panic, http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(sentry) = sentry {
        sentry.capture(panic_event(panic, sentry::Level::Error));
    }
    problem_response(info.request_id.as_ref(), info.trace.as_ref())
}

/// Reports a 5xx answered by the application, unless a capture layer further in already did.
fn report_failure<B>(info: &RequestInfo, sentry: Option<&SentryRequest>, response: &mut Response<B>) {
    let status = response.status();
    if !status.is_server_error() || info.probe || response.extensions().get::<AlreadyReported>().is_some() {
        return;
    }
    let report = response.extensions().get::<ErrorReport>();
    info.log_failure(status, report);
    if let Some(sentry) = sentry {
        sentry.capture(failure_event(status, info, report));
    }
    response.extensions_mut().insert(AlreadyReported);
}
