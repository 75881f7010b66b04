//! Headers: [`ScrubbedHeaders`] and [`ScrubbedHeaderValue`].

use std::borrow::Cow;
use std::fmt;
use std::iter::FusedIterator;

use http::header::Iter;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{ScrubPolicy, REDACTED};

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

/// A header value, either redacted or shown (lossily if it is not UTF-8).
///
/// Created by [`ScrubPolicy::header_value`] and [`ScrubbedHeaders`]. Displays
/// as [`REDACTED`] or as the value, with each invalid UTF-8 sequence replaced
/// by U+FFFD, without allocating. `Debug` shows the same text, quoted.
///
/// ```
/// use belfry_scrub::ScrubPolicy;
/// use http::{header, HeaderValue};
///
/// let policy = ScrubPolicy::default();
/// let value = HeaderValue::from_bytes(b"caf\xe9").unwrap();
/// assert_eq!(policy.header_value(&header::USER_AGENT, &value).to_string(), "caf\u{FFFD}");
/// ```
#[derive(Clone, Copy)]
pub struct ScrubbedHeaderValue<'a> {
    value: &'a HeaderValue,
    redacted: bool,
    /// Set for headers whose value is a URL or an authority ([`URL_HEADERS`]): shown through
    /// the policy's URL scrubber (userinfo removed, query scrubbed).
    url_policy: Option<&'a ScrubPolicy>,
}

/// Headers whose value is a URL or a host, scrubbed like one: a `Referer` can carry
/// `?access_token=…`, and a `Host` can carry `user:password@`.
pub const URL_HEADERS: [&str; 7] = [
    "referer",
    "origin",
    "location",
    "content-location",
    "host",
    "x-forwarded-host",
    "x-original-url",
];

impl<'a> ScrubbedHeaderValue<'a> {
    pub(crate) fn new(value: &'a HeaderValue, redacted: bool, url_policy: Option<&'a ScrubPolicy>) -> Self {
        Self {
            value,
            redacted,
            url_policy,
        }
    }

    /// Whether the value is hidden.
    ///
    /// ```
    /// use belfry_scrub::ScrubPolicy;
    /// use http::{header, HeaderValue};
    ///
    /// let policy = ScrubPolicy::default();
    /// let value = HeaderValue::from_static("sid=1");
    /// assert!(policy.header_value(&header::SET_COOKIE, &value).is_redacted());
    /// assert!(!policy.header_value(&header::ACCEPT, &value).is_redacted());
    /// ```
    pub fn is_redacted(&self) -> bool {
        self.redacted
    }

    /// The value as text: [`REDACTED`], the value itself (borrowed) when it
    /// is UTF-8, or a lossy copy.
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
        if self.redacted {
            return Cow::Borrowed(REDACTED);
        }
        match (self.url_policy, self.value.to_str()) {
            (Some(policy), Ok(text)) => policy.url(text).to_cow(),
            (Some(policy), Err(_)) => Cow::Owned(
                policy
                    .url(&String::from_utf8_lossy(self.value.as_bytes()))
                    .to_string(),
            ),
            (None, _) => String::from_utf8_lossy(self.value.as_bytes()),
        }
    }
}

impl fmt::Display for ScrubbedHeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.redacted {
            return f.write_str(REDACTED);
        }
        if self.url_policy.is_some() {
            return f.write_str(&self.to_cow());
        }
        for chunk in self.value.as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
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
        let policy = ScrubPolicy::default();
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
        let policy = ScrubPolicy::default();
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
            pairs(&[("accept", "*/*"), ("referer", "[REDACTED]")])
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
