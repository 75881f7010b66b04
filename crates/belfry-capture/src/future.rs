//! [`ResponseFuture`]: polls the inner service's future, catching a panic.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tracing::Span;

use crate::{
    body::{BodyContext, CaptureBody},
    panic::catching,
    problem::AlreadyReported,
    reporter::RequestState,
    ErrorReport, Outcome, Panic, Reporter, RequestDetails, ResponseForPanic,
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
    pub struct ResponseFuture<F, B, P, R: Reporter> {
        #[pin]
        state: State<F, B>,
        // Moved into the body once the response is ready.
        details: Option<RequestDetails>,
        reporter: RequestState<R>,
        panic_response: P,
    }
}

impl<F, B, P, R> ResponseFuture<F, B, P, R>
where
    P: ResponseForPanic<B>,
    R: Reporter,
{
    pub(crate) fn new(
        future: F,
        details: RequestDetails,
        reporter: RequestState<R>,
        panic_response: P,
    ) -> Self {
        Self {
            state: State::Waiting { future },
            details: Some(details),
            reporter,
            panic_response,
        }
    }

    /// The inner service panicked in `call`: reported now, answered on the first poll.
    pub(crate) fn panicked(
        panic: &Panic,
        details: RequestDetails,
        reporter: RequestState<R>,
        panic_response: P,
    ) -> Self {
        let response = answer_panic::<_, _, R>(&details, reporter.get(), &panic_response, panic);
        Self {
            state: State::Ready {
                response: Some(response),
            },
            details: Some(details),
            reporter,
            panic_response,
        }
    }
}

impl<F, B, E, P, R> Future for ResponseFuture<F, B, P, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    P: ResponseForPanic<B>,
    R: Reporter,
{
    type Output = Result<Response<CaptureBody<B, R>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let details = this
            .details
            .as_ref()
            .expect("ResponseFuture polled after completion");
        // A panic response has nothing left to panic (it is the application's own, made now).
        let (response, streams) = match this.state.as_mut().project() {
            StateProj::Ready { response } => (
                response.take().expect("ResponseFuture polled after completion"),
                false,
            ),
            StateProj::Waiting { future } => {
                let outcome = match catching::<R, _>(this.reporter.get(), || future.poll(cx)) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(result)) => Ok(result),
                    Err(panic) => Err(panic),
                };
                // Done with the inner future (which may have panicked): drop it now, ignoring a
                // panic in its destructor.
                let _ = catching::<(), _>(None, || this.state.set(State::Ready { response: None }));
                match outcome {
                    Ok(Ok(mut response)) => {
                        report_failure::<_, R>(details, this.reporter.get(), &mut response);
                        let streams = !response.body().is_end_stream();
                        (response, streams)
                    }
                    Ok(Err(error)) => {
                        this.reporter.finish(Outcome::Error);
                        return Poll::Ready(Err(error));
                    }
                    Err(panic) => (
                        answer_panic::<_, _, R>(details, this.reporter.get(), this.panic_response, &panic),
                        false,
                    ),
                }
            }
        };
        let status = response.status();
        let reporter = this.reporter.finish(Outcome::Response(status));
        let context = match (streams, this.details.take()) {
            // Polled inside the request's span: the body keeps it to report a panic in it, or
            // borrows it from an access log outside, which lends it while it polls the body.
            (true, Some(details)) => {
                let borrows_span = details.borrows_request_span();
                let (method, route) = details.into_method_and_route();
                Some(BodyContext {
                    method,
                    route,
                    span: (!borrows_span).then(Span::current),
                    status,
                    reporter,
                })
            }
            _ => None,
        };
        Poll::Ready(Ok(response.map(|body| CaptureBody::new(body, context))))
    }
}

/// Logs the panic, reports it, and answers the panic response.
fn answer_panic<B, P: ResponseForPanic<B>, R: Reporter>(
    details: &RequestDetails,
    reporter: Option<&R::Request>,
    panic_response: &P,
    panic: &Panic,
) -> Response<B> {
    details.log_panic(panic, StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(reporter) = reporter {
        R::panicked(reporter, panic);
    }
    let mut response = panic_response.response_for_panic(details, panic);
    response.extensions_mut().insert(AlreadyReported);
    response
}

/// Reports a 5xx answered by the application, unless a capture layer further in already did.
fn report_failure<B, R: Reporter>(
    details: &RequestDetails,
    reporter: Option<&R::Request>,
    response: &mut Response<B>,
) {
    let status = response.status();
    if !status.is_server_error() || details.probe || response.extensions().get::<AlreadyReported>().is_some()
    {
        return;
    }
    let report = response.extensions().get::<ErrorReport>();
    details.log_failure(status, report);
    if let Some(reporter) = reporter {
        R::failed(reporter, status, report);
    }
    response.extensions_mut().insert(AlreadyReported);
}
