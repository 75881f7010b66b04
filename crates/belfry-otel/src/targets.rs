//! The `tracing` targets and field names of the belfry events the bridge reads, from the crates
//! that write them.

/// `request completed`, written by belfry-access-log at the end of the response body.
pub(crate) const ACCESS_LOG: &str = belfry_access_log::TARGET;
/// `request panicked` / `request failed`, written by the capture layer.
pub(crate) const CAPTURE: &str = belfry_capture::TARGET;
/// `http client request`, one per call through belfry-client.
pub(crate) const CLIENT: &str = belfry_client::TARGET;
/// The span id belfry-client sent in the call's `traceparent`.
pub(crate) const CALL_SPAN_ID_FIELD: &str = belfry_client::CALL_SPAN_ID_FIELD;
/// The span the call was made from (the request's, or a task's).
pub(crate) const CALL_PARENT_SPAN_ID_FIELD: &str = belfry_client::CALL_PARENT_SPAN_ID_FIELD;

/// `task started` / `task finished`, written by the `belfry` facade's task helper: the facade
/// depends on this crate (feature `otel`), not the other way round, so the name is repeated here
/// and a test of the facade checks that `belfry::task::TARGET` agrees.
///
/// ```
/// assert_eq!(belfry_otel::TASK_TARGET, "belfry::task");
/// ```
pub const TASK_TARGET: &str = "belfry::task";
pub(crate) const TASK: &str = TASK_TARGET;
