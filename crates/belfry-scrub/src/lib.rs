//! One scrubbing policy for everything that prints request data.
//!
//! Access logs, error reports and debug output all end up printing parts of
//! an HTTP request: its target, its query string, its headers. Those parts
//! routinely carry secrets — bearer tokens, session cookies, signed-URL
//! signatures, passwords in URL userinfo. This crate defines one
//! [`ScrubPolicy`], built once and shared by every printer, that decides what
//! must be hidden and replaces it with [`REDACTED`]:
//!
//! - **Headers, whole maps** ([`ScrubPolicy::headers`], what Sentry gets): by default an
//!   **allow-list** ([`HeaderMode::AllowList`]) — `accept`, `accept-charset`,
//!   `accept-encoding`, `accept-language`, `cache-control`, `connection`, `content-encoding`,
//!   `content-language`, `content-length`, `content-type`, `dnt`, `expect`, `host`,
//!   `if-match`, `if-modified-since`, `if-none-match`, `if-range`, `if-unmodified-since`,
//!   `max-forwards`, `origin`, `pragma`, `range`, `referer`, `sec-fetch-dest`,
//!   `sec-fetch-mode`, `sec-fetch-site`, `sec-fetch-user`, `te`, `transfer-encoding`,
//!   `upgrade`, `user-agent`, `via`, `x-forwarded-proto`, `x-request-id`, `x-correlation-id`,
//!   `x-requested-with`, `traceparent`, `tracestate`, `sentry-trace`, `baggage`. Every other
//!   header keeps its name and is sent as [`FILTERED`]. [`HeaderMode::DenyList`] shows every
//!   header but the credentials instead.
//! - **Credential headers**, [`REDACTED`] in both modes ([`ScrubPolicy::is_sensitive_header`]):
//!   `authorization`, `proxy-authorization`, `cookie`, `set-cookie`, `apikey`,
//!   `x-forwarded-authorization`, `x-goog-iap-jwt-assertion`, `cf-access-jwt-assertion`,
//!   `x-hub-signature(-256)`, the identities auth proxies forward (`x-forwarded-user`,
//!   `x-forwarded-email`, `x-forwarded-preferred-username`, `x-forwarded-groups`,
//!   `x-remote-user`, `remote-user`, `x-webauth-user`), `dpop`, and any header whose name
//!   contains `token`, `secret`, `passw`, `pwd`, `session`, `sessid`, `key`, `auth`,
//!   `cookie`, `jwt`, `assertion`, `signature`, `hmac`, `credential`, `csrf`, `xsrf`, `cert`,
//!   `amzn-oidc`, `cf-access`, `principal`, `userinfo` or `claim` — which covers what Envoy,
//!   nginx (oauth2-proxy), Traefik, AWS ALB, Google IAP and Cloud Endpoints, Cloudflare Access,
//!   Azure and webhook senders (GitHub, Stripe, Slack, Shopify) add.
//! - **Headers that carry a URL, a path or a host** ([`is_url_header`]: `referer`, `origin`,
//!   `location`, `content-location`, `host`, `x-forwarded-host`, `x-original-uri`,
//!   `x-original-url`, `x-forwarded-uri`, `x-rewrite-url`, `x-envoy-original-path`, … and any
//!   name ending in `-uri`, `-url` or `-path`) are shown scrubbed like [`ScrubPolicy::url`];
//!   `forwarded` pair by pair (`host="user:secret@…"` loses its userinfo).
//! - **Query parameters** whose (decoded, case-insensitive) name contains `token`, `passw`,
//!   `passphrase`, `pwd`, `secret`, `key` (so `api_key`, `apikey`), `code`, `sig` (so
//!   `signature`), `session`, `sessid`, `auth`, `credential`, `jwt`, `assertion`, `saml`,
//!   `bearer` or `hmac`, or is `pass`, `pw`, `sid`, `otp`, `pin` or `ticket`, plus the
//!   OpenTelemetry list (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`,
//!   `AWSAccessKeyId`, `Signature`, `X-Goog-Signature`). Their values are redacted; names stay
//!   as sent. Other values are decoded once and scrubbed for what they hold — a URL
//!   (`redirect=https%3A%2F%2Fx%2F%3Ftoken%3D…`), a query string, or text encoded again — up to
//!   four levels deep, past which a value still holding structure is redacted whole. See
//!   [`ScrubPolicy::query`].
//! - **URL userinfo** (`user:pass@`) is removed and the query and fragment are scrubbed. See
//!   [`ScrubPolicy::url`].
//! - **Path parameters**: given the route template (`/reset-password/{token}`), a segment bound
//!   to a parameter named like a sensitive query parameter is written as [`REDACTED`]
//!   (`/reset-password/[REDACTED]`). See [`ScrubPolicy::path`].
//!
//! Request and response bodies are never handled here.
//!
//! # Lazy, zero-cost when nothing is printed
//!
//! Scrubbing happens while formatting. [`ScrubPolicy::query`], [`ScrubPolicy::url`],
//! [`ScrubPolicy::path`] and [`ScrubPolicy::headers`] return small adaptors
//! that borrow their input and do no work until they are displayed or
//! iterated. When nothing needs redacting, a query or URL is written with a
//! single `write_str`; `to_cow` returns it borrowed. Nothing allocates unless something is
//! printed and needs changing (or a query value must be decoded to be looked into).
//!
//! # Example
//!
//! ```
//! use belfry_scrub::{ScrubPolicy, FILTERED, REDACTED};
//! use http::{header, HeaderMap, HeaderValue};
//!
//! let policy = ScrubPolicy::default();
//!
//! let url = policy.url("https://alice:hunter2@example.com/cb?code=abc&state=xyz");
//! assert_eq!(url.to_string(), "https://example.com/cb?code=[REDACTED]&state=xyz");
//!
//! let path = policy.path("/reset-password/SECRET123", Some("/reset-password/{token}"));
//! assert_eq!(path.to_string(), "/reset-password/[REDACTED]");
//!
//! let query = policy.query("next=%2Fcb%3Fjwt%3Dabc&page=2");
//! assert_eq!(query.to_string(), "next=%2Fcb%3Fjwt%3D[REDACTED]&page=2");
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cr3t"));
//! headers.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
//! headers.insert("x-tenant", HeaderValue::from_static("acme"));
//! let printed: Vec<(String, String)> = policy
//!     .headers(&headers)
//!     .map(|(name, value)| (name.to_string(), value.to_string()))
//!     .collect();
//! assert!(printed.contains(&("authorization".into(), REDACTED.into())));
//! assert!(printed.contains(&("user-agent".into(), "curl/8".into())));
//! assert!(printed.contains(&("x-tenant".into(), FILTERED.into())));
//! ```
#![deny(missing_docs)]

mod builder;
mod forwarded;
mod headers;
#[cfg(test)]
mod leak_tests;
mod nested;
mod path;
mod policy;
mod query;
#[cfg(test)]
mod query_strategies;
mod rewrite;
mod url;

pub use builder::ScrubPolicyBuilder;
pub use headers::{is_url_header, ScrubbedHeaderValue, ScrubbedHeaders, URL_HEADERS};
pub use path::ScrubbedPath;
pub use policy::{HeaderMode, ScrubPolicy};
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

/// The text that replaces the value of a header left off the allow-list
/// ([`HeaderMode::AllowList`]): not known to be a credential, not known to be safe. Sentry's
/// own scrubbing writes the same.
///
/// ```
/// use belfry_scrub::{ScrubPolicy, FILTERED};
/// use http::{HeaderName, HeaderValue};
///
/// let policy = ScrubPolicy::default();
/// let value = HeaderValue::from_static("blue");
/// let name = HeaderName::from_static("x-tenant-colour");
/// assert_eq!(policy.header_value(&name, &value).to_string(), FILTERED);
/// assert_eq!(FILTERED, "[Filtered]");
/// ```
pub const FILTERED: &str = "[Filtered]";
