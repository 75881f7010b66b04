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

/// The most list members a `tracestate` may have.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// Byte classes of the `tracestate` grammar.
const LCALPHA: u8 = 1;
const DIGIT: u8 = 2;
/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`
const KEY_CHAR: u8 = 4;
/// `nblk-chr`: printable ASCII but space, `,` and `=`.
const NBLK: u8 = 8;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_lowercase() {
            class |= LCALPHA | KEY_CHAR;
        }
        if c.is_ascii_digit() {
            class |= DIGIT | KEY_CHAR;
        }
        if matches!(c, b'_' | b'-' | b'*' | b'/') {
            class |= KEY_CHAR;
        }
        if matches!(c, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e) {
            class |= NBLK;
        }
        table[b] = class;
        b += 1;
    }
    table
};

fn class(value: &[u8], at: usize) -> u8 {
    value.get(at).map_or(0, |&b| CLASSES[b as usize])
}

/// Whether `value` is a valid, non-empty `tracestate` list: every member well formed, at most
/// [`MAX_TRACESTATE_MEMBERS`], no key twice. Empty and whitespace-only members are allowed (the
/// specification allows them), but a list with no member at all is not worth forwarding.
///
/// One pass over the bytes, a tight loop per token.
pub(crate) fn is_valid(value: &[u8]) -> bool {
    let mut keys = [(0u32, 0u32); MAX_TRACESTATE_MEMBERS];
    let mut count = 0;
    let mut at = 0;
    let skip_while = |mut at: usize, f: fn(u8) -> bool| {
        while value.get(at).is_some_and(|&b| f(b)) {
            at += 1;
        }
        at
    };
    loop {
        at = skip_while(at, |b| matches!(b, b' ' | b'\t' | b','));
        if at == value.len() {
            return count > 0;
        }
        if count == MAX_TRACESTATE_MEMBERS {
            return false;
        }
        // The key: simple, or `tenant@system`.
        let key_start = at;
        let first = class(value, at);
        if first & (LCALPHA | DIGIT) == 0 {
            return false;
        }
        at += 1;
        while class(value, at) & KEY_CHAR != 0 {
            at += 1;
        }
        if value.get(at) == Some(&b'@') {
            if at - key_start > 241 {
                return false;
            }
            at += 1;
            let system_start = at;
            if class(value, at) & LCALPHA == 0 {
                return false;
            }
            at += 1;
            while class(value, at) & KEY_CHAR != 0 {
                at += 1;
            }
            if at - system_start > 14 {
                return false;
            }
        } else if first & DIGIT != 0 || at - key_start > 256 {
            return false;
        }
        let key = &value[key_start..at];
        if value.get(at) != Some(&b'=')
            || keys[..count]
                .iter()
                .any(|&(start, end)| &value[start as usize..end as usize] == key)
        {
            return false;
        }
        // Header values are far shorter than 4 GiB.
        keys[count] = (key_start as u32, at as u32);
        count += 1;
        at += 1;
        // The value: spaces and non-blank characters, up to the last non-blank one; then OWS.
        let value_start = at;
        let mut value_end = None;
        while let Some(&b) = value.get(at) {
            if CLASSES[b as usize] & NBLK != 0 {
                value_end = Some(at + 1);
            } else if b != b' ' {
                break;
            }
            at += 1;
        }
        match value_end {
            Some(end) if end - value_start <= 256 => {}
            _ => return false,
        }
        at = skip_while(at, |b| matches!(b, b' ' | b'\t'));
        if at < value.len() && value[at] != b',' {
            return false;
        }
    }
}

/// The `tracestate` to keep from all the `tracestate` fields of a request, or `None` when there
/// is none or the combination is invalid. One non-empty field is kept as is (no copy); several
/// are joined with `,` as RFC 9110 combines repeated fields (one allocation).
#[cfg(test)]
pub(crate) fn combine(fields: http::header::GetAll<'_, http::HeaderValue>) -> Option<http::HeaderValue> {
    crate::combine_fields(fields, validate).map(|(value, ())| value)
}

/// [`is_valid`] in the form `combine_fields` takes.
pub(crate) fn validate(value: &[u8]) -> Option<()> {
    is_valid(value).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
