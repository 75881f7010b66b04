//! [`BodyError`]: how a response body that failed while streaming tells the access log why.

use std::{error::Error, fmt};

type BoxError = Box<dyn Error + Send + Sync>;

/// The error a response body ends with when it could not be sent to the end: it panicked (the
/// panic was caught by belfry's capture layer), or the body itself failed.
///
/// The access log recognises it (when it is the error type of the body it wraps) and logs
/// `error.type: "panic"` for a panic; any other body error is logged as `error.type:
/// "body_error"`.
///
/// ```
/// use belfry_access_log::BodyError;
///
/// assert!(BodyError::panicked().is_panic());
/// let failed = BodyError::from_inner(std::io::Error::other("disk gone"));
/// assert!(!failed.is_panic());
/// assert_eq!(failed.to_string(), "the response body failed: disk gone");
/// assert_eq!(failed.error_type(), "body_error");
/// ```
#[derive(Debug)]
pub struct BodyError {
    inner: Option<BoxError>,
}

impl BodyError {
    /// The body panicked while it was being sent.
    pub fn panicked() -> Self {
        Self { inner: None }
    }

    /// The body failed with `error`.
    pub fn from_inner(error: impl Into<BoxError>) -> Self {
        Self {
            inner: Some(error.into()),
        }
    }

    /// Whether the body panicked.
    pub fn is_panic(&self) -> bool {
        self.inner.is_none()
    }

    /// The access log's `error.type`: `panic` or `body_error`.
    pub fn error_type(&self) -> &'static str {
        if self.is_panic() {
            ERROR_TYPE_PANIC
        } else {
            ERROR_TYPE_BODY
        }
    }
}

/// `error.type` of a request whose body panicked.
pub const ERROR_TYPE_PANIC: &str = "panic";
/// `error.type` of a request whose body ended with an error.
pub const ERROR_TYPE_BODY: &str = "body_error";
/// `error.type` of a request whose response future or body was dropped before the end.
pub const ERROR_TYPE_CANCELLED: &str = "cancelled";

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("the response body panicked"),
            Some(error) => write!(f, "the response body failed: {error}"),
        }
    }
}

impl Error for BodyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.inner.as_deref().map(|error| error as &(dyn Error + 'static))
    }
}
