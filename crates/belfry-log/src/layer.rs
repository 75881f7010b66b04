//! [`JsonLines`]: the layer writing one JSON object per event, one event per line.

use std::{
    cell::{Cell, RefCell},
    io::Write as _,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use belfry_request_id::REQUEST_SPAN_TARGET;
use tracing::{span, Event, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{
    fmt::MakeWriter,
    layer::{Context, Layer},
    registry::LookupSpan,
};

use crate::{
    escape::push_escaped,
    fields::{CallsiteKeys, EventSink, FieldVisitor, FormattedFields, LineKeys, Origin, SpanSink},
    limiter::{summary_message, CallsiteLimit, Limiter, Summary, SuppressedLines, Verdict},
    number::push_u64,
    request::RequestFields,
    time::{push_timestamp, push_timestamp_since},
};

/// Writes every event as one JSON line to `W`; see the [crate docs](crate) for the format.
///
/// Usable in any `tracing_subscriber::registry()`. Several `JsonLines` layers (stdout and an
/// audit file, say) can share one registry: the first one formats each span's fields, the
/// others read them.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use belfry_log::JsonLines;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// #[derive(Clone, Default)]
/// struct Lines(Arc<Mutex<Vec<u8>>>);
///
/// impl std::io::Write for Lines {
///     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().extend_from_slice(buf);
///         Ok(buf.len())
///     }
///     fn flush(&mut self) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let lines = Lines::default();
/// let writer = lines.clone();
/// let subscriber = tracing_subscriber::registry().with(JsonLines::new(move || writer.clone()));
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("checkout", tenant_id = 7, cart = tracing::field::Empty);
///     let _entered = span.enter();
///     span.record("cart", "c-1");
///     tracing::info!(items = 3, "paid");
/// });
/// let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
/// let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
/// assert_eq!(line["message"], "paid");
/// assert_eq!(line["items"], 3);
/// assert_eq!(line["tenant_id"], 7);
/// assert_eq!(line["cart"], "c-1");
/// assert_eq!(line["level"], "INFO");
/// ```
pub struct JsonLines<W> {
    make_writer: W,
    targets: Targets,
    /// Tells this layer's span fields from another `JsonLines`' in the same registry.
    id: usize,
    limiter: Option<Arc<Limiter>>,
}

impl<W> std::fmt::Debug for JsonLines<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLines")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

/// Which events a [`JsonLines`] writes, by target: a plain comparison in `on_event`, where a
/// per-layer filter would add bookkeeping to every span of every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Targets {
    All,
    AllBut(&'static str),
    Only(&'static str),
}

static NEXT_LAYER_ID: AtomicUsize = AtomicUsize::new(1);

impl<W> JsonLines<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// A layer writing to `make_writer`: one `write_all` of a whole line per event.
    pub fn new(make_writer: W) -> Self {
        Self {
            make_writer,
            targets: Targets::All,
            id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            limiter: None,
        }
    }

    /// Suppresses the lines of a callsite past `limit` per second, and summarises each second's
    /// by one line; see [`CallsiteLimit`] (default: no limit).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use belfry_log::{CallsiteLimit, JsonLines};
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// #[derive(Clone, Default)]
    /// struct Lines(Arc<Mutex<Vec<u8>>>);
    /// impl std::io::Write for Lines {
    ///     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
    ///         self.0.lock().unwrap().extend_from_slice(buf);
    ///         Ok(buf.len())
    ///     }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    ///
    /// let lines = Lines::default();
    /// let writer = lines.clone();
    /// let layer = JsonLines::new(move || writer.clone()).limit_callsites(CallsiteLimit::per_second(10));
    /// let suppressed = layer.suppressed();
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     for n in 0..1000 {
    ///         tracing::info!(n, "flood");
    ///     }
    /// });
    /// let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    /// let lines: Vec<serde_json::Value> =
    ///     text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    /// let (summaries, written): (Vec<_>, Vec<_>) =
    ///     lines.iter().partition(|line| line.get("suppressed").is_some());
    /// // Ten a second (the loop may cross a second's end), and every other line counted.
    /// assert!((10..=20).contains(&written.len()), "{}", written.len());
    /// assert_eq!(written.len() as u64 + suppressed.counts().total(), 1000);
    /// assert!(summaries.len() <= 1);
    /// ```
    pub fn limit_callsites(mut self, limit: CallsiteLimit) -> Self {
        self.limiter = Limiter::new(&limit);
        self
    }

    /// The count of lines this layer suppressed ([`limit_callsites`](Self::limit_callsites)).
    pub fn suppressed(&self) -> SuppressedLines {
        SuppressedLines::new(self.limiter.clone())
    }

    /// Writes every event except those with target `target`.
    pub fn all_but(mut self, target: &'static str) -> Self {
        self.targets = Targets::AllBut(target);
        self
    }

    /// Writes only the events with target `target`.
    pub fn only(mut self, target: &'static str) -> Self {
        self.targets = Targets::Only(target);
        self
    }

    fn wants(&self, target: &str) -> bool {
        match self.targets {
            Targets::All => true,
            Targets::AllBut(excluded) => target != excluded,
            Targets::Only(included) => target == included,
        }
    }
}

/// A span's fields as JSON, kept in its extensions (like tracing-subscriber's `FormattedFields`),
/// formatted by the `JsonLines` layer `owner` (0: none yet, the span holds request fields only),
/// and, on the request span, the request fields: one extension, one look-up per span and line.
pub(crate) struct SpanFields {
    owner: usize,
    pub(crate) fields: FormattedFields,
    pub(crate) request: Option<Box<RequestFields>>,
}

impl Drop for SpanFields {
    /// The span closed: its fields' buffer is given to the next span of this thread.
    fn drop(&mut self) {
        self.fields.recycle();
    }
}

impl SpanFields {
    /// A span's extension holding only request fields.
    pub(crate) fn for_request(request: RequestFields) -> Self {
        Self {
            owner: 0,
            fields: FormattedFields::new(),
            request: Some(Box::new(request)),
        }
    }
}

fn origin_of(metadata: &Metadata<'_>) -> Origin {
    if metadata.target() == REQUEST_SPAN_TARGET {
        Origin::RequestSpan
    } else {
        Origin::Other
    }
}

thread_local! {
    /// Where a span's fields are visited before they are stored: no span lock is held while
    /// `Debug` impls run (they may log), and no allocation beyond the stored copy.
    static SCRATCH: RefCell<FormattedFields> = const { RefCell::new(FormattedFields::new()) };
}

/// Runs `visit` on the thread's emptied scratch fields (a fresh value when those are in use).
fn with_scratch<R>(visit: impl Fn(&mut FormattedFields) -> R) -> R {
    let result = SCRATCH.try_with(|cell| {
        cell.try_borrow_mut().ok().map(|mut scratch| {
            scratch.clear();
            visit(&mut scratch)
        })
    });
    match result {
        Ok(Some(result)) => result,
        _ => visit(&mut FormattedFields::new()),
    }
}

impl<W> JsonLines<W> {
    /// Formats `values` — a span's fields when it is created, or recorded later — once, and keeps
    /// them in the span's extensions: merged into what this layer stored before (a field
    /// recorded again replaces its value), adopted when only request fields were there, left to
    /// another `JsonLines` of the registry that got there first.
    fn keep_span_fields<S>(
        &self,
        span: &tracing_subscriber::registry::SpanRef<'_, S>,
        values: &impl tracing_subscriber::field::RecordFields,
    ) where
        S: for<'a> LookupSpan<'a>,
    {
        let metadata = span.metadata();
        let origin = origin_of(metadata);
        let plain = callsite_keys(metadata, origin).plain;
        with_scratch(|scratch| {
            values.record(&mut FieldVisitor(SpanSink {
                fields: scratch,
                origin,
                key: (0, 0),
                plain,
            }));
            if scratch.is_empty() {
                return;
            }
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<SpanFields>() {
                Some(stored) if stored.owner == self.id => stored.fields.merge(scratch),
                Some(stored) if stored.owner == 0 => {
                    stored.owner = self.id;
                    stored.fields.merge(scratch);
                }
                Some(_) => {}
                None => extensions.insert(SpanFields {
                    owner: self.id,
                    fields: scratch.take_kept(),
                    request: None,
                }),
            }
        });
    }
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, context: Context<'_, S>) {
        if attrs.fields().is_empty() {
            return;
        }
        if let Some(span) = context.span(id) {
            self.keep_span_fields(&span, attrs);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, context: Context<'_, S>) {
        if let Some(span) = context.span(id) {
            self.keep_span_fields(&span, values);
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        // A `log` record bridged by tracing-log (whose callsites have the target `log`): its real
        // target and level.
        let normalized = match event.metadata().target() {
            "log" => event.normalized_metadata(),
            _ => None,
        };
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if !self.wants(metadata.target()) {
            return;
        }
        let now = SystemTime::now();
        // Worked out once, for the timestamp and the callsite limit.
        let since = now.duration_since(UNIX_EPOCH).ok();
        if let (Some(limiter), false) = (&self.limiter, normalized.is_some()) {
            let second = since.map_or(0, |since| since.as_secs() as u32);
            if limiter.summaries_pending(second) {
                limiter.take_summaries(second, |summary| self.write_summary(&summary, None, now));
            }
            let mut summary = None;
            let verdict = limiter.check(event.metadata(), second, &mut summary);
            if let Some(summary) = summary {
                self.write_summary(&summary, Some(event), now);
            }
            if verdict == Verdict::Suppress {
                return;
            }
        }
        with_line_buffer(|line, keys| {
            format_event(
                line,
                keys,
                event,
                metadata,
                normalized.is_some(),
                &context,
                now,
                since,
            );
            let mut writer = self.make_writer.make_writer_for(event.metadata());
            let _ = writer.write_all(line.as_bytes());
        });
    }
}

impl<W> JsonLines<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// Writes the line saying `summary.suppressed` lines of a callsite were suppressed in the
    /// last second; `like` is a line of that callsite, whose message it quotes.
    fn write_summary(&self, summary: &Summary, like: Option<&Event<'_>>, now: SystemTime) {
        let metadata = summary.metadata;
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        push_timestamp(&mut line, now);
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push_str("\",\"target\":\"");
        push_escaped(&mut line, metadata.target());
        line.push_str("\",\"message\":\"");
        line.push_str(&summary_message(summary.suppressed));
        line.push_str("\",\"suppressed\":");
        push_u64(&mut line, summary.suppressed);
        if let (Some(file), Some(number)) = (metadata.file(), metadata.line()) {
            line.push_str(",\"callsite\":\"");
            push_escaped(&mut line, file);
            line.push(':');
            push_u64(&mut line, u64::from(number));
            line.push('"');
        }
        if let Some(message) = like.and_then(message_of) {
            line.push_str(",\"like\":\"");
            push_escaped(&mut line, &message);
            line.push('"');
        }
        line.push_str("}\n");
        let mut writer = self.make_writer.make_writer_for(metadata);
        let _ = writer.write_all(line.as_bytes());
    }
}

/// The `message` of `event`, formatted.
fn message_of(event: &Event<'_>) -> Option<String> {
    struct Message(Option<String>);
    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = Some(format!("{value:?}"));
            }
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "message" {
                self.0 = Some(value.to_owned());
            }
        }
    }
    let mut message = Message(None);
    event.record(&mut message);
    message.0
}

/// Formats `event` as one JSON line, `\n` included, into `line` (which is empty), noting its
/// keys in `keys` (emptied here).
#[allow(clippy::too_many_arguments)]
fn format_event<S>(
    line: &mut String,
    keys: &mut LineKeys,
    event: &Event<'_>,
    metadata: &Metadata<'_>,
    is_log: bool,
    context: &Context<'_, S>,
    now: SystemTime,
    since: Option<std::time::Duration>,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    line.push_str("{\"timestamp\":\"");
    push_timestamp_since(line, now, since);
    line.push_str("\",\"level\":\"");
    line.push_str(metadata.level().as_str());
    let callsite = if is_log {
        None
    } else {
        Some(callsite_keys(event.metadata(), Origin::Other))
    };
    line.push_str("\",\"target\":\"");
    if callsite.is_some_and(|callsite| callsite.plain_target) {
        line.push_str(metadata.target());
    } else {
        push_escaped(line, metadata.target());
    }
    line.push('"');
    keys.clear();
    let plain = callsite.is_some_and(|callsite| callsite.plain);
    event.record(&mut FieldVisitor(EventSink {
        line,
        keys,
        skip_log_fields: is_log,
        plain,
    }));
    if let (true, Some(callsite)) = (plain, callsite) {
        EventSink::set_filter(keys, callsite.filter);
    }
    // After the event's own fields, so they win; innermost span first. No `Debug` impl runs
    // here: span fields were formatted when recorded.
    if let Some(scope) = context.event_scope(event) {
        for span in scope {
            let extensions = span.extensions();
            if let Some(stored) = extensions.get::<SpanFields>() {
                stored.fields.append_to(line, keys);
                if let Some(request) = &stored.request {
                    request.formatted().append_to(line, keys);
                }
            }
        }
    }
    line.push_str("}\n");
}

thread_local! {
    /// The line buffer, and the keys of the line in it (kept, not set up per line).
    static LINE: RefCell<(String, LineKeys)> = const { RefCell::new((String::new(), LineKeys::new())) };
    /// [`CallsiteKeys`] of the event and span callsites this thread logged from or formatted, by
    /// the address of their (static) metadata, direct-mapped: no lock, no allocation, a few
    /// instructions per event or span.
    static CALLSITES: [Cell<(usize, CallsiteKeys)>; CALLSITE_SLOTS] = const {
        [const { Cell::new((0, CallsiteKeys { plain: false, filter: 0, plain_target: false })) };
            CALLSITE_SLOTS]
    };
}

const CALLSITE_SLOTS: usize = 64;

/// The [`CallsiteKeys`] of an event's or a span's callsite, cached per thread. `origin` is the
/// same for every call with the same `metadata` (an event's: [`Origin::Other`], a span's: its
/// [`origin_of`]), so it is not part of the cache key.
fn callsite_keys(metadata: &'static Metadata<'static>, origin: Origin) -> CallsiteKeys {
    let address = metadata as *const Metadata<'static> as usize;
    let slot = (address >> 4) % CALLSITE_SLOTS;
    CALLSITES
        .try_with(|slots| {
            let (cached, keys) = slots[slot].get();
            if cached == address {
                return keys;
            }
            let keys = CallsiteKeys::of(metadata, origin);
            slots[slot].set((address, keys));
            keys
        })
        .unwrap_or_else(|_| CallsiteKeys::of(metadata, origin))
}

/// A line longer than this does not keep its buffer's memory for the rest of the thread's life.
const KEPT_CAPACITY: usize = 16 * 1024;

/// Runs `format` on the thread's reused, emptied line buffer (and its keys); on a fresh `String`
/// when that buffer is in use (an event logged while formatting or writing another) or gone
/// (thread exit).
fn with_line_buffer(mut format: impl FnMut(&mut String, &mut LineKeys)) {
    let done = LINE
        .try_with(|cell| {
            let Ok(mut buffer) = cell.try_borrow_mut() else {
                return false;
            };
            let (line, keys) = &mut *buffer;
            line.clear();
            format(line, keys);
            if line.capacity() > KEPT_CAPACITY {
                line.clear();
                line.shrink_to(1024);
            }
            true
        })
        .unwrap_or(false);
    if !done {
        format(&mut String::with_capacity(512), &mut LineKeys::new());
    }
}

#[cfg(test)]
mod tests;
