//! Replacing byte ranges of borrowed text, shared by the lazy adaptors: write
//! straight to a formatter, or build a `Cow` that stays borrowed when there
//! is nothing to replace.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Replace `range` of the input with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) range: Range<usize>,
    pub(crate) replacement: &'static str,
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
    let mut edited: Option<String> = None;
    let mut written = 0;
    for edit in edits {
        let out = edited.get_or_insert_with(|| String::with_capacity(input.len() + 16));
        out.push_str(&input[written..edit.range.start]);
        out.push_str(edit.replacement);
        written = edit.range.end;
    }
    match edited {
        None => Cow::Borrowed(input),
        Some(mut out) => {
            out.push_str(&input[written..]);
            Cow::Owned(out)
        }
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

    fn edit(range: Range<usize>, replacement: &'static str) -> Edit {
        Edit { range, replacement }
    }

    #[test]
    fn no_edits_borrows() {
        assert!(matches!(edited_cow("abc", []), Cow::Borrowed("abc")));
        assert_eq!(Edited("abc", vec![]).to_string(), "abc");
    }

    #[test]
    fn edits_are_applied_in_both_forms() {
        let edits = vec![edit(0..1, "X"), edit(2..2, "-"), edit(3..5, "")];
        assert_eq!(edited_cow("abcde", edits.clone()), "Xb-c");
        assert_eq!(Edited("abcde", edits).to_string(), "Xb-c");
    }
}
