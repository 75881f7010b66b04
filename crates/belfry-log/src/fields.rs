//! Fields as JSON: the visitor writing `,"key":value` entries, the keys a line already holds (so
//! that none appears twice), and the fields of a span, formatted once when they are recorded.
//!
//! # Keys
//!
//! A field is written under its own name (`r#type` as `type`, dotted names as they are), except:
//!
//! - `timestamp`, `level` and `target` belong to the line: a field of that name, from an event,
//!   a span or a request field, is written as `fields.timestamp`, …;
//! - `request_id`, `trace_id` and `span_id` belong to the belfry request span: the same name from
//!   anywhere else (an event, another span, a request field) is written as `fields.request_id`, …
//!
//! A line never repeats a key. Its event's fields come first and win: a span field with the same
//! key is left out, an inner span's field beats an outer span's, and the request span's own fields
//! beat the request fields recorded on it. An event naming a field twice (tracing allows it) gets
//! `#2`, `#3`, … on the repeats; a span field recorded again replaces its earlier value.

use std::{
    cell::RefCell,
    fmt::{self, Write as _},
};

use belfry_request_id::REQUEST_ID_FIELD;
pub use belfry_request_id::{SPAN_ID_FIELD, TRACE_ID_FIELD};
use tracing::field::{Field, Visit};

use crate::{
    escape::{push_escaped, Escaping},
    number::{push_f64, push_i64, push_u64},
};

/// Prefix of a field whose name is a key the line or the request span owns.
pub const RENAMED_PREFIX: &str = "fields.";

/// Where a field comes from: decides which names are renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An event, an ordinary span, a request field: every owned name is renamed.
    Other,
    /// The belfry request span: its `request_id`, `trace_id` and `span_id` are kept.
    RequestSpan,
}

/// Whether a field named `name` (from `origin`) is written with [`RENAMED_PREFIX`].
pub(crate) fn is_renamed(name: &str, origin: Origin) -> bool {
    // Most names start with another letter: one comparison.
    if !matches!(name.as_bytes().first(), Some(b't' | b'l' | b'r' | b's')) {
        return false;
    }
    match name {
        "timestamp" | "level" | "target" => true,
        _ if name == REQUEST_ID_FIELD || name == TRACE_ID_FIELD || name == SPAN_ID_FIELD => {
            origin != Origin::RequestSpan
        }
        _ => false,
    }
}

/// A field's name as printed: `r#type` is `type`.
pub(crate) fn field_name(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// A key's position in a 128-bit filter (escaped key, as written): two keys in different
/// positions differ, so most keys are told apart without comparing them.
#[inline]
fn key_tag(key: &[u8]) -> u8 {
    let (Some(&first), Some(&last)) = (key.first(), key.last()) else {
        return 0;
    };
    let middle = key[key.len() / 2];
    // A multiplicative hash of the length and three bytes; its top seven bits.
    let mixed = (key.len() as u64) | u64::from(first) << 8 | u64::from(middle) << 16 | u64::from(last) << 24;
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as u8
}

#[inline]
fn bit(tag: u8) -> u128 {
    1 << (tag & 127)
}

/// The tag of a key written without computing it (a plain event's): compared by bytes.
const UNTAGGED: u8 = u8::MAX;

/// One key: its byte range in the text and its filter position.
#[derive(Clone, Copy, Debug, Default)]
struct Key {
    start: u32,
    end: u32,
    tag: u8,
}

/// The keys written in a text (a line, or a span's fields), as byte ranges into it, with a bit
/// filter in front: checking a key that is not there costs a few instructions.
/// `N` keys are kept inline; more spill to the heap.
#[derive(Clone, Debug)]
pub(crate) struct Keys<const N: usize> {
    filter: u128,
    len: usize,
    inline: [Key; N],
    spilled: Vec<Key>,
}

impl<const N: usize> Keys<N> {
    pub(crate) const fn new() -> Self {
        Self {
            filter: 0,
            len: 0,
            inline: [Key {
                start: 0,
                end: 0,
                tag: 0,
            }; N],
            spilled: Vec::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.filter = 0;
        self.len = 0;
        self.spilled.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn key(&self, index: usize) -> Key {
        if index < N {
            self.inline[index]
        } else {
            self.spilled[index - N]
        }
    }

    #[inline]
    fn range(&self, index: usize) -> (usize, usize) {
        let key = self.key(index);
        (key.start as usize, key.end as usize)
    }

    #[inline]
    fn push(&mut self, start: usize, end: usize, tag: u8) {
        // Lines and span fields are far below 4 GiB; a longer one just loses de-duplication.
        let key = Key {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
            tag,
        };
        if self.len < N {
            self.inline[self.len] = key;
        } else {
            self.spilled.push(key);
        }
        self.len += 1;
    }

    fn remove(&mut self, index: usize) {
        let kept: Vec<Key> = (0..self.len)
            .filter(|&i| i != index)
            .map(|i| self.key(i))
            .collect();
        self.len = 0;
        self.spilled.clear();
        for key in kept {
            self.push(key.start as usize, key.end as usize, key.tag);
        }
    }

    fn shift_after(&mut self, index: usize, by: usize) {
        for i in index..self.len {
            let slot = if i < N {
                &mut self.inline[i]
            } else {
                &mut self.spilled[i - N]
            };
            slot.start -= by as u32;
            slot.end -= by as u32;
        }
    }

    fn refilter(&mut self) {
        self.filter = (0..self.len).fold(0, |filter, i| filter | bit(self.key(i).tag));
    }

    /// The index of `key` (whose tag is `tag`) among the keys of `text`.
    #[inline]
    fn find(&self, text: &[u8], key: &[u8], tag: u8) -> Option<usize> {
        if self.filter & bit(tag) == 0 {
            return None;
        }
        (0..self.len).find(|&i| {
            let stored = self.key(i);
            (stored.tag == tag || stored.tag == UNTAGGED)
                && (stored.end - stored.start) as usize == key.len()
                && text.get(stored.start as usize..stored.end as usize) == Some(key)
        })
    }

    /// Notes the key at `text[start..end]`, unless `text` already has it (then `false`).
    fn insert(&mut self, text: &[u8], start: usize, end: usize) -> bool {
        let key = &text[start..end];
        let tag = key_tag(key);
        if self.find(text, key, tag).is_some() {
            return false;
        }
        self.filter |= bit(tag);
        self.push(start, end, tag);
        true
    }
}

/// The keys of one line; the access log line has about fifteen.
pub(crate) type LineKeys = Keys<32>;

/// Where a visited field goes: [`FieldVisitor`] writes the value, the sink the key.
pub(crate) trait FieldSink {
    /// Writes the key of a field named `name` and `:`; `false` to leave the field out.
    fn key(&mut self, name: &str) -> bool;
    /// Where the value goes.
    fn out(&mut self) -> &mut String;
    /// Called once the value is written.
    fn end(&mut self);
}

/// Writes every visited field into a [`FieldSink`].
pub(crate) struct FieldVisitor<S>(pub(crate) S);

impl<S: FieldSink> Visit for FieldVisitor<S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.0.key(field.name()) {
            push_f64(self.0.out(), value);
            self.0.end();
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.0.key(field.name()) {
            push_i64(self.0.out(), value);
            self.0.end();
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.0.key(field.name()) {
            push_u64(self.0.out(), value);
            self.0.end();
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.0.key(field.name()) {
            self.0.out().push_str(if value { "true" } else { "false" });
            self.0.end();
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.0.key(field.name()) {
            push_json_string(self.0.out(), value);
            self.0.end();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.0.key(field.name()) {
            let out = self.0.out();
            out.push('"');
            // Straight into the text, escaped on the way: no intermediate `String`. A failing
            // `Debug` impl leaves what it wrote; the string is closed all the same.
            let _ = write!(Escaping(out), "{value:?}");
            out.push('"');
            self.0.end();
        }
    }
}

/// `value` as a JSON string, quotes included.
#[inline(always)]
pub(crate) fn push_json_string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    push_escaped(out, value);
    out.push('"');
}

/// What is known of a callsite's keys (an event's, or a span's), computed once per callsite and
/// thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallsiteKeys {
    /// Every key is written as it is named (no rename, no escape, no `r#`), and none repeats.
    pub(crate) plain: bool,
    /// The filter of the callsite's keys.
    pub(crate) filter: u128,
    /// The callsite's target has nothing to escape.
    pub(crate) plain_target: bool,
}

impl CallsiteKeys {
    /// Keys renamed as `origin`'s are (an event's: [`Origin::Other`]).
    pub(crate) fn of(metadata: &tracing::Metadata<'_>, origin: Origin) -> Self {
        let fields = metadata.fields();
        let mut filter = 0;
        let mut plain = true;
        let names: Vec<&str> = fields.iter().map(|field| field.name()).collect();
        for (i, name) in names.iter().enumerate() {
            filter |= bit(key_tag(name.as_bytes()));
            plain &= !name.starts_with("r#")
                && !is_renamed(name, origin)
                && crate::escape::is_plain(name)
                && !names[..i].contains(name);
        }
        Self {
            plain,
            filter,
            plain_target: crate::escape::is_plain(metadata.target()),
        }
    }
}

/// An event's fields, written straight into its line.
pub(crate) struct EventSink<'a> {
    pub(crate) line: &'a mut String,
    pub(crate) keys: &'a mut LineKeys,
    /// Leave out tracing-log's `log.target`, `log.module_path`, … (a `log` record's metadata,
    /// printed as the line's own `target`).
    pub(crate) skip_log_fields: bool,
    /// The callsite's keys are plain: written as they are, no check (the filter is set after).
    pub(crate) plain: bool,
}

impl EventSink<'_> {
    /// Notes that the line has every key of the callsite (after a plain event's fields).
    pub(crate) fn set_filter(keys: &mut LineKeys, filter: u128) {
        keys.filter |= filter;
    }
}

impl EventSink<'_> {
    /// The general case: renamed, escaped and de-duplicated keys.
    #[inline(never)]
    fn checked_key(&mut self, name: &str) -> bool {
        let name = field_name(name);
        if self.skip_log_fields && name.starts_with("log.") {
            return false;
        }
        self.line.push_str(",\"");
        let start = self.line.len();
        if is_renamed(name, Origin::Other) {
            self.line.push_str(RENAMED_PREFIX);
        }
        push_escaped(self.line, name);
        if !self.keys.insert(self.line.as_bytes(), start, self.line.len()) {
            // The rare event naming a field twice: `#2`, `#3`, … until the key is new.
            let base = self.line[start..].to_owned();
            for n in 2.. {
                self.line.truncate(start);
                let _ = write!(self.line, "{base}#{n}");
                if self.keys.insert(self.line.as_bytes(), start, self.line.len()) {
                    break;
                }
            }
        }
        self.line.push_str("\":");
        true
    }
}

impl FieldSink for EventSink<'_> {
    #[inline(always)]
    fn key(&mut self, name: &str) -> bool {
        if !self.plain {
            return self.checked_key(name);
        }
        self.line.reserve(name.len() + 4);
        self.line.push_str(",\"");
        let start = self.line.len();
        self.line.push_str(name);
        self.keys.push(start, self.line.len(), UNTAGGED);
        self.line.push_str("\":");
        true
    }

    #[inline]
    fn out(&mut self) -> &mut String {
        self.line
    }

    #[inline]
    fn end(&mut self) {}
}

/// Buffers of span fields kept per thread for reuse ([`FormattedFields::recycle`]): a span's
/// fields then cost no allocation of their own.
const SPARE_BUFFERS: usize = 16;

/// The largest buffer kept for reuse: a span with more fields than that allocates its own.
const MAX_SPARE_CAPACITY: usize = 1024;

thread_local! {
    /// This thread's spare span-field buffers, emptied, at most [`SPARE_BUFFERS`].
    static SPARE_JSON: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Fields formatted once, when they are recorded: a span's (kept in its extensions), or the
/// request fields. `json` is `,"key":value,"key":value`, ready to be appended to a line.
#[derive(Clone, Debug)]
pub(crate) struct FormattedFields {
    json: String,
    keys: Keys<6>,
}

impl FormattedFields {
    pub(crate) const fn new() -> Self {
        Self {
            json: String::new(),
            keys: Keys::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.json.clear();
        self.keys.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.len() == 0
    }

    /// Where a value is written, between [`key_end`](Self::key_end) and [`finish`](Self::finish).
    pub(crate) fn json_mut(&mut self) -> &mut String {
        &mut self.json
    }

    #[cfg(test)]
    pub(crate) fn json(&self) -> &str {
        &self.json
    }

    /// The fields, to keep in a span's extensions, taken out of this scratch buffer: their text
    /// is not copied, the buffer itself goes, and the scratch gets a buffer a closed span of this
    /// thread gave back ([`recycle`](Self::recycle)), or a new one of the same capacity (one
    /// allocation, as a copy would cost). A scratch grown past what a spare may hold keeps its
    /// buffer and gives a copy instead.
    pub(crate) fn take_kept(&mut self) -> Self {
        if self.json.capacity() > MAX_SPARE_CAPACITY {
            return Self {
                json: self.json.clone(),
                keys: self.keys.clone(),
            };
        }
        let spare = SPARE_JSON
            .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| String::with_capacity(self.json.capacity()));
        Self {
            json: std::mem::replace(&mut self.json, spare),
            keys: self.keys.clone(),
        }
    }

    /// Gives the text's buffer to this thread's spares, for the next [`take_kept`](Self::take_kept)
    /// (at most [`SPARE_BUFFERS`] of them, each of at most [`MAX_SPARE_CAPACITY`] bytes);
    /// leaves the fields empty.
    pub(crate) fn recycle(&mut self) {
        let mut json = std::mem::take(&mut self.json);
        self.keys.clear();
        if json.capacity() == 0 || json.capacity() > MAX_SPARE_CAPACITY {
            return;
        }
        json.clear();
        let _ = SPARE_JSON.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.len() < SPARE_BUFFERS {
                    spare.push(json);
                }
            }
        });
    }

    /// The range of entry `index` (`,"key":value`) in `json`.
    fn entry(&self, index: usize) -> (usize, usize) {
        let start = self.keys.range(index).0 - 2;
        let end = if index + 1 < self.keys.len() {
            self.keys.range(index + 1).0 - 2
        } else {
            self.json.len()
        };
        (start, end)
    }

    /// Starts an entry for a field named `name`; returns where its key starts.
    pub(crate) fn begin(&mut self, name: &str, origin: Origin) -> usize {
        let name = field_name(name);
        self.json.push_str(",\"");
        let start = self.json.len();
        if is_renamed(name, origin) {
            self.json.push_str(RENAMED_PREFIX);
        }
        push_escaped(&mut self.json, name);
        start
    }

    /// Ends the key begun at `start` (`":` is written); the value follows.
    pub(crate) fn key_end(&mut self, start: usize) -> (usize, usize) {
        let end = self.json.len();
        self.json.push_str("\":");
        (start, end)
    }

    /// Ends the entry whose key is at `key`: an earlier entry with the same key is removed (the
    /// field was recorded again).
    pub(crate) fn finish(&mut self, (mut start, mut end): (usize, usize)) {
        let tag = key_tag(&self.json.as_bytes()[start..end]);
        if self.keys.filter & bit(tag) != 0 {
            if let Some(index) = self
                .keys
                .find(self.json.as_bytes(), &self.json.as_bytes()[start..end], tag)
            {
                // The pending entry, not yet among the keys, starts where the last one ends.
                let (old_start, old_end) = match self.entry(index) {
                    (old_start, _) if index + 1 == self.keys.len() => (old_start, start - 2),
                    range => range,
                };
                let removed = old_end - old_start;
                self.json.replace_range(old_start..old_end, "");
                self.keys.remove(index);
                self.keys.shift_after(index, removed);
                self.keys.refilter();
                start -= removed;
                end -= removed;
            }
        }
        self.keys.filter |= bit(tag);
        self.keys.push(start, end, tag);
    }

    /// Ends the entry whose key is at `key`, a key these fields do not have.
    #[inline]
    fn push_new(&mut self, (start, end): (usize, usize)) {
        let tag = key_tag(&self.json.as_bytes()[start..end]);
        self.keys.filter |= bit(tag);
        self.keys.push(start, end, tag);
    }

    /// Every entry of `newer`, replacing the entries with the same keys.
    pub(crate) fn merge(&mut self, newer: &FormattedFields) {
        for index in 0..newer.keys.len() {
            let (entry_start, entry_end) = newer.entry(index);
            let (key_start, key_end) = newer.keys.range(index);
            let offset = self.json.len();
            self.json.push_str(&newer.json[entry_start..entry_end]);
            self.finish((offset + key_start - entry_start, offset + key_end - entry_start));
        }
    }

    /// Appends the entries whose keys `line` does not have yet, and notes their keys.
    pub(crate) fn append_to(&self, line: &mut String, keys: &mut LineKeys) {
        if self.keys.filter & keys.filter == 0 {
            // No key in common (the usual case): one copy.
            let offset = line.len();
            line.push_str(&self.json);
            for index in 0..self.keys.len() {
                let key = self.keys.key(index);
                keys.push(offset + key.start as usize, offset + key.end as usize, key.tag);
            }
            keys.filter |= self.keys.filter;
            return;
        }
        for index in 0..self.keys.len() {
            let key = self.keys.key(index);
            let (start, end) = (key.start as usize, key.end as usize);
            if keys
                .find(line.as_bytes(), &self.json.as_bytes()[start..end], key.tag)
                .is_some()
            {
                continue;
            }
            let (entry_start, entry_end) = self.entry(index);
            let base = line.len();
            line.push_str(&self.json[entry_start..entry_end]);
            keys.filter |= bit(key.tag);
            keys.push(base + start - entry_start, base + end - entry_start, key.tag);
        }
    }
}

/// A span's fields, visited into [`FormattedFields`].
pub(crate) struct SpanSink<'a> {
    pub(crate) fields: &'a mut FormattedFields,
    pub(crate) origin: Origin,
    pub(crate) key: (usize, usize),
    /// The callsite's keys are plain ([`CallsiteKeys::plain`]) and `fields` starts empty: each
    /// key is written as it is, and is new.
    pub(crate) plain: bool,
}

impl FieldSink for SpanSink<'_> {
    #[inline(always)]
    fn key(&mut self, name: &str) -> bool {
        if !self.plain {
            let start = self.fields.begin(name, self.origin);
            self.key = self.fields.key_end(start);
            return true;
        }
        let json = &mut self.fields.json;
        json.reserve(name.len() + 4);
        json.push_str(",\"");
        let start = json.len();
        json.push_str(name);
        self.key = (start, json.len());
        json.push_str("\":");
        true
    }

    #[inline]
    fn out(&mut self) -> &mut String {
        &mut self.fields.json
    }

    #[inline(always)]
    fn end(&mut self) {
        if self.plain {
            self.fields.push_new(self.key);
        } else {
            self.fields.finish(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FormattedFields, LineKeys, Origin};

    fn entry(fields: &mut FormattedFields, name: &str, value: &str, origin: Origin) {
        let start = fields.begin(name, origin);
        let key = fields.key_end(start);
        fields.json.push_str(value);
        fields.finish(key);
    }

    #[test]
    fn a_field_recorded_again_replaces_its_value() {
        let mut fields = FormattedFields::new();
        entry(&mut fields, "a", "1", Origin::Other);
        entry(&mut fields, "b", "2", Origin::Other);
        entry(&mut fields, "a", "3", Origin::Other);
        entry(&mut fields, "request_id", "\"x\"", Origin::Other);
        assert_eq!(fields.json(), r#","b":2,"a":3,"fields.request_id":"x""#);
        let mut newer = FormattedFields::new();
        entry(&mut newer, "b", "4", Origin::Other);
        entry(&mut newer, "request_id", "\"r\"", Origin::RequestSpan);
        fields.merge(&newer);
        assert_eq!(
            fields.json(),
            r#","a":3,"fields.request_id":"x","b":4,"request_id":"r""#
        );
        // The last entry, recorded again.
        entry(&mut fields, "request_id", "\"s\"", Origin::RequestSpan);
        assert_eq!(
            fields.json(),
            r#","a":3,"fields.request_id":"x","b":4,"request_id":"s""#
        );
    }

    #[test]
    fn a_line_takes_only_the_keys_it_does_not_have() {
        let mut inner = FormattedFields::new();
        entry(&mut inner, "tenant", "1", Origin::Other);
        entry(&mut inner, "x", "2", Origin::Other);
        let mut outer = FormattedFields::new();
        for (name, value) in [("tenant", "9"), ("y", "3"), ("x", "8"), ("z", "4")] {
            entry(&mut outer, name, value, Origin::Other);
        }
        let mut line = String::from("{\"level\":1");
        let mut keys = LineKeys::new();
        inner.append_to(&mut line, &mut keys);
        outer.append_to(&mut line, &mut keys);
        inner.append_to(&mut line, &mut keys);
        line.push('}');
        assert_eq!(line, r#"{"level":1,"tenant":1,"x":2,"y":3,"z":4}"#);
    }

    #[test]
    fn many_keys_spill_and_still_dedupe() {
        let mut fields = FormattedFields::new();
        for round in 0..2 {
            for i in 0..40 {
                entry(
                    &mut fields,
                    &format!("k{i}"),
                    &format!("{}", i + round * 100),
                    Origin::Other,
                );
            }
        }
        let value: serde_json::Value = serde_json::from_str(&format!("{{{}}}", &fields.json()[1..])).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 40);
        assert_eq!(value["k39"], 139);
    }
}
