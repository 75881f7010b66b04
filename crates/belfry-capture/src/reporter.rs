//! [`Reporter`]: where the panics and `5xx` responses of a request go besides the logs.

use std::convert::Infallible;

use http::{Request, StatusCode};

use crate::{ErrorReport, Panic, RequestDetails};

/// Where the panics and `5xx` responses of a request go besides the logs — an
/// error tracker such as Sentry (`belfry-sentry`), plugged into [`CaptureLayer`](crate::CaptureLayer).
///
/// The capture layer logs every panic and every `5xx` itself; a reporter adds a per-request
/// state of its own (Sentry: the request's hub, its context and its transaction), started when
/// the request comes in, *entered* around every poll of the handler and of the response body
/// (so what the handler does — breadcrumbs, events, spawned tasks — lands in the request's
/// state), told about each panic and each `5xx`, and finished with the request's outcome.
///
/// The state travels inside the layer's own [`ResponseFuture`](crate::ResponseFuture) and
/// [`CaptureBody`](crate::CaptureBody): no extra layer, no boxing. The default reporter, `()`,
/// has no state (its [`Reporter::Request`] is [`Infallible`]): a request served without a
/// reporter costs nothing for it — no allocation, no lock, no thread-local.
///
/// ```
/// use std::sync::{
///     atomic::{AtomicUsize, Ordering},
///     Arc,
/// };
///
/// use axum::{body::Body, routing::get, Router};
/// use belfry_capture::{CaptureLayer, ErrorReport, Outcome, Panic, Reporter, RequestDetails};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
///
/// /// Counts panics and failures.
/// #[derive(Clone, Default)]
/// struct Counting(Arc<AtomicUsize>);
///
/// impl Reporter for Counting {
///     type Request = Arc<AtomicUsize>;
///     type Task = std::convert::Infallible;
///
///     fn start<B>(&self, _: &Request<B>, _: &RequestDetails) -> Option<Self::Request> {
///         Some(self.0.clone())
///     }
///     fn enter<T>(_: &Self::Request, f: impl FnOnce() -> T) -> T {
///         f()
///     }
///     fn panicked(count: &Self::Request, _: &Panic) {
///         count.fetch_add(1, Ordering::Relaxed);
///     }
///     fn failed(count: &Self::Request, _: StatusCode, _: Option<&ErrorReport>) {
///         count.fetch_add(1, Ordering::Relaxed);
///     }
///     fn finish(_: &mut Self::Request, _: Outcome) {}
///     fn task() -> Option<Self::Task> {
///         None
///     }
///     fn enter_task<T>(task: &Self::Task, _: impl FnOnce() -> T) -> T {
///         match *task {}
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let reporter = Counting::default();
/// let app = Router::new()
///     .route("/panic", get(|| async { panic!("bug") as &'static str }))
///     .route("/down", get(|| async { StatusCode::BAD_GATEWAY }))
///     .layer(CaptureLayer::new().reporter(reporter.clone()));
/// for path in ["/panic", "/down"] {
///     app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
/// }
/// assert_eq!(reporter.0.load(Ordering::Relaxed), 2);
/// # }
/// ```
///
/// `()` is the reporter that reports nowhere.
///
/// Every method but [`start`](Self::start) is an associated function of the state: the layer
/// keeps only the state on the request path, not the reporter.
pub trait Reporter: Clone + Send + Sync + 'static {
    /// What the reporter keeps of one request, from [`start`](Self::start) to the end of its
    /// response body.
    type Request: Send + 'static;

    /// What a task spawned while serving a request keeps of it (see
    /// [`bind_request_context`](crate::bind_request_context)).
    type Task: Send + 'static;

    /// The state of a new request, or `None` to leave this request alone (Sentry: no client
    /// bound). Called in the layer's `call`, before the inner service sees the request.
    fn start<B>(&self, request: &Request<B>, details: &RequestDetails) -> Option<Self::Request>;

    /// Runs `f` — a call or a poll of the inner service, a poll of the response body — with the
    /// request's state active (Sentry: its hub bound).
    fn enter<T>(request: &Self::Request, f: impl FnOnce() -> T) -> T;

    /// A panic of the handler, or of the response body while it streams; already logged.
    fn panicked(request: &Self::Request, panic: &Panic);

    /// A `5xx` answered by the application (not a probe's), with the error it attached; already
    /// logged.
    fn failed(request: &Self::Request, status: StatusCode, report: Option<&ErrorReport>);

    /// The request is answered (the headers are out; the body may still stream), failed, or was
    /// dropped before an answer. Called once per request; the state lives on in the body, for
    /// [`panicked`](Self::panicked), until the body ends.
    fn finish(request: &mut Self::Request, outcome: Outcome);

    /// What a task spawned now takes along, read on the spawning thread: inside a request, the
    /// request's state (entered by the layer); outside, whatever the reporter isolates tasks
    /// with. `None`: nothing.
    fn task() -> Option<Self::Task>;

    /// Runs `f` — a poll of a spawned task — with `task` active.
    fn enter_task<T>(task: &Self::Task, f: impl FnOnce() -> T) -> T;
}

/// How a request ended, for [`Reporter::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Answered with this status (a panic answered with `500` included).
    Response(StatusCode),
    /// The inner service failed with its error type instead of answering.
    Error,
    /// Dropped before an answer: the client went away, or a timeout further out gave up.
    Cancelled,
}

/// Reports nowhere: no state, nothing on the request path.
impl Reporter for () {
    type Request = Infallible;
    type Task = Infallible;

    #[inline]
    fn start<B>(&self, _: &Request<B>, _: &RequestDetails) -> Option<Infallible> {
        None
    }

    #[inline]
    fn enter<T>(request: &Infallible, _: impl FnOnce() -> T) -> T {
        match *request {}
    }

    fn panicked(request: &Infallible, _: &Panic) {
        match *request {}
    }

    fn failed(request: &Infallible, _: StatusCode, _: Option<&ErrorReport>) {
        match *request {}
    }

    fn finish(request: &mut Infallible, _: Outcome) {
        match *request {}
    }

    #[inline]
    fn task() -> Option<Infallible> {
        None
    }

    fn enter_task<T>(task: &Infallible, _: impl FnOnce() -> T) -> T {
        match *task {}
    }
}

/// A request's reporter state inside the response future: finished as
/// [`Outcome::Cancelled`] when the future is dropped before it finished the request.
pub(crate) struct RequestState<R: Reporter>(pub(crate) Option<R::Request>);

impl<R: Reporter> RequestState<R> {
    pub(crate) fn get(&self) -> Option<&R::Request> {
        self.0.as_ref()
    }

    /// Finishes the request with `outcome`, and hands the state on (to the body).
    pub(crate) fn finish(&mut self, outcome: Outcome) -> Option<R::Request> {
        let mut state = self.0.take()?;
        R::finish(&mut state, outcome);
        Some(state)
    }
}

impl<R: Reporter> Drop for RequestState<R> {
    fn drop(&mut self) {
        if let Some(state) = self.0.as_mut() {
            R::finish(state, Outcome::Cancelled);
        }
    }
}
