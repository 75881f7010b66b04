//! [`ScrubPolicyBuilder`]: the default lists, and changes to them.

use std::sync::Arc;

use crate::policy::{NameSet, Rules, Substrings};
use crate::{HeaderMode, ScrubPolicy};

/// Header names redacted by default (lowercase, exact match): besides the names caught by a
/// substring, the identities that gateways and auth proxies (oauth2-proxy behind nginx or
/// Traefik, Apache, IIS) forward, and DPoP proofs.
pub(crate) const DEFAULT_SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-xsrf-token",
    "apikey",
    "x-forwarded-authorization",
    "x-goog-iap-jwt-assertion",
    "cf-access-jwt-assertion",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-remote-user",
    "remote-user",
    "x-webauth-user",
    "dpop",
];

/// A header whose name contains one of these is redacted by default. `auth` covers
/// `authorization`, `x-forwarded-authorization`, `x-auth-request-*` (oauth2-proxy with nginx
/// `auth_request`), `x-goog-authenticated-user-*` (Google IAP); `jwt`/`assertion` the signed
/// identities of Google IAP, Cloudflare Access, Pomerium, WSO2 and Envoy's `jwt_authn`
/// payloads; `amzn-oidc` AWS ALB's `x-amzn-oidc-accesstoken`/`-identity`/`-data`; `cf-access`
/// Cloudflare Access; `cert` client certificates forwarded by Envoy (`x-forwarded-client-cert`),
/// nginx, Traefik and Azure; `signature`/`hmac` webhook signatures (GitHub, Stripe, Slack,
/// Shopify, Twilio); `principal` Azure App Service's `x-ms-client-principal*`; `userinfo`
/// Google Cloud Endpoints and API Gateway's `x-endpoint-api-userinfo`; `claim` claims copied
/// into headers (Istio, Pomerium); `key` API keys (`apikey`, `ocp-apim-subscription-key`,
/// `x-functions-key`).
pub(crate) const DEFAULT_SENSITIVE_HEADER_SUBSTRINGS: &[&str] = &[
    "token",
    "secret",
    "passw",
    "pwd",
    "session",
    "sessid",
    "api-key",
    "key",
    "auth",
    "cookie",
    "jwt",
    "assertion",
    "signature",
    "hmac",
    "credential",
    "csrf",
    "xsrf",
    "cert",
    "amzn-oidc",
    "cf-access",
    "principal",
    "userinfo",
    "claim",
];

/// The headers [`HeaderMode::AllowList`] shows by default: useful to read an error report, and
/// carrying no credentials. `host`, `origin` and `referer` are scrubbed as URLs.
pub(crate) const DEFAULT_ALLOWED_HEADERS: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "connection",
    "content-encoding",
    "content-language",
    "content-length",
    "content-type",
    "dnt",
    "expect",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "max-forwards",
    "origin",
    "pragma",
    "range",
    "referer",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-user",
    "te",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "via",
    "x-forwarded-proto",
    "x-request-id",
    "x-correlation-id",
    "x-requested-with",
    "traceparent",
    "tracestate",
    "sentry-trace",
    "baggage",
];

/// A query parameter whose name contains one of these (ignoring ASCII case) is
/// redacted by default.
pub(crate) const DEFAULT_SENSITIVE_QUERY_PARAM_SUBSTRINGS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "key",
    "code",
    "signature",
    "sig",
    "session",
    "auth",
    "credential",
    "jwt",
    "pwd",
    "passw",
    "passphrase",
    "passcode",
    "sessid",
    "assertion",
    "saml",
    "bearer",
    "hmac",
];

/// Query parameter names redacted by default (exact match, ignoring ASCII
/// case): the OpenTelemetry semantic-conventions list.
pub(crate) const DEFAULT_SENSITIVE_QUERY_PARAMS: &[&str] = &[
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "X-Goog-Signature",
    "pass",
    "pw",
    "sid",
    "otp",
    "pin",
    "ticket",
];

/// Builds a [`ScrubPolicy`], starting from the default lists.
///
/// Header names and substrings are matched in lowercase (as `HeaderName`s
/// are); query parameter names and substrings ignore ASCII case. Empty names
/// and substrings are ignored. When calls conflict, the last one wins.
///
/// ```
/// use belfry_scrub::ScrubPolicyBuilder;
/// use http::{header, HeaderName};
///
/// let policy = ScrubPolicyBuilder::new()
///     .redact_header("x-internal-user")
///     .redact_headers_containing("signature")
///     .show_header("x-session-id")
///     .redact_query_params_containing("email")
///     .show_query_param("country_code")
///     .build();
/// assert!(policy.is_sensitive_header(&HeaderName::from_static("x-internal-user")));
/// assert!(policy.is_sensitive_header(&HeaderName::from_static("x-hub-signature")));
/// assert!(!policy.is_sensitive_header(&HeaderName::from_static("x-session-id")));
/// assert!(policy.is_sensitive_query_param("user_email"));
/// assert!(!policy.is_sensitive_query_param("country_code"));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ScrubPolicyBuilder {
    header_mode: HeaderMode,
    sensitive_headers: Vec<Box<str>>,
    sensitive_header_substrings: Vec<Box<str>>,
    shown_headers: Vec<Box<str>>,
    allowed_headers: Vec<Box<str>>,
    sensitive_query_params: Vec<Box<str>>,
    sensitive_query_param_substrings: Vec<Box<str>>,
    shown_query_params: Vec<Box<str>>,
    sensitive_path_params: Vec<Box<str>>,
    shown_path_params: Vec<Box<str>>,
}

impl Default for ScrubPolicyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ScrubPolicyBuilder {
    /// A builder holding the default lists (same as [`ScrubPolicy::builder`]).
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicyBuilder;
    /// use http::header;
    ///
    /// let policy = ScrubPolicyBuilder::new().build();
    /// assert!(policy.is_sensitive_header(&header::SET_COOKIE));
    /// ```
    pub fn new() -> Self {
        let boxed = |list: &[&str]| list.iter().map(|s| lowercase(s)).collect();
        Self {
            header_mode: HeaderMode::AllowList,
            sensitive_headers: boxed(DEFAULT_SENSITIVE_HEADERS),
            sensitive_header_substrings: boxed(DEFAULT_SENSITIVE_HEADER_SUBSTRINGS),
            shown_headers: Vec::new(),
            allowed_headers: boxed(DEFAULT_ALLOWED_HEADERS),
            sensitive_query_params: boxed(DEFAULT_SENSITIVE_QUERY_PARAMS),
            sensitive_query_param_substrings: boxed(DEFAULT_SENSITIVE_QUERY_PARAM_SUBSTRINGS),
            shown_query_params: Vec::new(),
            sensitive_path_params: Vec::new(),
            shown_path_params: Vec::new(),
        }
    }

    /// Redacts the header `name` (exact match, case-insensitive), as a credential: shown as
    /// [`REDACTED`](crate::REDACTED) in either [`HeaderMode`]. Also removes it from the
    /// allow-list.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::HeaderName;
    ///
    /// let policy = ScrubPolicy::builder().redact_header("X-Forwarded-For").build();
    /// assert!(policy.is_sensitive_header(&HeaderName::from_static("x-forwarded-for")));
    /// ```
    pub fn redact_header(mut self, name: impl AsRef<str>) -> Self {
        let name = lowercase(name.as_ref());
        self.shown_headers.retain(|shown| *shown != name);
        self.allowed_headers.retain(|allowed| *allowed != name);
        insert(&mut self.sensitive_headers, name);
        self
    }

    /// Shows the header `name` (exact match, case-insensitive): adds it to the allow-list, and
    /// exempts it from the credential list and substrings.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderName};
    ///
    /// let policy = ScrubPolicy::builder()
    ///     .show_header("x-session-id")
    ///     .show_header(header::COOKIE)
    ///     .build();
    /// assert!(!policy.is_sensitive_header(&HeaderName::from_static("x-session-id")));
    /// assert!(!policy.is_sensitive_header(&header::COOKIE));
    /// assert!(policy.is_sensitive_header(&HeaderName::from_static("x-session")));
    /// ```
    pub fn show_header(mut self, name: impl AsRef<str>) -> Self {
        move_to(
            &mut self.shown_headers,
            &mut self.sensitive_headers,
            name.as_ref(),
        );
        self
    }

    /// Redacts every header whose name contains `substring`
    /// (case-insensitive).
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::HeaderName;
    ///
    /// let policy = ScrubPolicy::builder().redact_headers_containing("Signature").build();
    /// assert!(policy.is_sensitive_header(&HeaderName::from_static("x-hub-signature-256")));
    /// ```
    pub fn redact_headers_containing(mut self, substring: impl AsRef<str>) -> Self {
        insert(
            &mut self.sensitive_header_substrings,
            lowercase(substring.as_ref()),
        );
        self
    }

    /// Stops redacting headers because their name contains `substring`
    /// (case-insensitive), e.g. to drop one of the defaults. Headers listed
    /// by exact name stay redacted.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::HeaderName;
    ///
    /// let policy = ScrubPolicy::builder().remove_header_substring("session").build();
    /// assert!(!policy.is_sensitive_header(&HeaderName::from_static("x-session-id")));
    /// ```
    pub fn remove_header_substring(mut self, substring: impl AsRef<str>) -> Self {
        let substring = lowercase(substring.as_ref());
        self.sensitive_header_substrings
            .retain(|existing| *existing != substring);
        self
    }

    /// Switches to [`HeaderMode::AllowList`] with only the headers in `names` (and those later
    /// passed to [`show_header`](Self::show_header)) on the allow-list, instead of the default
    /// list. Replaces any previously shown headers.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::header;
    ///
    /// let policy = ScrubPolicy::builder()
    ///     .show_only_headers([header::USER_AGENT, header::ACCEPT])
    ///     .build();
    /// assert!(policy.is_shown_header(&header::USER_AGENT));
    /// assert!(!policy.is_shown_header(&header::REFERER));
    /// ```
    pub fn show_only_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.header_mode = HeaderMode::AllowList;
        self.shown_headers.clear();
        self.allowed_headers.clear();
        names
            .into_iter()
            .fold(self, |builder, name| builder.show_header(name))
    }

    /// Chooses how headers that are not credentials are shown by [`ScrubPolicy::headers`]:
    /// [`HeaderMode::AllowList`] (the default) or [`HeaderMode::DenyList`]. Credentials are
    /// redacted in both.
    ///
    /// ```
    /// use belfry_scrub::{HeaderMode, ScrubPolicy};
    /// use http::{header, HeaderName};
    ///
    /// let policy = ScrubPolicy::builder().header_mode(HeaderMode::DenyList).build();
    /// assert!(policy.is_shown_header(&HeaderName::from_static("x-tenant")));
    /// assert!(!policy.is_shown_header(&header::AUTHORIZATION));
    /// ```
    pub fn header_mode(mut self, mode: HeaderMode) -> Self {
        self.header_mode = mode;
        self
    }

    /// Redacts the query parameter `name` (exact match of the decoded name,
    /// ignoring ASCII case).
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().redact_query_param("email").build();
    /// assert!(policy.is_sensitive_query_param("Email"));
    /// assert!(!policy.is_sensitive_query_param("email_verified"));
    /// ```
    pub fn redact_query_param(mut self, name: impl AsRef<str>) -> Self {
        move_to(
            &mut self.sensitive_query_params,
            &mut self.shown_query_params,
            name.as_ref(),
        );
        self
    }

    /// Shows the query parameter `name` (exact match of the decoded name,
    /// ignoring ASCII case) even if it is listed or contains a sensitive
    /// substring.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().show_query_param("country_code").build();
    /// assert!(!policy.is_sensitive_query_param("country_code"));
    /// assert!(policy.is_sensitive_query_param("auth_code"));
    /// ```
    pub fn show_query_param(mut self, name: impl AsRef<str>) -> Self {
        move_to(
            &mut self.shown_query_params,
            &mut self.sensitive_query_params,
            name.as_ref(),
        );
        self
    }

    /// Redacts every query parameter whose decoded name contains `substring`
    /// (ignoring ASCII case).
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().redact_query_params_containing("email").build();
    /// assert!(policy.is_sensitive_query_param("userEmail"));
    /// ```
    pub fn redact_query_params_containing(mut self, substring: impl AsRef<str>) -> Self {
        insert(
            &mut self.sensitive_query_param_substrings,
            lowercase(substring.as_ref()),
        );
        self
    }

    /// Stops redacting query parameters because their name contains
    /// `substring` (ignoring ASCII case), e.g. to drop a default that is too
    /// broad for your API. Other substrings and exact names still apply.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().remove_query_param_substring("code").build();
    /// assert!(!policy.is_sensitive_query_param("postcode"));
    /// assert!(policy.is_sensitive_query_param("auth_code"));
    /// ```
    pub fn remove_query_param_substring(mut self, substring: impl AsRef<str>) -> Self {
        let substring = lowercase(substring.as_ref());
        self.sensitive_query_param_substrings
            .retain(|existing| *existing != substring);
        self
    }

    /// Redacts path segments bound to the route parameter `name` (`{name}` or `{*name}` in the
    /// template; exact match, ignoring ASCII case), in addition to the query parameter names
    /// path parameters share.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().redact_path_param("invite").build();
    /// assert_eq!(
    ///     policy.path("/join/abc", Some("/join/{invite}")).to_string(),
    ///     "/join/[REDACTED]",
    /// );
    /// ```
    pub fn redact_path_param(mut self, name: impl AsRef<str>) -> Self {
        move_to(
            &mut self.sensitive_path_params,
            &mut self.shown_path_params,
            name.as_ref(),
        );
        self
    }

    /// Shows path segments bound to the route parameter `name` (exact match, ignoring ASCII
    /// case) even if the name is sensitive as a query parameter: `{code}` as a product code.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::builder().show_path_param("code").build();
    /// assert_eq!(policy.path("/products/AB-12", Some("/products/{code}")).to_string(), "/products/AB-12");
    /// assert!(policy.is_sensitive_query_param("code"));
    /// ```
    pub fn show_path_param(mut self, name: impl AsRef<str>) -> Self {
        move_to(
            &mut self.shown_path_params,
            &mut self.sensitive_path_params,
            name.as_ref(),
        );
        self
    }

    /// Builds the policy.
    ///
    /// ```
    /// use belfry_scrub::{ScrubPolicy, ScrubPolicyBuilder};
    ///
    /// let policy: ScrubPolicy = ScrubPolicyBuilder::new().build();
    /// assert!(policy.is_sensitive_query_param("password"));
    /// ```
    pub fn build(self) -> ScrubPolicy {
        let header_substrings = without_redundant_substrings(self.sensitive_header_substrings);
        let query_param_substrings = without_redundant_substrings(self.sensitive_query_param_substrings);
        let rules = Rules {
            header_mode: self.header_mode,
            sensitive_headers: NameSet::new(without_names_containing(
                self.sensitive_headers,
                &header_substrings,
            )),
            sensitive_header_substrings: Substrings::new(header_substrings),
            shown_headers: NameSet::new(self.shown_headers),
            allowed_headers: NameSet::new(self.allowed_headers),
            sensitive_query_params: without_names_containing(
                self.sensitive_query_params,
                &query_param_substrings,
            ),
            sensitive_query_param_substrings: Substrings::new(query_param_substrings),
            shown_query_params: self.shown_query_params,
            template_verdicts: Default::default(),
            sensitive_path_params: self.sensitive_path_params,
            shown_path_params: self.shown_path_params,
        };
        ScrubPolicy {
            rules: Arc::new(rules),
        }
    }
}

fn lowercase(s: &str) -> Box<str> {
    s.to_ascii_lowercase().into_boxed_str()
}

/// Puts `name` (lowercased) in `to` and takes it out of `from`: of a redact/show pair of calls
/// for one name, the last one wins.
fn move_to(to: &mut Vec<Box<str>>, from: &mut Vec<Box<str>>, name: &str) {
    let name = lowercase(name);
    from.retain(|listed| *listed != name);
    insert(to, name);
}

/// Adds `item` unless it is empty or already present.
fn insert(list: &mut Vec<Box<str>>, item: Box<str>) {
    if !item.is_empty() && !list.contains(&item) {
        list.push(item);
    }
}

/// Drops substrings that contain another one (`api_key` when `key` is
/// present): they can never change the outcome.
fn without_redundant_substrings(mut substrings: Vec<Box<str>>) -> Vec<Box<str>> {
    substrings.sort_by_key(|substring| substring.len());
    let mut kept: Vec<Box<str>> = Vec::with_capacity(substrings.len());
    for substring in substrings {
        if !kept.iter().any(|shorter| substring.contains(&**shorter)) {
            kept.push(substring);
        }
    }
    kept
}

/// Drops exact names already covered by a substring.
fn without_names_containing(mut names: Vec<Box<str>>, substrings: &[Box<str>]) -> Vec<Box<str>> {
    names.retain(|name| !substrings.iter().any(|substring| name.contains(&**substring)));
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    fn header(name: &str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes()).unwrap()
    }

    #[test]
    fn redundant_entries_are_compiled_away() {
        let policy = ScrubPolicy::default();
        let rules = &policy.rules;
        // Sorted by length, then bytes (a `NameSet`).
        assert_eq!(
            rules.sensitive_headers.iter().collect::<Vec<_>>(),
            [
                "dpop",
                "remote-user",
                "x-remote-user",
                "x-forwarded-user",
                "x-forwarded-email",
                "x-forwarded-groups",
                "x-forwarded-preferred-username",
            ]
        );
        // The OpenTelemetry names all contain a substring (`signature`, `credential`, ...).
        assert_eq!(
            &*rules.sensitive_query_params,
            ["pass", "pw", "sid", "otp", "pin", "ticket"].map(Box::from)
        );
        assert!(!rules
            .sensitive_query_param_substrings
            .iter()
            .any(|s| &**s == "password" || &**s == "passwd"));
        assert!(!rules
            .sensitive_query_param_substrings
            .iter()
            .any(|s| &**s == "api_key" || &**s == "signature"));
    }

    #[test]
    fn removing_a_substring_keeps_longer_ones() {
        let policy = ScrubPolicy::builder().remove_query_param_substring("KEY").build();
        assert!(!policy.is_sensitive_query_param("monkey"));
        assert!(policy.is_sensitive_query_param("api_key"));
        assert!(policy.is_sensitive_query_param("apikey"));
        assert!(policy.is_sensitive_query_param("AWSAccessKeyId"));
    }

    #[test]
    fn removing_a_header_substring_keeps_exact_names() {
        let policy = ScrubPolicy::builder().remove_header_substring("TOKEN").build();
        assert!(policy.is_sensitive_header(&header("x-auth-token")));
        assert!(policy.is_sensitive_header(&header("x-csrf-token")));
        assert!(!policy.is_sensitive_header(&header("x-refresh-token")));
    }

    #[test]
    fn last_call_wins() {
        let policy = ScrubPolicy::builder()
            .show_header("cookie")
            .redact_header("cookie")
            .redact_query_param("state")
            .show_query_param("STATE")
            .build();
        assert!(policy.is_sensitive_header(&http::header::COOKIE));
        assert!(!policy.is_sensitive_query_param("state"));
    }

    #[test]
    fn allow_list_mode() {
        let policy = ScrubPolicy::builder()
            .show_header("x-dropped")
            .show_only_headers(["Accept", "authorization"])
            .show_header("user-agent")
            .redact_header("accept")
            .build();
        assert!(policy.is_shown_header(&http::header::AUTHORIZATION));
        assert!(policy.is_shown_header(&http::header::USER_AGENT));
        assert!(policy.is_sensitive_header(&http::header::ACCEPT));
        assert!(!policy.is_shown_header(&header("x-dropped")));
        assert!(!policy.is_sensitive_header(&header("x-dropped")));
        assert!(!policy.is_shown_header(&header("x-request-id")));
    }

    #[test]
    fn default_allow_list_and_deny_list_mode() {
        let policy = ScrubPolicy::default();
        for name in DEFAULT_ALLOWED_HEADERS {
            assert!(policy.is_shown_header(&header(name)), "{name}");
            assert!(!policy.is_sensitive_header(&header(name)), "{name}");
        }
        assert!(!policy.is_shown_header(&header("x-tenant")));
        let deny = ScrubPolicy::builder().header_mode(HeaderMode::DenyList).build();
        assert!(deny.is_shown_header(&header("x-tenant")));
        assert!(!deny.is_shown_header(&header("x-goog-iap-jwt-assertion")));
        let shown = ScrubPolicy::builder().show_header("x-tenant").build();
        assert!(shown.is_shown_header(&header("x-tenant")));
        let removed = ScrubPolicy::builder().redact_header("via").build();
        assert!(!removed.is_shown_header(&header("via")));
        assert!(removed.is_sensitive_header(&header("via")));
    }

    #[test]
    fn empty_entries_are_ignored() {
        let policy = ScrubPolicy::builder()
            .redact_headers_containing("")
            .redact_query_params_containing("")
            .redact_query_param("")
            .build();
        assert!(!policy.is_sensitive_header(&http::header::ACCEPT));
        assert!(!policy.is_sensitive_query_param("page"));
        assert!(!policy.is_sensitive_query_param(""));
    }
}
