//! [`SentryPanicReporter`]: what belfry's panic hook sends to Sentry on its own — the panics
//! outside requests — and whether it takes backtraces.

use belfry_capture::{Panic, PanicReporter};
use sentry::{Hub, Level};

use crate::{event::panic_event, reporter::client_bound};

/// belfry's panic hook's [`PanicReporter`] for Sentry: a panic outside every request (a
/// background thread, a spawned task — in the spawning request's hub when spawned with
/// [`belfry_capture::spawn`]) becomes one event on the current hub, level fatal, queued and
/// never flushed on the panicking thread. Set once at start-up with
/// [`belfry_capture::set_panic_reporter`]; [`ClientSettings::init`](crate::ClientSettings::init)
/// does it.
///
/// With [`stack_traces`](Self::stack_traces) on, the hook takes a backtrace of each panic while a
/// client is bound — also for the panics inside requests, which the request's
/// [`SentryReporter`](crate::SentryReporter) sends — and the event carries it as its stack trace;
/// off (the default), the event carries the panic's location as a one-frame trace.
///
/// ```
/// let reporter = belfry_sentry::SentryPanicReporter::new().stack_traces(true);
/// assert!(reporter.takes_stack_traces());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SentryPanicReporter {
    stack_traces: bool,
}

impl SentryPanicReporter {
    /// No stack traces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends a full stack trace with the event of each panic (default off).
    ///
    /// Off by default because resolving a stack trace is costly, on the thread serving the
    /// request: the reliability suite measured ~15 ms of CPU per panic in a debug build, and
    /// ~55 MB of memory for the symbols at the first one — a panic storm would turn it into a
    /// denial of service. Turn it on where panics are rare and their traces matter more.
    pub fn stack_traces(mut self, enabled: bool) -> Self {
        self.stack_traces = enabled;
        self
    }

    /// Whether it asks for stack traces.
    pub fn takes_stack_traces(&self) -> bool {
        self.stack_traces
    }
}

impl PanicReporter for SentryPanicReporter {
    fn wants_backtrace(&self) -> bool {
        self.stack_traces && client_bound()
    }

    fn report(&self, panic: &Panic) {
        if client_bound() {
            Hub::current().capture_event(panic_event(panic, Level::Fatal));
        }
    }
}
