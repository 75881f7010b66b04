//! Replacing byte ranges of borrowed text, shared by the lazy adaptors: write straight to a
//! formatter, or build a `Cow` that stays borrowed when there is nothing to replace.
//!
//! Two shapes: an iterator of [`Edit`]s ([`write_edited`], [`edited_cow`]), and an
//! [`EditSink`] that scanners push edits into as they find them ([`write_scrubbed`],
//! [`scrubbed_cow`]), which lets a scanner recurse into decoded text ([`MappedSink`]).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Replace `range` of the input with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) range: Range<usize>,
    pub(crate) replacement: &'static str,
}

/// Receives the edits of a scan, in increasing, non-overlapping order.
pub(crate) trait EditSink {
    /// Replace `range` of the scanned text with `replacement`.
    fn edit(&mut self, range: Range<usize>, replacement: &'static str);
}

/// Writes `input` with `edits` (in increasing, non-overlapping order)
/// applied. Without edits this is a single `write_str`.
pub(crate) fn write_edited(
    f: &mut fmt::Formatter<'_>,
    input: &str,
    edits: impl IntoIterator<Item = Edit>,
) -> fmt::Result {
    let mut written = 0;
    for edit in edits {
        f.write_str(&input[written..edit.range.start])?;
        f.write_str(edit.replacement)?;
        written = edit.range.end;
    }
    f.write_str(&input[written..])
}

/// `input` with `edits` (in increasing, non-overlapping order) applied;
/// borrowed when there are none.
pub(crate) fn edited_cow<'a>(input: &'a str, edits: impl IntoIterator<Item = Edit>) -> Cow<'a, str> {
    let mut sink = CowSink::new(input);
    for edit in edits {
        sink.edit(edit.range, edit.replacement);
    }
    sink.finish()
}

/// Writes `input` with the edits `scan` pushes applied. Without edits this is a single
/// `write_str`.
pub(crate) fn write_scrubbed(
    f: &mut fmt::Formatter<'_>,
    input: &str,
    scan: impl FnOnce(&mut dyn EditSink),
) -> fmt::Result {
    let mut sink = FmtSink {
        f,
        input,
        written: 0,
        result: Ok(()),
    };
    scan(&mut sink);
    sink.result?;
    sink.f.write_str(&input[sink.written..])
}

/// `input` with the edits `scan` pushes applied; borrowed when there are none.
pub(crate) fn scrubbed_cow<'a>(input: &'a str, scan: impl FnOnce(&mut dyn EditSink)) -> Cow<'a, str> {
    let mut sink = CowSink::new(input);
    scan(&mut sink);
    sink.finish()
}

struct FmtSink<'f, 'g, 'a> {
    f: &'f mut fmt::Formatter<'g>,
    input: &'a str,
    written: usize,
    result: fmt::Result,
}

impl EditSink for FmtSink<'_, '_, '_> {
    fn edit(&mut self, range: Range<usize>, replacement: &'static str) {
        if self.result.is_ok() {
            self.result = self
                .f
                .write_str(&self.input[self.written..range.start])
                .and_then(|()| self.f.write_str(replacement));
        }
        self.written = range.end;
    }
}

struct CowSink<'a> {
    input: &'a str,
    written: usize,
    out: Option<String>,
}

impl<'a> CowSink<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            written: 0,
            out: None,
        }
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.input),
            Some(mut out) => {
                out.push_str(&self.input[self.written..]);
                Cow::Owned(out)
            }
        }
    }
}

impl EditSink for CowSink<'_> {
    fn edit(&mut self, range: Range<usize>, replacement: &'static str) {
        let input = self.input;
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(input.len() + 16));
        out.push_str(&input[self.written..range.start]);
        out.push_str(replacement);
        self.written = range.end;
    }
}

/// Forwards edits made on decoded text to the sink of the text it was decoded from.
///
/// `starts[i]` is where the byte `i` of the decoded text came from, relative to `offset` in the
/// outer text; `starts` has one more entry, the end.
pub(crate) struct MappedSink<'s> {
    pub(crate) starts: &'s [usize],
    pub(crate) offset: usize,
    pub(crate) outer: &'s mut dyn EditSink,
}

impl EditSink for MappedSink<'_> {
    fn edit(&mut self, range: Range<usize>, replacement: &'static str) {
        let start = self.offset + self.starts[range.start];
        let end = self.offset + self.starts[range.end];
        self.outer.edit(start..end, replacement);
    }
}

/// Shifts the edits of a scan of `text[offset..]` (scanned as its own string) to `text`.
pub(crate) struct ShiftedSink<'s> {
    pub(crate) offset: usize,
    pub(crate) outer: &'s mut dyn EditSink,
}

impl EditSink for ShiftedSink<'_> {
    fn edit(&mut self, range: Range<usize>, replacement: &'static str) {
        self.outer
            .edit(self.offset + range.start..self.offset + range.end, replacement);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Edited(&'static str, Vec<Edit>);

    impl fmt::Display for Edited {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_edited(f, self.0, self.1.iter().cloned())
        }
    }

    struct Scanned(&'static str, Vec<Edit>);

    impl fmt::Display for Scanned {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_scrubbed(f, self.0, |sink| {
                for edit in &self.1 {
                    sink.edit(edit.range.clone(), edit.replacement);
                }
            })
        }
    }

    fn edit(range: Range<usize>, replacement: &'static str) -> Edit {
        Edit { range, replacement }
    }

    #[test]
    fn no_edits_borrows() {
        assert!(matches!(edited_cow("abc", []), Cow::Borrowed("abc")));
        assert!(matches!(scrubbed_cow("abc", |_| {}), Cow::Borrowed("abc")));
        assert_eq!(Edited("abc", vec![]).to_string(), "abc");
    }

    #[test]
    fn edits_are_applied_in_every_form() {
        let edits = vec![edit(0..1, "X"), edit(2..2, "-"), edit(3..5, "")];
        assert_eq!(edited_cow("abcde", edits.clone()), "Xb-c");
        assert_eq!(Edited("abcde", edits.clone()).to_string(), "Xb-c");
        assert_eq!(Scanned("abcde", edits.clone()).to_string(), "Xb-c");
        let cow = scrubbed_cow("abcde", |sink| {
            for edit in edits {
                sink.edit(edit.range, edit.replacement);
            }
        });
        assert_eq!(cow, "Xb-c");
    }

    #[test]
    fn mapped_and_shifted_edits() {
        // "a%41b" decoded is "aAb": byte 1 came from 1..4.
        let starts = [0, 1, 4, 5];
        let cow = scrubbed_cow("x=a%41b", |sink| {
            let mut shifted = ShiftedSink {
                offset: 0,
                outer: sink,
            };
            let mut mapped = MappedSink {
                starts: &starts,
                offset: 2,
                outer: &mut shifted,
            };
            mapped.edit(1..2, "[R]");
        });
        assert_eq!(cow, "x=a[R]b");
    }
}
