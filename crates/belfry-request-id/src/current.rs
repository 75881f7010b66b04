//! [`RequestId::current`]: the id of the request being served on this thread.

use std::{cell::Cell, ptr};

use crate::RequestId;

thread_local! {
    /// The id made current by a [`Current`] guard on this thread, or null. It points to the id
    /// the guard borrows, so it is valid while it is set.
    static CURRENT: Cell<*const RequestId> = const { Cell::new(ptr::null()) };
}

/// Makes `id` [current](RequestId::current) until the guard is dropped (the previous one is
/// current again then, also when unwinding). A guard, not a closure: a closure would take the
/// request (or hand back the future or response) by value and move it once more; a guard moves
/// nothing. Crate-private: a leaked guard (`mem::forget`) would leave the pointer behind after
/// its id is gone.
pub(crate) struct Current<'a> {
    previous: *const RequestId,
    _id: std::marker::PhantomData<&'a RequestId>,
}

impl<'a> Current<'a> {
    #[inline]
    pub(crate) fn set(id: &'a RequestId) -> Self {
        let previous = CURRENT
            .try_with(|current| current.replace(id))
            .unwrap_or(ptr::null());
        Self {
            previous,
            _id: std::marker::PhantomData,
        }
    }
}

impl Drop for Current<'_> {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.set(self.previous));
    }
}

impl RequestId {
    /// The id of the request being served on this thread: set by
    /// [`RequestIdLayer`](crate::RequestIdLayer) while the inner service is called and while its
    /// future is polled, so a handler — or a client helper it calls, such as `belfry-client`'s
    /// outgoing headers — finds it without the request. A thread-local set around each poll:
    /// a future moved away with `tokio::spawn` does not see it (carry the id explicitly).
    ///
    /// ```
    /// use belfry_request_id::{RequestId, RequestIdLayer};
    /// use http::{Request, Response};
    /// use std::convert::Infallible;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert!(RequestId::current().is_none()); // not serving a request
    /// let service = ServiceBuilder::new().layer(RequestIdLayer::new()).service(service_fn(
    ///     |_: Request<()>| async {
    ///         tokio::task::yield_now().await; // across polls
    ///         Ok::<_, Infallible>(Response::new(RequestId::current().unwrap().to_string()))
    ///     },
    /// ));
    /// let request = Request::get("/").header("x-request-id", "req-9").body(()).unwrap();
    /// assert_eq!(service.oneshot(request).await.unwrap().body(), "req-9");
    /// # }
    /// ```
    pub fn current() -> Option<RequestId> {
        let current = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
        // SAFETY: a non-null pointer was set by an `in_scope` frame still on this thread's stack
        // (it restores the previous value when it returns or unwinds), which borrows the id for
        // its whole duration: the id is alive and unchanged while it is read here.
        unsafe { current.as_ref() }.cloned()
    }
}
