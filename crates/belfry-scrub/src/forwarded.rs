//! The `Forwarded` header (RFC 7239): `for=192.0.2.60;proto=https;host="user:secret@example.com",
//! for=…` — elements separated by `,`, pairs by `;`, values tokens or quoted strings.
//!
//! Each value is scrubbed as a URL (so `host="user:secret@…"` loses its userinfo and a query in
//! a value is scrubbed), and the value of a pair whose name is sensitive (an extension such as
//! `secret=…`) is redacted.

use crate::policy::Rules;
use crate::rewrite::{EditSink, ShiftedSink};
use crate::url::scrub_url;
use crate::REDACTED;

/// Scrubs a `Forwarded` header value.
pub(crate) fn scrub_forwarded(rules: &Rules, text: &str, sink: &mut dyn EditSink) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if matches!(bytes[at], b';' | b',' | b' ' | b'\t') {
            at += 1;
            continue;
        }
        let name_start = at;
        while at < bytes.len() && !matches!(bytes[at], b'=' | b';' | b',') {
            at += 1;
        }
        if bytes.get(at) != Some(&b'=') {
            continue;
        }
        let name = text[name_start..at].trim();
        at += 1;
        let value = if bytes.get(at) == Some(&b'"') {
            let start = at + 1;
            at = start;
            while at < bytes.len() && bytes[at] != b'"' {
                at += if bytes[at] == b'\\' { 2 } else { 1 };
            }
            let end = at.min(bytes.len());
            at = end + 1;
            start..end
        } else {
            let start = at;
            while at < bytes.len() && !matches!(bytes[at], b';' | b',' | b' ' | b'\t') {
                at += 1;
            }
            start..at
        };
        if value.is_empty() {
            continue;
        }
        if rules.is_sensitive_query_param(name) {
            sink.edit(value, REDACTED);
        } else {
            let mut shifted = ShiftedSink {
                offset: value.start,
                outer: sink,
            };
            scrub_url(rules, &text[value], 0, true, &mut shifted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::scrubbed_cow;
    use crate::ScrubPolicy;

    fn scrub(value: &str) -> String {
        let policy = ScrubPolicy::default();
        scrubbed_cow(value, |sink| scrub_forwarded(&policy.rules, value, sink)).into_owned()
    }

    #[test]
    fn userinfo_in_host_is_removed() {
        assert_eq!(
            scrub(r#"for=192.0.2.60;proto=https;host="user:SECRET@example.com""#),
            r#"for=192.0.2.60;proto=https;host="example.com""#
        );
        assert_eq!(
            scrub("for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";host=u:SECRET@h"),
            "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";host=h"
        );
    }

    #[test]
    fn sensitive_extensions_and_queries() {
        assert_eq!(scrub("for=a;secret=SECRET;by=b"), "for=a;secret=[REDACTED];by=b");
        assert_eq!(scrub(r#"for=a;token="SE;CRET""#), r#"for=a;token="[REDACTED]""#);
        assert_eq!(
            scrub(r#"for=a;path="/cb?code=SECRET""#),
            r#"for=a;path="/cb?code=[REDACTED]""#
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        for value in [
            "",
            "=",
            ";;,,",
            "host=\"unterminated",
            "host=\"a\\",
            "x",
            "a=\"\\\"@\"",
            "for=\"",
            "é=é",
        ] {
            let _ = scrub(value);
        }
        assert!(!scrub(r#"host="u:SECRET@h\"x""#).contains("SECRET"));
    }
}
