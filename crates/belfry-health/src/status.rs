//! The three-valued health status of the IETF health check draft.

use std::fmt;

use http::StatusCode;
use serde::Serialize;

/// The status of a check, or of a whole report.
///
/// Follows the IETF draft "Health Check Response Format for HTTP APIs":
/// `pass` (healthy), `warn` (healthy, with concerns) and `fail` (unhealthy).
/// The variants are ordered from best to worst, so the status of several
/// results is their maximum.
///
/// ```
/// use belfry_health::Status;
///
/// assert!(Status::Pass < Status::Warn && Status::Warn < Status::Fail);
/// assert_eq!(Status::Warn.as_str(), "warn");
/// assert_eq!(Status::Fail.http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with concerns (for example a non-critical dependency is down).
    Warn,
    /// Unhealthy.
    Fail,
}

impl Status {
    /// The status as it appears in JSON: `"pass"`, `"warn"` or `"fail"`.
    ///
    /// ```
    /// assert_eq!(belfry_health::Status::Pass.as_str(), "pass");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// The HTTP status code a health endpoint answers with:
    /// `200 OK` for `pass` and `warn`, `503 Service Unavailable` for `fail`.
    ///
    /// ```
    /// use belfry_health::Status;
    /// use http::StatusCode;
    ///
    /// assert_eq!(Status::Warn.http_status(), StatusCode::OK);
    /// ```
    pub fn http_status(self) -> StatusCode {
        match self {
            Status::Pass | Status::Warn => StatusCode::OK,
            Status::Fail => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_lowercase() {
        assert_eq!(serde_json::to_string(&Status::Pass).unwrap(), r#""pass""#);
        assert_eq!(serde_json::to_string(&Status::Warn).unwrap(), r#""warn""#);
        assert_eq!(serde_json::to_string(&Status::Fail).unwrap(), r#""fail""#);
    }

    #[test]
    fn worst_is_max() {
        let worst = [Status::Pass, Status::Fail, Status::Warn].into_iter().max();
        assert_eq!(worst, Some(Status::Fail));
    }
}
