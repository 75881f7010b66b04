//! URLs and request targets: [`ScrubbedUrl`].

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::policy::Rules;
use crate::query::scrub_pairs;
use crate::rewrite::{scrubbed_cow, write_scrubbed, EditSink};
use crate::ScrubPolicy;

/// A URL or request target with userinfo removed and sensitive query values
/// redacted, computed lazily.
///
/// Created by [`ScrubPolicy::url`]. Borrows the URL and does no work until
/// displayed. When nothing needs changing, `Display` writes the URL with a
/// single `write_str` and [`to_cow`](Self::to_cow) borrows it.
///
/// The URL is split as RFC 3986 describes, without validating it:
///
/// - `scheme://authority/path?query#fragment`: the userinfo (everything in
///   the authority up to its last `@`) is removed;
/// - `/path?query` (origin form) and `*`: there is no authority;
/// - anything else is read as `authority/path?query#fragment`
///   (authority form, as in `CONNECT host:443`), so `user:pass@host:443`
///   becomes `host:443`.
///
/// The query and the fragment are scrubbed like
/// [`ScrubPolicy::query`]. `Debug` also shows the scrubbed URL.
///
/// ```
/// use belfry_scrub::ScrubPolicy;
///
/// let policy = ScrubPolicy::default();
/// let url = policy.url("https://user:pass@host/p?q=1&secret=s#frag");
/// assert_eq!(url.to_string(), "https://host/p?q=1&secret=[REDACTED]#frag");
/// assert_eq!(format!("{url:?}"), r#""https://host/p?q=1&secret=[REDACTED]#frag""#);
/// ```
#[derive(Clone, Copy)]
#[must_use = "a ScrubbedUrl does nothing unless displayed"]
pub struct ScrubbedUrl<'a> {
    rules: &'a Rules,
    url: &'a str,
}

impl<'a> ScrubbedUrl<'a> {
    pub(crate) fn new(policy: &'a ScrubPolicy, url: &'a str) -> Self {
        Self {
            rules: &policy.rules,
            url,
        }
    }

    /// The scrubbed URL; borrowed when nothing needed changing.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert!(matches!(policy.url("/health?verbose=1").to_cow(), Cow::Borrowed(_)));
    /// assert_eq!(policy.url("http://a:b@host/").to_cow(), "http://host/");
    /// ```
    pub fn to_cow(&self) -> Cow<'a, str> {
        scrubbed_cow(self.url, |sink| scrub_url(self.rules, self.url, 0, true, sink))
    }
}

impl fmt::Display for ScrubbedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scrubbed(f, self.url, |sink| scrub_url(self.rules, self.url, 0, true, sink))
    }
}

impl fmt::Debug for ScrubbedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_cow(), f)
    }
}

/// Scrubs the URL `url` at nesting `depth`: its userinfo is removed (when `remove_userinfo`),
/// its query and fragment are scrubbed as `name=value` pairs.
pub(crate) fn scrub_url(rules: &Rules, url: &str, depth: u8, remove_userinfo: bool, sink: &mut dyn EditSink) {
    let UrlParts {
        userinfo,
        query,
        fragment,
    } = UrlParts::split(url);
    if let Some(range) = userinfo.filter(|_| remove_userinfo) {
        sink.edit(range, "");
    }
    for range in [query, fragment].into_iter().flatten() {
        scrub_pairs(rules, url, range, depth, sink);
    }
}

/// Whether `bytes` starts with `scheme://`.
pub(crate) fn has_scheme(bytes: &[u8]) -> bool {
    scheme_separator_end(bytes).is_some()
}

/// Byte ranges of the parts of a URL that may need scrubbing.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts {
    /// The userinfo including its trailing `@`.
    userinfo: Option<Range<usize>>,
    /// The query, without the `?`.
    query: Option<Range<usize>>,
    /// The fragment, without the `#`.
    fragment: Option<Range<usize>>,
}

impl UrlParts {
    fn split(url: &str) -> Self {
        let bytes = url.as_bytes();
        let authority_start = match scheme_separator_end(bytes) {
            Some(end) => Some(end),
            None if matches!(bytes.first(), Some(b'/' | b'*')) => None,
            None => Some(0),
        };
        let mut path_start = 0;
        let mut userinfo = None;
        if let Some(start) = authority_start {
            let end = find(bytes, start, |b| matches!(b, b'/' | b'?' | b'#'));
            if let Some(at) = bytes[start..end].iter().rposition(|&b| b == b'@') {
                userinfo = Some(start..start + at + 1);
            }
            path_start = end;
        }
        let query_or_fragment = find(bytes, path_start, |b| b == b'?' || b == b'#');
        let (query, fragment_start) = match bytes.get(query_or_fragment) {
            Some(b'?') => {
                let query_start = query_or_fragment + 1;
                let query_end = find(bytes, query_start, |b| b == b'#');
                (Some(query_start..query_end), query_end)
            }
            _ => (None, query_or_fragment),
        };
        let fragment = (fragment_start < bytes.len()).then(|| fragment_start + 1..bytes.len());
        Self {
            userinfo,
            query,
            fragment,
        }
    }
}

/// The index just after `scheme://`, if `bytes` starts with one.
fn scheme_separator_end(bytes: &[u8]) -> Option<usize> {
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let colon = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))?;
    bytes[colon..].starts_with(b"://").then_some(colon + 3)
}

/// The index of the first byte from `start` matching `is_delimiter`, or
/// `bytes.len()`.
fn find(bytes: &[u8], start: usize, is_delimiter: impl Fn(u8) -> bool) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| is_delimiter(b))
        .map_or(bytes.len(), |offset| start + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(url: &str) -> String {
        let policy = ScrubPolicy::default();
        let displayed = policy.url(url).to_string();
        assert_eq!(displayed, policy.url(url).to_cow(), "Display and to_cow differ");
        displayed
    }

    #[test]
    fn removes_userinfo() {
        assert_eq!(scrub("https://user:pass@host/p?q"), "https://host/p?q");
        assert_eq!(scrub("https://user@host"), "https://host");
        assert_eq!(scrub("HTTP://u:p@host:8080"), "HTTP://host:8080");
        assert_eq!(scrub("https://u:p@ss@host/"), "https://host/");
        assert_eq!(scrub("https://u:p@host?x=1"), "https://host?x=1");
        assert_eq!(scrub("https://u:p@host#f"), "https://host#f");
        assert_eq!(scrub("svn+ssh://u:p@host/r"), "svn+ssh://host/r");
        assert_eq!(scrub("https://@host/"), "https://host/");
    }

    #[test]
    fn at_signs_outside_the_authority_are_kept() {
        assert_eq!(scrub("https://host/@alice?to=a@b"), "https://host/@alice?to=a@b");
        assert_eq!(scrub("/users/@me"), "/users/@me");
    }

    #[test]
    fn scrubs_the_query() {
        assert_eq!(
            scrub("https://u:p@host/p?token=t&q=1"),
            "https://host/p?token=[REDACTED]&q=1"
        );
        assert_eq!(scrub("/p?a=1;sig=2"), "/p?a=1;sig=[REDACTED]");
        assert_eq!(scrub("/p?password=a?b=c"), "/p?password=[REDACTED]");
        assert_eq!(scrub("?code=1"), "?code=[REDACTED]");
    }

    #[test]
    fn scrubs_the_fragment() {
        assert_eq!(
            scrub("https://app/cb#access_token=t&token_type=bearer&state=s"),
            "https://app/cb#access_token=[REDACTED]&token_type=[REDACTED]&state=s"
        );
        assert_eq!(scrub("/p?q=1#section-2"), "/p?q=1#section-2");
        assert_eq!(scrub("/p?sig=1#sig=2"), "/p?sig=[REDACTED]#sig=[REDACTED]");
    }

    #[test]
    fn request_target_forms() {
        assert_eq!(scrub("*"), "*");
        assert_eq!(scrub("/"), "/");
        assert_eq!(scrub(""), "");
        assert_eq!(scrub("host:443"), "host:443");
        assert_eq!(scrub("user:pass@host:443"), "host:443");
        assert_eq!(scrub("//u:p@host/x"), "//u:p@host/x");
    }

    #[test]
    fn untouched_url_is_borrowed() {
        let policy = ScrubPolicy::default();
        let url = "https://example.com/a/b?page=2&q=%ff#top";
        assert!(matches!(policy.url(url).to_cow(), Cow::Borrowed(u) if u == url));
    }

    #[test]
    fn splitting() {
        assert_eq!(
            UrlParts::split("https://u@h/p?q#f"),
            UrlParts {
                userinfo: Some(8..10),
                query: Some(14..15),
                fragment: Some(16..17),
            }
        );
        assert_eq!(
            UrlParts::split("/p#f?x"),
            UrlParts {
                userinfo: None,
                query: None,
                fragment: Some(3..6),
            }
        );
        assert_eq!(
            UrlParts::split("/p?#"),
            UrlParts {
                userinfo: None,
                query: Some(3..3),
                fragment: Some(4..4),
            }
        );
    }

    #[test]
    fn scheme_detection() {
        assert_eq!(scheme_separator_end(b"https://h"), Some(8));
        assert_eq!(scheme_separator_end(b"a1+.-://"), Some(8));
        assert_eq!(scheme_separator_end(b"1http://"), None);
        assert_eq!(scheme_separator_end(b"mailto:x"), None);
        assert_eq!(scheme_separator_end(b"http"), None);
        assert_eq!(scheme_separator_end(b""), None);
    }

    proptest::proptest! {
        #[test]
        fn never_leaks_userinfo_query_or_fragment(
            password in "ZZ[A-Y0-9%:@!$'()*+,;=._~-]{0,12}",
            query in crate::query_strategies::query(),
            fragment in crate::query_strategies::query(),
        ) {
            let policy = ScrubPolicy::default();
            let url = format!("https://user:{password}@example.com/p?{}#{}", query.sent, fragment.sent);
            let displayed = policy.url(&url).to_string();
            proptest::prop_assert!(!displayed.contains(crate::query_strategies::SECRET_MARKER));
            let expected = format!("https://example.com/p?{}#{}", query.expected, fragment.expected);
            proptest::prop_assert_eq!(&displayed, &expected);
            proptest::prop_assert_eq!(policy.url(&url).to_cow(), expected);

            let target = format!("/p?{}", query.sent);
            proptest::prop_assert_eq!(policy.url(&target).to_string(), format!("/p?{}", query.expected));
        }

        #[test]
        fn never_panics(url in "(?s).{0,64}|([a-z:/@?#%=&;]|%[0-9a-fA-FG]{0,2}|token){0,16}") {
            let policy = ScrubPolicy::default();
            let displayed = policy.url(&url).to_string();
            proptest::prop_assert_eq!(policy.url(&url).to_cow(), displayed);
        }
    }
}
