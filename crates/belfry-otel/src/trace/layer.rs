//! [`OtelTraceLayer`]: the `tracing` layer that turns belfry's request span, the application's
//! spans, belfry-client calls and belfry tasks of sampled traces into OpenTelemetry spans.

use std::{
    borrow::Cow,
    time::{Duration, SystemTime},
};

use belfry_trace_context::TraceContext;
use opentelemetry::{
    trace::{Event, SpanId, SpanKind, Status},
    InstrumentationScope, KeyValue, Value,
};
use tracing::{span, Subscriber};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

use super::{
    queue::SpanQueue,
    span::{get, span_id, take, trace_id, Attributes, SpanInProgress},
};
use crate::targets;

/// A `tracing` layer exporting the spans of sampled requests; built by
/// [`OtelSettings::start`](crate::OtelSettings::start).
///
/// Per span of an unsampled request it costs one look at
/// [`TraceContext::current`]'s sampled flag; see the [crate docs](crate) for what becomes a span.
#[derive(Clone, Debug)]
pub struct OtelTraceLayer {
    queue: SpanQueue,
    scope: InstrumentationScope,
}

/// Fields of the request span that are its ids: not repeated as attributes.
const REQUEST_SPAN_SKIP: &[&str] = &[
    belfry_request_id::TRACE_ID_FIELD,
    belfry_request_id::SPAN_ID_FIELD,
];
/// Fields of the access-log line that are not server-span attributes (the duration is the
/// span's own).
const ACCESS_LOG_SKIP: &[&str] = &["duration_ms"];

impl OtelTraceLayer {
    pub(crate) fn new(queue: SpanQueue) -> Self {
        Self {
            queue,
            scope: InstrumentationScope::builder("belfry")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }
    }

    /// The access-log line ends the server span: name, attributes, status, end time.
    fn request_completed<S>(&self, event: &tracing::Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.event_span(event) else { return };
        let mut extensions = span.extensions_mut();
        let Some(server) = extensions
            .get_mut::<SpanInProgress>()
            .filter(|span| span.kind == SpanKind::Server && !span.ended)
        else {
            return;
        };
        let mut visitor = Attributes::new(&mut server.attributes, ACCESS_LOG_SKIP);
        event.record(&mut visitor);
        let attributes = &server.attributes;
        let method = get(attributes, "http.request.method").map(Value::as_str);
        let route = get(attributes, "http.route").map(Value::as_str);
        server.name = match (method, route) {
            (Some(method), Some(route)) => Cow::Owned(format!("{method} {route}")),
            (Some(method), None) => Cow::Owned(method.into_owned()),
            _ => Cow::Borrowed("HTTP"),
        };
        let status = match get(attributes, "http.response.status_code") {
            Some(Value::I64(status)) => Some(*status),
            _ => None,
        };
        // Server spans: 5xx is an error, 4xx is the client's (OpenTelemetry HTTP conventions);
        // no status at all (the client went away, a panic in the body) is an error too.
        if status.is_none_or(|status| status >= 500) {
            let description = get(attributes, "error.type").map_or(Cow::Borrowed(""), Value::as_str);
            server.status = Status::error(description.into_owned());
        }
        let data = server.finish(SystemTime::now(), &self.scope);
        drop(extensions);
        self.queue.push(data);
    }

    /// A panic, or a 5xx with an error attached: an `exception` event on the server span.
    fn exception<S>(&self, event: &tracing::Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            let mut extensions = span.extensions_mut();
            let Some(server) = extensions
                .get_mut::<SpanInProgress>()
                .filter(|span| span.kind == SpanKind::Server && !span.ended)
            else {
                continue;
            };
            let mut fields = Vec::new();
            let mut visitor = Attributes::new(&mut fields, &[]);
            event.record(&mut visitor);
            let panicked = visitor.message.as_deref() == Some("request panicked");
            let mut attributes = Vec::with_capacity(4);
            if let Some(message) =
                take(&mut fields, "panic.message").or_else(|| take(&mut fields, "error.message"))
            {
                attributes.push(KeyValue::new("exception.message", message));
            }
            let kind = if panicked {
                Some(Value::from("panic"))
            } else {
                take(&mut fields, "error.type")
            };
            if let Some(kind) = kind {
                attributes.push(KeyValue::new("exception.type", kind));
            }
            if let Some(chain) = take(&mut fields, "error.chain") {
                attributes.push(KeyValue::new("exception.stacktrace", chain));
            }
            for code in ["code.filepath", "code.lineno", "code.column"] {
                if let Some(value) = take(&mut fields, code) {
                    attributes.push(KeyValue::new(code, value));
                }
            }
            server
                .events
                .push(Event::new("exception", SystemTime::now(), attributes, 0));
            return;
        }
    }

    /// One belfry-client call: a CLIENT span with the span id sent in its `traceparent`.
    fn client_call(&self, event: &tracing::Event<'_>) {
        let Some(trace) = sampled_trace() else { return };
        let mut attributes = Vec::with_capacity(8);
        let mut visitor = Attributes::new(&mut attributes, &[]);
        event.record(&mut visitor);
        let (Some(call), Some(parent)) = (
            take(&mut attributes, targets::CALL_SPAN_ID_FIELD).and_then(|id| parse_span_id(&id)),
            take(&mut attributes, targets::CALL_PARENT_SPAN_ID_FIELD).and_then(|id| parse_span_id(&id)),
        ) else {
            return;
        };
        let end = SystemTime::now();
        let start = started(end, take(&mut attributes, "duration_ms"));
        let method = get(&attributes, "http.request.method").map_or(Cow::Borrowed("HTTP"), Value::as_str);
        // Client spans: any 4xx or 5xx, and any failure, is an error.
        let status = match get(&attributes, "error.type") {
            Some(error) => Status::error(error.as_str().into_owned()),
            None => Status::Unset,
        };
        let mut span = SpanInProgress {
            trace_id: trace_id(trace.0),
            span_id: call,
            parent_span_id: parent,
            parent_is_remote: false,
            scope: call,
            kind: SpanKind::Client,
            name: Cow::Owned(method.into_owned()),
            start,
            attributes,
            events: Vec::new(),
            status,
            ended: false,
        };
        self.queue.push(span.finish(end, &self.scope));
    }

    /// A belfry task finished: its span (the task's own trace-context span, child of the
    /// request's).
    fn task_finished(&self, event: &tracing::Event<'_>) {
        let Some(context) = TraceContext::with_current(|c| c.filter(|c| c.is_sampled()).cloned()) else {
            return;
        };
        let Some(parent) = context.parent_span_id() else {
            return;
        };
        let mut attributes = Vec::with_capacity(4);
        let mut visitor = Attributes::new(&mut attributes, &[]);
        event.record(&mut visitor);
        if visitor.message.as_deref() != Some("task finished") {
            return;
        }
        let end = SystemTime::now();
        let start = started(end, take(&mut attributes, "duration_ms"));
        let name = get(&attributes, "task.name").map_or(Cow::Borrowed("task"), |name| {
            Cow::Owned(format!("task {}", name.as_str()))
        });
        let status = match get(&attributes, "task.outcome").map(Value::as_str).as_deref() {
            Some("succeeded") | None => Status::Unset,
            Some(outcome) => Status::error(outcome.to_owned()),
        };
        let mut span = SpanInProgress {
            trace_id: trace_id(context.trace_id()),
            span_id: span_id(context.span_id()),
            parent_span_id: span_id(parent),
            parent_is_remote: false,
            scope: span_id(context.span_id()),
            kind: SpanKind::Internal,
            name,
            start,
            attributes,
            events: Vec::new(),
            status,
            ended: false,
        };
        self.queue.push(span.finish(end, &self.scope));
    }
}

/// The current trace id and span id, when the current trace is sampled: the one check an
/// unsampled request pays per span.
#[inline]
fn sampled_trace() -> Option<(belfry_trace_context::TraceId, belfry_trace_context::SpanId)> {
    TraceContext::with_current(|current| {
        current
            .filter(|context| context.is_sampled())
            .map(|context| (context.trace_id(), context.span_id()))
    })
}

fn parse_span_id(value: &Value) -> Option<SpanId> {
    let hex = value.as_str();
    belfry_trace_context::SpanId::from_hex(&hex).map(span_id)
}

/// `end` minus the event's `duration_ms`.
fn started(end: SystemTime, duration_ms: Option<Value>) -> SystemTime {
    let millis = match duration_ms {
        Some(Value::F64(ms)) if ms.is_finite() && ms >= 0.0 => ms,
        Some(Value::I64(ms)) if ms >= 0 => ms as f64,
        _ => 0.0,
    };
    end.checked_sub(Duration::from_secs_f64(millis / 1000.0))
        .unwrap_or(end)
}

impl<S> Layer<S> for OtelTraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(context) = TraceContext::with_current(|current| {
            current
                .filter(|context| context.is_sampled())
                .map(|context| (context.trace_id(), context.span_id(), context.parent_span_id()))
        }) else {
            return;
        };
        let Some(span) = ctx.span(id) else { return };
        let (trace, scope, scope_parent) = context;
        let scope = span_id(scope);
        let metadata = attrs.metadata();
        let server = metadata.target() == belfry_request_id::REQUEST_SPAN_TARGET;
        let mut in_progress = if server {
            SpanInProgress {
                trace_id: trace_id(trace),
                span_id: scope,
                parent_span_id: scope_parent.map_or(SpanId::INVALID, span_id),
                parent_is_remote: scope_parent.is_some(),
                scope,
                kind: SpanKind::Server,
                name: Cow::Borrowed("HTTP"),
                start: SystemTime::now(),
                attributes: Vec::with_capacity(16),
                events: Vec::new(),
                status: Status::Unset,
                ended: false,
            }
        } else {
            // The enclosing exported span, if it belongs to the same trace-context span; in a
            // spawned task the task's span instead.
            let parent = span
                .parent()
                .and_then(|parent| {
                    parent
                        .extensions()
                        .get::<SpanInProgress>()
                        .filter(|parent| parent.scope == scope)
                        .map(|parent| parent.span_id)
                })
                .unwrap_or(scope);
            SpanInProgress {
                trace_id: trace_id(trace),
                span_id: span_id(belfry_trace_context::SpanId::random()),
                parent_span_id: parent,
                parent_is_remote: false,
                scope,
                kind: SpanKind::Internal,
                name: Cow::Borrowed(metadata.name()),
                start: SystemTime::now(),
                attributes: Vec::new(),
                events: Vec::new(),
                status: Status::Unset,
                ended: false,
            }
        };
        let skip = if server { REQUEST_SPAN_SKIP } else { &[] };
        attrs.record(&mut Attributes::new(&mut in_progress.attributes, skip));
        span.extensions_mut().insert(in_progress);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(in_progress) = extensions.get_mut::<SpanInProgress>() {
            let skip = if in_progress.kind == SpanKind::Server {
                REQUEST_SPAN_SKIP
            } else {
                &[]
            };
            values.record(&mut Attributes::new(&mut in_progress.attributes, skip));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        match event.metadata().target() {
            targets::ACCESS_LOG => self.request_completed(event, &ctx),
            targets::CAPTURE => self.exception(event, &ctx),
            targets::CLIENT => self.client_call(event),
            targets::TASK => self.task_finished(event),
            _ => {}
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let data = {
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<SpanInProgress>() {
                Some(in_progress) if !in_progress.ended => in_progress.finish(SystemTime::now(), &self.scope),
                _ => return,
            }
        };
        self.queue.push(data);
    }
}
