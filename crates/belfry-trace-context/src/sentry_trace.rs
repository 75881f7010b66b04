//! Sentry's `sentry-trace` header: `{32 hex trace id}-{16 hex span id}`, optionally followed by
//! `-1` (sampled) or `-0` (not sampled). Without the flag the sampling decision is deferred to
//! the receiver.

use crate::{traceparent::trim_ows, SpanId, TraceId};

/// A parsed, valid `sentry-trace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SentryTrace {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// `None`: deferred.
    pub(crate) sampled: Option<bool>,
}

impl SentryTrace {
    /// Parses strictly: lowercase hex, exact lengths, ids not all zero, flag `0` or `1`.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        let value = trim_ows(value);
        let sampled = match value.len() {
            49 => None,
            51 if value[49] == b'-' => match value[50] {
                b'1' => Some(true),
                b'0' => Some(false),
                _ => return None,
            },
            _ => return None,
        };
        if value[32] != b'-' {
            return None;
        }
        Some(Self {
            trace_id: TraceId::from_hex_bytes(&value[..32])?,
            span_id: SpanId::from_hex_bytes(&value[33..49])?,
            sampled,
        })
    }
}

/// Formats a `sentry-trace` value with its sampled flag.
pub(crate) fn format(trace_id: TraceId, span_id: SpanId, sampled: bool) -> [u8; 51] {
    let mut out = [b'-'; 51];
    crate::ids::encode_hex(&trace_id.to_bytes(), &mut out[..32]);
    crate::ids::encode_hex(&span_id.to_bytes(), &mut out[33..49]);
    out[50] = if sampled { b'1' } else { b'0' };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<SentryTrace> {
        SentryTrace::parse(value.as_bytes())
    }

    #[test]
    fn valid_values() {
        let value = "771a43a4192642f0b136d5159a501700-b1b5d7f0e6b0ac6d";
        let deferred = parse(value).unwrap();
        assert_eq!(deferred.sampled, None);
        assert_eq!(deferred.trace_id.to_string(), "771a43a4192642f0b136d5159a501700");
        assert_eq!(deferred.span_id.to_string(), "b1b5d7f0e6b0ac6d");
        assert_eq!(parse(&format!("{value}-1")).unwrap().sampled, Some(true));
        assert_eq!(parse(&format!("{value}-0")).unwrap().sampled, Some(false));
        assert_eq!(parse(&format!(" {value}-0\t")).unwrap().sampled, Some(false));
        let formatted = format(deferred.trace_id, deferred.span_id, true);
        assert_eq!(formatted.as_slice(), format!("{value}-1").as_bytes());
    }

    #[test]
    fn invalid_values() {
        let value = "771a43a4192642f0b136d5159a501700-b1b5d7f0e6b0ac6d";
        for bad in [
            String::new(),
            format!("{value}-2"),
            format!("{value}-"),
            format!("{value}1"),
            format!("{value}-11"),
            value.to_uppercase(),
            value[1..].to_string(),
            format!("0{value}"),
            "00000000000000000000000000000000-b1b5d7f0e6b0ac6d".into(),
            "771a43a4192642f0b136d5159a501700-0000000000000000".into(),
            "771a43a4192642f0b136d5159a501700_b1b5d7f0e6b0ac6d".into(),
            "771a43a4192642f0b136d5159a50170-0b1b5d7f0e6b0ac6d".into(),
            "+71a43a4192642f0b136d5159a501700-b1b5d7f0e6b0ac6d".into(),
        ] {
            assert_eq!(parse(&bad), None, "{bad:?}");
        }
    }
}
