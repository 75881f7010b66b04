//! Headers: [`ScrubbedHeaders`] and [`ScrubbedHeaderValue`].

use std::borrow::Cow;
use std::fmt;
use std::iter::FusedIterator;

use http::header::Iter;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::forwarded::scrub_forwarded;
use crate::rewrite::{scrubbed_cow, EditSink};
use crate::url::scrub_url;
use crate::{ScrubPolicy, FILTERED, REDACTED};

/// An iterator over a [`HeaderMap`] yielding each header name with its value
/// scrubbed.
///
/// Created by [`ScrubPolicy::headers`]. A header with several values is
/// yielded once per value. `Debug` shows every header of the map, scrubbed,
/// whatever has been iterated already, so `?policy.headers(&headers)` can be
/// logged directly.
///
/// ```
/// use belfry_scrub::ScrubPolicy;
/// use http::{header, HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
/// headers.insert("x-auth-token", HeaderValue::from_static("t0k3n"));
///
/// let policy = ScrubPolicy::default();
/// let mut printed: Vec<String> = policy
///     .headers(&headers)
///     .map(|(name, value)| format!("{name}: {value}"))
///     .collect();
/// printed.sort();
/// assert_eq!(printed, ["accept: */*", "x-auth-token: [REDACTED]"]);
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct ScrubbedHeaders<'a> {
    policy: &'a ScrubPolicy,
    map: &'a HeaderMap,
    headers: Iter<'a, HeaderValue>,
}

impl<'a> ScrubbedHeaders<'a> {
    pub(crate) fn new(policy: &'a ScrubPolicy, headers: &'a HeaderMap) -> Self {
        Self {
            policy,
            map: headers,
            headers: headers.iter(),
        }
    }
}

impl<'a> Iterator for ScrubbedHeaders<'a> {
    type Item = (&'a HeaderName, ScrubbedHeaderValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value) = self.headers.next()?;
        Some((name, self.policy.header_value(name, value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.headers.size_hint()
    }
}

impl FusedIterator for ScrubbedHeaders<'_> {}

impl fmt::Debug for ScrubbedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(ScrubbedHeaders::new(self.policy, self.map))
            .finish()
    }
}

/// A header value: hidden, or shown (lossily if it is not UTF-8, and scrubbed as a URL if the
/// header carries one).
///
/// Created by [`ScrubPolicy::header_value`] and [`ScrubbedHeaders`]. Displays as
/// [`REDACTED`] (a credential), [`FILTERED`] (not on the allow-list), or the value, with each
/// invalid UTF-8 sequence replaced by U+FFFD. A header that carries a URL or a host
/// ([`is_url_header`]) is shown through [`ScrubPolicy::url`]; `Forwarded` pair by pair, each
/// value scrubbed as a URL. `Debug` shows the same text, quoted.
///
/// ```
/// use belfry_scrub::ScrubPolicy;
/// use http::{header, HeaderValue};
///
/// let policy = ScrubPolicy::default();
/// let value = HeaderValue::from_bytes(b"caf\xe9").unwrap();
/// assert_eq!(policy.header_value(&header::USER_AGENT, &value).to_string(), "caf\u{FFFD}");
/// let referer = HeaderValue::from_static("https://app.example/cb?code=abc&page=2");
/// assert_eq!(
///     policy.header_value(&header::REFERER, &referer).to_string(),
///     "https://app.example/cb?code=[REDACTED]&page=2",
/// );
/// ```
#[derive(Clone, Copy)]
pub struct ScrubbedHeaderValue<'a> {
    value: &'a [u8],
    policy: &'a ScrubPolicy,
    treatment: Treatment,
}

/// What a policy does with the value of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// A credential: [`REDACTED`].
    Redacted,
    /// Not on the allow-list: [`FILTERED`].
    Filtered,
    /// Shown as it is.
    Shown,
    /// Shown, scrubbed as a URL or an authority.
    Url,
    /// Shown, scrubbed as a `Forwarded` header.
    Forwarded,
}

/// Headers whose value is a URL, a path or a host, scrubbed like one (userinfo removed, query
/// and fragment scrubbed): a `Referer` can carry `?access_token=…`, a `Host` or
/// `X-Forwarded-Host` can carry `user:password@`, and the original-URI headers proxies add
/// (nginx, Envoy, Traefik, IIS) carry the whole request target. Any header whose name ends in
/// `-uri`, `-url` or `-path` is treated the same ([`is_url_header`]); `Forwarded` is scrubbed
/// pair by pair.
pub const URL_HEADERS: &[&str] = &[
    "referer",
    "origin",
    "location",
    "content-location",
    "host",
    "x-forwarded-host",
    "x-forwarded-server",
    "x-original-host",
    "x-original-uri",
    "x-original-url",
    "x-forwarded-uri",
    "x-forwarded-url",
    "x-forwarded-prefix",
    "x-rewrite-url",
    "x-envoy-original-path",
    "x-envoy-original-url",
    "x-request-uri",
    "x-forwarded-path",
];

/// Whether the value of the header `name` (lowercase, as `HeaderName`s are) is a URL, a path
/// or a host: listed in [`URL_HEADERS`], or named `…-uri`, `…-url` or `…-path`.
///
/// ```
/// use belfry_scrub::is_url_header;
///
/// assert!(is_url_header("referer"));
/// assert!(is_url_header("x-original-uri"));
/// assert!(is_url_header("x-my-callback-url"));
/// assert!(!is_url_header("user-agent"));
/// ```
pub fn is_url_header(name: &str) -> bool {
    URL_HEADERS.contains(&name) || name.ends_with("-uri") || name.ends_with("-url") || name.ends_with("-path")
}

impl<'a> ScrubbedHeaderValue<'a> {
    pub(crate) fn new(value: &'a [u8], policy: &'a ScrubPolicy, treatment: Treatment) -> Self {
        Self {
            value,
            policy,
            treatment,
        }
    }

    /// Whether the value is hidden: [`REDACTED`] or [`FILTERED`].
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderName, HeaderValue};
    ///
    /// let policy = ScrubPolicy::default();
    /// let value = HeaderValue::from_static("sid=1");
    /// assert!(policy.header_value(&header::SET_COOKIE, &value).is_redacted());
    /// assert!(policy.header_value(&HeaderName::from_static("x-note"), &value).is_redacted());
    /// assert!(!policy.header_value(&header::ACCEPT, &value).is_redacted());
    /// ```
    pub fn is_redacted(&self) -> bool {
        matches!(self.treatment, Treatment::Redacted | Treatment::Filtered)
    }

    /// Whether the value is hidden only because the header is not on the allow-list
    /// ([`FILTERED`]).
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderName, HeaderValue};
    ///
    /// let policy = ScrubPolicy::default();
    /// let value = HeaderValue::from_static("v");
    /// assert!(policy.header_value(&HeaderName::from_static("x-note"), &value).is_filtered());
    /// assert!(!policy.header_value(&header::AUTHORIZATION, &value).is_filtered());
    /// ```
    pub fn is_filtered(&self) -> bool {
        self.treatment == Treatment::Filtered
    }

    /// The value as text: [`REDACTED`], [`FILTERED`], the value itself (borrowed) when it is
    /// UTF-8 and needs no scrubbing, or a scrubbed or lossy copy.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderValue};
    ///
    /// let policy = ScrubPolicy::default();
    /// let value = HeaderValue::from_static("text/html");
    /// let shown = policy.header_value(&header::ACCEPT, &value).to_cow();
    /// assert!(matches!(shown, Cow::Borrowed("text/html")));
    /// let hidden = policy.header_value(&header::COOKIE, &value).to_cow();
    /// assert_eq!(hidden, "[REDACTED]");
    /// ```
    pub fn to_cow(&self) -> Cow<'a, str> {
        let rules = &*self.policy.rules;
        let scan = |text: &str, sink: &mut dyn EditSink| match self.treatment {
            Treatment::Url => scrub_url(rules, text, 0, true, sink),
            _ => scrub_forwarded(rules, text, sink),
        };
        let treatment = match self.treatment {
            Treatment::Redacted => return Cow::Borrowed(REDACTED),
            Treatment::Filtered => return Cow::Borrowed(FILTERED),
            shown => shown,
        };
        // Validated once, and only when shown: `from_utf8_lossy` of valid UTF-8 borrows too, but
        // walks the value in chunks at several times the cost.
        match (treatment, std::str::from_utf8(self.value)) {
            (Treatment::Shown, Ok(text)) => Cow::Borrowed(text),
            (Treatment::Shown, Err(_)) => String::from_utf8_lossy(self.value),
            (_, Ok(text)) => scrubbed_cow(text, |sink| scan(text, sink)),
            (_, Err(_)) => {
                let text = String::from_utf8_lossy(self.value);
                Cow::Owned(scrubbed_cow(&text, |sink| scan(&text, sink)).into_owned())
            }
        }
    }
}

impl fmt::Display for ScrubbedHeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.treatment {
            Treatment::Redacted => f.write_str(REDACTED),
            Treatment::Filtered => f.write_str(FILTERED),
            Treatment::Shown => {
                for chunk in self.value.utf8_chunks() {
                    f.write_str(chunk.valid())?;
                    if !chunk.invalid().is_empty() {
                        f.write_str("\u{FFFD}")?;
                    }
                }
                Ok(())
            }
            Treatment::Url | Treatment::Forwarded => f.write_str(&self.to_cow()),
        }
    }
}

impl fmt::Debug for ScrubbedHeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_cow(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn scrubbed(policy: &ScrubPolicy, headers: &HeaderMap) -> Vec<(String, String)> {
        policy
            .headers(headers)
            .map(|(name, value)| {
                assert_eq!(value.to_string(), value.to_cow(), "Display and to_cow differ");
                (name.to_string(), value.to_string())
            })
            .collect()
    }

    fn deny_list() -> ScrubPolicy {
        ScrubPolicy::builder()
            .header_mode(crate::HeaderMode::DenyList)
            .build()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn redacts_sensitive_headers_and_keeps_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
        headers.insert("x-session-id", HeaderValue::from_static("s"));
        let policy = ScrubPolicy::default();
        assert_eq!(
            scrubbed(&policy, &headers),
            pairs(&[
                ("authorization", "[REDACTED]"),
                ("user-agent", "curl/8"),
                ("x-session-id", "[REDACTED]"),
            ])
        );
    }

    #[test]
    fn every_value_of_a_repeated_header() {
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        headers.append(header::VARY, HeaderValue::from_static("accept"));
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        let policy = deny_list();
        assert_eq!(
            scrubbed(&policy, &headers),
            pairs(&[
                ("set-cookie", "[REDACTED]"),
                ("set-cookie", "[REDACTED]"),
                ("vary", "accept"),
                ("vary", "origin"),
            ])
        );
    }

    #[test]
    fn non_utf8_values_are_lossy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-raw", HeaderValue::from_bytes(b"a\xff\xfeb\xe9").unwrap());
        headers.insert("x-utf8", HeaderValue::from_bytes("été".as_bytes()).unwrap());
        headers.insert("x-secret-raw", HeaderValue::from_bytes(b"\xff").unwrap());
        let policy = deny_list();
        assert_eq!(
            scrubbed(&policy, &headers),
            pairs(&[
                ("x-raw", "a\u{FFFD}\u{FFFD}b\u{FFFD}"),
                ("x-utf8", "été"),
                ("x-secret-raw", "[REDACTED]"),
            ])
        );
    }

    #[test]
    fn allow_list_mode() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(header::REFERER, HeaderValue::from_static("https://a/"));
        let policy = ScrubPolicy::builder().show_only_headers([header::ACCEPT]).build();
        assert_eq!(
            scrubbed(&policy, &headers),
            pairs(&[("accept", "*/*"), ("referer", "[Filtered]")])
        );
    }

    #[test]
    fn debug_shows_scrubbed_values() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("sid=1"));
        let policy = ScrubPolicy::default();
        assert_eq!(
            format!("{:?}", policy.headers(&headers)),
            r#"{"cookie": "[REDACTED]"}"#
        );
    }

    #[test]
    fn size_hint_and_fuse() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        let policy = ScrubPolicy::default();
        let mut iter = policy.headers(&headers);
        assert_eq!(iter.size_hint().0, 1);
        assert!(iter.next().is_some());
        assert!(iter.next().is_none());
        assert!(iter.next().is_none());
    }
}

#[cfg(test)]
mod url_header_tests {
    use http::{header, HeaderValue};

    use crate::ScrubPolicy;

    #[test]
    fn url_valued_headers_are_scrubbed_like_urls() {
        let policy = ScrubPolicy::default();
        let referer = HeaderValue::from_static("https://app.example/cb?access_token=s3cr3t&page=2");
        let shown = policy.header_value(&header::REFERER, &referer);
        assert!(!shown.is_redacted());
        assert_eq!(
            shown.to_string(),
            "https://app.example/cb?access_token=[REDACTED]&page=2"
        );
        assert_eq!(
            shown.to_cow(),
            "https://app.example/cb?access_token=[REDACTED]&page=2"
        );

        let host = HeaderValue::from_static("user:s3cr3t@api.example:8443");
        assert_eq!(
            policy.header_value(&header::HOST, &host).to_string(),
            "api.example:8443"
        );

        let plain = HeaderValue::from_static("api.example");
        assert_eq!(policy.header_value(&header::HOST, &plain).to_cow(), "api.example");

        let odd = HeaderValue::from_bytes(b"https://u:s3cr3t@h\xff/p?token=s3cr3t").unwrap();
        let text = policy.header_value(&header::LOCATION, &odd).to_string();
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}

#[cfg(test)]
mod gateway_tests {
    use http::{HeaderMap, HeaderName, HeaderValue};

    use crate::{HeaderMode, ScrubPolicy, FILTERED, REDACTED};

    fn shown(policy: &ScrubPolicy, name: &str, value: &str) -> String {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        let value = HeaderValue::from_str(value).unwrap();
        let scrubbed = policy.header_value(&name, &value);
        assert_eq!(scrubbed.to_string(), scrubbed.to_cow());
        scrubbed.to_string()
    }

    #[test]
    fn credentials_gateways_add_are_redacted_in_both_modes() {
        let deny = ScrubPolicy::builder().header_mode(HeaderMode::DenyList).build();
        for policy in [ScrubPolicy::default(), deny] {
            for name in [
                "x-forwarded-authorization",
                "x-goog-iap-jwt-assertion",
                "x-goog-authenticated-user-email",
                "apikey",
                "x-amzn-oidc-accesstoken",
                "x-amzn-oidc-data",
                "x-amzn-oidc-identity",
                "cf-access-jwt-assertion",
                "cf-access-client-id",
                "cf-access-client-secret",
                "x-hub-signature",
                "x-hub-signature-256",
                "x-gitlab-token",
                "stripe-signature",
                "x-slack-signature",
                "x-shopify-hmac-sha256",
                "x-auth-request-access-token",
                "x-auth-request-email",
                "x-forwarded-access-token",
                "x-forwarded-user",
                "x-forwarded-email",
                "x-forwarded-client-cert",
                "x-forwarded-tls-client-cert",
                "x-ssl-client-cert",
                "x-ms-client-principal",
                "x-ms-token-aad-id-token",
                "x-endpoint-api-userinfo",
                "x-apigateway-api-userinfo",
                "ocp-apim-subscription-key",
                "x-jwt-assertion",
                "x-pomerium-jwt-assertion",
                "x-jwt-payload",
                "x-vault-token",
                "private-token",
                "dpop",
                "x-serverless-authorization",
            ] {
                assert_eq!(shown(&policy, name, "S3CR3T"), REDACTED, "{name}");
            }
        }
    }

    #[test]
    fn allow_list_filters_the_rest_and_keeps_names() {
        let policy = ScrubPolicy::default();
        assert_eq!(shown(&policy, "x-tenant", "acme"), FILTERED);
        assert_eq!(shown(&policy, "x-forwarded-for", "192.0.2.1"), FILTERED);
        assert_eq!(shown(&policy, "user-agent", "curl/8"), "curl/8");
        assert_eq!(shown(&policy, "traceparent", "00-ab-cd-01"), "00-ab-cd-01");
        assert_eq!(shown(&policy, "host", "u:S3CR3T@api.example"), "api.example");
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", HeaderValue::from_static("acme"));
        let (name, value) = policy.headers(&headers).next().unwrap();
        assert_eq!((name.as_str(), value.is_filtered()), ("x-tenant", true));
    }

    #[test]
    fn url_carrying_headers_are_scrubbed_as_urls() {
        let deny = ScrubPolicy::builder().header_mode(HeaderMode::DenyList).build();
        let cases = [
            (
                "x-original-uri",
                "/cb?code=S3CR3T&page=2",
                "/cb?code=[REDACTED]&page=2",
            ),
            ("x-forwarded-uri", "/a?jwt=S3CR3T", "/a?jwt=[REDACTED]"),
            ("x-rewrite-url", "/a?pwd=S3CR3T", "/a?pwd=[REDACTED]"),
            ("x-original-url", "https://u:S3CR3T@h/a", "https://h/a"),
            ("x-envoy-original-path", "/a?token=S3CR3T", "/a?token=[REDACTED]"),
            (
                "x-my-callback-url",
                "https://h/?sig=S3CR3T",
                "https://h/?sig=[REDACTED]",
            ),
            ("x-some-path", "/p?pass=S3CR3T", "/p?pass=[REDACTED]"),
            ("x-forwarded-host", "u:S3CR3T@api.example", "api.example"),
            ("origin", "https://u:S3CR3T@app.example", "https://app.example"),
            (
                "referer",
                "https://app/?redirect=https%3A%2F%2Fx%2F%3Ftoken%3DS3CR3T",
                "https://app/?redirect=https%3A%2F%2Fx%2F%3Ftoken%3D[REDACTED]",
            ),
            (
                "forwarded",
                r#"for=192.0.2.60;proto=https;host="user:S3CR3T@api.example""#,
                r#"for=192.0.2.60;proto=https;host="api.example""#,
            ),
        ];
        for (name, value, expected) in cases {
            assert_eq!(shown(&deny, name, value), expected, "{name}");
        }
        // Allow-listed URL headers are scrubbed the same way in the default mode.
        let policy = ScrubPolicy::default();
        assert_eq!(
            shown(&policy, "referer", "https://app/cb?access_token=S3CR3T"),
            "https://app/cb?access_token=[REDACTED]"
        );
        assert_eq!(shown(&policy, "x-original-uri", "/cb?page=2"), FILTERED);
    }
}
