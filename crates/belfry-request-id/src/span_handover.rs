//! The request span handed to the service directly inside [`SetRequestId`](crate::SetRequestId)
//! (with [`RequestIdLayer::hand_over_span`](crate::RequestIdLayer::hand_over_span)), so that one
//! handle on it is enough.
//!
//! A second handle costs a request ~1,000 instructions (taking it: `Span::current()` and a clone
//! through the subscriber's registry; dropping it: a close walked through every layer), measured
//! with `crates/belfry-bench`. belfry's access log holds the span until the request's line is
//! written, after the id layer's future has finished: it takes the span here, and enters it
//! itself while the request's work runs.

use std::cell::Cell;

use tracing::Span;

thread_local! {
    /// The span offered by a `SetRequestId::call` still running on this thread.
    static OFFERED: Cell<Option<Span>> = const { Cell::new(None) };
}

/// `span` on offer while the inner service's `call` runs: made before the call, withdrawn after
/// it (what was offered before — by an outer service — is on offer again, also if the call
/// unwinds).
pub(crate) struct Offer {
    previous: Option<Span>,
}

impl Offer {
    pub(crate) fn new(span: Span) -> Self {
        let previous = OFFERED
            .try_with(|offered| offered.replace(Some(span)))
            .ok()
            .flatten();
        Self { previous }
    }

    /// Ends the offer: the span, if nothing took it.
    pub(crate) fn withdraw(self) -> Option<Span> {
        // Not dropped: `previous` goes back here.
        let mut this = std::mem::ManuallyDrop::new(self);
        let previous = this.previous.take();
        OFFERED
            .try_with(|offered| offered.replace(previous))
            .ok()
            .flatten()
    }
}

impl Drop for Offer {
    /// The call unwound: the previous offer is back, and this span is dropped if still offered.
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = OFFERED.try_with(|offered| offered.set(previous));
    }
}

/// Takes the request span offered to this service's `call` by a
/// [`SetRequestId`](crate::SetRequestId) directly outside it with
/// [`hand_over_span`](crate::RequestIdLayer::hand_over_span); `None` when none is offered. The
/// caller then owns the span and enters it while the request's work runs: the id layer no longer
/// does.
///
/// ```
/// use belfry_request_id::{take_request_span, RequestIdLayer};
/// use http::{Request, Response};
/// use std::convert::Infallible;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ServiceBuilder::new()
///     .layer(RequestIdLayer::new().hand_over_span(true))
///     .service(service_fn(|_: Request<()>| {
///         let span = take_request_span().expect("offered to the service directly inside");
///         assert!(take_request_span().is_none(), "taken once");
///         async move { Ok::<_, Infallible>(Response::new(span.is_disabled())) }
///     }));
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert!(response.headers().contains_key("x-request-id"));
/// assert!(take_request_span().is_none(), "nothing is left on offer");
/// # }
/// ```
pub fn take_request_span() -> Option<Span> {
    OFFERED.try_with(Cell::take).ok().flatten()
}
