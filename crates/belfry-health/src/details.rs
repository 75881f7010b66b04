//! [`ShowDetails`]: who may see the detailed health report.

use std::fmt;

use http::header::{HeaderMap, HeaderName, AUTHORIZATION};

/// Who may see check details on `GET /health` (and failed check names on
/// `GET /health/ready`).
///
/// Callers that may not get the short form only, `{"status":"pass"}`, with
/// the same status code. The default is [`always`](ShowDetails::always),
/// which suits private networks; public deployments should require a token.
///
/// ```
/// use belfry_health::{Health, ShowDetails};
///
/// let health = Health::builder()
///     .show_details(ShowDetails::bearer_token("s3cret"))
///     .build();
/// # let _ = health;
/// ```
#[derive(Clone)]
pub struct ShowDetails(Access);

#[derive(Clone)]
enum Access {
    Always,
    Never,
    BearerToken(String),
    Header(HeaderName, String),
}

impl ShowDetails {
    /// Details for every caller (the default).
    ///
    /// ```
    /// let _ = belfry_health::ShowDetails::always();
    /// ```
    pub fn always() -> Self {
        Self(Access::Always)
    }

    /// Details for no caller: the short form only.
    ///
    /// ```
    /// let _ = belfry_health::ShowDetails::never();
    /// ```
    pub fn never() -> Self {
        Self(Access::Never)
    }

    /// Details for callers that send `Authorization: Bearer <token>`.
    ///
    /// ```
    /// let _ = belfry_health::ShowDetails::bearer_token("s3cret");
    /// ```
    pub fn bearer_token(token: impl Into<String>) -> Self {
        Self(Access::BearerToken(token.into()))
    }

    /// Details for callers that send the header `name` with the value
    /// `value`.
    ///
    /// ```
    /// use http::HeaderName;
    /// let _ = belfry_health::ShowDetails::header(HeaderName::from_static("x-health-token"), "s3cret");
    /// ```
    pub fn header(name: HeaderName, value: impl Into<String>) -> Self {
        Self(Access::Header(name, value.into()))
    }

    /// Whether a request with these headers may see details.
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        match &self.0 {
            Access::Always => true,
            Access::Never => false,
            // An empty secret would let anyone in: treat it as "never".
            Access::BearerToken(token) if token.is_empty() => false,
            Access::Header(_, expected) if expected.is_empty() => false,
            Access::BearerToken(token) => headers.get_all(AUTHORIZATION).iter().any(|value| {
                let value = value.as_bytes();
                value.len() > 7
                    && value[..7].eq_ignore_ascii_case(b"bearer ")
                    && constant_time_eq(value[7..].trim_ascii(), token.as_bytes())
            }),
            Access::Header(name, expected) => headers
                .get_all(name)
                .iter()
                .any(|value| constant_time_eq(value.as_bytes(), expected.as_bytes())),
        }
    }
}

impl Default for ShowDetails {
    fn default() -> Self {
        Self::always()
    }
}

impl fmt::Debug for ShowDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        match &self.0 {
            Access::Always => f.write_str("ShowDetails::Always"),
            Access::Never => f.write_str("ShowDetails::Never"),
            Access::BearerToken(_) => f.write_str("ShowDetails::BearerToken(..)"),
            Access::Header(name, _) => write!(f, "ShowDetails::Header({name}, ..)"),
        }
    }
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn always_and_never() {
        assert!(ShowDetails::always().allows(&HeaderMap::new()));
        assert!(!ShowDetails::never().allows(&headers(&[("authorization", "Bearer x")])));
    }

    #[test]
    fn bearer_token() {
        let show = ShowDetails::bearer_token("s3cret");
        assert!(show.allows(&headers(&[("authorization", "Bearer s3cret")])));
        assert!(show.allows(&headers(&[("authorization", "bearer  s3cret ")])));
        assert!(!show.allows(&headers(&[("authorization", "Bearer s3cre")])));
        assert!(!show.allows(&headers(&[("authorization", "Basic s3cret")])));
        assert!(!show.allows(&headers(&[("authorization", "Bearer ")])));
        assert!(!show.allows(&HeaderMap::new()));
    }

    #[test]
    fn custom_header() {
        let show = ShowDetails::header(HeaderName::from_static("x-health-token"), "s3cret");
        assert!(show.allows(&headers(&[("x-health-token", "s3cret")])));
        assert!(!show.allows(&headers(&[("x-health-token", "nope")])));
        assert!(!show.allows(&headers(&[("authorization", "Bearer s3cret")])));
    }

    #[test]
    fn empty_secrets_allow_nobody() {
        assert!(!ShowDetails::bearer_token("").allows(&headers(&[("authorization", "Bearer  ")])));
        let show = ShowDetails::header(HeaderName::from_static("x-health-token"), "");
        assert!(!show.allows(&headers(&[("x-health-token", "")])));
    }

    #[test]
    fn debug_hides_secrets() {
        let debug = format!("{:?}", ShowDetails::bearer_token("s3cret"));
        assert!(!debug.contains("s3cret"));
    }
}
