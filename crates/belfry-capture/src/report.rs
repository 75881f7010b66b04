//! [`ErrorReport`]: the error behind a 5xx, attached by the application to its response.

use std::{error::Error, fmt, sync::Arc};

use axum::response::{IntoResponseParts, ResponseParts};

/// The error behind a `5xx` response, attached by the application to the response's extensions
/// for [`Capture`](crate::Capture) to report.
///
/// The response itself (status, body) is sent as the application built it; the report only
/// adds what the logs and Sentry need: the error's message, its chain of sources and the
/// concrete type of the error, captured by [`ErrorReport::new`]. Reports on responses below
/// 500 are ignored.
///
/// Attach it with [`WithErrorReport::with_error_report`], by inserting it in the response's
/// extensions, or — in axum — by returning it as a response part:
///
/// ```
/// use axum::{http::StatusCode, response::IntoResponse};
/// use belfry_capture::ErrorReport;
///
/// #[derive(Debug)]
/// struct DatabaseDown;
///
/// impl std::fmt::Display for DatabaseDown {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("database down")
///     }
/// }
///
/// impl std::error::Error for DatabaseDown {}
///
/// async fn handler() -> impl IntoResponse {
///     (StatusCode::SERVICE_UNAVAILABLE, ErrorReport::new(DatabaseDown), "try again later")
/// }
///
/// let report = ErrorReport::new(DatabaseDown);
/// assert_eq!(report.to_string(), "database down");
/// assert!(report.type_name().unwrap().ends_with("DatabaseDown"));
/// ```
#[derive(Clone)]
pub struct ErrorReport {
    error: Arc<dyn Error + Send + Sync + 'static>,
    type_name: Option<&'static str>,
}

impl ErrorReport {
    /// Wraps `error`, remembering its concrete type name (`std::any::type_name::<E>()`).
    ///
    /// ```
    /// let report = belfry_capture::ErrorReport::new(std::io::Error::other("disk full"));
    /// assert_eq!(report.error().to_string(), "disk full");
    /// assert_eq!(report.type_name(), Some("std::io::error::Error"));
    /// ```
    pub fn new<E>(error: E) -> Self
    where
        E: Error + Send + Sync + 'static,
    {
        Self {
            error: Arc::new(error),
            type_name: Some(std::any::type_name::<E>()),
        }
    }

    /// Wraps an error already boxed (as `anyhow::Error` and most error-boxing crates convert
    /// into), whose concrete type is no longer known.
    ///
    /// ```
    /// use belfry_capture::ErrorReport;
    ///
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = "invalid state".into();
    /// let report = ErrorReport::from_boxed(boxed);
    /// assert_eq!(report.to_string(), "invalid state");
    /// assert_eq!(report.type_name(), None);
    /// ```
    pub fn from_boxed(error: Box<dyn Error + Send + Sync + 'static>) -> Self {
        Self {
            error: error.into(),
            type_name: None,
        }
    }

    /// The error.
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The concrete type of the error, as given by [`std::any::type_name`] when the report was
    /// made with [`new`](Self::new) (logged as `error.type`, and the type of the outermost
    /// exception in Sentry); `None` for [`from_boxed`](Self::from_boxed).
    pub fn type_name(&self) -> Option<&'static str> {
        self.type_name
    }

    /// The error followed by its sources, outermost first.
    ///
    /// ```
    /// use belfry_capture::ErrorReport;
    ///
    /// #[derive(Debug)]
    /// struct Outer(std::io::Error);
    ///
    /// impl std::fmt::Display for Outer {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("loading config")
    ///     }
    /// }
    ///
    /// impl std::error::Error for Outer {
    ///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
    ///         Some(&self.0)
    ///     }
    /// }
    ///
    /// let report = ErrorReport::new(Outer(std::io::Error::other("permission denied")));
    /// let messages: Vec<String> = report.chain().map(|error| error.to_string()).collect();
    /// assert_eq!(messages, ["loading config", "permission denied"]);
    /// // Display joins the chain with ": " (logged as `error.chain`).
    /// assert_eq!(report.to_string(), "loading config: permission denied");
    /// ```
    pub fn chain(&self) -> impl Iterator<Item = &(dyn Error + 'static)> {
        let first: &(dyn Error + 'static) = &*self.error;
        std::iter::successors(Some(first), |&error| error.source())
    }
}

/// The chain of messages, outermost first, joined by `": "`.
impl fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.chain().enumerate() {
            if index > 0 {
                f.write_str(": ")?;
            }
            fmt::Display::fmt(error, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorReport")
            .field("type_name", &self.type_name)
            .field("error", &self.error)
            .finish()
    }
}

/// Puts the report in the response's extensions, so handlers can return it in a tuple.
impl IntoResponseParts for ErrorReport {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut response: ResponseParts) -> Result<ResponseParts, Self::Error> {
        response.extensions_mut().insert(self);
        Ok(response)
    }
}

/// Attaches an [`ErrorReport`] to a response.
///
/// ```
/// use belfry_capture::{ErrorReport, WithErrorReport};
/// use http::{Response, StatusCode};
///
/// let response = Response::builder()
///     .status(StatusCode::INTERNAL_SERVER_ERROR)
///     .body("something went wrong")
///     .unwrap()
///     .with_error_report(std::io::Error::other("disk full"));
/// assert_eq!(response.extensions().get::<ErrorReport>().unwrap().to_string(), "disk full");
/// ```
pub trait WithErrorReport {
    /// Attaches `error`, replacing any report already attached.
    fn with_error_report<E>(self, error: E) -> Self
    where
        E: Error + Send + Sync + 'static;
}

impl<B> WithErrorReport for http::Response<B> {
    fn with_error_report<E>(mut self, error: E) -> Self
    where
        E: Error + Send + Sync + 'static,
    {
        self.extensions_mut().insert(ErrorReport::new(error));
        self
    }
}
