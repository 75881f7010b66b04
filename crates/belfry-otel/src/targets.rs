//! The `tracing` targets and field names of the belfry events the bridge reads: defined by the
//! crates that write them, repeated here (belfry-otel depends on none of them); the facade's
//! tests check they agree.

/// `request completed`, written by belfry-access-log at the end of the response body.
pub(crate) const ACCESS_LOG: &str = "belfry::access";
/// `request panicked` / `request failed`, written by the capture layer.
pub(crate) const CAPTURE: &str = "belfry::capture";
/// `http client request`, one per call through belfry-client.
pub(crate) const CLIENT: &str = "belfry::client";
/// `task started` / `task finished`, written by belfry's task helper.
pub(crate) const TASK: &str = "belfry::task";

/// The span id belfry-client sent in the call's `traceparent`.
pub(crate) const CALL_SPAN_ID_FIELD: &str = "call.span_id";
/// The span the call was made from (the request's, or a task's).
pub(crate) const CALL_PARENT_SPAN_ID_FIELD: &str = "call.parent_span_id";
