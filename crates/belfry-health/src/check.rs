//! The [`HealthCheck`] trait, its [`CheckOutcome`], and closures as checks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::Status;

/// The boxed future a [`HealthCheck`] returns.
///
/// Checks are not on the request hot path, so a `Box<dyn Future>` keeps the
/// trait object-safe at a negligible cost.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckOutcome> + Send + 'a>>;

/// A health check: something that can tell whether one dependency or
/// subsystem is healthy.
///
/// The trait is object-safe; implementations return a boxed future. For a
/// quick check, [`check_fn`] turns an async closure into a `HealthCheck`.
/// Checks need no timeout of their own: [`Health`](crate::Health) bounds each
/// run (2 s by default) and reports an overrun as `fail` with the message
/// `timed out`.
///
/// ```
/// use belfry_health::{CheckFuture, CheckOutcome, HealthCheck};
///
/// struct QueueDepth {
///     limit: usize,
/// }
///
/// impl HealthCheck for QueueDepth {
///     fn check(&self) -> CheckFuture<'_> {
///         Box::pin(async move {
///             let depth = 12; // ask the queue here
///             if depth > self.limit {
///                 CheckOutcome::warn(format!("{depth} jobs queued"))
///             } else {
///                 CheckOutcome::pass()
///             }
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let outcome = QueueDepth { limit: 10 }.check().await;
/// assert_eq!(outcome.status(), belfry_health::Status::Warn);
/// assert_eq!(outcome.message(), Some("12 jobs queued"));
/// # }
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> CheckFuture<'_>;
}

impl<T: HealthCheck + ?Sized> HealthCheck for Arc<T> {
    fn check(&self) -> CheckFuture<'_> {
        (**self).check()
    }
}

impl<T: HealthCheck + ?Sized> HealthCheck for Box<T> {
    fn check(&self) -> CheckFuture<'_> {
        (**self).check()
    }
}

/// The result of running a [`HealthCheck`] once: a [`Status`] and an
/// optional message.
///
/// Besides the constructors, outcomes convert from a [`Status`], a `bool`
/// (`true` passes) and a `Result` whose error is `Display` (an error fails
/// with its text as the message), so a closure check can return any of them.
///
/// ```
/// use belfry_health::{CheckOutcome, Status};
///
/// let ok: CheckOutcome = Ok::<_, std::io::Error>(()).into();
/// assert_eq!(ok.status(), Status::Pass);
///
/// let err: CheckOutcome = Err::<(), _>("connection refused").into();
/// assert_eq!(err.status(), Status::Fail);
/// assert_eq!(err.message(), Some("connection refused"));
///
/// let slow = CheckOutcome::pass().with_message("replica lag 2s");
/// assert_eq!(slow.message(), Some("replica lag 2s"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    status: Status,
    message: Option<String>,
}

impl CheckOutcome {
    /// A passing outcome without a message.
    ///
    /// ```
    /// assert_eq!(belfry_health::CheckOutcome::pass().status(), belfry_health::Status::Pass);
    /// ```
    pub fn pass() -> Self {
        Self::from(Status::Pass)
    }

    /// A warning outcome with a message.
    ///
    /// ```
    /// let outcome = belfry_health::CheckOutcome::warn("disk 91% full");
    /// assert_eq!(outcome.status(), belfry_health::Status::Warn);
    /// ```
    pub fn warn(message: impl Into<String>) -> Self {
        Self::from(Status::Warn).with_message(message)
    }

    /// A failing outcome with a message.
    ///
    /// ```
    /// let outcome = belfry_health::CheckOutcome::fail("connection refused");
    /// assert_eq!(outcome.message(), Some("connection refused"));
    /// ```
    pub fn fail(message: impl Into<String>) -> Self {
        Self::from(Status::Fail).with_message(message)
    }

    /// Sets the message, replacing any previous one.
    ///
    /// ```
    /// let outcome = belfry_health::CheckOutcome::pass().with_message("3 replicas");
    /// assert_eq!(outcome.message(), Some("3 replicas"));
    /// ```
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The status.
    ///
    /// ```
    /// use belfry_health::{CheckOutcome, Status};
    /// assert_eq!(CheckOutcome::from(false).status(), Status::Fail);
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message, if any.
    ///
    /// ```
    /// assert_eq!(belfry_health::CheckOutcome::pass().message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl From<Status> for CheckOutcome {
    fn from(status: Status) -> Self {
        Self {
            status,
            message: None,
        }
    }
}

impl From<bool> for CheckOutcome {
    fn from(healthy: bool) -> Self {
        Self::from(if healthy { Status::Pass } else { Status::Fail })
    }
}

impl<T, E: fmt::Display> From<Result<T, E>> for CheckOutcome {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(_) => Self::pass(),
            Err(err) => Self::fail(err.to_string()),
        }
    }
}

/// Turns an async closure into a [`HealthCheck`].
///
/// The closure is called for every run; its future may return anything that
/// converts into a [`CheckOutcome`]: a `CheckOutcome`, a [`Status`], a `bool`
/// or a `Result<T, E: Display>`.
///
/// ```
/// use belfry_health::{check_fn, HealthCheck, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let check = check_fn(|| async {
///     // e.g. `sqlx::query("SELECT 1").execute(&pool).await`
///     Ok::<_, std::io::Error>(())
/// });
///
/// assert_eq!(check.check().await.status(), Status::Pass);
/// # }
/// ```
pub fn check_fn<F, Fut, O>(f: F) -> CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: Into<CheckOutcome>,
{
    CheckFn { f }
}

/// A [`HealthCheck`] made from a closure by [`check_fn`].
///
/// ```
/// let check: belfry_health::CheckFn<_> = belfry_health::check_fn(|| async { true });
/// # let _ = check;
/// ```
#[derive(Clone)]
pub struct CheckFn<F> {
    f: F,
}

impl<F> fmt::Debug for CheckFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckFn").finish_non_exhaustive()
    }
}

impl<F, Fut, O> HealthCheck for CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: Into<CheckOutcome>,
{
    fn check(&self) -> CheckFuture<'_> {
        let fut = (self.f)();
        Box::pin(async move { fut.await.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closure_outputs_convert() {
        assert_eq!(
            check_fn(|| async { Status::Warn }).check().await.status(),
            Status::Warn
        );
        assert_eq!(
            check_fn(|| async { false }).check().await,
            CheckOutcome::from(Status::Fail)
        );
        let err = check_fn(|| async { Err::<u8, _>("boom") }).check().await;
        assert_eq!(err, CheckOutcome::fail("boom"));
    }

    #[tokio::test]
    async fn shared_checks_are_checks() {
        let shared: Arc<dyn HealthCheck> = Arc::new(check_fn(|| async { true }));
        assert_eq!(shared.check().await.status(), Status::Pass);
    }
}
