//! Tests of the whole policy through `TraceContext::from_headers` and the layer.
