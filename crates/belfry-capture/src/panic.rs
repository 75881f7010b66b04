//! Panics: the process-wide hook, and the hand-over of a panic's location to the layer.
//!
//! A caught panic's payload carries the message but not the location, which only the panic hook
//! sees. The hook installed by [`install_panic_hook`] therefore records message, location and,
//! when Sentry is enabled, the stack trace in a thread-local slot whenever the panicking thread
//! is inside a capture scope (a [`catching`] call of the layer), and the layer takes the record
//! after `catch_unwind` returns. A panic outside every capture scope — a background thread, a
//! spawned task — is reported by the hook itself.

use std::{
    any::Any,
    cell::{Cell, RefCell},
    io::Write as _,
    panic::{AssertUnwindSafe, PanicHookInfo},
    sync::{
        atomic::{AtomicBool, Ordering},
        Once,
    },
};

use sentry::{protocol::Stacktrace, Hub};

use crate::sentry_hub::{self, SentryRequest};

/// Where a panic happened, as reported by the panic hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PanicLocation {
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl std::fmt::Display for PanicLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What the hook knows of a panic that the layer will catch.
#[derive(Debug)]
pub(crate) struct PanicRecord {
    pub(crate) message: String,
    pub(crate) location: Option<PanicLocation>,
    /// Only captured when a Sentry client is bound: walking the stack is costly.
    pub(crate) stacktrace: Option<Stacktrace>,
}

/// A panic caught by the layer: the payload's message, and what the hook recorded of it.
#[derive(Debug)]
pub(crate) struct CaughtPanic {
    pub(crate) message: String,
    pub(crate) location: Option<PanicLocation>,
    pub(crate) stacktrace: Option<Stacktrace>,
}

thread_local! {
    /// How many capture scopes the current thread is in.
    static CAPTURE_DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The last panic recorded by the hook inside a capture scope on this thread.
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
    /// Whether `LAST_PANIC` holds a record: one `Cell` read on the path of every poll.
    static RECORD_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as inside a capture scope while alive.
struct CaptureScope;

impl CaptureScope {
    fn enter() -> Self {
        CAPTURE_DEPTH.with(|depth| depth.set(depth.get() + 1));
        CaptureScope
    }
}

impl Drop for CaptureScope {
    fn drop(&mut self) {
        let _ = CAPTURE_DEPTH.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

fn in_capture_scope() -> bool {
    CAPTURE_DEPTH.try_with(Cell::get).unwrap_or(0) > 0
}

/// Runs `f` with the request's hub bound and its context active (with Sentry on), catching a
/// panic.
///
/// On a panic, returns its message together with the location and stack trace recorded by the
/// hook, when the hook is installed and recorded this very panic.
pub(crate) fn catching<R>(
    sentry: Option<&SentryRequest>,
    f: impl FnOnce() -> R,
) -> Result<R, Box<CaughtPanic>> {
    let _scope = CaptureScope::enter();
    let result = match sentry {
        Some(sentry) => sentry.enter(|| std::panic::catch_unwind(AssertUnwindSafe(f))),
        None => std::panic::catch_unwind(AssertUnwindSafe(f)),
    };
    match result {
        Ok(value) => {
            report_left_behind();
            Ok(value)
        }
        Err(payload) => {
            let panic = caught(&*payload);
            report_left_behind();
            Err(Box::new(panic))
        }
    }
}

/// A record the layer did not take belongs to a panic that code further in caught itself (a
/// health check run by its runner, a `catch_unwind` in the handler): nobody else reports it, so
/// it is logged now, once, with its message and location, as a panic outside requests is.
fn report_left_behind() {
    if !RECORD_PENDING.with(Cell::get) {
        return;
    }
    if let Some(record) = take_record() {
        report_panic_outside_requests(&record.message, record.location, false);
    }
}

fn take_record() -> Option<PanicRecord> {
    RECORD_PENDING.with(|pending| pending.set(false));
    LAST_PANIC.with(|slot| slot.borrow_mut().take())
}

fn caught(payload: &(dyn Any + Send)) -> CaughtPanic {
    let message = panic_message(payload);
    // The record is this panic's only if the messages agree: a panic caught further in (by the
    // application itself) leaves a stale record behind, and the hook may not be installed.
    let record = match take_record() {
        Some(record) if record.message == message => Some(record),
        Some(stale) => {
            // Caught further in and never reported: say it now.
            report_panic_outside_requests(&stale.message, stale.location, false);
            None
        }
        None => None,
    };
    match record {
        Some(record) => CaughtPanic {
            message: record.message,
            location: record.location,
            stacktrace: record.stacktrace,
        },
        None => CaughtPanic {
            message: message.to_owned(),
            location: None,
            stacktrace: None,
        },
    }
}

/// The message of a panic payload: the `&str` or `String` given to `panic!`, or `Box<dyn Any>`.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("disk full")).unwrap_err();
/// assert_eq!(belfry_capture::panic_message(&*payload), "disk full");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "Box<dyn Any>"
    }
}

static INSTALL: Once = Once::new();

/// Whether belfry's hook calls the one installed before it.
static CHAINED: AtomicBool = AtomicBool::new(false);

/// Installs belfry's panic hook in front of the one installed before it; calling it again does
/// nothing.
///
/// The hook never prints to stdout (which carries the JSON logs) and never flushes Sentry:
///
/// - **Inside a request** served by [`Capture`](crate::Capture) (its handler, and its body while
///   it streams), it only records the panic's message, location (`file:line:column`) and —
///   when a Sentry client is bound and [stack traces](capture_panic_stacktraces) are on — stack
///   trace, for the layer to report. Without the hook, the layer still catches and reports the
///   panic, without its location. A panic that code inside the request catches itself (a
///   health check's runner, the handler's own `catch_unwind`) is logged once as
///   `thread panicked`, with its message and location, when the layer next gets control.
/// - **Anywhere else** (a background thread, a task spawned with [`spawn`](crate::spawn), a
///   layer outside [`Capture`](crate::Capture)), it logs one ERROR event `thread panicked` with
///   target [`TARGET`](crate::TARGET) and the fields `panic.message`, `code.filepath`,
///   `code.lineno`, `code.column` and `thread.name`, in the current span. If a Sentry client is
///   bound to the current hub, it also captures one event (exception type `panic`, level fatal)
///   on that hub. The event is queued to the transport, not flushed: the Sentry guard flushes
///   at shutdown.
///
/// **Then it calls the hook that was installed before it**, for every panic: the application's
/// own hook keeps working. When the application installed none, that is std's default hook,
/// which prints `thread '…' panicked at …` to stderr (and, with `RUST_BACKTRACE` set, resolves
/// a backtrace on the panicking thread — leave it unset in production). To drop the previous
/// hook instead, call [`replace_panic_hook`] — an explicit choice. Install it once at startup,
/// after telemetry; Sentry's own `panic` integration must stay off (it flushes on the panicking
/// thread).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static SEEN_BY_THE_APPLICATION: AtomicUsize = AtomicUsize::new(0);
/// std::panic::set_hook(Box::new(|_| {
///     SEEN_BY_THE_APPLICATION.fetch_add(1, Ordering::SeqCst);
/// }));
///
/// belfry_capture::install_panic_hook();
/// belfry_capture::install_panic_hook(); // idempotent: chained once
///
/// let outcome = std::thread::spawn(|| panic!("background work failed")).join();
/// assert!(outcome.is_err()); // logged as `thread panicked`, not printed on stdout
/// assert_eq!(SEEN_BY_THE_APPLICATION.load(Ordering::SeqCst), 1, "the previous hook still runs");
/// ```
pub fn install_panic_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        CHAINED.store(true, Ordering::Relaxed);
        std::panic::set_hook(Box::new(move |info| {
            panic_hook(info);
            previous(info);
        }));
    });
}

/// Installs belfry's panic hook alone, dropping the one installed before it (std's default
/// printer, or the application's): for an application that wants no `thread '…' panicked`
/// lines on stderr. Does nothing once either installer has run.
///
/// ```
/// belfry_capture::replace_panic_hook();
/// let outcome = std::thread::spawn(|| panic!("logged once, on stdout")).join();
/// assert!(outcome.is_err());
/// ```
pub fn replace_panic_hook() {
    INSTALL.call_once(|| std::panic::set_hook(Box::new(panic_hook)));
}

/// Whether the panic hook walks and symbolizes the stack for the Sentry event of a panic inside
/// a request (default `false`).
static PANIC_STACKTRACES: AtomicBool = AtomicBool::new(false);

/// Sends a full stack trace with the Sentry event of a panic inside a request (default off: the
/// event carries the panic's location as a one-frame trace).
///
/// Off by default because resolving a stack trace runs on the panicking worker thread and is
/// costly: the reliability suite measured ~15 ms of CPU per panic in a debug build, and ~55 MB
/// of memory for the symbols at the first one — a panic storm would turn it into a denial of
/// service. Turn it on where panics are rare and their traces matter more.
///
/// ```
/// belfry_capture::capture_panic_stacktraces(true);
/// # belfry_capture::capture_panic_stacktraces(false);
/// ```
pub fn capture_panic_stacktraces(enabled: bool) {
    PANIC_STACKTRACES.store(enabled, Ordering::Relaxed);
}

fn panic_hook(info: &PanicHookInfo<'_>) {
    let message = panic_message(info.payload());
    let location = info.location().map(|location| PanicLocation {
        file: location.file().to_owned(),
        line: location.line(),
        column: location.column(),
    });
    if in_capture_scope() {
        // A record still here is a panic caught further in and never reported.
        if let Some(stale) = LAST_PANIC
            .try_with(|slot| slot.borrow_mut().take())
            .ok()
            .flatten()
        {
            report_panic_outside_requests(&stale.message, stale.location, false);
        }
        let stacktrace = (PANIC_STACKTRACES.load(Ordering::Relaxed) && sentry_hub::client_bound())
            .then(sentry::integrations::backtrace::current_stacktrace);
        let record = PanicRecord {
            message: message.to_owned(),
            location,
            stacktrace: stacktrace.flatten(),
        };
        let _ = LAST_PANIC.try_with(|slot| *slot.borrow_mut() = Some(record));
        let _ = RECORD_PENDING.try_with(|pending| pending.set(true));
    } else {
        report_panic_outside_requests(message, location, true);
    }
}

/// Logs `thread panicked` (and sends it to Sentry when bound). `live`: called from the hook of
/// this very panic, so a stack trace can be taken (only when stack traces are on: resolving one
/// costs milliseconds on the panicking thread).
fn report_panic_outside_requests(message: &str, location: Option<PanicLocation>, live: bool) {
    let thread = std::thread::current();
    let thread_name = thread.name().unwrap_or("<unnamed>");
    if tracing::enabled!(target: crate::TARGET, tracing::Level::ERROR) {
        tracing::event!(
            target: crate::TARGET,
            tracing::Level::ERROR,
            panic.message = message,
            code.filepath = location.as_ref().map(|location| location.file.as_str()),
            code.lineno = location.as_ref().map(|location| location.line),
            code.column = location.as_ref().map(|location| location.column),
            thread.name = thread_name,
            "thread panicked"
        );
    } else if !CHAINED.load(Ordering::Relaxed) {
        // Nobody else prints it: the previous hook was dropped.
        let at = location
            .as_ref()
            .map_or_else(|| "an unknown location".to_owned(), ToString::to_string);
        let _ = writeln!(
            std::io::stderr(),
            "thread '{thread_name}' panicked at {at}:\n{message}"
        );
    }
    if sentry_hub::client_bound() {
        let stacktrace = (live && PANIC_STACKTRACES.load(Ordering::Relaxed))
            .then(sentry::integrations::backtrace::current_stacktrace)
            .flatten();
        let caught = CaughtPanic {
            message: message.to_owned(),
            location,
            stacktrace,
        };
        Hub::current().capture_event(sentry_hub::panic_event(&caught, sentry::Level::Fatal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_messages() {
        let payload: Box<dyn Any + Send> = Box::new("static text");
        assert_eq!(panic_message(&*payload), "static text");
        let payload: Box<dyn Any + Send> = Box::new(String::from("formatted 42"));
        assert_eq!(panic_message(&*payload), "formatted 42");
        let payload: Box<dyn Any + Send> = Box::new(42_u32);
        assert_eq!(panic_message(&*payload), "Box<dyn Any>");
    }

    #[test]
    fn capture_scope_nests_and_unwinds() {
        assert!(!in_capture_scope());
        let outer = CaptureScope::enter();
        let inner = CaptureScope::enter();
        assert!(in_capture_scope());
        drop(inner);
        assert!(in_capture_scope());
        drop(outer);
        assert!(!in_capture_scope());
        assert!(catching(None, || panic!("caught")).is_err());
        assert!(!in_capture_scope(), "the scope ends when the panic is caught");
    }

    #[test]
    fn caught_panic_takes_the_matching_record() {
        crate::install_panic_hook();
        let line = line!() + 1;
        let panic = catching(None, || panic!("with location {}", 7)).unwrap_err();
        assert_eq!(panic.message, "with location 7");
        let location = panic.location.expect("recorded by the hook");
        assert_eq!((location.file.as_str(), location.line), (file!(), line));

        // A stale record from a panic caught further in is not mistaken for the next one.
        LAST_PANIC.with(|slot| {
            *slot.borrow_mut() = Some(PanicRecord {
                message: "stale".into(),
                location: None,
                stacktrace: None,
            })
        });
        let payload: Box<dyn Any + Send> = Box::new("fresh");
        let fresh = caught(&*payload);
        assert_eq!(fresh.message, "fresh");
        assert!(fresh.location.is_none());
    }
}
