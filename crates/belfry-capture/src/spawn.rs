//! Background work attributed to the request that started it.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use sentry::Hub;
use tracing::Span;

use crate::sentry_hub::{self, RequestContext};

/// Spawns `future` on the current tokio runtime, carrying the current request's context: the
/// current `tracing` span (so its events carry the `request_id`) and, when Sentry is enabled,
/// a hub made from the request's hub (so its errors and breadcrumbs are attributed to the
/// request, tagged with its `request_id`).
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

/// Binds the current request's context (the current span and, when Sentry is enabled, a hub
/// made from the current one) to `future`, for executors other than [`spawn`]'s.
///
/// Without a Sentry client, binding costs a span clone and nothing else.
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
    let sentry = sentry_hub::client_bound().then(|| {
        let hub = Arc::new(Hub::new_from_top(Hub::current()));
        (hub, RequestContext::active())
    });
    WithRequestContext {
        inner: future,
        span: Span::current(),
        sentry,
    }
}

pin_project! {
    /// A future polled in the context of the request that made it; see [`bind_request_context`].
    pub struct WithRequestContext<F> {
        #[pin]
        inner: F,
        span: Span,
        sentry: Option<(Arc<Hub>, Option<Arc<RequestContext>>)>,
    }
}

impl<F: Future> Future for WithRequestContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match this.sentry {
            Some((hub, Some(context))) => context.enter(|| Hub::run(hub.clone(), || this.inner.poll(cx))),
            Some((hub, None)) => Hub::run(hub.clone(), || this.inner.poll(cx)),
            None => this.inner.poll(cx),
        }
    }
}
