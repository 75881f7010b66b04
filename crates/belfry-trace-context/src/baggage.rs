//! The W3C `baggage` header: validation and bounds, and the `sentry-*` entries that carry
//! Sentry's dynamic sampling context.
//!
//! ```text
//! baggage-string = list-member 0*179( OWS "," OWS list-member )
//! list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
//! property       = key OWS "=" OWS value / key OWS
//! key            = token                                  ; RFC 9110
//! value          = *baggage-octet
//! baggage-octet  = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
//! ```
//!
//! A combined value longer than [`MAX_BAGGAGE_BYTES`] or with more than [`MAX_BAGGAGE_MEMBERS`]
//! members is dropped whole, as is one with any malformed member; empty members (which
//! combining several fields can produce) are skipped.

use http::{header::GetAll, HeaderValue};

use crate::traceparent::trim_ows;

/// The longest `baggage` kept, in bytes (the limit of the W3C Baggage specification).
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// The most list members a kept `baggage` may have (the W3C Baggage specification's limit).
pub const MAX_BAGGAGE_MEMBERS: usize = 180;

/// The prefix of Sentry's dynamic sampling context entries in `baggage`.
pub(crate) const SENTRY_PREFIX: &str = "sentry-";

/// Whether `value` is a valid, non-empty baggage list within the bounds.
pub(crate) fn is_valid(value: &[u8]) -> bool {
    if value.len() > MAX_BAGGAGE_BYTES {
        return false;
    }
    let mut count = 0;
    for member in value.split(|&b| b == b',') {
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_BAGGAGE_MEMBERS {
            return false;
        }
        let mut parts = member.split(|&b| b == b';');
        // The first part is `key = value`; the properties are `key = value` or `key`.
        let Some(first) = parts.next() else { return false };
        if !is_valid_pair(first, false) || !parts.all(|property| is_valid_pair(property, true)) {
            return false;
        }
    }
    count > 0
}

fn is_valid_pair(pair: &[u8], value_optional: bool) -> bool {
    let pair = trim_ows(pair);
    match pair.iter().position(|&b| b == b'=') {
        Some(equals) => {
            is_token(trim_ows(&pair[..equals]))
                && trim_ows(&pair[equals + 1..]).iter().all(|&b| is_baggage_octet(b))
        }
        None => value_optional && is_token(pair),
    }
}

fn is_token(key: &[u8]) -> bool {
    !key.is_empty()
        && key.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// The `baggage` to keep from all the `baggage` fields of a request (see [`crate::combine_fields`]).
pub(crate) fn combine(fields: GetAll<'_, HeaderValue>) -> Option<HeaderValue> {
    crate::combine_fields(fields, is_valid)
}

/// The `key=value` pairs of a valid baggage value, properties dropped, OWS trimmed. Values stay
/// percent-encoded as on the wire.
pub(crate) fn entries(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split(',').filter_map(|member| {
        let pair = member.split(';').next()?;
        let (key, value) = pair.split_once('=')?;
        Some((key.trim_matches([' ', '\t']), value.trim_matches([' ', '\t'])))
    })
}

/// The `sentry-*` entries of a valid baggage value, keys without the prefix.
pub(crate) fn sentry_entries(value: &str) -> impl Iterator<Item = (&str, &str)> {
    entries(value).filter_map(|(key, value)| Some((key.strip_prefix(SENTRY_PREFIX)?, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(value: &str) -> bool {
        is_valid(value.as_bytes())
    }

    #[test]
    fn valid_lists() {
        assert!(valid("key1=value1,key2=value2"));
        assert!(valid("key1 = value1 , key2=value2"));
        assert!(valid("key1=value1;property1;property2=p2, key2=v%2C2"));
        assert!(valid("key1="));
        assert!(valid("userId=alice,,serverNode=DF%2028"));
        assert!(valid(
            "sentry-trace_id=771a43a4192642f0b136d5159a501700,sentry-public_key=49d0f7386ad645858ae85020e393bef3,sentry-sample_rate=0.01337,sentry-user_id=Am%C3%A9lie"
        ));
    }

    #[test]
    fn invalid_lists() {
        for bad in [
            "",
            ",",
            "key1",
            "=value",
            "key 1=value",
            "key1=va lue",
            "key1=\"quoted\"",
            "key1=back\\slash",
            "key1=value;=p",
            "key1=value;pro perty",
            "k\u{e9}y=v",
            "key1=caf\u{e9}",
        ] {
            assert!(!valid(bad), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn bounds() {
        let members = |n: usize| (0..n).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
        assert!(valid(&members(180)));
        assert!(!valid(&members(181)));
        let long = format!("k={}", "v".repeat(MAX_BAGGAGE_BYTES - 2));
        assert!(valid(&long));
        assert!(!valid(&format!("{long}v")));
    }

    #[test]
    fn sentry_entries_are_decoded_keys() {
        let value = "other=1, sentry-trace_id=771a43a4192642f0b136d5159a501700;prop ,sentry-sample_rate = 0.5,sentry=x";
        let entries: Vec<_> = sentry_entries(value).collect();
        assert_eq!(
            entries,
            [
                ("trace_id", "771a43a4192642f0b136d5159a501700"),
                ("sample_rate", "0.5")
            ]
        );
    }
}
