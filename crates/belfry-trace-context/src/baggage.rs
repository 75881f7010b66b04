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

/// The longest `baggage` kept, in bytes (the limit of the W3C Baggage specification).
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// The most list members a kept `baggage` may have (the W3C Baggage specification's limit).
pub const MAX_BAGGAGE_MEMBERS: usize = 180;

/// The prefix of Sentry's dynamic sampling context entries in `baggage`.
pub(crate) const SENTRY_PREFIX: &str = "sentry-";

/// Byte classes of the baggage grammar.
const TOKEN: u8 = 1;
const OCTET: u8 = 2;
const OWS: u8 = 4;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let token = c.is_ascii_alphanumeric()
            || matches!(
                c,
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
            );
        let octet = matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e);
        let ows = matches!(c, b' ' | b'\t');
        table[b] =
            (if token { TOKEN } else { 0 }) | (if octet { OCTET } else { 0 }) | (if ows { OWS } else { 0 });
        b += 1;
    }
    table
};

/// What validation learnt about a valid baggage value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BaggageInfo {
    /// Where the value of the first `sentry-trace_id` member is, if there is one.
    pub(crate) sentry_trace_id: Option<(usize, usize)>,
}

/// Validates a baggage list in one pass, a tight loop per token: every member `key=value` with
/// optional properties as the grammar gives them, at most [`MAX_BAGGAGE_MEMBERS`] members, at
/// most [`MAX_BAGGAGE_BYTES`] bytes, at least one member. `None` when invalid.
pub(crate) fn validate(value: &[u8]) -> Option<BaggageInfo> {
    if value.len() > MAX_BAGGAGE_BYTES {
        return None;
    }
    let class = |at: usize| value.get(at).map_or(0, |&b| CLASSES[b as usize]);
    let skip = |mut at: usize, wanted: u8| {
        while class(at) & wanted != 0 {
            at += 1;
        }
        at
    };
    let mut info = BaggageInfo::default();
    let mut members = 0;
    let mut at = 0;
    loop {
        // Empty members and OWS between members.
        while value.get(at).is_some_and(|&b| matches!(b, b' ' | b'\t' | b',')) {
            at += 1;
        }
        if at == value.len() {
            return (members > 0).then_some(info);
        }
        members += 1;
        if members > MAX_BAGGAGE_MEMBERS {
            return None;
        }
        // key OWS "=" OWS value
        let key_start = at;
        at = skip(at, TOKEN);
        let key_end = at;
        at = skip(at, OWS);
        if key_end == key_start || value.get(at) != Some(&b'=') {
            return None;
        }
        at = skip(at + 1, OWS);
        let value_start = at;
        at = skip(at, OCTET);
        if info.sentry_trace_id.is_none() && &value[key_start..key_end] == b"sentry-trace_id" {
            info.sentry_trace_id = Some((value_start, at));
        }
        at = skip(at, OWS);
        // *( OWS ";" OWS property ), property = key OWS [ "=" OWS value OWS ]
        while value.get(at) == Some(&b';') {
            let property_start = skip(at + 1, OWS);
            at = skip(property_start, TOKEN);
            if at == property_start {
                return None;
            }
            at = skip(at, OWS);
            if value.get(at) == Some(&b'=') {
                at = skip(skip(at + 1, OWS), OCTET);
                at = skip(at, OWS);
            }
        }
        if at < value.len() && value[at] != b',' {
            return None;
        }
    }
}

/// Whether `value` is a valid, non-empty baggage list within the bounds.
#[cfg(test)]
pub(crate) fn is_valid(value: &[u8]) -> bool {
    validate(value).is_some()
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
