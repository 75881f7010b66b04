//! Values that carry more structure: a query value holding a URL (`redirect=https%3A%2F%2F…`), a
//! query string, or text encoded more than once. Such a value is decoded once, scrubbed like the
//! URL or query it holds, and its edits are mapped back onto the bytes as sent: the output keeps
//! the sender's encoding, with each hidden part replaced by [`REDACTED`].
//!
//! Work is bounded: each level decodes its value once, levels scan disjoint parts of their text,
//! and past [`MAX_DEPTH`] levels a value that still holds structure is redacted whole if it
//! names anything sensitive (a sensitive name, or userinfo), decoded up to three more times.

use std::ops::Range;

use crate::policy::Rules;
use crate::query::scrub_pairs;
use crate::rewrite::{EditSink, MappedSink, ShiftedSink};
use crate::url::{has_scheme, scrub_url};
use crate::REDACTED;

/// How deep values are followed. A query value of a top-level URL is level 1; a value that is
/// still structured (or encoded) at this level is redacted whole.
pub(crate) const MAX_DEPTH: u8 = 4;

/// Scrubs the value `text[range]` of a pair whose name is not sensitive, at nesting `depth`.
pub(crate) fn scrub_value(
    rules: &Rules,
    text: &str,
    range: Range<usize>,
    depth: u8,
    sink: &mut dyn EditSink,
) {
    let raw = &text.as_bytes()[range.clone()];
    let escaped = has_escape(raw);
    if !escaped && !raw.iter().any(|&b| matches!(b, b'?' | b'#' | b'@' | b'=')) {
        return;
    }
    if depth >= MAX_DEPTH {
        if looks_sensitive(rules, &text[range.clone()]) {
            sink.edit(range, REDACTED);
        }
        return;
    }
    if escaped {
        let (decoded, starts) = decode_with_map(&text[range.clone()]);
        let mut mapped = MappedSink {
            starts: &starts,
            offset: range.start,
            outer: sink,
        };
        scrub_structure(rules, &decoded, depth, &mut mapped);
    } else {
        let mut shifted = ShiftedSink {
            offset: range.start,
            outer: sink,
        };
        scrub_structure(rules, &text[range], depth, &mut shifted);
    }
}

/// Scrubs decoded `text` by what it looks like: a URL (absolute, a path, or anything with a `?`
/// or `#`), a query string (it has `=`), or text that is still encoded.
fn scrub_structure(rules: &Rules, text: &str, depth: u8, sink: &mut dyn EditSink) {
    let bytes = text.as_bytes();
    let absolute = has_scheme(bytes);
    if absolute || bytes.first() == Some(&b'/') || bytes.iter().any(|&b| b == b'?' || b == b'#') {
        // Userinfo only after a scheme: `alice@example.com` is an address, not credentials.
        scrub_url(rules, text, depth, absolute, sink);
    } else if bytes.contains(&b'=') {
        scrub_pairs(rules, text, 0..text.len(), depth, sink);
    } else if has_escape(bytes) {
        scrub_value(rules, text, 0..text.len(), depth + 1, sink);
    }
}

/// At the depth limit: whether `text`, as it is or decoded up to three times, contains a
/// sensitive name or a URL with userinfo. Such a value is redacted whole; any other (`a====b`)
/// is kept, as nothing in it names a secret.
fn looks_sensitive(rules: &Rules, text: &str) -> bool {
    let mut text = std::borrow::Cow::Borrowed(text);
    for _ in 0..4 {
        let userinfo = text.contains("://") && text.contains('@');
        if userinfo || rules.matches_sensitive_query_param(&text) {
            return true;
        }
        if !has_escape(text.as_bytes()) {
            return false;
        }
        text = std::borrow::Cow::Owned(decode_with_map(&text).0);
    }
    true
}

/// Whether `bytes` holds a valid `%XX` escape.
fn has_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// `text` with its `%XX` escapes decoded (invalid escapes kept), and where each decoded byte
/// came from: `starts[i]` is the offset in `text` of decoded byte `i`, and the last entry is
/// `text.len()`. Bytes that do not form UTF-8 become U+001A, one for one, so offsets hold.
pub(crate) fn decode_with_map(text: &str) -> (String, Vec<usize>) {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut starts = Vec::with_capacity(bytes.len() + 1);
    let mut at = 0;
    while at < bytes.len() {
        starts.push(at);
        match (bytes[at], bytes.get(at + 1), bytes.get(at + 2)) {
            (b'%', Some(&high), Some(&low)) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                decoded.push(hex(high) << 4 | hex(low));
                at += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    starts.push(bytes.len());
    let decoded = String::from_utf8(decoded).unwrap_or_else(|error| {
        let mut text = String::with_capacity(error.as_bytes().len());
        for chunk in error.as_bytes().utf8_chunks() {
            text.push_str(chunk.valid());
            text.extend(chunk.invalid().iter().map(|_| '\u{1A}'));
        }
        text
    });
    (decoded, starts)
}

fn hex(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScrubPolicy;

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
    fn decoding_keeps_offsets() {
        let (decoded, starts) = decode_with_map("a%3Fb%zz%e9");
        assert_eq!(decoded, "a?b%zz\u{1A}");
        assert_eq!(starts, [0, 1, 4, 5, 6, 7, 8, 11]);
        let (decoded, starts) = decode_with_map("%C3%A9!");
        assert_eq!(decoded, "é!");
        assert_eq!(starts, [0, 3, 6, 7]);
    }

    #[test]
    fn urls_nested_in_query_values() {
        assert_eq!(
            scrub("redirect=https%3A%2F%2Fx%2F%3Ftoken%3DSECRET&page=2"),
            "redirect=https%3A%2F%2Fx%2F%3Ftoken%3D[REDACTED]&page=2"
        );
        assert_eq!(
            scrub("next=/cb?code=SECRET&page=2"),
            "next=/cb?code=[REDACTED]&page=2"
        );
        assert_eq!(
            scrub("u=https%3A%2F%2Falice%3ASECRET%40host%2Fp"),
            "u=https%3A%2F%2Fhost%2Fp"
        );
        assert_eq!(
            scrub("r=https%3A%2F%2Fx%2Fcb%23access_token%3DSECRET%26state%3Dok"),
            "r=https%3A%2F%2Fx%2Fcb%23access_token%3D[REDACTED]%26state%3Dok"
        );
    }

    #[test]
    fn doubly_encoded_and_query_valued() {
        assert_eq!(
            scrub("r=https%253A%252F%252Fx%252F%253Ftoken%253DSECRET"),
            "r=https%253A%252F%252Fx%252F%253Ftoken%253D[REDACTED]"
        );
        assert_eq!(
            scrub("state=a%3D1%26jwt%3DSECRET"),
            "state=a%3D1%26jwt%3D[REDACTED]"
        );
        assert_eq!(scrub("q=token=SECRET"), "q=token=[REDACTED]");
        // A URL, in a query value of a URL, in a query value.
        assert_eq!(
            scrub("a=%2Fx%3Fb%3D%252Fy%253Fsecret%253DSECRET"),
            "a=%2Fx%3Fb%3D%252Fy%253Fsecret%253D[REDACTED]"
        );
    }

    #[test]
    fn harmless_values_are_kept() {
        for query in [
            "email=alice@example.com",
            "q=50%",
            "q=caf%C3%A9",
            "redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
            "filter=status=active",
            "next=/users/7?page=2",
            "q=%ff%fe",
        ] {
            assert_eq!(scrub(query), query);
        }
    }

    #[test]
    fn too_deep_is_redacted_whole() {
        let mut value = String::from("/p?token=SECRET");
        for _ in 0..6 {
            value = format!(
                "/x?v={}",
                value.replace('%', "%25").replace('?', "%3F").replace('=', "%3D")
            );
        }
        let query = format!("next={}", &value[5..]);
        let scrubbed = scrub(&query);
        assert!(!scrubbed.contains("SECRET"), "{scrubbed}");
        assert!(scrubbed.contains(REDACTED), "{scrubbed}");
    }

    #[test]
    fn harmless_structure_past_the_depth_limit_is_kept() {
        for query in ["page====@", "a=b=c=d=e=f=g", "q=%3D%3D%3D%3D%3D@x"] {
            assert_eq!(scrub(query), query);
        }
        assert_eq!(scrub("q=====token=SECRET"), "q====[REDACTED]");
    }

    #[test]
    fn hostile_input_is_bounded() {
        // Deep encodings, long runs of escapes and many pairs: linear work, no panic.
        let deep = format!("a={}", "%25".repeat(20_000));
        assert!(scrub(&deep).starts_with("a="));
        let many = "a=%3D&".repeat(20_000);
        assert_eq!(scrub(&many), many);
        let nested = format!("a={}", "%3F%3D".repeat(20_000));
        let _ = scrub(&nested);
    }
}
