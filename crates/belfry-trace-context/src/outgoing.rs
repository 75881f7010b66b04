//! [`OutgoingContext`]: the headers that carry the trace to one downstream call.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use crate::{context::Forwarded, SpanId, TraceId, BAGGAGE, SENTRY_TRACE, TRACEPARENT, TRACESTATE};

/// The context of one downstream call, made by [`TraceContext::child`](crate::TraceContext::child):
/// the request's trace id, a new span id for the call, the request's span as parent, the
/// trace's sampling decision, and the `tracestate` and `baggage` to forward.
///
/// ```
/// use belfry_trace_context::{RatioSampler, TraceContext, TrustIncoming};
/// use http::{HeaderMap, HeaderValue};
///
/// let mut incoming = HeaderMap::new();
/// incoming.insert("traceparent", HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
/// incoming.insert("tracestate", HeaderValue::from_static("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
/// let request = TraceContext::from_headers(&incoming, TrustIncoming::Continue, &RatioSampler::ALWAYS);
///
/// let call = request.child();
/// let mut outgoing = HeaderMap::new();
/// call.insert_into(&mut outgoing);
/// let span = call.span_id();
/// assert_eq!(outgoing["traceparent"], format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{span}-01").as_str());
/// assert_eq!(outgoing["tracestate"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
/// assert_eq!(outgoing["sentry-trace"], format!("4bf92f3577b34da6a3ce929d0e0e4736-{span}-1").as_str());
/// assert!(outgoing.get("baggage").is_none());
/// assert_eq!(call.parent_span_id(), request.span_id());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_span_id: SpanId,
    pub(crate) sampled: bool,
    pub(crate) forwarded: Option<Arc<Forwarded>>,
}

impl OutgoingContext {
    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The call's own span id: the downstream service sees it as its parent.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The span of the request that makes the call.
    pub fn parent_span_id(&self) -> SpanId {
        self.parent_span_id
    }

    /// The trace's sampling decision, sent on.
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The `tracestate` forwarded.
    pub fn trace_state(&self) -> Option<&HeaderValue> {
        self.forwarded.as_ref()?.trace_state.as_ref()
    }

    /// The `baggage` forwarded.
    pub fn baggage(&self) -> Option<&HeaderValue> {
        self.forwarded.as_ref()?.baggage.as_ref()
    }

    /// The `traceparent` value: `00-{trace id}-{span id}-{01 if sampled, else 00}`.
    pub fn traceparent(&self) -> HeaderValue {
        let value = crate::traceparent::format(self.trace_id, self.span_id, self.sampled);
        HeaderValue::from_bytes(&value).expect("hex and dashes are a valid header value")
    }

    /// The `sentry-trace` value: `{trace id}-{span id}-{1 if sampled, else 0}`.
    pub fn sentry_trace(&self) -> HeaderValue {
        let value = crate::sentry_trace::format(self.trace_id, self.span_id, self.sampled);
        HeaderValue::from_bytes(&value).expect("hex and dashes are a valid header value")
    }

    /// Sets the trace headers of an outgoing request:
    ///
    /// - `traceparent` and `sentry-trace`, replacing any value already there;
    /// - `tracestate`, replaced by the forwarded one, or removed when there is none (a
    ///   `tracestate` belongs to the `traceparent` it travels with);
    /// - `baggage`, replaced by the forwarded one when there is one; a `baggage` the caller set
    ///   itself is kept otherwise.
    ///
    /// Two allocations: the `traceparent` and `sentry-trace` values.
    pub fn insert_into(&self, headers: &mut HeaderMap) {
        headers.insert(TRACEPARENT, self.traceparent());
        headers.insert(SENTRY_TRACE, self.sentry_trace());
        match self.trace_state() {
            Some(value) => {
                headers.insert(TRACESTATE, value.clone());
            }
            None => {
                headers.remove(TRACESTATE);
            }
        }
        if let Some(value) = self.baggage() {
            headers.insert(BAGGAGE, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceContext;

    #[test]
    fn headers_of_an_unsampled_call_with_baggage() {
        let mut context = TraceContext::new_root(false);
        context.forwarded = Forwarded::new(None, Some(HeaderValue::from_static("k=v")), false);
        let call = context.child();
        let mut headers = HeaderMap::new();
        headers.insert(TRACESTATE, HeaderValue::from_static("stale=1"));
        headers.append(TRACEPARENT, HeaderValue::from_static("stale"));
        headers.append(TRACEPARENT, HeaderValue::from_static("stale"));
        call.insert_into(&mut headers);
        assert_eq!(headers.get_all(TRACEPARENT).iter().count(), 1);
        assert!(headers[TRACEPARENT].to_str().unwrap().ends_with("-00"));
        assert!(headers[SENTRY_TRACE].to_str().unwrap().ends_with("-0"));
        assert!(headers.get(TRACESTATE).is_none());
        assert_eq!(headers[BAGGAGE], "k=v");
        // Each call gets its own span.
        assert_ne!(context.child().span_id(), call.span_id());
    }
}
