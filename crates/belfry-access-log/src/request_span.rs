//! The request span the access log holds, lent to the layers inside it while they run.
//!
//! The access log keeps one handle on the request's span until the request's line is written.
//! While it calls the inner service, polls its future and polls the response body, it makes that
//! span known on the thread ([`with_current`]), so the layers inside it — capture's streaming
//! body, Sentry's request context — borrow it instead of each taking a handle of their own
//! (`Span::current()` and the handle's drop go through the subscriber's registry: ~850
//! instructions a handle, measured with `crates/belfry-bench`).

use std::{cell::Cell, ptr};

use tracing::Span;

thread_local! {
    /// The span lent by an [`in_scope`] frame still running on this thread, or null.
    static CURRENT: Cell<*const Span> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with `span` lent as the [current](with_current) request span (nothing changes when
/// `span` is `None`); the previous one is current again afterwards, even if `f` panics.
///
/// For code that holds a request's span while the request's work runs outside the access log's
/// polls — a task bound to the request, say — so what runs there finds the span too.
///
/// ```
/// let span = tracing::info_span!("request");
/// belfry_access_log::request_span::in_scope(Some(&span), || {
///     assert!(belfry_access_log::request_span::with_current(|current| std::ptr::eq(current, &span)).unwrap());
/// });
/// assert!(belfry_access_log::request_span::with_current(|_| ()).is_none());
/// ```
#[inline]
pub fn in_scope<R>(span: Option<&Span>, f: impl FnOnce() -> R) -> R {
    let _lent = Lent::new(span);
    f()
}

/// [`in_scope`] as a guard, for this crate's own frames: the span is lent until the guard is
/// dropped. A closure would take the request (or hand back the future or response) by value
/// and move it once more per layer; a guard moves nothing. Crate-private: a guard that was
/// leaked (`mem::forget`) would leave the pointer behind after its span is gone.
pub(crate) struct Lent<'a> {
    /// What was lent before; `None` when nothing changed (no span given).
    previous: Option<*const Span>,
    _span: std::marker::PhantomData<&'a Span>,
}

impl<'a> Lent<'a> {
    #[inline]
    pub(crate) fn new(span: Option<&'a Span>) -> Self {
        let previous = span.map(|span| {
            CURRENT
                .try_with(|current| current.replace(span))
                .unwrap_or(ptr::null())
        });
        Self {
            previous,
            _span: std::marker::PhantomData,
        }
    }
}

impl Drop for Lent<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(previous) = self.previous {
            let _ = CURRENT.try_with(|current| current.set(previous));
        }
    }
}

/// Calls `f` with the request span lent on this thread — by the access log while it calls the
/// inner service, polls its future or polls the response body — or returns `None` when no span
/// is lent (no access log outside, or not serving a request).
#[inline]
pub fn with_current<R>(f: impl FnOnce(&Span) -> R) -> Option<R> {
    let current = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: a non-null pointer was set by an `in_scope` frame still on this thread's stack (it
    // restores the previous value when it returns or unwinds), which borrows the span for its
    // whole duration: the span is alive and unchanged while `f` runs.
    unsafe { current.as_ref() }.map(f)
}
