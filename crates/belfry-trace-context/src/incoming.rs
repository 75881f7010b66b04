//! The incoming policy: which header wins, whether incoming context is trusted, and where the
//! sampling decision comes from. [`TraceContext::from_headers`] applies it.

use http::{HeaderMap, HeaderValue};

use crate::{
    baggage, context::Forwarded, names, sentry_trace::SentryTrace, traceparent::Traceparent, tracestate,
    Sampler, SpanId, TraceContext, TraceId,
};

/// Whether incoming trace context is continued.
///
/// ```
/// use belfry_trace_context::{RatioSampler, TraceContext, TrustIncoming};
/// use http::{HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
///
/// let continued = TraceContext::from_headers(&headers, TrustIncoming::Continue, &RatioSampler::ALWAYS);
/// assert_eq!(continued.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(continued.parent_span_id().unwrap().to_string(), "00f067aa0ba902b7");
///
/// let restarted = TraceContext::from_headers(&headers, TrustIncoming::Restart, &RatioSampler::NEVER);
/// assert_ne!(restarted.trace_id(), continued.trace_id());
/// assert_eq!(restarted.incoming_trace_id(), Some(continued.trace_id()));
/// assert_eq!(restarted.parent_span_id(), None);
/// assert!(!restarted.is_sampled(), "the sampler decides, not the caller");
/// assert_eq!(TrustIncoming::default(), TrustIncoming::Continue);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrustIncoming {
    /// Continue a valid incoming trace: its trace id, its span as parent, its sampling decision,
    /// its `tracestate` and `baggage`. The default, for services behind a gateway or called by
    /// other services.
    #[default]
    Continue,
    /// Start a new trace on every request, for a public edge whose callers must not choose trace
    /// ids, force sampling or inject vendor state. A valid incoming trace id is kept apart as
    /// [`incoming_trace_id`](TraceContext::incoming_trace_id) (to be logged, so the caller's
    /// trace can still be found); the incoming sampled flag, `tracestate` and `baggage` are not
    /// used or forwarded.
    Restart,
}

impl TraceContext {
    /// The context of a request with these headers, by the rules of the [crate docs](crate):
    /// a valid `traceparent` wins, then a valid `sentry-trace`, else a new trace; invalid values
    /// are ignored, never forwarded. `sampler` decides only for new traces and for Sentry's
    /// deferred decision.
    ///
    /// No allocation unless several `tracestate` or `baggage` fields must be combined.
    #[inline]
    pub fn from_headers<S: Sampler>(headers: &HeaderMap, trust: TrustIncoming, sampler: &S) -> Self {
        let present = Present::scan(headers);
        if present.0 == 0 {
            return Self::new_root_sampled_by(sampler);
        }
        let incoming = Incoming::read(headers, present);
        match (trust, incoming) {
            (TrustIncoming::Continue, Some(incoming)) => {
                let sampled = incoming
                    .sampled
                    .unwrap_or_else(|| sampler.should_sample(incoming.trace_id));
                let trace_state = if incoming.from_traceparent && present.has(Present::TRACESTATE) {
                    tracestate::combine(headers.get_all(&names::TRACESTATE))
                } else {
                    None
                };
                let mut context = Self {
                    trace_id: incoming.trace_id,
                    span_id: SpanId::random(),
                    parent_span_id: Some(incoming.parent_id),
                    sampled,
                    incoming_trace_id: None,
                    forwarded: None,
                };
                context.set_forwarded(headers, present, trace_state);
                context
            }
            (TrustIncoming::Continue, None) => {
                let mut context = Self::new_root_sampled_by(sampler);
                context.set_forwarded(headers, present, None);
                context
            }
            (TrustIncoming::Restart, incoming) => {
                let mut context = Self::new_root_sampled_by(sampler);
                context.incoming_trace_id = incoming.map(|incoming| incoming.trace_id);
                context
            }
        }
    }

    #[inline]
    fn new_root_sampled_by<S: Sampler>(sampler: &S) -> Self {
        let mut context = Self::new_root(false);
        context.sampled = sampler.should_sample(context.trace_id);
        context
    }

    /// Keeps the `tracestate` and a valid incoming `baggage`, and whether the baggage's Sentry
    /// entries describe this trace.
    fn set_forwarded(&mut self, headers: &HeaderMap, present: Present, trace_state: Option<HeaderValue>) {
        let baggage = if present.has(Present::BAGGAGE) {
            baggage::combine(headers.get_all(&names::BAGGAGE))
        } else {
            None
        };
        let applies = baggage
            .as_ref()
            .is_some_and(|value| sentry_baggage_applies(value, self.trace_id));
        self.forwarded = Forwarded::new(trace_state, baggage, applies);
    }
}

/// Whether the Sentry entries of a valid baggage belong to the trace: not when it names another
/// `sentry-trace_id`.
fn sentry_baggage_applies(value: &HeaderValue, trace_id: TraceId) -> bool {
    let Ok(text) = value.to_str() else { return false };
    let mut named = baggage::sentry_entries(text).filter(|(key, _)| *key == "trace_id");
    match named.next() {
        None => true,
        Some((_, named_id)) => named_id.as_bytes() == trace_id.to_hex().as_bytes(),
    }
}

/// The trace to continue, read from the headers that carry one.
#[derive(Clone, Copy, Debug)]
struct Incoming {
    trace_id: TraceId,
    parent_id: SpanId,
    /// `None`: Sentry's deferred decision.
    sampled: Option<bool>,
    from_traceparent: bool,
}

impl Incoming {
    /// A valid `traceparent` wins; `sentry-trace` is read only when there is none (so a
    /// `sentry-trace` with another trace id is ignored). A header sent more than once is invalid.
    fn read(headers: &HeaderMap, present: Present) -> Option<Self> {
        if let Some(value) = single(headers, present, Present::TRACEPARENT, &names::TRACEPARENT) {
            if let Some(parsed) = Traceparent::parse(value.as_bytes()) {
                return Some(Self {
                    trace_id: parsed.trace_id,
                    parent_id: parsed.parent_id,
                    sampled: Some(parsed.sampled()),
                    from_traceparent: true,
                });
            }
            tracing::debug!(target: "belfry::trace_context", "invalid traceparent ignored");
        }
        if let Some(value) = single(headers, present, Present::SENTRY_TRACE, &names::SENTRY_TRACE) {
            if let Some(parsed) = SentryTrace::parse(value.as_bytes()) {
                return Some(Self {
                    trace_id: parsed.trace_id,
                    parent_id: parsed.span_id,
                    sampled: parsed.sampled,
                    from_traceparent: false,
                });
            }
            tracing::debug!(target: "belfry::trace_context", "invalid sentry-trace ignored");
        }
        None
    }
}

/// The header's value when it is present exactly once.
fn single<'a>(
    headers: &'a HeaderMap,
    present: Present,
    bit: u8,
    name: &http::HeaderName,
) -> Option<&'a HeaderValue> {
    if !present.has(bit) {
        return None;
    }
    let mut values = headers.get_all(name).into_iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// Which trace headers a request has, found in one pass over its header names.
///
/// Cheaper than a hash lookup per header: a typical request has a dozen headers, mostly
/// standard ones (`host`, `accept`, …) whose names are told apart from ours by their length or a
/// table lookup, while each `HeaderMap` lookup hashes the name byte by byte. Lookups are then
/// made only for the headers that are there.
#[derive(Clone, Copy, Debug)]
struct Present(u8);

impl Present {
    const TRACEPARENT: u8 = 1;
    const TRACESTATE: u8 = 2;
    const SENTRY_TRACE: u8 = 4;
    const BAGGAGE: u8 = 8;

    #[inline]
    fn scan(headers: &HeaderMap) -> Self {
        let mut present = 0;
        for name in headers.keys() {
            present |= match name.as_str() {
                "traceparent" => Self::TRACEPARENT,
                "tracestate" => Self::TRACESTATE,
                "sentry-trace" => Self::SENTRY_TRACE,
                "baggage" => Self::BAGGAGE,
                _ => 0,
            };
        }
        Self(present)
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}
