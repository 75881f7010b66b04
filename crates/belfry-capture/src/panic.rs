//! Panics: the process-wide hook, the hand-over of a panic's location to the layer, and the
//! [`PanicReporter`] that panics outside requests go to.
//!
//! A caught panic's payload carries the message but not the location, which only the panic hook
//! sees. The hook installed by [`install_panic_hook`] therefore records message, location and,
//! when the [`PanicReporter`] asks for one, a backtrace in a thread-local slot whenever the
//! panicking thread is inside a capture scope (a `catching` call of the layer), and the layer
//! takes the record after `catch_unwind` returns. A panic outside every capture scope — a
//! background thread, a spawned task — is reported by the hook itself: logged, and handed to
//! the panic reporter set with [`set_panic_reporter`] (belfry's Sentry set-up sets one).

use std::{
    any::Any,
    backtrace::Backtrace,
    cell::{Cell, RefCell},
    io::Write as _,
    panic::{AssertUnwindSafe, PanicHookInfo},
    sync::{
        atomic::{AtomicBool, Ordering},
        Once, OnceLock,
    },
};

use crate::Reporter;

/// Where a panic happened, as reported by the panic hook.
///
/// ```
/// belfry_capture::install_panic_hook();
/// let panic = belfry_capture::Panic::catch(|| panic!("disk full")).unwrap_err();
/// let location = panic.location().expect("recorded by the hook");
/// assert_eq!(location.file(), file!());
/// assert_eq!(location.to_string(), format!("{}:{}:{}", file!(), location.line(), location.column()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicLocation {
    file: String,
    line: u32,
    column: u32,
}

impl PanicLocation {
    /// The source file.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The line, from 1.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The column, from 1.
    pub fn column(&self) -> u32 {
        self.column
    }
}

impl std::fmt::Display for PanicLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What the hook knows of a panic that the layer will catch.
#[derive(Debug)]
struct PanicRecord {
    message: String,
    location: Option<PanicLocation>,
    /// Only taken when the [panic reporter](PanicReporter::wants_backtrace) asks for it:
    /// walking the stack is costly.
    backtrace: Option<Backtrace>,
}

/// A panic caught by the capture layer (or seen by belfry's panic hook): its message and, when
/// the [hook](install_panic_hook) recorded it, its location and — when the
/// [panic reporter](PanicReporter::wants_backtrace) asked for one — a backtrace taken on the
/// panicking thread (`std`'s, unresolved until it is first formatted).
#[derive(Debug)]
pub struct Panic {
    message: String,
    location: Option<PanicLocation>,
    backtrace: Option<Backtrace>,
}

impl Panic {
    /// The panic's message: the `&str` or `String` given to `panic!`, or `Box<dyn Any>`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where it happened, when belfry's panic hook is installed.
    pub fn location(&self) -> Option<&PanicLocation> {
        self.location.as_ref()
    }

    /// The stack at the panic, when the [panic reporter](PanicReporter::wants_backtrace) asked
    /// for it.
    pub fn backtrace(&self) -> Option<&Backtrace> {
        self.backtrace.as_ref()
    }

    /// Runs `f`, catching a panic as the capture layer does (with its location when the hook is
    /// installed): for tests of a [`Reporter`] or a [panic response](crate::ResponseForPanic).
    ///
    /// ```
    /// let panic = belfry_capture::Panic::catch(|| panic!("index {} out of bounds", 7)).unwrap_err();
    /// assert_eq!(panic.message(), "index 7 out of bounds");
    /// assert_eq!(belfry_capture::Panic::catch(|| 42).unwrap(), 42);
    /// ```
    pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Box<Panic>> {
        catching::<(), T>(None, f)
    }
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

/// Runs `f` with the request's reporter state entered (when there is one), catching a panic.
///
/// On a panic, returns its message together with the location and backtrace recorded by the
/// hook, when the hook is installed and recorded this very panic.
pub(crate) fn catching<R: Reporter, T>(
    state: Option<&R::Request>,
    f: impl FnOnce() -> T,
) -> Result<T, Box<Panic>> {
    let _scope = CaptureScope::enter();
    let result = match state {
        Some(state) => crate::spawn::with_active_reporter::<R, _>(|| {
            R::enter(state, || std::panic::catch_unwind(AssertUnwindSafe(f)))
        }),
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
        report_panic_outside_requests(record.message, record.location, false);
    }
}

fn take_record() -> Option<PanicRecord> {
    RECORD_PENDING.with(|pending| pending.set(false));
    LAST_PANIC.with(|slot| slot.borrow_mut().take())
}

fn caught(payload: &(dyn Any + Send)) -> Panic {
    let message = panic_message(payload);
    // The record is this panic's only if the messages agree: a panic caught further in (by the
    // application itself) leaves a stale record behind, and the hook may not be installed.
    let record = match take_record() {
        Some(record) if record.message == message => Some(record),
        Some(stale) => {
            // Caught further in and never reported: say it now.
            report_panic_outside_requests(stale.message, stale.location, false);
            None
        }
        None => None,
    };
    match record {
        Some(record) => Panic {
            message: record.message,
            location: record.location,
            backtrace: record.backtrace,
        },
        None => Panic {
            message: message.to_owned(),
            location: None,
            backtrace: None,
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
/// The hook never prints to stdout (which carries the JSON logs) and never flushes anything:
///
/// - **Inside a request** served by [`Capture`](crate::Capture) (its handler, and its body while
///   it streams), it only records the panic's message, location (`file:line:column`) and —
///   when the [panic reporter](PanicReporter::wants_backtrace) asks for one — backtrace, for the
///   layer to report. Without the hook, the layer still catches and reports the panic, without
///   its location. A panic that code inside the request catches itself (a health check's
///   runner, the handler's own `catch_unwind`) is logged once as `thread panicked`, with its
///   message and location, when the layer next gets control.
/// - **Anywhere else** (a background thread, a task spawned with [`spawn`](crate::spawn), a
///   layer outside [`Capture`](crate::Capture)), it logs one ERROR event `thread panicked` with
///   target [`TARGET`](crate::TARGET) and the fields `panic.message`, `code.filepath`,
///   `code.lineno`, `code.column` and `thread.name`, in the current span, and hands the panic
///   to the [`PanicReporter`], if one is [set](set_panic_reporter) (belfry's Sentry reporter
///   queues one event, level fatal, on the current hub — never flushing on the panicking
///   thread).
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

/// Where belfry's panic hook sends what it alone sees: the panics outside every request, and
/// whether to take a backtrace of a panic (for the request's [`Reporter`] too). Process-wide,
/// like the hook: set once with [`set_panic_reporter`] by the set-up of an error tracker
/// (`belfry-sentry`'s client set-up does).
pub trait PanicReporter: Send + Sync + 'static {
    /// Whether the hook takes a backtrace of the panic now happening on this thread (default
    /// `false`). Taking one walks the stack on the panicking thread, and formatting it later
    /// resolves symbols — milliseconds of CPU and tens of megabytes of symbols at the first
    /// one: answer `true` only where panics are rare and their traces matter more.
    fn wants_backtrace(&self) -> bool {
        false
    }

    /// A panic outside every request (already logged as `thread panicked`): on a background
    /// thread or in a spawned task — or one that code inside a request caught itself. Called on
    /// the panicking thread (from the hook) or, for a panic caught further in, on the thread
    /// that serves the request; must not block.
    fn report(&self, panic: &Panic);
}

static PANIC_REPORTER: OnceLock<Box<dyn PanicReporter>> = OnceLock::new();

/// Sets the [`PanicReporter`] of belfry's panic hook, once per process; `false` when one was
/// set already (which stays). Called by the set-up of an error tracker (belfry's telemetry with
/// Sentry), not by request handling.
///
/// ```
/// struct Counting;
///
/// impl belfry_capture::PanicReporter for Counting {
///     fn report(&self, panic: &belfry_capture::Panic) {
///         eprintln!("would send: {}", panic.message());
///     }
/// }
///
/// assert!(belfry_capture::set_panic_reporter(Counting));
/// assert!(!belfry_capture::set_panic_reporter(Counting), "once per process");
/// ```
pub fn set_panic_reporter(reporter: impl PanicReporter) -> bool {
    PANIC_REPORTER.set(Box::new(reporter)).is_ok()
}

fn panic_reporter() -> Option<&'static dyn PanicReporter> {
    PANIC_REPORTER.get().map(|reporter| &**reporter)
}

fn wants_backtrace() -> bool {
    panic_reporter().is_some_and(PanicReporter::wants_backtrace)
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
            report_panic_outside_requests(stale.message, stale.location, false);
        }
        let record = PanicRecord {
            message: message.to_owned(),
            location,
            backtrace: wants_backtrace().then(Backtrace::force_capture),
        };
        let _ = LAST_PANIC.try_with(|slot| *slot.borrow_mut() = Some(record));
        let _ = RECORD_PENDING.try_with(|pending| pending.set(true));
    } else {
        report_panic_outside_requests(message.to_owned(), location, true);
    }
}

/// Logs `thread panicked` and hands it to the [`PanicReporter`]. `live`: called from the hook
/// of this very panic, so a backtrace can be taken (only when the reporter wants one).
fn report_panic_outside_requests(message: String, location: Option<PanicLocation>, live: bool) {
    let thread = std::thread::current();
    let thread_name = thread.name().unwrap_or("<unnamed>");
    if tracing::enabled!(target: crate::TARGET, tracing::Level::ERROR) {
        tracing::event!(
            target: crate::TARGET,
            tracing::Level::ERROR,
            panic.message = message.as_str(),
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
    if let Some(reporter) = panic_reporter() {
        let panic = Panic {
            backtrace: (live && reporter.wants_backtrace()).then(Backtrace::force_capture),
            message,
            location,
        };
        reporter.report(&panic);
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
        assert!(Panic::catch(|| panic!("caught")).is_err());
        assert!(!in_capture_scope(), "the scope ends when the panic is caught");
    }

    #[test]
    fn caught_panic_takes_the_matching_record() {
        crate::install_panic_hook();
        let line = line!() + 1;
        let panic = Panic::catch(|| panic!("with location {}", 7)).unwrap_err();
        assert_eq!(panic.message, "with location 7");
        let location = panic.location.expect("recorded by the hook");
        assert_eq!((location.file.as_str(), location.line), (file!(), line));
        assert!(panic.backtrace.is_none(), "no reporter asked for one");

        // A stale record from a panic caught further in is not mistaken for the next one.
        LAST_PANIC.with(|slot| {
            *slot.borrow_mut() = Some(PanicRecord {
                message: "stale".into(),
                location: None,
                backtrace: None,
            })
        });
        let payload: Box<dyn Any + Send> = Box::new("fresh");
        let fresh = caught(&*payload);
        assert_eq!(fresh.message, "fresh");
        assert!(fresh.location.is_none());
    }
}
