//! Sentry events of panics and of `5xx` responses answered by the application.

use std::backtrace::BacktraceStatus;

use belfry_capture::{ErrorReport, Panic, RequestDetails};
use http::StatusCode;
use sentry::{
    integrations::backtrace::parse_stacktrace,
    protocol::{Event, Exception, Frame, Mechanism, Stacktrace},
    Level,
};

/// A panic as a Sentry event: exception type `panic`, value the message, with the stack trace
/// of the backtrace the hook took (when the [`SentryPanicReporter`](crate::SentryPanicReporter)
/// asked for one) or, failing that, a single frame at the panic's location.
pub(crate) fn panic_event(panic: &Panic, level: Level) -> Event<'static> {
    let backtrace = panic
        .backtrace()
        .filter(|backtrace| backtrace.status() == BacktraceStatus::Captured);
    // std's backtrace, resolved and formatted here (not on the panicking thread's hook), read
    // back as Sentry's frames.
    let stacktrace = backtrace
        .and_then(|backtrace| parse_stacktrace(&backtrace.to_string()))
        .or_else(|| {
            let location = panic.location()?;
            Some(Stacktrace {
                frames: vec![Frame {
                    filename: Some(location.file().to_owned()),
                    abs_path: Some(location.file().to_owned()),
                    lineno: Some(location.line().into()),
                    colno: Some(location.column().into()),
                    in_app: Some(true),
                    ..Default::default()
                }],
                ..Default::default()
            })
        });
    let mut event = Event {
        exception: vec![Exception {
            ty: "panic".into(),
            value: Some(panic.message().to_owned()),
            mechanism: Some(Mechanism {
                ty: "panic".into(),
                handled: Some(false),
                ..Default::default()
            }),
            stacktrace,
            ..Default::default()
        }]
        .into(),
        level,
        ..Default::default()
    };
    if let Some(location) = panic.location() {
        event
            .extra
            .insert("panic.location".into(), location.to_string().into());
    }
    event
}

/// A 5xx answered by the application as a Sentry event: the attached error's chain (root cause
/// first, as Sentry expects) with the concrete type of the outermost error, or a message event
/// `HTTP 503 GET /route`.
pub(crate) fn failure_event(
    status: StatusCode,
    details: &RequestDetails,
    report: Option<&ErrorReport>,
) -> Event<'static> {
    let mut event = match report {
        Some(report) => {
            let mut event = sentry::event_from_error(report.error());
            if let (Some(outermost), Some(type_name)) = (event.exception.last_mut(), report.type_name()) {
                outermost.ty = type_name.to_owned();
            }
            event
        }
        None => Event {
            message: Some(format!(
                "HTTP {} {}",
                status.as_u16(),
                crate::transaction_name(details)
            )),
            level: Level::Error,
            ..Default::default()
        },
    };
    event
        .tags
        .insert("http.response.status_code".into(), status.as_u16().to_string());
    event
}
