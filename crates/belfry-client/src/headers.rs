//! The propagation headers: [`headers_for`], [`outgoing_headers`], and the insertion rule the
//! middleware follow ([`insert_missing`]).

use belfry_request_id::{RequestId, X_REQUEST_ID};
use belfry_trace_context::{TraceContext, BAGGAGE, SENTRY_TRACE, TRACEPARENT, TRACESTATE};
use http::HeaderMap;

/// The headers of one downstream call made on behalf of `trace`'s request: `traceparent` with a
/// new child span id (the request's span as parent), `tracestate` and `baggage` as they came in,
/// `sentry-trace` for the same span, and `x-request-id` when `request_id` is given.
///
/// Each call returns a new span id: call it once per outgoing request.
///
/// ```
/// use belfry_client::headers_for;
/// use belfry_request_id::RequestId;
/// use belfry_trace_context::TraceContext;
///
/// let trace = TraceContext::new_root(true);
/// let request_id = RequestId::from_incoming(b"req-1").unwrap();
/// let headers = headers_for(&trace, Some(&request_id));
///
/// let traceparent = headers["traceparent"].to_str().unwrap();
/// let fields: Vec<&str> = traceparent.split('-').collect();
/// assert_eq!(fields[0], "00");
/// assert_eq!(fields[1], trace.trace_id().to_string()); // same trace
/// assert_ne!(fields[2], trace.span_id().to_string()); // a span of its own
/// assert_eq!(fields[3], "01"); // sampled, as the request
/// assert_eq!(
///     headers["sentry-trace"],
///     format!("{}-{}-1", fields[1], fields[2]).as_str()
/// );
/// assert_eq!(headers["x-request-id"], "req-1");
/// assert!(headers.get("tracestate").is_none()); // none came in
/// ```
pub fn headers_for(trace: &TraceContext, request_id: Option<&RequestId>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(5);
    let _ = insert_missing(&mut headers, Some(trace), request_id);
    headers
}

/// [`headers_for`] the request being served on this task ([`TraceContext::current`],
/// [`RequestId::current`]); empty outside a request served through belfry's layers.
///
/// For clients without middleware support: `ureq`, `isahc`, a hand-written hyper call, a gRPC
/// channel's metadata. Call it once per outgoing request (each call is a new span).
///
/// ```
/// use belfry_client::outgoing_headers;
/// use belfry_trace_context::TraceContext;
///
/// assert!(outgoing_headers().is_empty()); // not serving a request
///
/// let request = TraceContext::new_root(false);
/// let headers = request.in_scope(outgoing_headers);
/// let traceparent = headers["traceparent"].to_str().unwrap();
/// assert!(traceparent.contains(&request.trace_id().to_string()));
/// assert!(traceparent.ends_with("-00")); // not sampled, as the request
/// ```
pub fn outgoing_headers() -> HeaderMap {
    let request_id = RequestId::current();
    TraceContext::with_current(|trace| {
        let mut headers = HeaderMap::new();
        let _ = insert_missing(&mut headers, trace, request_id.as_ref());
        headers
    })
}

/// Adds the propagation headers that `headers` does not have yet; what the caller set is kept.
///
/// A `traceparent` set by the caller means the caller propagates the trace itself: then no
/// trace header is added (`tracestate` belongs to the `traceparent` it travels with, and a
/// second `sentry-trace` would name another span). Otherwise `traceparent`, `tracestate`,
/// `sentry-trace` and `baggage` are each added if absent. `x-request-id` is added if absent.
///
/// Gives the call's span (its id and its parent's) when a `traceparent` was added.
pub(crate) fn insert_missing(
    headers: &mut HeaderMap,
    trace: Option<&TraceContext>,
    request_id: Option<&RequestId>,
) -> Option<CallSpan> {
    let mut span = None;
    if let Some(trace) = trace.filter(|_| !headers.contains_key(TRACEPARENT)) {
        let call = trace.child();
        span = Some(CallSpan {
            span_id: call.span_id(),
            parent_span_id: call.parent_span_id(),
        });
        headers.insert(TRACEPARENT, call.traceparent());
        if let Some(state) = call.trace_state() {
            headers.entry(TRACESTATE).or_insert_with(|| state.clone());
        }
        headers.entry(SENTRY_TRACE).or_insert_with(|| call.sentry_trace());
        if let Some(baggage) = call.baggage() {
            headers.entry(BAGGAGE).or_insert_with(|| baggage.clone());
        }
    }
    if let Some(id) = request_id {
        headers
            .entry(X_REQUEST_ID)
            .or_insert_with(|| id.header_value().clone());
    }
    span
}

/// The span of one call: the id sent in its `traceparent`, and the span it was made from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallSpan {
    pub(crate) span_id: belfry_trace_context::SpanId,
    pub(crate) parent_span_id: belfry_trace_context::SpanId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_caller_set_traceparent_keeps_every_trace_header_out() {
        let trace = TraceContext::new_root(true);
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static("mine"));
        let id = RequestId::from_incoming(b"r").unwrap();
        let _ = insert_missing(&mut headers, Some(&trace), Some(&id));
        assert_eq!(headers[TRACEPARENT], "mine");
        assert!(headers.get(SENTRY_TRACE).is_none());
        assert_eq!(headers[X_REQUEST_ID], "r");
    }

    #[test]
    fn caller_set_headers_are_kept() {
        let trace = TraceContext::new_root(true);
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("theirs"));
        headers.insert(SENTRY_TRACE, HeaderValue::from_static("theirs"));
        let id = RequestId::from_incoming(b"ours").unwrap();
        let _ = insert_missing(&mut headers, Some(&trace), Some(&id));
        assert_eq!(headers[X_REQUEST_ID], "theirs");
        assert_eq!(headers[SENTRY_TRACE], "theirs");
        assert!(headers[TRACEPARENT]
            .to_str()
            .unwrap()
            .contains(&trace.trace_id().to_string()));
    }

    #[test]
    fn without_context_nothing_is_added() {
        let mut headers = HeaderMap::new();
        let _ = insert_missing(&mut headers, None, None);
        assert!(headers.is_empty());
    }

    #[test]
    fn every_call_gets_a_new_span() {
        let trace = TraceContext::new_root(true);
        let first = headers_for(&trace, None);
        let second = headers_for(&trace, None);
        assert_ne!(first[TRACEPARENT], second[TRACEPARENT]);
    }
}
