//! The W3C `traceparent` header: strict parsing (version `00` and the forward-compatibility
//! rules for higher versions) and formatting (always version `00`).

use crate::{SpanId, TraceId};

/// Length of a version `00` `traceparent`: `00-{32 hex}-{16 hex}-{2 hex}`.
pub(crate) const TRACEPARENT_LEN: usize = 55;

/// A parsed, valid `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Traceparent {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: SpanId,
    pub(crate) flags: u8,
}

impl Traceparent {
    /// The `sampled` flag: bit 0 of the trace flags.
    pub(crate) fn sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }

    /// Parses a `traceparent` value, surrounding spaces and tabs (HTTP's OWS) aside.
    ///
    /// - Version `00`: exactly `00-{32 lhex}-{16 lhex}-{2 lhex}`.
    /// - Version `ff`: invalid.
    /// - Other versions: at least 55 characters, and if longer the 56th is `-`; the first four
    ///   fields are read as version `00` defines them, the rest is ignored.
    /// - The trace id and the parent id must not be all zero; hex is lowercase only.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        let value = trim_ows(value);
        if value.len() < TRACEPARENT_LEN || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let [version] = crate::ids::decode_hex::<1>(&value[0..2])?;
        match version {
            0xff => return None,
            0x00 if value.len() != TRACEPARENT_LEN => return None,
            _ if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' => return None,
            _ => {}
        }
        let trace_id = TraceId::from_hex_bytes(&value[3..35])?;
        let parent_id = SpanId::from_hex_bytes(&value[36..52])?;
        let [flags] = crate::ids::decode_hex::<1>(&value[53..55])?;
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }
}

/// Formats a version `00` `traceparent`. Only the `sampled` flag is set or not: the other flags
/// are not defined by version `00`, and are zeroed as the specification asks.
pub(crate) fn format(trace_id: TraceId, span_id: SpanId, sampled: bool) -> [u8; TRACEPARENT_LEN] {
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    crate::ids::encode_hex(&trace_id.to_bytes(), &mut out[3..35]);
    crate::ids::encode_hex(&span_id.to_bytes(), &mut out[36..52]);
    if sampled {
        out[54] = b'1';
    }
    out
}

/// Removes HTTP optional whitespace (spaces and tabs) at both ends.
pub(crate) fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn parse(value: &str) -> Option<Traceparent> {
        Traceparent::parse(value.as_bytes())
    }

    #[test]
    fn valid_version_00() {
        let parsed = parse(VALID).unwrap();
        assert_eq!(parsed.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.parent_id.to_string(), "00f067aa0ba902b7");
        assert!(parsed.sampled());
        assert!(!parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .unwrap()
            .sampled());
        // Unknown flags are read; only bit 0 means sampled.
        let other = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe").unwrap();
        assert!(!other.sampled());
        assert_eq!(other.flags, 0xfe);
        assert_eq!(&format(parsed.trace_id, parsed.parent_id, true), VALID.as_bytes());
    }

    /// The examples of the W3C test suite (test/test.py) that must start a new trace.
    #[test]
    fn w3c_invalid_examples() {
        let invalid = [
            "00-12345678901234567890123456789012-1234567890123456-01.",
            "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
            "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
            "ff-12345678901234567890123456789012-1234567890123456-01",
            ".0-12345678901234567890123456789012-1234567890123456-01",
            "0.-12345678901234567890123456789012-1234567890123456-01",
            "000-12345678901234567890123456789012-1234567890123456-01",
            "0000-12345678901234567890123456789012-1234567890123456-01",
            "0-12345678901234567890123456789012-1234567890123456-01",
            "00-00000000000000000000000000000000-1234567890123456-01",
            "00-.2345678901234567890123456789012-1234567890123456-01",
            "00-1234567890123456789012345678901.-1234567890123456-01",
            "00-123456789012345678901234567890123-1234567890123456-01",
            "00-1234567890123456789012345678901-1234567890123456-01",
            "00-12345678901234567890123456789012-0000000000000000-01",
            "00-12345678901234567890123456789012-.234567890123456-01",
            "00-12345678901234567890123456789012-123456789012345.-01",
            "00-12345678901234567890123456789012-12345678901234567-01",
            "00-12345678901234567890123456789012-123456789012345-01",
            "00-12345678901234567890123456789012-1234567890123456-.0",
            "00-12345678901234567890123456789012-1234567890123456-0.",
            "00-12345678901234567890123456789012-1234567890123456-001",
            "00-12345678901234567890123456789012-1234567890123456-1",
            // From the specification's prose: uppercase hex, empty, truncated.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n",
        ];
        for value in invalid {
            assert_eq!(parse(value), None, "{value:?} must be rejected");
        }
    }

    /// What opentelemetry-sdk's `TraceContextPropagator` accepts because it parses the fields as
    /// numbers; the W3C test suite rejects each.
    #[test]
    fn malformed_values_opentelemetry_accepts() {
        let invalid = [
            // 31 and 33 hex digits of trace id
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
            // 15 and 17 hex digits of parent id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b77-01",
            // three-character version
            "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // one-character flags
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            // leading `+` on each field
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-+0f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-+1",
            "+0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // a `-` sign, and a `0x` prefix
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7--1",
            "00-0x4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ];
        for value in invalid {
            assert_eq!(parse(value), None, "{value:?} must be rejected");
        }
    }

    #[test]
    fn forward_compatible_versions() {
        let trace = "12345678901234567890123456789012";
        for value in [
            "cc-12345678901234567890123456789012-1234567890123456-01",
            "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
            "01-12345678901234567890123456789012-1234567890123456-01-",
            "fe-12345678901234567890123456789012-1234567890123456-00-x-y-z",
        ] {
            let parsed = parse(value).unwrap_or_else(|| panic!("{value:?} must be accepted"));
            assert_eq!(parsed.trace_id.to_string(), trace);
        }
        // Higher versions still need valid fields.
        assert_eq!(
            parse("cc-00000000000000000000000000000000-1234567890123456-01"),
            None
        );
        assert_eq!(
            parse("cc-12345678901234567890123456789012-1234567890123456-0g"),
            None
        );
        assert_eq!(
            parse("cc-12345678901234567890123456789012-1234567890123456-01x"),
            None
        );
    }

    #[test]
    fn ows_is_ignored() {
        let value = "00-12345678901234567890123456789012-1234567890123456-01";
        for padded in [
            format!(" {value}"),
            format!("\t{value}"),
            format!("{value} "),
            format!("{value}\t"),
            format!("\t {value} \t"),
        ] {
            assert!(parse(&padded).is_some(), "{padded:?}");
        }
    }
}
