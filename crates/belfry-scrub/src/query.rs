//! Query strings: [`ScrubbedQuery`], and the scanner of `name=value` pairs that URLs and nested
//! values share.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use percent_encoding::percent_decode;

use crate::nested::scrub_value;
use crate::policy::Rules;
use crate::rewrite::{scrubbed_cow, write_scrubbed, EditSink};
use crate::{ScrubPolicy, REDACTED};

/// A query string with sensitive values redacted, computed lazily.
///
/// Created by [`ScrubPolicy::query`]. Borrows the query and does no work
/// until displayed. When nothing needs redacting, `Display` writes the query
/// with a single `write_str` and [`to_cow`](Self::to_cow) borrows it.
///
/// `Debug` also shows the scrubbed query, never the original.
///
/// ```
/// use belfry_scrub::ScrubPolicy;
///
/// let policy = ScrubPolicy::default();
/// let query = policy.query("api_key=abc&page=2");
/// assert_eq!(format!("{query}"), "api_key=[REDACTED]&page=2");
/// assert_eq!(format!("{query:?}"), r#""api_key=[REDACTED]&page=2""#);
/// ```
#[derive(Clone, Copy)]
#[must_use = "a ScrubbedQuery does nothing unless displayed"]
pub struct ScrubbedQuery<'a> {
    rules: &'a Rules,
    query: &'a str,
}

impl<'a> ScrubbedQuery<'a> {
    pub(crate) fn new(policy: &'a ScrubPolicy, query: &'a str) -> Self {
        Self {
            rules: &policy.rules,
            query,
        }
    }

    /// The scrubbed query; borrowed when nothing needed redacting.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use belfry_scrub::ScrubPolicy;
    ///
    /// let policy = ScrubPolicy::default();
    /// assert!(matches!(policy.query("page=2").to_cow(), Cow::Borrowed("page=2")));
    /// assert_eq!(policy.query("token=t").to_cow(), "token=[REDACTED]");
    /// ```
    pub fn to_cow(&self) -> Cow<'a, str> {
        scrubbed_cow(self.query, |sink| self.scan(sink))
    }

    fn scan(&self, sink: &mut dyn EditSink) {
        scrub_pairs(self.rules, self.query, 0..self.query.len(), 0, sink);
    }
}

impl fmt::Display for ScrubbedQuery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scrubbed(f, self.query, |sink| self.scan(sink))
    }
}

impl fmt::Debug for ScrubbedQuery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_cow(), f)
    }
}

/// Scrubs `text[range]`, read as `&`/`;`-separated `name=value` pairs, at nesting `depth`.
///
/// A pair's value is redacted when it is non-empty and its name is sensitive, either as sent
/// or once decoded (unless the decoded name is explicitly shown). Any other value is scrubbed
/// for what it may hold: a URL, a query string, or either encoded again (see
/// [`crate::nested`]).
pub(crate) fn scrub_pairs(
    rules: &Rules,
    text: &str,
    range: Range<usize>,
    depth: u8,
    sink: &mut dyn EditSink,
) {
    let bytes = text.as_bytes();
    let mut position = range.start;
    while position < range.end {
        let start = position;
        let pair_end = bytes[start..range.end]
            .iter()
            .position(|&b| b == b'&' || b == b';')
            .map_or(range.end, |offset| start + offset);
        position = pair_end + 1;
        let Some(equals) = bytes[start..pair_end].iter().position(|&b| b == b'=') else {
            continue;
        };
        let value = start + equals + 1..pair_end;
        if value.is_empty() {
            continue;
        }
        if is_sensitive_encoded_name(rules, &text[start..start + equals]) {
            sink.edit(value, REDACTED);
        } else {
            scrub_value(rules, text, value, depth + 1, sink);
        }
    }
}

/// Whether the name of a pair, as sent, is sensitive. Allocates only when
/// `name` contains `%` or `+`.
fn is_sensitive_encoded_name(rules: &Rules, name: &str) -> bool {
    match decode_query_name(name) {
        Cow::Borrowed(name) => !rules.is_shown_query_param(name) && rules.matches_sensitive_query_param(name),
        // Matching the raw name too costs little and catches names that only
        // look sensitive before decoding (`%ccode`).
        Cow::Owned(decoded) => {
            !rules.is_shown_query_param(&decoded)
                && (rules.matches_sensitive_query_param(&decoded)
                    || rules.matches_sensitive_query_param(name))
        }
    }
}

/// Decodes a query parameter name: `+` is a space, `%XX` escapes are decoded,
/// invalid escapes (`%G1`, a lone `%`) are kept as is, and bytes that are not
/// UTF-8 become U+FFFD. Borrowed when there is nothing to decode.
fn decode_query_name(name: &str) -> Cow<'_, str> {
    if !name.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(name);
    }
    let spaced: Vec<u8> = name.bytes().map(|b| if b == b'+' { b' ' } else { b }).collect();
    let decoded: Vec<u8> = percent_decode(&spaced).collect();
    Cow::Owned(String::from_utf8_lossy(&decoded).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(query: &str) -> String {
        let policy = ScrubPolicy::default();
        let displayed = policy.query(query).to_string();
        assert_eq!(
            displayed,
            policy.query(query).to_cow(),
            "Display and to_cow differ"
        );
        displayed
    }

    #[test]
    fn redacts_sensitive_values_and_keeps_names() {
        assert_eq!(
            scrub("q=rust&access_token=abc&page=2"),
            "q=rust&access_token=[REDACTED]&page=2"
        );
        assert_eq!(scrub("Password=hunter2"), "Password=[REDACTED]");
        assert_eq!(
            scrub("X-Amz-Signature=abc&X-Amz-Credential=def&X-Amz-Security-Token=ghi"),
            "X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED]&X-Amz-Security-Token=[REDACTED]"
        );
        assert_eq!(
            scrub("AWSAccessKeyId=a&Signature=b&X-Goog-Signature=c&Expires=1"),
            "AWSAccessKeyId=[REDACTED]&Signature=[REDACTED]&X-Goog-Signature=[REDACTED]&Expires=1"
        );
    }

    #[test]
    fn every_default_pattern_is_redacted() {
        for name in [
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
        ] {
            assert_eq!(scrub(&format!("my{name}X=v")), format!("my{name}X=[REDACTED]"));
        }
    }

    #[test]
    fn semicolon_separators() {
        assert_eq!(scrub("a=1;token=2;b=3"), "a=1;token=[REDACTED];b=3");
        assert_eq!(
            scrub("token=1;&token=2&;"),
            "token=[REDACTED];&token=[REDACTED]&;"
        );
    }

    #[test]
    fn repeated_keys() {
        assert_eq!(
            scrub("sig=1&sig=2&q=3&q=4"),
            "sig=[REDACTED]&sig=[REDACTED]&q=3&q=4"
        );
    }

    #[test]
    fn empty_values_and_bare_names_are_kept() {
        assert_eq!(scrub("token=&password&q="), "token=&password&q=");
        assert_eq!(scrub(""), "");
        assert_eq!(scrub("&&;="), "&&;=");
    }

    #[test]
    fn value_containing_equals_is_redacted_whole() {
        assert_eq!(scrub("token=a=b==&q=1"), "token=[REDACTED]&q=1");
    }

    #[test]
    fn percent_encoded_names_are_decoded() {
        assert_eq!(scrub("acc%65ss_token=x"), "acc%65ss_token=[REDACTED]");
        assert_eq!(scrub("%74oken=x"), "%74oken=[REDACTED]");
        assert_eq!(scrub("%54%4F%4B%45%4E=x"), "%54%4F%4B%45%4E=[REDACTED]");
        assert_eq!(scrub("api%5fkey=x"), "api%5fkey=[REDACTED]");
    }

    #[test]
    fn plus_is_a_space_in_names() {
        let policy = ScrubPolicy::builder()
            .redact_query_params_containing("api key")
            .remove_query_param_substring("key")
            .build();
        assert_eq!(policy.query("my+api+key=x").to_string(), "my+api+key=[REDACTED]");
        assert_eq!(
            policy.query("my%20api%20key=x").to_string(),
            "my%20api%20key=[REDACTED]"
        );
        assert_eq!(policy.query("my+api%2Bkey=x").to_string(), "my+api%2Bkey=x");
    }

    #[test]
    fn invalid_escapes_do_not_panic() {
        assert_eq!(scrub("%ff%fe=x"), "%ff%fe=x");
        assert_eq!(scrub("%fftoken%fe=x"), "%fftoken%fe=[REDACTED]");
        assert_eq!(scrub("%=x&%G1=y&%"), "%=x&%G1=y&%");
        assert_eq!(scrub("tok%=x&token%G1=y&%4"), "tok%=x&token%G1=[REDACTED]&%4");
        assert_eq!(scrub("q=%ff&token=%ff%fe"), "q=%ff&token=[REDACTED]");
    }

    #[test]
    fn names_sensitive_only_as_sent_are_redacted() {
        // Decodes to b"\xCCode", but reads as `code` before decoding.
        assert_eq!(scrub("%ccode=x"), "%ccode=[REDACTED]");
    }

    #[test]
    fn shown_names_are_matched_decoded() {
        let policy = ScrubPolicy::builder().show_query_param("country_code").build();
        assert_eq!(policy.query("country%5Fcode=FR").to_string(), "country%5Fcode=FR");
        assert_eq!(policy.query("Country_Code=FR").to_string(), "Country_Code=FR");
        assert_eq!(policy.query("zip_code=1").to_string(), "zip_code=[REDACTED]");
    }

    #[test]
    fn unicode_is_kept() {
        assert_eq!(
            scrub("q=héllo&tøken=x&clé_secret=y"),
            "q=héllo&tøken=x&clé_secret=[REDACTED]"
        );
    }

    #[test]
    fn untouched_query_is_borrowed() {
        let policy = ScrubPolicy::default();
        let query = "q=1&%ff=2&page";
        assert!(matches!(policy.query(query).to_cow(), Cow::Borrowed(q) if q == query));
    }

    #[test]
    fn debug_never_shows_the_original() {
        let policy = ScrubPolicy::default();
        assert_eq!(
            format!("{:?}", policy.query("token=\"x\"")),
            r#""token=[REDACTED]""#
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(decode_query_name("plain"), "plain");
        assert!(matches!(decode_query_name("plain"), Cow::Borrowed(_)));
        assert_eq!(decode_query_name("a+b%2Bc"), "a b+c");
        assert_eq!(decode_query_name("%ff%fe"), "\u{FFFD}\u{FFFD}");
        assert_eq!(decode_query_name("%"), "%");
        assert_eq!(decode_query_name("%G1%4"), "%G1%4");
    }

    #[test]
    fn generated_plain_names_are_not_sensitive() {
        let policy = ScrubPolicy::default();
        for name in crate::query_strategies::PLAIN_NAMES {
            assert!(!is_sensitive_encoded_name(&policy.rules, name), "{name}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_leaks_and_keeps_plain_pairs(generated in crate::query_strategies::query()) {
            let policy = ScrubPolicy::default();
            let displayed = policy.query(&generated.sent).to_string();
            proptest::prop_assert!(!displayed.contains(crate::query_strategies::SECRET_MARKER));
            proptest::prop_assert_eq!(&displayed, &generated.expected);
            proptest::prop_assert_eq!(policy.query(&generated.sent).to_cow(), generated.expected);
        }

        #[test]
        fn never_panics(query in "(?s).{0,64}|([a-z%=&;+]|%[0-9a-fA-FG]{0,2}|token){0,16}") {
            let policy = ScrubPolicy::default();
            let displayed = policy.query(&query).to_string();
            proptest::prop_assert_eq!(policy.query(&query).to_cow(), displayed);
        }
    }
}
