//! The JSON-lines log layer: one JSON object per event, one event per line.
//!
//! # Why hand-written
//!
//! belfry first used `json-subscriber`. Under callgrind (`scripts/bench.sh --quick`, see
//! `docs/performance.md`) the access-log line — one `request completed` event with
//! about twelve fields — cost ≈ 20 000 instructions in `JsonLayer::format_event` (a
//! `serde_json::Value` map per event, a `String` per field, serialised, UTF-8 re-checked and
//! copied), plus ≈ 2 600 per request in `JsonLayer::on_new_span`, which serialises the fields
//! of every span although belfry prints only the request span's `request_id`. Against a target
//! of ≤ 2.5× bare axum (≈ 13 000 instructions per request), that line alone was 1.5× bare.
//! [`JsonLines`] writes straight into a reused thread-local buffer instead: no allocation per
//! field, no intermediate value tree, one `write_all` per line. Measured the same way, the
//! access-log line then costs ≈ 4 500 instructions in [`JsonLines::on_event`] (6 490 for all of
//! `RequestRecord::complete`, down from 23 755) and the request span ≈ 600 in `on_new_span`.
//!
//! # Output contract
//!
//! Each event becomes one line, a JSON object ending in `\n`:
//!
//! ```text
//! {"timestamp":"2026-11-23T15:04:05.123456Z","level":"INFO","target":"belfry_demo","message":"user looked up","user_id":42,"request_id":"0193…"}
//! ```
//!
//! - `timestamp`: RFC 3339, UTC, microseconds, as `tracing_subscriber::fmt::time::SystemTime`
//!   prints it; `level`: `TRACE` … `ERROR`; `target`: the event's target.
//! - Every field of the event at top level under its own name (dotted names such as
//!   `http.route` kept as they are, a raw identifier's `r#` dropped), `message` among them:
//!   signed and unsigned 64-bit integers and finite floats as JSON numbers, non-finite floats as
//!   `null`, booleans as booleans; strings, `Display` (`%`) and `Debug` (`?`) values, errors and
//!   128-bit integers as JSON strings.
//! - `request_id`, when the event happened inside a belfry request span (the current span or an
//!   explicit parent, or any of their ancestors): that span's
//!   [`REQUEST_ID_FIELD`]. The fields of other spans are not printed: record what a line needs
//!   on the event itself.
//! - No key appears twice. An event field named `timestamp`, `level`, `target` or `request_id`
//!   is written as `fields.timestamp`, `fields.level`, …; a key that would still repeat (tracing
//!   lets one event name a field twice) gets `#2`, `#3`, … appended.
//! - Every string is escaped: `"` and `\` with a backslash, `\n`, `\r`, `\t`, the other control
//!   characters (C0, DEL and C1) as `\u00XX`. A value cannot end its string, its object or its
//!   line, so it cannot forge a log line. Other characters are written as UTF-8.
//!
//! Key order: `timestamp`, `level`, `target`, the event's fields in their declared order,
//! `request_id`. Write errors are ignored (a log line must never fail a request).

use std::{
    borrow::Cow,
    cell::RefCell,
    fmt::{self, Write as _},
    io::Write as _,
    sync::{
        atomic::{AtomicBool, Ordering},
        RwLock,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use belfry_request_id::{REQUEST_ID_FIELD, REQUEST_SPAN_TARGET};
use tracing::{
    callsite::Identifier,
    field::{Field, FieldSet, Visit},
    span, Event, Metadata, Subscriber,
};
use tracing_subscriber::{
    fmt::MakeWriter,
    layer::{Context, Layer},
    registry::LookupSpan,
};

/// Writes every event as one JSON line to `W`; see the [module docs](self) for the format.
///
/// Several `JsonLines` layers (stdout and the audit file) can share one registry: they share the
/// request id kept in the request span's extensions.
pub(crate) struct JsonLines<W> {
    make_writer: W,
    targets: Targets,
}

/// Which events a [`JsonLines`] writes, by target: a plain comparison in `on_event`, where a
/// per-layer filter would add bookkeeping to every span of every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Targets {
    All,
    AllBut(&'static str),
    Only(&'static str),
}

impl<W> JsonLines<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// A layer writing to `make_writer`: one `write_all` of a whole line per event.
    pub(crate) fn new(make_writer: W) -> Self {
        Self {
            make_writer,
            targets: Targets::All,
        }
    }

    /// Writes every event except those with target `target`.
    pub(crate) fn all_but(mut self, target: &'static str) -> Self {
        self.targets = Targets::AllBut(target);
        self
    }

    /// Writes only the events with target `target`.
    pub(crate) fn only(mut self, target: &'static str) -> Self {
        self.targets = Targets::Only(target);
        self
    }
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if metadata.is_event() && keys_collide(metadata.fields()) {
            note_colliding_callsite(metadata.callsite());
        }
        tracing::subscriber::Interest::always()
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, context: Context<'_, S>) {
        if attrs.metadata().target() != REQUEST_SPAN_TARGET {
            return;
        }
        let mut visitor = RequestIdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(request_id), Some(span)) = (visitor.0, context.span(id)) {
            let mut extensions = span.extensions_mut();
            // Several JSON outputs (stdout, the audit file) share the span's extensions.
            if extensions.get_mut::<RequestIdOfSpan>().is_none() {
                extensions.insert(RequestIdOfSpan(request_id));
            }
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, context: Context<'_, S>) {
        // Visit first: no span look-up unless a `request_id` was recorded.
        let mut visitor = RequestIdVisitor(None);
        values.record(&mut visitor);
        let Some(request_id) = visitor.0 else {
            return;
        };
        let Some(span) = context.span(id) else {
            return;
        };
        if span.metadata().target() != REQUEST_SPAN_TARGET {
            return;
        }
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<RequestIdOfSpan>() {
            Some(RequestIdOfSpan(id)) => *id = request_id,
            None => extensions.insert(RequestIdOfSpan(request_id)),
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let target = event.metadata().target();
        let wanted = match self.targets {
            Targets::All => true,
            Targets::AllBut(excluded) => target != excluded,
            Targets::Only(included) => target == included,
        };
        if !wanted {
            return;
        }
        with_line_buffer(|line| {
            format_event(line, event, &context);
            let mut writer = self.make_writer.make_writer_for(event.metadata());
            let _ = writer.write_all(line.as_bytes());
        });
    }
}

/// The `request_id` of a belfry request span, kept in the span's extensions.
struct RequestIdOfSpan(String);

struct RequestIdVisitor(Option<String>);

impl Visit for RequestIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == REQUEST_ID_FIELD {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == REQUEST_ID_FIELD {
            // Room for a UUID: one allocation, no regrowth.
            let mut id = String::with_capacity(40);
            let _ = write!(id, "{value:?}");
            self.0 = Some(id);
        }
    }
}

/// Formats `event` as one JSON line, `\n` included, into `line` (which is empty).
fn format_event<S>(line: &mut String, event: &Event<'_>, context: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let metadata = event.metadata();
    line.push_str("{\"timestamp\":\"");
    push_timestamp(line, SystemTime::now());
    line.push_str("\",\"level\":\"");
    line.push_str(metadata.level().as_str());
    line.push_str("\",\"target\":\"");
    push_escaped(line, metadata.target());
    line.push('"');
    let keys = has_colliding_keys(metadata).then(Vec::new);
    event.record(&mut EventFields { line, keys });
    // After the fields: no span lock is held while `Debug` impls run (they may log).
    if let Some(scope) = context.event_scope(event) {
        for span in scope {
            if span.metadata().target() != REQUEST_SPAN_TARGET {
                continue;
            }
            if let Some(RequestIdOfSpan(id)) = span.extensions().get::<RequestIdOfSpan>() {
                line.push_str(",\"request_id\":\"");
                push_escaped(line, id);
                line.push('"');
                break;
            }
        }
    }
    line.push_str("}\n");
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A line longer than this does not keep its buffer's memory for the rest of the thread's life.
const KEPT_CAPACITY: usize = 16 * 1024;

/// Runs `format` on the thread's reused, emptied line buffer; on a fresh `String` when that
/// buffer is in use (an event logged while formatting or writing another) or gone (thread exit).
fn with_line_buffer(mut format: impl FnMut(&mut String)) {
    let done = LINE
        .try_with(|cell| {
            let Ok(mut line) = cell.try_borrow_mut() else {
                return false;
            };
            line.clear();
            format(&mut line);
            if line.capacity() > KEPT_CAPACITY {
                line.clear();
                line.shrink_to(1024);
            }
            true
        })
        .unwrap_or(false);
    if !done {
        format(&mut String::with_capacity(512));
    }
}

/// Writes the event's fields, each as `,"key":value`.
struct EventFields<'a> {
    line: &'a mut String,
    /// The keys written so far, for the (rare) events whose field names would collide; `None`
    /// for all others.
    keys: Option<Vec<String>>,
}

impl EventFields<'_> {
    fn key(&mut self, field: &Field) {
        let name = field_name(field.name());
        self.line.push_str(",\"");
        match &mut self.keys {
            None => {
                if is_reserved(name) {
                    self.line.push_str(RENAMED_PREFIX);
                }
                push_escaped(self.line, name);
            }
            Some(keys) => {
                let key = unique_key(keys, name);
                push_escaped(self.line, &key);
                keys.push(key);
            }
        }
        self.line.push_str("\":");
    }
}

impl Visit for EventFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        push_f64(self.line, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        if value < 0 {
            self.line.push('-');
        }
        push_u64(self.line, value.unsigned_abs());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        push_u64(self.line, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.line.push('"');
        push_escaped(self.line, value);
        self.line.push('"');
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.line.push('"');
        // Straight into the line, escaped on the way: no intermediate `String`. A failing
        // `Debug` impl leaves what it wrote; the string is closed all the same.
        let _ = write!(Escaping(self.line), "{value:?}");
        self.line.push('"');
    }
}

/// Prefix of an event field whose name is one of the keys every line has.
const RENAMED_PREFIX: &str = "fields.";

/// The keys every line has, which an event's own fields must not take (`message` is the
/// event's own field).
fn is_reserved(name: &str) -> bool {
    matches!(name, "timestamp" | "level" | "target" | "request_id")
}

/// A field's name as printed: `r#type` is `type`.
fn field_name(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// The key of a field named `name`, before de-duplication.
fn base_key(name: &str) -> Cow<'_, str> {
    let name = field_name(name);
    if is_reserved(name) {
        Cow::Owned(format!("{RENAMED_PREFIX}{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The key of a field named `name`, not among `keys`: its base key, or that with `#2`, `#3`, …
fn unique_key(keys: &[String], name: &str) -> String {
    let base = base_key(name);
    if !keys.iter().any(|key| *key == base) {
        return base.into_owned();
    }
    (2..)
        .map(|n| format!("{base}#{n}"))
        .find(|candidate| !keys.contains(candidate))
        .unwrap_or_else(|| unreachable!("the keys are finite"))
}

/// Whether two fields of `fields` would be written under the same key.
fn keys_collide(fields: &FieldSet) -> bool {
    let keys: Vec<Cow<'_, str>> = fields.iter().map(|field| base_key(field.name())).collect();
    keys.iter().enumerate().any(|(i, key)| keys[..i].contains(key))
}

/// Whether any callsite has colliding keys: one relaxed load per event when none has.
static ANY_COLLIDING: AtomicBool = AtomicBool::new(false);
/// The event callsites whose fields would collide, noted when they are registered (tracing
/// registers a callsite with every subscriber before its first event is dispatched, except to a
/// thread that races the registering one).
static COLLIDING: RwLock<Vec<Identifier>> = RwLock::new(Vec::new());

fn note_colliding_callsite(callsite: Identifier) {
    let mut colliding = COLLIDING.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !colliding.contains(&callsite) {
        colliding.push(callsite);
    }
    ANY_COLLIDING.store(true, Ordering::Release);
}

fn has_colliding_keys(metadata: &Metadata<'_>) -> bool {
    ANY_COLLIDING.load(Ordering::Acquire)
        && COLLIDING
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&metadata.callsite())
}

/// How `push_escaped` treats each byte: 0 as it is, `b'u'` as `\u00XX`, `b'c'` (the lead byte
/// of U+0080..=U+00BF) by looking at the next byte, any other as `\` and that byte.
static ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x7F] = b'u';
    table[0xC2] = b'c';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `value` escaped for the inside of a JSON string (the quotes are not written): `"`,
/// `\`, `\n`, `\r`, `\t` with a backslash, the other C0 controls, DEL and the C1 controls
/// (U+0080..=U+009F, which some terminals obey) as `\u00XX`.
fn push_escaped(line: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        i = next_marked(bytes, i);
        let Some(&byte) = bytes.get(i) else {
            break;
        };
        let mut escape = ESCAPES[usize::from(byte)];
        // The escaped character: one byte, or two for a C1 control.
        let (code, width) = match escape {
            b'c' => match bytes.get(i + 1) {
                Some(&next @ 0x80..=0x9F) => {
                    escape = b'u';
                    (next, 2)
                }
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => (byte, 1),
        };
        // `i` starts a character and `i + width` ends it, so both are char boundaries.
        line.push_str(&value[start..i]);
        line.push('\\');
        if escape == b'u' {
            line.push_str("u00");
            line.push(char::from(HEX[usize::from(code >> 4)]));
            line.push(char::from(HEX[usize::from(code & 0xF)]));
        } else {
            line.push(char::from(escape));
        }
        i += width;
        start = i;
    }
    line.push_str(&value[start..]);
}

/// The index of the first byte at or after `i` that [`ESCAPES`] marks, or `bytes.len()`.
///
/// Eight bytes at a time: in each word, the lowest flagged byte of a "has a zero byte" test is
/// exact (false positives only follow a true one), and the lowest byte comes first.
fn next_marked(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let marked = (word.wrapping_sub(ONES * 0x20) & !word & HIGHS) // below 0x20
            | zero_byte(word ^ (ONES * u64::from(b'"')))
            | zero_byte(word ^ (ONES * u64::from(b'\\')))
            | zero_byte(word ^ (ONES * 0x7F))
            | zero_byte(word ^ (ONES * 0xC2));
        if marked != 0 {
            return i + (marked.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && ESCAPES[usize::from(bytes[i])] == 0 {
        i += 1;
    }
    i
}

/// A `fmt::Write` that escapes what it is given into a line.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

fn push_u64(line: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    line.push_str(std::str::from_utf8(&digits[start..]).unwrap_or("0"));
}

/// A finite float as the shortest JSON number that reads back the same (`1.0`, `0.25`,
/// `1e-7`, `1e16`); NaN and infinities as `null`.
fn push_f64(line: &mut String, value: f64) {
    // Fast path for values with at most three decimals, such as the access log's `duration_ms`
    // (whole microseconds): integer arithmetic instead of the float formatter (~900 instructions
    // per line, measured). `value == thousandths / 1000.0` with a correctly rounded division
    // means the decimal `thousandths / 1000` reads back as exactly `value`.
    if value.is_finite() && value.abs() < 1e12 {
        let thousandths = (value * 1000.0).round();
        if thousandths / 1000.0 == value {
            if value.is_sign_negative() {
                line.push('-'); // `-0.0` too: it reads back as itself
            }
            let thousandths = (thousandths as i64).unsigned_abs();
            push_u64(line, thousandths / 1000);
            line.push('.');
            let fraction = thousandths % 1000;
            let digits = [
                b'0' + (fraction / 100) as u8,
                b'0' + (fraction / 10 % 10) as u8,
                b'0' + (fraction % 10) as u8,
            ];
            let kept = if digits[2] != b'0' {
                3
            } else if digits[1] != b'0' {
                2
            } else {
                1
            };
            line.push_str(std::str::from_utf8(&digits[..kept]).unwrap_or("0"));
            return;
        }
    }
    if value.is_finite() {
        // `Debug` is the shortest round-trip form, with a `.0` or an exponent: a JSON number.
        let _ = write!(line, "{value:?}");
    } else {
        line.push_str("null");
    }
}

/// Appends `now` as tracing-subscriber's `SystemTime` timer prints it:
/// `2026-11-23T15:04:05.123456Z`.
fn push_timestamp(line: &mut String, now: SystemTime) {
    let (seconds, nanos) = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => (
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            since.subsec_nanos(),
        ),
        Err(error) => {
            let before = error.duration();
            let seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-seconds, 0),
                nanos => (-seconds - 1, 1_000_000_000 - nanos),
            }
        }
    };
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
    let micros = nanos / 1_000;
    let four_digit_year = match u32::try_from(year) {
        Ok(year) if year <= 9999 => year,
        _ => {
            // Rare enough for `write!`; the same form as tracing-subscriber's.
            let sign = if year > 9999 { "+" } else { "" };
            let _ = write!(
                line,
                "{sign}{year:05}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z"
            );
            return;
        }
    };
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut text[0..4], four_digit_year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    // In 0..86_400, so these fit.
    put_digits(&mut text[11..13], hour as u32);
    put_digits(&mut text[14..16], minute as u32);
    put_digits(&mut text[17..19], second as u32);
    put_digits(&mut text[20..26], micros);
    line.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Writes `value`'s last `out.len()` decimal digits into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097); // 0..=146_096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11, March first
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::{
        fmt, io,
        sync::{Arc, Mutex},
        time::{Duration, SystemTime, UNIX_EPOCH},
    };

    use belfry_request_id::REQUEST_SPAN_TARGET;
    use proptest::prelude::*;
    use serde_json::Value;
    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

    use super::{
        civil_from_days, push_escaped, push_f64, push_timestamp, unique_key, with_line_buffer, JsonLines,
    };

    /// Everything written, and how many `write` calls wrote it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Captured {
        /// The lines written so far (emptied), each checked: complete, JSON, no repeated key,
        /// written with one `write`.
        fn take(&self) -> Vec<(String, Value)> {
            let (bytes, writes) = std::mem::take(&mut *self.0.lock().unwrap());
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.is_empty() || text.ends_with('\n'), "{text}");
            let lines: Vec<_> = text.lines().map(str::to_owned).collect();
            assert_eq!(writes, lines.len(), "one write per line: {text}");
            lines
                .into_iter()
                .map(|line| {
                    let keys = serde_json::from_str::<KeyList>(&line)
                        .unwrap_or_else(|error| panic!("not a JSON object ({error}): {line}"))
                        .0;
                    let mut unique = keys.clone();
                    unique.sort();
                    unique.dedup();
                    assert_eq!(unique.len(), keys.len(), "a repeated key: {line}");
                    let value = serde_json::from_str(&line).unwrap();
                    (line, value)
                })
                .collect()
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut captured = self.0.lock().unwrap();
            captured.0.extend_from_slice(buf);
            captured.1 += 1;
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The keys of a JSON object, in order, repeats kept.
    struct KeyList(Vec<String>);

    impl<'de> serde::Deserialize<'de> for KeyList {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Keys;
            impl<'de> serde::de::Visitor<'de> for Keys {
                type Value = KeyList;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }

                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<KeyList, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(KeyList(keys))
                }
            }
            deserializer.deserialize_map(Keys)
        }
    }

    /// Logs while being formatted.
    struct Noisy;

    impl fmt::Debug for Noisy {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            tracing::warn!(target: "inner", "logged from a Debug impl");
            f.write_str("noisy")
        }
    }

    fn is_timestamp(value: &Value) -> bool {
        let text = value.as_str().unwrap();
        let bytes = text.as_bytes();
        bytes.len() == 27
            && bytes.iter().enumerate().all(|(i, &b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                19 => b == b'.',
                26 => b == b'Z',
                _ => b.is_ascii_digit(),
            })
    }

    // One function for everything that emits events: tracing's callsite interest cache is
    // process-wide, so subscribers set in parallel tests would race.
    #[test]
    fn events_are_written_as_json_lines() {
        let out = Captured::default();
        let audit = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(JsonLines::new(out.clone()))
            .with(JsonLines::new(audit.clone()));
        tracing::subscriber::with_default(subscriber, || {
            // Value types, names, the message.
            tracing::info!(
                target: "json_lines::test",
                count = 3u64,
                delta = -7i64,
                ratio = 0.25,
                whole = 2.0,
                nan = f64::NAN,
                infinite = f64::NEG_INFINITY,
                ok = true,
                name = "a\"b\\c",
                shown = %"x\ny",
                debugged = ?Some("q"),
                http.route = "/users/{id}",
                "url.path" = "/users/7",
                r#type = "raw",
                big = u64::MAX,
                small = i64::MIN,
                wide = 1u128 << 100,
                error = &io::Error::other("disk \"full\"") as &(dyn std::error::Error + 'static),
                "hello {}",
                "world"
            );
            let lines = out.take();
            assert_eq!(lines.len(), 1);
            let (text, line) = &lines[0];
            assert!(is_timestamp(&line["timestamp"]), "{text}");
            assert_eq!(line["level"], "INFO");
            assert_eq!(line["target"], "json_lines::test");
            assert_eq!(line["message"], "hello world");
            assert_eq!(line["count"], 3);
            assert_eq!(line["delta"], -7);
            assert_eq!(line["ratio"], 0.25);
            assert!(text.contains(r#""whole":2.0,"#), "{text}");
            assert!(line["nan"].is_null() && line["infinite"].is_null(), "{text}");
            assert_eq!(line["ok"], true);
            assert_eq!(line["name"], "a\"b\\c");
            assert_eq!(line["shown"], "x\ny");
            assert_eq!(line["debugged"], "Some(\"q\")");
            assert_eq!(line["http.route"], "/users/{id}");
            assert_eq!(line["url.path"], "/users/7");
            assert_eq!(line["type"], "raw");
            assert_eq!(line["big"], u64::MAX);
            assert_eq!(line["small"], i64::MIN);
            assert_eq!(line["wide"], (1u128 << 100).to_string());
            assert_eq!(line["error"], "disk \"full\"");
            assert!(line.get("request_id").is_none(), "{text}");
            assert_eq!(audit.take().len(), 1);

            // A value cannot forge a line.
            let evil = "\"}\n{\"level\":\"ERROR\",\"x\":\"\r\u{1b}[31m\u{0}";
            tracing::info!(evil, "{evil}");
            let lines = out.take();
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert_eq!(lines[0].1["level"], "INFO");
            assert_eq!(lines[0].1["evil"], evil);
            assert_eq!(lines[0].1["message"], evil);
            assert_eq!(audit.take().len(), 1);

            // The request id, from the current span, its ancestors or an explicit parent; the
            // event's own fields named like the line's keys are renamed; other spans' fields are
            // not printed.
            let request = tracing::error_span!(target: REQUEST_SPAN_TARGET, "request", request_id = %"req-1");
            let child = request.in_scope(|| tracing::info_span!("child", other = 1));
            request.in_scope(|| {
                child.in_scope(|| {
                    tracing::info!(
                        timestamp = 1,
                        level = "own",
                        target = "t",
                        request_id = "mine",
                        message = "inside"
                    );
                    tracing::info!(parent: None, "orphan");
                });
            });
            child.in_scope(|| tracing::info!("child only"));
            tracing::info!(parent: &child, "explicit");
            for captured in [&out, &audit] {
                let lines = captured.take();
                let [(_, inside), (_, orphan), (_, child_only), (_, explicit)] = &lines[..] else {
                    panic!("{lines:?}");
                };
                assert_eq!(inside["message"], "inside");
                assert_eq!(inside["request_id"], "req-1");
                assert_eq!(inside["fields.timestamp"], 1);
                assert_eq!(inside["fields.level"], "own");
                assert_eq!(inside["fields.target"], "t");
                assert_eq!(inside["fields.request_id"], "mine");
                assert_eq!(inside["level"], "INFO");
                assert!(inside.get("other").is_none());
                assert!(orphan.get("request_id").is_none(), "{orphan}");
                assert_eq!(child_only["request_id"], "req-1");
                assert_eq!(explicit["request_id"], "req-1");
            }

            // A request id recorded after the span was created.
            let late = tracing::error_span!(
                target: REQUEST_SPAN_TARGET,
                "request",
                request_id = tracing::field::Empty
            );
            late.in_scope(|| tracing::info!("before"));
            late.record("request_id", "late-1");
            late.in_scope(|| tracing::info!("after"));
            let lines = out.take();
            assert!(lines[0].1.get("request_id").is_none());
            assert_eq!(lines[1].1["request_id"], "late-1");

            // Keys that would repeat (checked for every line by `take`).
            tracing::info!(a = 1, a = 2, "fields.level" = 3, level = 4, "dup");
            let lines = out.take();
            let line = &lines[0].1;
            assert_eq!((&line["a"], &line["a#2"]), (&1.into(), &2.into()), "{line}");
            assert_eq!(line["fields.level"], 3);
            assert_eq!(line["fields.level#2"], 4);

            // An event logged while formatting another: a scoped dispatcher (as here) drops it,
            // the global one delivers it (`with_line_buffer` is tested for that below); the outer
            // line is complete either way.
            request.in_scope(|| tracing::info!(value = ?Noisy, "outer"));
            let lines = out.take();
            let (_, outer) = lines.last().unwrap();
            assert_eq!(outer["message"], "outer");
            assert_eq!(outer["value"], "noisy");
            assert_eq!(outer["request_id"], "req-1");

            // A long line, then the reused buffer again.
            let long = "x".repeat(100_000);
            tracing::info!(long, "long");
            tracing::info!("short");
            let lines = out.take();
            assert_eq!(lines[0].1["long"], long.as_str());
            assert_eq!(lines[1].1["message"], "short");
        });
    }

    #[test]
    fn a_line_formatted_while_formatting_another_gets_its_own_buffer() {
        let mut lines = Vec::new();
        with_line_buffer(|outer| {
            outer.push_str("outer ");
            with_line_buffer(|inner| {
                assert!(inner.is_empty());
                inner.push_str("inner");
                lines.push(inner.clone());
            });
            outer.push_str("line");
            lines.push(outer.clone());
        });
        with_line_buffer(|reused| {
            assert!(reused.is_empty() && reused.capacity() > 0);
        });
        assert_eq!(lines, ["inner", "outer line"]);
    }

    fn quoted(value: &str) -> String {
        let mut line = String::from("\"");
        push_escaped(&mut line, value);
        line.push('"');
        line
    }

    fn assert_round_trips(value: &str) {
        let quoted = quoted(value);
        assert!(
            quoted.chars().all(|c| !c.is_control()),
            "a raw control character in {quoted:?}"
        );
        assert_eq!(
            serde_json::from_str::<String>(&quoted).unwrap(),
            value,
            "{quoted}"
        );
    }

    #[test]
    fn every_ascii_character_is_escaped_correctly() {
        for byte in 0u8..=0x7F {
            let c = char::from(byte);
            assert_round_trips(&c.to_string());
            assert_round_trips(&format!("a{c}bc{c}{c}"));
        }
        for c in [
            'é',
            'ñ',
            '€',
            '\u{80}',
            '\u{9f}',
            '\u{2028}',
            '\u{fffd}',
            '😀',
            '\u{10ffff}',
        ] {
            assert_round_trips(&format!("{c}\"{c}\n"));
        }
        assert_eq!(quoted("\u{1}\u{1f}\u{7f}\t"), r#""\u0001\u001f\u007f\t""#);
        assert_eq!(quoted("\u{80}£\u{9b}é"), r#""\u0080£\u009bé""#);
        // Every escaped character at every offset of the word-at-a-time scan.
        for special in [
            '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}', '£', 'é', '😀',
        ] {
            for at in 0..20 {
                let mut text: String = "x".repeat(at);
                text.push(special);
                text.push_str(&"y".repeat(20 - at));
                assert_round_trips(&text);
                assert_round_trips(&text.repeat(3));
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_correctly(chars in proptest::collection::vec(any::<char>(), 0..64)) {
            assert_round_trips(&chars.into_iter().collect::<String>());
        }

        #[test]
        fn strings_dense_in_escapes_are_escaped_correctly(
            chars in proptest::collection::vec(
                prop_oneof![
                    proptest::char::range('\u{0}', '\u{ff}'),
                    proptest::sample::select(vec!['"', '\\', '\n', '\u{7f}', '\u{c2}', '\u{9b}', '😀']),
                ],
                0..80,
            )
        ) {
            assert_round_trips(&chars.into_iter().collect::<String>());
        }

        #[test]
        fn finite_floats_are_json_numbers_that_read_back(value in any::<f64>()) {
            let mut text = String::new();
            push_f64(&mut text, value);
            if value.is_finite() {
                prop_assert!(serde_json::from_str::<Value>(&text).unwrap().is_f64(), "{}", text);
                prop_assert_eq!(text.parse::<f64>().unwrap().to_bits(), value.to_bits());
            } else {
                prop_assert_eq!(text, "null");
            }
        }
    }

    fn timestamp(time: SystemTime) -> String {
        let mut text = String::new();
        push_timestamp(&mut text, time);
        text
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let at = |seconds: u64, nanos: u32| timestamp(UNIX_EPOCH + Duration::new(seconds, nanos));
        let before = |seconds: u64, nanos: u32| timestamp(UNIX_EPOCH - Duration::new(seconds, nanos));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_795_446_245, 123_456_789), "2026-11-23T15:04:05.123456Z");
        assert_eq!(at(951_868_799, 999_999_999), "2000-02-29T23:59:59.999999Z");
        assert_eq!(at(1_709_208_000, 1_000), "2024-02-29T12:00:00.000001Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
        assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59.000000Z");
        assert_eq!(at(253_402_300_800, 0), "+10000-01-01T00:00:00.000000Z");
        assert_eq!(before(0, 1_000), "1969-12-31T23:59:59.999999Z");
        assert_eq!(before(1, 0), "1969-12-31T23:59:59.000000Z");
        assert_eq!(before(2_208_988_800, 0), "1900-01-01T00:00:00.000000Z");
        assert_eq!(before(62_167_219_200, 0), "0000-01-01T00:00:00.000000Z");
        assert_eq!(before(62_167_219_201, 0), "-0001-12-31T23:59:59.000000Z");
    }

    #[test]
    fn timestamps_match_tracing_subscribers_system_time() {
        use tracing_subscriber::fmt::{format::Writer, time::FormatTime};
        // The two clocks are read one after the other: retry if a second ticked in between.
        for _ in 0..10 {
            let mut theirs = String::new();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            let ours = timestamp(SystemTime::now());
            assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
            if ours[..19] == theirs[..19] {
                return;
            }
        }
        panic!("the timestamps never agreed to the second");
    }

    #[test]
    fn civil_from_days_matches_a_day_by_day_calendar() {
        let leap = |year: i64| year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let (mut year, mut month, mut day) = (0i64, 1u32, 1u32);
        // 0000-01-01 is 719 528 days before 1970-01-01; walk to 2600.
        for days in -719_528..230_000 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let length = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    #[test]
    fn repeated_keys_get_a_suffix() {
        let keys: Vec<String> = ["a", "a#2", "fields.level"].map(String::from).to_vec();
        assert_eq!(unique_key(&keys, "a"), "a#3");
        assert_eq!(unique_key(&keys, "level"), "fields.level#2");
        assert_eq!(unique_key(&keys, "r#b"), "b");
        assert_eq!(unique_key(&keys, "timestamp"), "fields.timestamp");
    }
}
