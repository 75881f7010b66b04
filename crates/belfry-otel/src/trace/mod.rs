//! Traces: the `tracing` bridge ([`OtelTraceLayer`]) and the bounded way to the batch processor.

mod layer;
mod queue;
mod span;

pub use layer::OtelTraceLayer;
pub(crate) use queue::SpanQueue;
pub use queue::{dropped_spans, DroppedSpans};
pub(crate) use span::{span_id, trace_id};

#[cfg(test)]
mod tests;
