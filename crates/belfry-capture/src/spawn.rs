//! Background work attributed to the request that started it.
//!
//! While the capture layer polls a request with a [`Reporter`], it marks the thread with that
//! reporter (one `Cell` holding a function pointer, set and restored around the poll); a task
//! bound on that thread takes along what [`Reporter::task`] gives (Sentry: a hub made from the
//! request's, and the request's context), and is polled with it entered — and with the same
//! mark, so tasks it spawns carry it on. Without a reporter nothing is marked, and binding costs
//! a span clone.

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use tracing::Span;

use crate::Reporter;

/// What a task takes along of its reporter, with the reporter's type erased: one allocation,
/// when a task is spawned while a reporter is active.
trait TaskContext: Send {
    fn enter(&self, f: &mut dyn FnMut());
}

struct ReporterTask<R: Reporter>(R::Task);

impl<R: Reporter> TaskContext for ReporterTask<R> {
    fn enter(&self, f: &mut dyn FnMut()) {
        with_active_reporter::<R, _>(|| R::enter_task(&self.0, f));
    }
}

type BindTask = fn() -> Option<Box<dyn TaskContext>>;

fn bind_task<R: Reporter>() -> Option<Box<dyn TaskContext>> {
    R::task().map(|task| Box::new(ReporterTask::<R>(task)) as Box<dyn TaskContext>)
}

thread_local! {
    /// How to bind a task to the reporter of the request (or request-bound task) being polled
    /// on this thread.
    static ACTIVE_REPORTER: Cell<Option<BindTask>> = const { Cell::new(None) };
}

/// Runs `f` with `R` as the thread's active reporter, for the tasks `f` spawns.
pub(crate) fn with_active_reporter<R: Reporter, T>(f: impl FnOnce() -> T) -> T {
    let previous = ACTIVE_REPORTER.with(|active| active.replace(Some(bind_task::<R>)));
    let _restore = RestoreReporter(previous);
    f()
}

/// Puts the previous reporter back, also when `f` unwinds.
struct RestoreReporter(Option<BindTask>);

impl Drop for RestoreReporter {
    fn drop(&mut self) {
        let _ = ACTIVE_REPORTER.try_with(|active| active.set(self.0));
    }
}

/// Spawns `future` on the current tokio runtime, carrying the current request's context: the
/// current `tracing` span (so its events carry the `request_id`) and what the request's
/// [`Reporter`] gives a task (with Sentry, a hub made from the request's hub, so its errors and
/// breadcrumbs are attributed to the request, tagged with its `request_id`).
///
/// A panic in the task is reported by the [panic hook](crate::install_panic_hook) in that
/// context, and surfaces as usual as an error of the [`JoinHandle`](tokio::task::JoinHandle).
///
/// Panics like [`tokio::spawn`] outside a runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // In a handler:
/// let handle = belfry_capture::spawn(async { 6 * 7 });
/// assert_eq!(handle.await.unwrap(), 42);
/// # }
/// ```
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(bind_request_context(future))
}

/// Binds the current request's context (the current span, and what the request's [`Reporter`]
/// gives a task) to `future`, for executors other than [`spawn`]'s.
///
/// Without a reporter, binding costs a span clone and nothing else.
///
/// ```
/// use belfry_capture::bind_request_context;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let span = tracing::info_span!("job");
/// let future = span.in_scope(|| bind_request_context(async { "done" }));
/// assert_eq!(tokio::spawn(future).await.unwrap(), "done");
/// # }
/// ```
pub fn bind_request_context<F: Future>(future: F) -> WithRequestContext<F> {
    let task = ACTIVE_REPORTER
        .try_with(Cell::get)
        .ok()
        .flatten()
        .and_then(|bind| bind());
    WithRequestContext {
        inner: future,
        span: Span::current(),
        task,
    }
}

/// Binds `future` to what reporter `R` gives a task now — inside a request or not — and the
/// current span: for code that knows its reporter and wants its tasks isolated even outside
/// requests (belfry's task runner gives each task a Sentry hub of its own).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let future = belfry_capture::bind_reporter_context::<(), _>(async { 7 });
/// assert_eq!(tokio::spawn(future).await.unwrap(), 7);
/// # }
/// ```
pub fn bind_reporter_context<R: Reporter, F: Future>(future: F) -> WithRequestContext<F> {
    WithRequestContext {
        inner: future,
        span: Span::current(),
        task: bind_task::<R>(),
    }
}

pin_project! {
    /// A future polled in the context of the request that made it; see [`bind_request_context`].
    pub struct WithRequestContext<F> {
        #[pin]
        inner: F,
        span: Span,
        task: Option<Box<dyn TaskContext>>,
    }
}

impl<F: Future> Future for WithRequestContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match this.task {
            Some(task) => {
                let mut inner = this.inner;
                let mut output = Poll::Pending;
                task.enter(&mut || output = inner.as_mut().poll(cx));
                output
            }
            None => this.inner.poll(cx),
        }
    }
}
