//! [`SpanInProgress`]: one sampled span being built, kept in the `tracing` span's extensions
//! until it ends; and [`Attributes`], the visitor turning `tracing` fields into attributes.

use std::{borrow::Cow, fmt, time::SystemTime};

use opentelemetry::{
    trace::{Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
    InstrumentationScope, KeyValue, Value,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use tracing::field::{Field, Visit};

/// belfry's ids as OpenTelemetry's (same bytes).
pub(crate) fn trace_id(id: belfry_trace_context::TraceId) -> TraceId {
    TraceId::from_bytes(id.to_bytes())
}

/// belfry's ids as OpenTelemetry's (same bytes).
pub(crate) fn span_id(id: belfry_trace_context::SpanId) -> SpanId {
    SpanId::from_bytes(id.to_bytes())
}

/// A span of a sampled trace, from its start to its end.
#[derive(Debug)]
pub(crate) struct SpanInProgress {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    /// The span of the [`TraceContext`](belfry_trace_context::TraceContext) current when this
    /// one started (the request's, or a task's): a child created under another context (in a
    /// spawned task) takes that context's span as parent instead.
    pub(crate) scope: SpanId,
    pub(crate) kind: SpanKind,
    pub(crate) name: Cow<'static, str>,
    pub(crate) start: SystemTime,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) events: Vec<Event>,
    pub(crate) status: Status,
    /// Exported already (a server span ends with its access-log line, before the `tracing`
    /// span closes, which a spawned task can delay); kept for its ids.
    pub(crate) ended: bool,
}

impl SpanInProgress {
    /// Ends the span now (or at `end`) and gives what is exported.
    pub(crate) fn finish(&mut self, end: SystemTime, scope: &InstrumentationScope) -> SpanData {
        self.ended = true;
        let mut events = SpanEvents::default();
        events.events = std::mem::take(&mut self.events);
        SpanData {
            span_context: SpanContext::new(
                self.trace_id,
                self.span_id,
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: self.parent_span_id,
            parent_span_is_remote: self.parent_is_remote,
            span_kind: self.kind.clone(),
            name: std::mem::take(&mut self.name),
            start_time: self.start,
            end_time: end,
            attributes: std::mem::take(&mut self.attributes),
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: std::mem::replace(&mut self.status, Status::Unset),
            instrumentation_scope: scope.clone(),
        }
    }
}

/// Collects `tracing` fields as attributes, under their own names; the `message` field is kept
/// apart, and the names in `skip` are left out.
pub(crate) struct Attributes<'a> {
    pub(crate) attributes: &'a mut Vec<KeyValue>,
    pub(crate) skip: &'a [&'static str],
    pub(crate) message: Option<String>,
}

impl<'a> Attributes<'a> {
    pub(crate) fn new(attributes: &'a mut Vec<KeyValue>, skip: &'a [&'static str]) -> Self {
        Self {
            attributes,
            skip,
            message: None,
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if self.skip.contains(&name) {
            return;
        }
        // `Span::record` of a field set at creation: the later value wins.
        match self.attributes.iter_mut().find(|kv| kv.key.as_str() == name) {
            Some(existing) => existing.value = value,
            None => self.attributes.push(KeyValue::new(name, value)),
        }
    }
}

impl Visit for Attributes<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.push(field, Value::from(value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.push(field, Value::I64(value)),
            Err(_) => self.push(field, Value::from(value.to_string())),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.push(field, Value::from(text));
        }
    }
}

/// Removes the attribute `name` and gives its value.
pub(crate) fn take(attributes: &mut Vec<KeyValue>, name: &str) -> Option<Value> {
    let index = attributes.iter().position(|kv| kv.key.as_str() == name)?;
    Some(attributes.swap_remove(index).value)
}

/// The attribute `name`.
pub(crate) fn get<'a>(attributes: &'a [KeyValue], name: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == name)
        .map(|kv| &kv.value)
}
