//! One scrubbing policy for everything that prints request data.
//!
//! Access logs, error reports and debug output all end up printing parts of
//! an HTTP request: its target, its query string, its headers. Those parts
//! routinely carry secrets — bearer tokens, session cookies, signed-URL
//! signatures, passwords in URL userinfo. This crate defines one
//! [`ScrubPolicy`], built once and shared by every printer, that decides what
//! must be hidden and replaces it with [`REDACTED`]:
//!
//! - **Headers**: `authorization`, `proxy-authorization`, `cookie`,
//!   `set-cookie`, `x-api-key`, `x-auth-token`, `x-csrf-token`,
//!   `x-xsrf-token`, and any header whose name contains `token`, `secret`,
//!   `password`, `session` or `api-key`. See [`ScrubPolicy::headers`] and
//!   [`ScrubPolicy::is_sensitive_header`].
//! - **Query parameters** whose (decoded, case-insensitive) name contains
//!   `token`, `password`, `passwd`, `secret`, `api_key`, `apikey`, `key`,
//!   `code`, `signature`, `sig`, `session`, `auth` or `credential`, plus the
//!   OpenTelemetry list (`X-Amz-Signature`, `X-Amz-Credential`,
//!   `X-Amz-Security-Token`, `AWSAccessKeyId`, `Signature`,
//!   `X-Goog-Signature`). Their values are redacted; names stay as sent. See
//!   [`ScrubPolicy::query`].
//! - **URL userinfo** (`user:pass@`) is removed and the query is scrubbed. See
//!   [`ScrubPolicy::url`].
//!
//! Request and response bodies are never handled here.
//!
//! # Lazy, zero-cost when nothing is printed
//!
//! Scrubbing happens while formatting. [`ScrubPolicy::query`],
//! [`ScrubPolicy::url`] and [`ScrubPolicy::headers`] return small adaptors
//! that borrow their input and do no work until they are displayed or
//! iterated. When nothing needs redacting, a query or URL is written with a
//! single `write_str`; `to_cow` returns it borrowed.
//!
//! # Example
//!
//! ```
//! use belfry_scrub::{ScrubPolicy, REDACTED};
//! use http::{header, HeaderMap, HeaderValue};
//!
//! let policy = ScrubPolicy::default();
//!
//! let url = policy.url("https://alice:hunter2@example.com/cb?code=abc&state=xyz");
//! assert_eq!(url.to_string(), "https://example.com/cb?code=[REDACTED]&state=xyz");
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cr3t"));
//! headers.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
//! let printed: Vec<(String, String)> = policy
//!     .headers(&headers)
//!     .map(|(name, value)| (name.to_string(), value.to_string()))
//!     .collect();
//! assert!(printed.contains(&("authorization".into(), REDACTED.into())));
//! assert!(printed.contains(&("user-agent".into(), "curl/8".into())));
//! ```
#![deny(missing_docs)]

mod builder;
mod headers;
mod path;
mod policy;
mod query;
#[cfg(test)]
mod query_strategies;
mod rewrite;
mod url;

pub use builder::ScrubPolicyBuilder;
pub use headers::{ScrubbedHeaderValue, ScrubbedHeaders, URL_HEADERS};
pub use path::ScrubbedPath;
pub use policy::ScrubPolicy;
pub use query::ScrubbedQuery;
pub use url::ScrubbedUrl;

/// The text that replaces every redacted value.
///
/// ```
/// use belfry_scrub::{ScrubPolicy, REDACTED};
///
/// let policy = ScrubPolicy::default();
/// assert_eq!(
///     policy.query("token=abc").to_string(),
///     format!("token={REDACTED}"),
/// );
/// assert_eq!(REDACTED, "[REDACTED]");
/// ```
pub const REDACTED: &str = "[REDACTED]";
