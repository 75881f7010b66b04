//! belfry's JSON-lines layer as it was before `belfry-log` (commit 5d78081, tests left out),
//! frozen here as the baseline the log scenarios of `log_driver` measure against: the request
//! span's `request_id` only, no other span fields, a global `RwLock` for colliding callsites,
//! synchronous writes.
#![allow(missing_docs, dead_code)]

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
pub struct JsonLines<W> {
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
    pub fn new(make_writer: W) -> Self {
        Self {
            make_writer,
            targets: Targets::All,
        }
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
