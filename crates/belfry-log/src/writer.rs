//! [`NonBlocking`]: lines handed to a writer thread through a bounded queue.

use std::{
    fmt,
    io::{self, Write},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use crate::{number::push_u64, time::push_timestamp};

/// The target of the WARN line reporting dropped lines.
pub const DROPPED_LINES_TARGET: &str = "belfry_log::writer";

/// How long dropping the [`WriterGuard`] waits, by default, for the queue to be written.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A batch written by the writer thread in one `write_all` holds whole lines, up to about this
/// many bytes (one line longer than that is written alone).
const BATCH_BYTES: usize = 64 * 1024;

/// Line buffers larger than this are freed rather than reused.
const KEPT_CAPACITY: usize = 16 * 1024;

/// Buffers kept for reuse.
const POOL_SIZE: usize = 1024;

/// Buffers allocated up front, so that logging threads do not allocate while the pool fills
/// (32 KiB).
const POOL_PREFILL: usize = 32;

/// The queue's two bounds, in lines waiting to be written.
///
/// ```
/// use belfry_log::QueueBounds;
///
/// let bounds = QueueBounds::new(100, 50); // the second bound is never below the first
/// assert_eq!((bounds.lines(), bounds.urgent_lines()), (100, 100));
/// assert_eq!(QueueBounds::default().lines(), 8192);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueBounds {
    lines: usize,
    urgent_lines: usize,
}

impl QueueBounds {
    /// TRACE to INFO lines are dropped once `lines` lines wait; WARN and ERROR once
    /// `urgent_lines` do (at least `lines`, at least 1).
    pub fn new(lines: usize, urgent_lines: usize) -> Self {
        let lines = lines.max(1);
        Self {
            lines,
            urgent_lines: urgent_lines.max(lines),
        }
    }

    /// `lines` for TRACE to INFO, twice as many for WARN and ERROR.
    ///
    /// ```
    /// assert_eq!(belfry_log::QueueBounds::lines_then_double(10).urgent_lines(), 20);
    /// ```
    pub fn lines_then_double(lines: usize) -> Self {
        Self::new(lines, lines.saturating_mul(2))
    }

    /// The bound for TRACE, DEBUG and INFO lines.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// The bound for WARN and ERROR lines (the queue's capacity).
    pub fn urgent_lines(&self) -> usize {
        self.urgent_lines
    }
}

impl Default for QueueBounds {
    /// 8192 lines (about 4 MiB of typical access-log lines), then 16 384 for WARN and ERROR.
    fn default() -> Self {
        Self::lines_then_double(8192)
    }
}

/// Lines dropped since start, per level.
///
/// ```
/// let dropped = belfry_log::DroppedLines::default();
/// assert_eq!(dropped.total(), 0);
/// assert_eq!(dropped.by_level().map(|(level, _)| level), ["trace", "debug", "info", "warn", "error"]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DroppedLines {
    counts: [u64; 5],
}

impl DroppedLines {
    pub(crate) fn from_counts(counts: [u64; 5]) -> Self {
        Self { counts }
    }

    /// `(level, count)`, TRACE first; levels in lowercase, as metric labels.
    pub fn by_level(&self) -> [(&'static str, u64); 5] {
        let names = ["trace", "debug", "info", "warn", "error"];
        std::array::from_fn(|i| (names[i], self.counts[i]))
    }

    /// The count for `level`.
    pub fn level(&self, level: Level) -> u64 {
        self.counts[level_index(level)]
    }

    /// Every level together.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn since(&self, earlier: &DroppedLines) -> DroppedLines {
        DroppedLines {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
        }
    }
}

pub(crate) fn level_index(level: Level) -> usize {
    match level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        Level::ERROR => 4,
    }
}

enum Message {
    Line(Vec<u8>),
    Flush(Sender<()>),
}

/// Writes one line synchronously (after the guard is dropped).
type WriteNow = Box<dyn Fn(&[u8]) + Send + Sync>;

struct Shared {
    lines: Sender<Message>,
    pool: Receiver<Vec<u8>>,
    pool_return: Sender<Vec<u8>>,
    bounds: QueueBounds,
    dropped: [AtomicU64; 5],
    /// Set when the guard is dropped: lines are then written on the logging thread.
    closed: AtomicBool,
    write_now: WriteNow,
}

impl Shared {
    fn dropped(&self) -> DroppedLines {
        DroppedLines {
            counts: std::array::from_fn(|i| self.dropped[i].load(Ordering::Relaxed)),
        }
    }

    fn drop_line(&self, level: Level) {
        self.dropped[level_index(level)].fetch_add(1, Ordering::Relaxed);
    }

    fn send(&self, line: &[u8], level: Level) {
        if self.closed.load(Ordering::Acquire) {
            (self.write_now)(line);
            return;
        }
        let lossy = level > Level::WARN;
        if lossy && self.lines.len() >= self.bounds.lines {
            self.drop_line(level);
            return;
        }
        let mut buffer = self
            .pool
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(line.len().max(512)));
        buffer.extend_from_slice(line);
        if let Err(error) = self.lines.try_send(Message::Line(buffer)) {
            self.drop_line(level);
            if let TrySendError::Full(Message::Line(mut buffer))
            | TrySendError::Disconnected(Message::Line(mut buffer)) = error
            {
                buffer.clear();
                let _ = self.pool_return.try_send(buffer);
            }
        }
    }
}

/// A [`MakeWriter`] handing each line to a writer thread, so a stalled output (a log pipe nobody
/// reads, a full disk) never stalls the threads that log.
///
/// # What happens to a line
///
/// The thread that logs formats the line (as before) and copies it into a buffer taken from a
/// pool (buffers come back from the writer thread: no allocation per line once warm), which goes
/// into a queue bounded in **lines**. The writer thread takes lines off the queue and writes them
/// in batches of whole lines (up to 64 KiB per `write_all`).
///
/// - While fewer than [`QueueBounds::lines`] lines wait, every line is queued.
/// - From that bound on, TRACE, DEBUG and INFO lines are dropped and counted; WARN and ERROR
///   lines are still queued, up to [`QueueBounds::urgent_lines`] waiting lines in all. Past that
///   bound they are dropped and counted too.
/// - When the writer has caught up (the queue is empty again) after drops, it writes one WARN
///   line itself: `"N log lines dropped"`, with the counts per level.
/// - [`NonBlocking::dropped`] returns the drop counts since start, per level (belfry exports
///   them as `belfry_log_lines_dropped_total{level}`).
///
/// Order is kept: one queue, one writer. Dropping the [`WriterGuard`] writes what is queued,
/// waiting at most its flush timeout; from then on lines are written synchronously, on the
/// thread that logs. A process killed with SIGKILL loses what is queued: at most
/// `urgent_lines` lines.
///
/// ```
/// use std::{io, sync::{Arc, Mutex}, time::Duration};
/// use belfry_log::{JsonLines, NonBlocking, QueueBounds};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// #[derive(Clone, Default)]
/// struct Output(Arc<Mutex<Vec<u8>>>);
/// impl io::Write for Output {
///     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
///         self.0.lock().unwrap().extend_from_slice(buf);
///         Ok(buf.len())
///     }
///     fn flush(&mut self) -> io::Result<()> { Ok(()) }
/// }
///
/// let output = Output::default();
/// let writer = output.clone();
/// let (non_blocking, guard) = NonBlocking::builder()
///     .bounds(QueueBounds::new(1000, 2000))
///     .flush_timeout(Duration::from_secs(1))
///     .finish(move || writer.clone());
/// let subscriber = tracing_subscriber::registry().with(JsonLines::new(non_blocking.clone()));
/// tracing::subscriber::with_default(subscriber, || {
///     for i in 0..10 {
///         tracing::info!(i, "queued");
///     }
/// });
/// drop(guard); // writes what is queued
/// let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
/// assert_eq!(text.lines().count(), 10);
/// assert_eq!(non_blocking.dropped().total(), 0);
/// ```
///
/// Each `write` call is taken as one line (or several whole ones): [`JsonLines`](crate::JsonLines)
/// and tracing-subscriber's `fmt` layer write each event with one `write_all`. The level used
/// for dropping is the event's ([`MakeWriter::make_writer_for`]); `make_writer` counts as INFO.
#[derive(Clone)]
pub struct NonBlocking {
    shared: Arc<Shared>,
}

impl fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlocking")
            .field("bounds", &self.shared.bounds)
            .field("queued", &self.shared.lines.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// Configures a [`NonBlocking`] writer.
#[derive(Clone, Debug)]
pub struct NonBlockingBuilder {
    bounds: QueueBounds,
    flush_timeout: Duration,
    thread_name: String,
    report: DropReport,
}

/// How the writer thread's `N log lines dropped` line is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DropReport {
    /// One JSON object, like [`JsonLines`](crate::JsonLines)' lines.
    #[default]
    Json,
    /// One line of text, for human-readable output:
    /// `2026-11-23T15:04:05.123456Z  WARN belfry_log::writer: 12 log lines dropped: …`.
    Text,
}

impl NonBlocking {
    /// The defaults: [`QueueBounds::default`], [`DEFAULT_FLUSH_TIMEOUT`].
    pub fn builder() -> NonBlockingBuilder {
        NonBlockingBuilder {
            bounds: QueueBounds::default(),
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            thread_name: "belfry-log-writer".to_owned(),
            report: DropReport::Json,
        }
    }

    /// A writer to `make_writer` with the defaults, and the guard that flushes it.
    pub fn new<W>(make_writer: W) -> (NonBlocking, WriterGuard)
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        Self::builder().finish(make_writer)
    }

    /// Lines dropped since start, per level.
    pub fn dropped(&self) -> DroppedLines {
        self.shared.dropped()
    }

    /// Lines waiting to be written.
    pub fn queued(&self) -> usize {
        self.shared.lines.len()
    }
}

impl NonBlockingBuilder {
    /// The queue's bounds.
    pub fn bounds(mut self, bounds: QueueBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// How long dropping the [`WriterGuard`] waits for the queue to be written.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// How the `N log lines dropped` line is written (default [`DropReport::Json`]).
    pub fn drop_report(mut self, report: DropReport) -> Self {
        self.report = report;
        self
    }

    /// Starts the writer thread.
    ///
    /// # Panics
    ///
    /// If the thread cannot be spawned.
    pub fn finish<W>(self, make_writer: W) -> (NonBlocking, WriterGuard)
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        let (lines, queue) = crossbeam_channel::bounded(self.bounds.urgent_lines);
        let (pool_return, pool) = crossbeam_channel::bounded(POOL_SIZE);
        for _ in 0..POOL_PREFILL {
            let _ = pool_return.try_send(Vec::with_capacity(1024));
        }
        let make_writer = Arc::new(make_writer);
        let write_now: WriteNow = {
            let make_writer = Arc::clone(&make_writer);
            Box::new(move |line| {
                let _ = make_writer.make_writer().write_all(line);
            })
        };
        let shared = Arc::new(Shared {
            lines,
            pool,
            pool_return: pool_return.clone(),
            bounds: self.bounds,
            dropped: Default::default(),
            closed: AtomicBool::new(false),
            write_now,
        });
        let worker = Worker {
            queue,
            pool: pool_return,
            shared: Arc::downgrade(&shared),
            reported: DroppedLines::default(),
            report: self.report,
            batch: Vec::with_capacity(BATCH_BYTES),
            acks: Vec::new(),
        };
        thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || worker.run(&*make_writer))
            .expect("spawn the log writer thread");
        let guard = WriterGuard {
            shared: Arc::clone(&shared),
            flush_timeout: self.flush_timeout,
        };
        (NonBlocking { shared }, guard)
    }
}

/// What a [`NonBlocking`] hands out per event: writes go to the queue at the event's level.
#[derive(Debug)]
pub struct QueuedLine<'a> {
    writer: &'a NonBlocking,
    level: Level,
}

impl Write for QueuedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.shared.send(buf, self.level);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.shared.send(buf, self.level);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = QueuedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        QueuedLine {
            writer: self,
            level: Level::INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        QueuedLine {
            writer: self,
            level: *meta.level(),
        }
    }
}

/// Writes what is queued when dropped, waiting at most the flush timeout; lines logged later are
/// written synchronously. Hold it until the end of `main`.
#[must_use = "dropping the guard flushes the queue and makes later writes synchronous"]
pub struct WriterGuard {
    shared: Arc<Shared>,
    flush_timeout: Duration,
}

impl fmt::Debug for WriterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterGuard")
            .field("flush_timeout", &self.flush_timeout)
            .finish_non_exhaustive()
    }
}

impl WriterGuard {
    /// Waits until every line queued so far is written, at most `timeout`; `true` if they were.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (ack, acked) = crossbeam_channel::bounded(1);
        let mut message = Message::Flush(ack);
        loop {
            match self.shared.lines.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
        acked.recv_deadline(deadline).is_ok()
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.flush(self.flush_timeout);
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// The writer thread.
struct Worker {
    queue: Receiver<Message>,
    pool: Sender<Vec<u8>>,
    shared: std::sync::Weak<Shared>,
    reported: DroppedLines,
    report: DropReport,
    batch: Vec<u8>,
    acks: Vec<Sender<()>>,
}

impl Worker {
    fn run<W>(mut self, make_writer: &W)
    where
        W: for<'a> MakeWriter<'a>,
    {
        loop {
            // Wakes up now and then to notice that every `NonBlocking` is gone.
            let first = match self.queue.recv_timeout(Duration::from_secs(1)) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) if self.shared.strong_count() > 0 => continue,
                Err(_) => return,
            };
            self.take(first);
            while self.batch.len() < BATCH_BYTES {
                match self.queue.try_recv() {
                    Ok(message) => self.take(message),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            if !self.batch.is_empty() {
                let _ = make_writer.make_writer().write_all(&self.batch);
                self.batch.clear();
            }
            if self.queue.is_empty() {
                self.report_drops(make_writer);
            }
            for ack in self.acks.drain(..) {
                let _ = ack.try_send(());
            }
        }
    }

    fn take(&mut self, message: Message) {
        match message {
            Message::Line(mut line) => {
                self.batch.extend_from_slice(&line);
                if line.capacity() <= KEPT_CAPACITY {
                    line.clear();
                    let _ = self.pool.try_send(line);
                }
            }
            Message::Flush(ack) => self.acks.push(ack),
        }
    }

    /// Once caught up after drops: one WARN line with the count.
    fn report_drops<W>(&mut self, make_writer: &W)
    where
        W: for<'a> MakeWriter<'a>,
    {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let now = shared.dropped();
        let new = now.since(&self.reported);
        if new.total() == 0 {
            return;
        }
        self.reported = now;
        let line = match self.report {
            DropReport::Json => dropped_lines_report(&new, SystemTime::now()),
            DropReport::Text => dropped_lines_text(&new, SystemTime::now()),
        };
        let _ = make_writer.make_writer().write_all(line.as_bytes());
    }
}

/// [`dropped_lines_report`] as a line of text.
fn dropped_lines_text(new: &DroppedLines, now: SystemTime) -> String {
    let mut line = String::with_capacity(160);
    push_timestamp(&mut line, now);
    line.push_str("  WARN ");
    line.push_str(DROPPED_LINES_TARGET);
    line.push_str(": ");
    push_u64(&mut line, new.total());
    line.push_str(" log lines dropped: the log output could not keep up");
    for (level, count) in new.by_level() {
        if count > 0 {
            line.push_str(" dropped_");
            line.push_str(level);
            line.push('=');
            push_u64(&mut line, count);
        }
    }
    line.push('\n');
    line
}

/// The WARN line saying how many lines were dropped since the last one.
fn dropped_lines_report(new: &DroppedLines, now: SystemTime) -> String {
    let mut line = String::with_capacity(256);
    line.push_str("{\"timestamp\":\"");
    push_timestamp(&mut line, now);
    line.push_str("\",\"level\":\"WARN\",\"target\":\"");
    line.push_str(DROPPED_LINES_TARGET);
    line.push_str("\",\"message\":\"");
    push_u64(&mut line, new.total());
    line.push_str(" log lines dropped: the log output could not keep up\",\"dropped_lines\":");
    push_u64(&mut line, new.total());
    for (level, count) in new.by_level() {
        if count > 0 {
            line.push_str(",\"dropped_");
            line.push_str(level);
            line.push_str("\":");
            push_u64(&mut line, count);
        }
    }
    line.push_str("}\n");
    line
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Condvar, Mutex},
        time::Duration,
    };

    use tracing::Level;

    use super::{NonBlocking, QueueBounds, DROPPED_LINES_TARGET};

    /// Open or not, what was written, in how many writes.
    type GateState = (bool, Vec<u8>, usize);

    /// An output that blocks every write while closed.
    #[derive(Clone, Default)]
    struct Gated(Arc<(Mutex<GateState>, Condvar)>);

    impl Gated {
        fn open(&self) {
            self.0 .0.lock().unwrap().0 = true;
            self.0 .1.notify_all();
        }

        fn text(&self) -> String {
            String::from_utf8(self.0 .0.lock().unwrap().1.clone()).unwrap()
        }

        fn writes(&self) -> usize {
            self.0 .0.lock().unwrap().2
        }
    }

    impl io::Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (state, changed) = &*self.0;
            let mut state = changed
                .wait_timeout_while(state.lock().unwrap(), Duration::from_secs(10), |s| !s.0)
                .unwrap()
                .0;
            state.1.extend_from_slice(buf);
            state.2 += 1;
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn send(writer: &NonBlocking, level: Level, text: &str) {
        writer.shared.send(format!("{text}\n").as_bytes(), level);
    }

    #[test]
    fn a_stalled_output_drops_info_first_keeps_warnings_and_reports() {
        let output = Gated::default();
        let out = output.clone();
        let (writer, guard) = NonBlocking::builder()
            .bounds(QueueBounds::new(4, 8))
            .finish(move || out.clone());
        // The writer thread takes a first batch and blocks on the closed output; wait until the
        // queue is empty to know it holds that batch.
        send(&writer, Level::INFO, "{\"n\":0}");
        for _ in 0..1000 {
            if writer.queued() == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(writer.queued(), 0);
        for n in 1..=10 {
            send(&writer, Level::INFO, &format!("{{\"n\":{n}}}"));
        }
        for n in 11..=20 {
            send(&writer, Level::WARN, &format!("{{\"n\":{n}}}"));
        }
        // 4 INFO queued, 6 INFO dropped; 4 WARN queued (8 in all), 6 WARN dropped.
        let dropped = writer.dropped();
        assert_eq!((dropped.level(Level::INFO), dropped.level(Level::WARN)), (6, 6));
        assert_eq!(writer.queued(), 8);
        output.open();
        assert!(guard.flush(Duration::from_secs(5)));
        let text = output.text();
        let lines: Vec<&str> = text.lines().collect();
        let numbers: Vec<u64> = lines[..9]
            .iter()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 11, 12, 13, 14]);
        let report: serde_json::Value = serde_json::from_str(lines[9]).unwrap();
        assert_eq!(report["level"], "WARN");
        assert_eq!(report["target"], DROPPED_LINES_TARGET);
        assert_eq!(
            report["message"],
            "12 log lines dropped: the log output could not keep up"
        );
        assert_eq!(report["dropped_lines"], 12);
        assert_eq!(report["dropped_info"], 6);
        assert_eq!(report["dropped_warn"], 6);
        assert!(report.get("dropped_error").is_none());
        assert_eq!(lines.len(), 10, "{text}");
        // Batched: fewer writes than lines.
        assert!(output.writes() < 10, "{}", output.writes());

        // After the guard: written at once, on this thread.
        drop(guard);
        send(&writer, Level::INFO, "after");
        assert!(output.text().ends_with("after\n"));
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_in_order_per_thread() {
        let output = Gated::default();
        output.open();
        let out = output.clone();
        let (writer, guard) = NonBlocking::builder()
            .bounds(QueueBounds::new(100_000, 100_000))
            .finish(move || out.clone());
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let writer = &writer;
                scope.spawn(move || {
                    for n in 0..1000 {
                        send(
                            writer,
                            Level::INFO,
                            &format!("{{\"t\":{thread},\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(n % 300)),
                        );
                    }
                });
            }
        });
        assert!(guard.flush(Duration::from_secs(10)));
        let text = output.text();
        let mut next = [0u64; 4];
        for line in text.lines() {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            let thread = line["t"].as_u64().unwrap() as usize;
            assert_eq!(line["n"].as_u64().unwrap(), next[thread]);
            next[thread] += 1;
        }
        assert_eq!(next, [1000; 4]);
        assert_eq!(writer.dropped().total(), 0);
    }

    #[test]
    fn the_text_report_is_one_line() {
        let mut dropped = super::DroppedLines::default();
        dropped.counts[2] = 5;
        let line = super::dropped_lines_text(&dropped, std::time::SystemTime::now());
        assert!(line.ends_with("WARN belfry_log::writer: 5 log lines dropped: the log output could not keep up dropped_info=5\n"), "{line}");
        assert_eq!(line.lines().count(), 1);
    }

    #[test]
    fn the_guard_gives_up_after_its_timeout() {
        let output = Gated::default();
        let out = output.clone();
        let (writer, guard) = NonBlocking::builder()
            .flush_timeout(Duration::from_millis(200))
            .finish(move || out.clone());
        send(&writer, Level::ERROR, "stuck");
        let started = std::time::Instant::now();
        assert!(!guard.flush(Duration::from_millis(200)));
        drop(guard);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        output.open();
    }
}
