//! The incoming policy: which header wins, whether incoming context is trusted, and where the
//! sampling decision comes from. [`TraceContext::from_headers`] applies it.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{
    baggage, context::Forwarded, names, sentry_trace::SentryTrace, traceparent::Traceparent, tracestate,
    Sampler, SpanId, TraceContext, TraceId,
};

/// Whether incoming trace context is continued.
///
/// ```
/// use belfry_trace_context::{RatioSampler, TraceContext, TrustIncoming};
/// use http::{HeaderMap, HeaderName, HeaderValue};
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
    /// No allocation without `tracestate` or `baggage`; with them, one `Arc` shared by every
    /// clone, plus the combined value when a header came in several fields.
    #[inline]
    pub fn from_headers<S: Sampler>(headers: &HeaderMap, trust: TrustIncoming, sampler: &S) -> Self {
        let found = Found::scan(headers);
        if found.is_empty() {
            return Self::new_root_sampled_by(sampler);
        }
        let incoming = Incoming::read(&found);
        match (trust, incoming) {
            (TrustIncoming::Continue, Some(incoming)) => {
                let sampled = incoming
                    .sampled
                    .unwrap_or_else(|| sampler.should_sample(incoming.trace_id));
                let trace_state = if incoming.from_traceparent {
                    found
                        .tracestate
                        .list(headers, &names::TRACESTATE, tracestate::validate)
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
                context.set_forwarded(headers, &found, trace_state.map(|(value, ())| value));
                context
            }
            (TrustIncoming::Continue, None) => {
                let mut context = Self::new_root_sampled_by(sampler);
                context.set_forwarded(headers, &found, None);
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
    fn set_forwarded(&mut self, headers: &HeaderMap, found: &Found<'_>, trace_state: Option<HeaderValue>) {
        let baggage = found.baggage.list(headers, &names::BAGGAGE, baggage::validate);
        // The Sentry entries belong to this trace unless they name another `sentry-trace_id`.
        let applies = baggage
            .as_ref()
            .is_some_and(|(value, info)| match info.sentry_trace_id {
                None => true,
                Some((start, end)) => &value.as_bytes()[start..end] == self.trace_id.to_hex().as_bytes(),
            });
        self.forwarded = Forwarded::new(trace_state, baggage.map(|(value, _)| value), applies);
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
    fn read(found: &Found<'_>) -> Option<Self> {
        if let Some(value) = found.traceparent.single() {
            if let Some(parsed) = Traceparent::parse(value.as_bytes()) {
                return Some(Self {
                    trace_id: parsed.trace_id,
                    parent_id: parsed.parent_id,
                    sampled: Some(parsed.sampled()),
                    from_traceparent: true,
                });
            }
            tracing::debug!(target: crate::TARGET, "invalid traceparent ignored");
        }
        if let Some(value) = found.sentry_trace.single() {
            if let Some(parsed) = SentryTrace::parse(value.as_bytes()) {
                return Some(Self {
                    trace_id: parsed.trace_id,
                    parent_id: parsed.span_id,
                    sampled: parsed.sampled,
                    from_traceparent: false,
                });
            }
            tracing::debug!(target: crate::TARGET, "invalid sentry-trace ignored");
        }
        None
    }
}

/// The trace headers of a request, found in one pass over its headers.
///
/// Cheaper than a `HeaderMap` lookup per header, which hashes the name byte by byte: a typical
/// request has a dozen headers, mostly standard ones (`host`, `accept`, …) told apart from ours
/// by a table lookup and a length comparison.
#[derive(Clone, Copy, Default)]
struct Found<'a> {
    traceparent: Field<'a>,
    tracestate: Field<'a>,
    sentry_trace: Field<'a>,
    baggage: Field<'a>,
}

impl<'a> Found<'a> {
    #[inline]
    fn scan(headers: &'a HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let field = match name.as_str() {
                "traceparent" => &mut found.traceparent,
                "tracestate" => &mut found.tracestate,
                "sentry-trace" => &mut found.sentry_trace,
                "baggage" => &mut found.baggage,
                _ => continue,
            };
            field.add(value);
        }
        found
    }

    fn is_empty(&self) -> bool {
        self.traceparent.count | self.tracestate.count | self.sentry_trace.count | self.baggage.count == 0
    }
}

/// The fields of one header: the first value and how many there are.
#[derive(Clone, Copy, Default)]
struct Field<'a> {
    first: Option<&'a HeaderValue>,
    count: u8,
}

impl<'a> Field<'a> {
    fn add(&mut self, value: &'a HeaderValue) {
        self.first = self.first.or(Some(value));
        self.count = self.count.saturating_add(1);
    }

    /// The value when the header is present exactly once.
    fn single(self) -> Option<&'a HeaderValue> {
        self.first.filter(|_| self.count == 1)
    }

    /// A list header's value, its fields combined (see [`crate::combine_fields`]), when valid.
    fn list<T>(
        self,
        headers: &HeaderMap,
        name: &HeaderName,
        validate: fn(&[u8]) -> Option<T>,
    ) -> Option<(HeaderValue, T)> {
        match (self.first, self.count) {
            (None, _) => None,
            (Some(value), 1) => validate(value.as_bytes()).map(|info| (value.clone(), info)),
            _ => crate::combine_fields(headers.get_all(name), validate),
        }
    }
}
