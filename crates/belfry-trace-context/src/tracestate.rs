//! The W3C `tracestate` header: validation of the list as the Recommendation defines it, and the
//! combination of several `tracestate` fields into one.
//!
//! ```text
//! list        = list-member 0*31( OWS "," OWS list-member )    ; empty members allowed
//! list-member = key "=" value
//! key         = simple-key / multi-tenant-key
//! simple-key  = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! multi-tenant-key = tenant-id "@" system-id
//! tenant-id   = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! system-id   = lcalpha 0*13( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//! value       = 0*255( %x20 / nblk-chr ) nblk-chr
//! nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E
//! ```

use http::{header::GetAll, HeaderValue};

use crate::traceparent::trim_ows;

/// The most list members a `tracestate` may have.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// Whether `value` is a valid, non-empty `tracestate` list: every member well formed, at most
/// [`MAX_TRACESTATE_MEMBERS`], no key twice. Empty and whitespace-only members are allowed (the
/// specification allows them), but a list with no member at all is not worth forwarding.
pub(crate) fn is_valid(value: &[u8]) -> bool {
    let mut keys: [&[u8]; MAX_TRACESTATE_MEMBERS] = [&[]; MAX_TRACESTATE_MEMBERS];
    let mut count = 0;
    for member in value.split(|&b| b == b',') {
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        if count == MAX_TRACESTATE_MEMBERS {
            return false;
        }
        let Some(equals) = member.iter().position(|&b| b == b'=') else {
            return false;
        };
        let (key, value) = (&member[..equals], &member[equals + 1..]);
        if !is_valid_key(key) || !is_valid_value(value) || keys[..count].contains(&key) {
            return false;
        }
        keys[count] = key;
        count += 1;
    }
    count > 0
}

fn is_key_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

fn is_valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&b| b == b'@') {
        None => {
            matches!(key, [b'a'..=b'z', rest @ ..] if rest.len() <= 255 && rest.iter().all(|&b| is_key_char(b)))
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            matches!(tenant, [b'a'..=b'z' | b'0'..=b'9', rest @ ..]
                if rest.len() <= 240 && rest.iter().all(|&b| is_key_char(b)))
                && matches!(system, [b'a'..=b'z', rest @ ..]
                    if rest.len() <= 13 && rest.iter().all(|&b| is_key_char(b)))
        }
    }
}

fn is_nblk_char(b: u8) -> bool {
    matches!(b, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e)
}

fn is_valid_value(value: &[u8]) -> bool {
    matches!(value, [rest @ .., last] if rest.len() <= 255
        && is_nblk_char(*last)
        && rest.iter().all(|&b| b == b' ' || is_nblk_char(b)))
}

/// The `tracestate` to keep from all the `tracestate` fields of a request, or `None` when there
/// is none or the combination is invalid. One non-empty field is kept as is (no copy); several
/// are joined with `,` as RFC 9110 combines repeated fields (one allocation).
pub(crate) fn combine(fields: GetAll<'_, HeaderValue>) -> Option<HeaderValue> {
    crate::combine_fields(fields, is_valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(value: &str) -> bool {
        is_valid(value.as_bytes())
    }

    #[test]
    fn valid_lists() {
        assert!(valid("foo=1"));
        assert!(valid("foo=1,bar=2"));
        assert!(valid("foo=1 \t , \t bar=2, \t baz=3"));
        assert!(valid(" foo=1\t"));
        assert!(valid("foo=1,,bar=2,  ,"));
        assert!(valid("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
        assert!(valid("tenant@vendor=x"));
        assert!(valid("0tenant@vendor=x"));
        assert!(valid("k=a b"));
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let value: String = (0x20u8..=0x7e)
            .filter(|b| !matches!(b, b',' | b'='))
            .map(char::from)
            .collect();
        assert!(valid(&format!("{key}={value}")));
        assert!(valid(&format!("{key}@a-z0-9_-*/={value}")));
    }

    #[test]
    fn invalid_lists() {
        for bad in [
            "",
            " , ",
            "foo",
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "foo@=1,bar=2",
            "@foo=1,bar=2",
            "foo@@bar=1,bar=2",
            "foo@bar@baz=1,bar=2",
            "foo=bar=baz",
            "foo=,bar=3",
            "foo=1,foo=1",
            "foo=1,foo=2",
            "0foo=1",
            "foo=\u{e9}",
            "foo=a\u{7f}",
            "foo=1;bar=2",
        ] {
            assert!(!valid(bad), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn limits() {
        let members = |n: usize| {
            (1..=n)
                .map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(valid(&members(32)));
        assert!(!valid(&members(33)));
        assert!(valid(&format!("{}=1", "z".repeat(256))));
        assert!(!valid(&format!("{}=1", "z".repeat(257))));
        assert!(valid(&format!("{}@{}=1", "t".repeat(241), "v".repeat(14))));
        assert!(!valid(&format!("{}@v=1", "t".repeat(242))));
        assert!(!valid(&format!("t@{}=1", "v".repeat(15))));
        assert!(valid(&format!("k={}", "v".repeat(256))));
        assert!(!valid(&format!("k={}", "v".repeat(257))));
    }

    #[test]
    fn combining_fields() {
        let mut headers = http::HeaderMap::new();
        let combined = |headers: &http::HeaderMap| combine(headers.get_all("tracestate"));
        assert_eq!(combined(&headers), None);
        headers.append("tracestate", HeaderValue::from_static(""));
        assert_eq!(combined(&headers), None);
        headers.append("tracestate", HeaderValue::from_static("foo=1"));
        assert_eq!(combined(&headers).unwrap(), "foo=1");
        headers.append("tracestate", HeaderValue::from_static("bar=2,baz=3"));
        assert_eq!(combined(&headers).unwrap(), "foo=1,bar=2,baz=3");
        headers.append("tracestate", HeaderValue::from_static("foo=2"));
        assert_eq!(combined(&headers), None, "a key repeated across fields");

        let mut headers = http::HeaderMap::new();
        for chunk in 0..3 {
            let members: Vec<_> = (0..11).map(|i| format!("k{}={i}", chunk * 11 + i)).collect();
            headers.append("tracestate", HeaderValue::from_str(&members.join(",")).unwrap());
        }
        assert_eq!(combined(&headers), None, "33 members across fields");
    }
}
