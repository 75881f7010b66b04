//! [`ErrorType`]: how a failed call is named in `error.type`.

use std::borrow::Cow;

/// Names the error of a failed call for the `error.type` log field and metric label. Keep the
/// set of names small and fixed (`timeout`, `connect`, a type name): it is a metric label, capped
/// at [`MAX_ERROR_TYPES`](https://docs.rs/belfry-metrics) distinct values.
///
/// Closures implement it:
///
/// ```
/// use belfry_client::{ErrorType, PropagateLayer};
/// use std::borrow::Cow;
///
/// #[derive(Debug)]
/// enum ClientError { Timeout, Refused }
///
/// let layer = PropagateLayer::new().error_type(|error: &ClientError| match error {
///     ClientError::Timeout => Cow::Borrowed("timeout"),
///     ClientError::Refused => Cow::Borrowed("connect"),
/// });
/// # let _ = layer;
/// let name = |error: &ClientError| Cow::Borrowed(if matches!(error, ClientError::Timeout) { "timeout" } else { "connect" });
/// assert_eq!(name.error_type(&ClientError::Refused), "connect");
/// ```
pub trait ErrorType<E> {
    /// The `error.type` of `error`.
    fn error_type(&self, error: &E) -> Cow<'static, str>;
}

impl<F, E> ErrorType<E> for F
where
    F: Fn(&E) -> Cow<'static, str>,
{
    fn error_type(&self, error: &E) -> Cow<'static, str> {
        self(error)
    }
}

/// The default [`ErrorType`]: `timeout` or `connect` when the error (or one of its sources) is
/// an I/O error of that kind, otherwise the error's type name without generic parameters, as
/// OpenTelemetry suggests (`hyper_util::client::legacy::Error`).
///
/// ```
/// use belfry_client::{DefaultErrorType, ErrorType};
/// use std::io;
///
/// let timeout = io::Error::new(io::ErrorKind::TimedOut, "slow");
/// assert_eq!(DefaultErrorType.error_type(&timeout), "timeout");
/// let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "no");
/// assert_eq!(DefaultErrorType.error_type(&refused), "connect");
/// let other = io::Error::new(io::ErrorKind::Other, "?");
/// assert_eq!(DefaultErrorType.error_type(&other), "std::io::error::Error");
/// ```
///
/// For tower's `BoxError`, use [`box_error_type`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultErrorType;

impl<E> ErrorType<E> for DefaultErrorType
where
    E: std::error::Error + 'static,
{
    fn error_type(&self, error: &E) -> Cow<'static, str> {
        Cow::Borrowed(io_kind(error).unwrap_or_else(|| without_generics(std::any::type_name::<E>())))
    }
}

/// The [`ErrorType`] for tower's boxed errors (`Box<dyn Error + Send + Sync>`, what `tower`'s
/// `timeout` and `buffer` layers return), which [`DefaultErrorType`] cannot name: `timeout` for
/// tower's `Elapsed` or an I/O timeout, `connect` for a refused or reset connection, `error`
/// otherwise.
///
/// ```
/// use belfry_client::{box_error_type, PropagateLayer};
/// use std::io;
///
/// let layer = PropagateLayer::new().error_type(box_error_type);
/// # let _ = layer;
/// let error: Box<dyn std::error::Error + Send + Sync> =
///     Box::new(io::Error::new(io::ErrorKind::TimedOut, "slow"));
/// assert_eq!(box_error_type(&error), "timeout");
/// ```
#[allow(clippy::borrowed_box)] // the service error type is the box itself
pub fn box_error_type(error: &Box<dyn std::error::Error + Send + Sync>) -> Cow<'static, str> {
    let error: &(dyn std::error::Error + 'static) = &**error;
    if error.to_string() == "request timed out" {
        // tower::timeout::error::Elapsed, without depending on tower.
        return Cow::Borrowed("timeout");
    }
    Cow::Borrowed(io_kind(error).unwrap_or("error"))
}

fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return Some("timeout"),
                ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | AddrNotAvailable => {
                    return Some("connect")
                }
                _ => {}
            }
        }
        current = error.source();
    }
    None
}

fn without_generics(name: &'static str) -> &'static str {
    name.split_once('<').map_or(name, |(base, _)| base)
}
