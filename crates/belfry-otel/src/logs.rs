//! [`OtelLogLayer`]: the events the JSON lines get, as OpenTelemetry log records with the
//! request's trace and span ids (`OTEL_LOGS_EXPORTER=otlp`).

use std::{borrow::Cow, fmt, time::SystemTime};

use belfry_trace_context::TraceContext;
use opentelemetry::{
    logs::{AnyValue, LogRecord, Logger, Severity},
    trace::{SpanId, TraceFlags, TraceId},
    Key,
};
use opentelemetry_sdk::logs::SdkLogger;
use tracing::{
    field::{Field, Visit},
    span, Level, Subscriber,
};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

use crate::trace::{span_id, trace_id};

/// A `tracing` layer sending every event that passes the subscriber's filter as an OTLP log
/// record: severity, target, the message as body, the event's fields as attributes (their
/// values as the JSON lines write them, so scrubbed alike), and the trace id and span id of the
/// request (or task) it happened in. Built by [`OtelSettings::start`](crate::OtelSettings::start).
#[derive(Debug)]
pub struct OtelLogLayer {
    logger: SdkLogger,
}

/// The request span's trace ids, kept for events that happen outside the request's poll (the
/// access log, written at the end of the body).
#[derive(Clone, Copy)]
struct RequestIds {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
}

impl OtelLogLayer {
    pub(crate) fn new(logger: SdkLogger) -> Self {
        Self { logger }
    }
}

fn current_ids() -> Option<RequestIds> {
    TraceContext::with_current(|current| {
        current.map(|context| RequestIds {
            trace_id: trace_id(context.trace_id()),
            span_id: span_id(context.span_id()),
            sampled: context.is_sampled(),
        })
    })
}

impl<S> Layer<S> for OtelLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != belfry_request_id::REQUEST_SPAN_TARGET {
            return;
        }
        if let (Some(ids), Some(span)) = (current_ids(), ctx.span(id)) {
            span.extensions_mut().insert(ids);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut record = self.logger.create_log_record();
        let now = SystemTime::now();
        record.set_timestamp(now);
        record.set_observed_timestamp(now);
        record.set_target(Cow::Borrowed(metadata.target()));
        let (severity, text) = severity(*metadata.level());
        record.set_severity_number(severity);
        record.set_severity_text(text);
        let ids = current_ids().or_else(|| {
            ctx.event_scope(event)?
                .find_map(|span| span.extensions().get::<RequestIds>().copied())
        });
        if let Some(ids) = ids {
            let flags = if ids.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            record.set_trace_context(ids.trace_id, ids.span_id, Some(flags));
        }
        event.record(&mut Fields(&mut record));
        self.logger.emit(record);
    }
}

fn severity(level: Level) -> (Severity, &'static str) {
    match level {
        Level::ERROR => (Severity::Error, "ERROR"),
        Level::WARN => (Severity::Warn, "WARN"),
        Level::INFO => (Severity::Info, "INFO"),
        Level::DEBUG => (Severity::Debug, "DEBUG"),
        _ => (Severity::Trace, "TRACE"),
    }
}

/// The event's fields: `message` as the body, the rest as attributes.
struct Fields<'a, R>(&'a mut R);

impl<R: LogRecord> Fields<'_, R> {
    fn put(&mut self, field: &Field, value: AnyValue) {
        if field.name() == "message" {
            self.0.set_body(value);
        } else {
            self.0.add_attribute(Key::from_static_str(field.name()), value);
        }
    }
}

impl<R: LogRecord> Visit for Fields<'_, R> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, AnyValue::from(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AnyValue::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.put(field, AnyValue::Int(value)),
            Err(_) => self.put(field, AnyValue::from(value.to_string())),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, AnyValue::Double(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, AnyValue::Boolean(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, AnyValue::from(format!("{value:?}")));
    }
}
