//! Escaping for the inside of a JSON string: nothing a value holds can end its string, its
//! object or its line.

use std::fmt;

/// How `push_escaped` treats each byte: 0 as it is, `b'u'` as `\u00XX`, `b'c'` (the lead byte
/// of U+0080..=U+00BF) and `b'e'` (the lead byte of U+2000..=U+2FFF) by looking at the next
/// bytes, any other as `\` and that byte.
static ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x7F] = b'u';
    table[0xC2] = b'c';
    table[0xE2] = b'e';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `value` escaped for the inside of a JSON string (the quotes are not written): `"`,
/// `\`, `\n`, `\r`, `\t` with a backslash, the other C0 controls, DEL and the C1 controls
/// (U+0080..=U+009F, which some terminals obey) as `\u00XX`, and the characters that make a
/// log viewer show what is not there — U+2028 and U+2029 (line and paragraph separators, which
/// JavaScript and some viewers break lines at) and the bidirectional controls U+202A..=U+202E
/// and U+2066..=U+2069 (a right-to-left override shows `txt.exe` for `exe.txt`) — as `\u20XX`.
#[inline]
pub(crate) fn push_escaped(line: &mut String, value: &str) {
    // Most values (ids, methods, routes, messages) have nothing to escape: one scan, one copy,
    // no call to the loop below.
    let first = next_marked(value.as_bytes(), 0);
    if first == value.len() {
        line.push_str(value);
    } else {
        push_escaped_from(line, value, first);
    }
}

/// [`push_escaped`] of a `value` whose first byte to look at is at `first` (marked, or the end).
#[inline(never)]
fn push_escaped_from(line: &mut String, value: &str, first: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut i = first;
    line.reserve(value.len() + 8);
    while let Some(&byte) = bytes.get(i) {
        let mut escape = ESCAPES[usize::from(byte)];
        // The escaped character: one byte, two for a C1 control, three for U+20XX.
        let (code, width) = match escape {
            b'c' => match bytes.get(i + 1) {
                Some(&next @ 0x80..=0x9F) => {
                    escape = b'u';
                    (u16::from(next), 2)
                }
                _ => {
                    i = next_marked(bytes, i + 1);
                    continue;
                }
            },
            b'e' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&0x80), Some(&last @ 0xA8..=0xAE)) | (Some(&0x81), Some(&last @ 0xA6..=0xA9)) => {
                    escape = b'u';
                    let middle = u16::from(bytes[i + 1] & 0x3F);
                    (0x2000 | (middle << 6) | u16::from(last & 0x3F), 3)
                }
                _ => {
                    i = next_marked(bytes, i + 1);
                    continue;
                }
            },
            _ => (u16::from(byte), 1),
        };
        // `i` starts a character and `i + width` ends it, so both are char boundaries.
        line.push_str(&value[start..i]);
        line.push('\\');
        if escape == b'u' {
            line.push('u');
            for shift in [12, 8, 4, 0] {
                line.push(char::from(HEX[usize::from((code >> shift) & 0xF)]));
            }
        } else {
            line.push(char::from(escape));
        }
        i += width;
        start = i;
        i = next_marked(bytes, i);
    }
    line.push_str(&value[start..]);
}

/// Whether `value` is written as it is (nothing to escape).
pub(crate) fn is_plain(value: &str) -> bool {
    next_marked(value.as_bytes(), 0) == value.len()
}

/// The index of the first byte at or after `i` that [`ESCAPES`] marks, or `bytes.len()`.
///
/// Eight bytes at a time, [`candidates`] in each word, each checked against [`ESCAPES`] (only
/// bytes above 0x7E can be candidates that are not marked). The last bytes (fewer than eight)
/// are read as one word too, overlapping bytes already found plain (or, below eight bytes in
/// all, as two overlapping halves).
#[inline(always)]
fn next_marked(bytes: &[u8], mut i: usize) -> usize {
    let len = bytes.len();
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: `sse2::next_marked` only needs SSE2, which this build enables (the `cfg`).
        match unsafe { sse2::next_marked(bytes, i) } {
            Ok(at) => return at,
            Err(next) => i = next,
        }
    }
    while let Some(chunk) = bytes.get(i..i + 8) {
        let found = candidates(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        if found != 0 {
            if let Some(at) = first_marked(bytes, found, |k| i + k) {
                return at;
            }
        }
        i += 8;
    }
    if i >= len {
        return len;
    }
    let rest = len - i; // 1 to 7 bytes
    if len >= 8 {
        // The last eight bytes, shifted so that the first is `bytes[i]`: the bytes before it
        // drop out, zeros (candidates past the end) come in above.
        let word = u64::from_le_bytes(bytes[len - 8..].try_into().unwrap_or([0; 8]));
        let found = candidates(word >> (8 * (8 - rest)));
        return first_marked(bytes, found, |k| i + k).unwrap_or(len);
    }
    if rest >= 4 {
        // Fewer than eight bytes from `i`: `bytes[i..i + 4]` and the last four, overlapping.
        let low = u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap_or([0; 4]));
        let high = u32::from_le_bytes(bytes[len - 4..].try_into().unwrap_or([0; 4]));
        let found = candidates(u64::from(low) | u64::from(high) << 32);
        if found == 0 {
            return len;
        }
        return first_marked(bytes, found, |k| if k < 4 { i + k } else { len + k - 8 }).unwrap_or(len);
    }
    while i < len && ESCAPES[usize::from(bytes[i])] == 0 {
        i += 1;
    }
    i
}

/// The high bit of each byte of `word` that may be marked in [`ESCAPES`]: every byte below
/// 0x20, `"` and `\` (exact up to the lowest one: a borrow flags only bytes above a true one),
/// and every byte above 0x7E (exact; DEL and the lead bytes `push_escaped` looks at among them).
#[inline(always)]
fn candidates(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    (word.wrapping_sub(ONES * 0x20) & !word & HIGHS) // below 0x20
        | zero_byte(word ^ (ONES * u64::from(b'"')))
        | zero_byte(word ^ (ONES * u64::from(b'\\')))
        // 0x7F and above: the low seven bits plus one reach the high bit, or it is set.
        | (((word & !HIGHS) + ONES) | word) & HIGHS
}

/// The index (`at(k)` for byte `k` of the word) of the first of `found`'s candidates that
/// [`ESCAPES`] marks, or the end of `bytes` when a candidate lies past it; `None` if none is.
/// The candidates passed over are bytes above 0x7E that are not marked (exact, so no false
/// candidate hides below a true one).
#[inline(always)]
fn first_marked(bytes: &[u8], mut found: u64, at: impl Fn(usize) -> usize) -> Option<usize> {
    while found != 0 {
        let index = at((found.trailing_zeros() / 8) as usize);
        match bytes.get(index) {
            None => return Some(bytes.len()),
            Some(&byte) if ESCAPES[usize::from(byte)] != 0 => return Some(index),
            Some(_) => found &= found - 1,
        }
    }
    None
}

/// Sixteen bytes at a time, with SSE2 (every x86-64 has it; the bytes are read as two
/// integers, no pointer is involved).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };

    use super::ESCAPES;

    /// `Ok` with the index of the first byte at or after `i` that [`ESCAPES`] marks, or `Err`
    /// with where fewer than 16 bytes are left, none marked before it.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn next_marked(bytes: &[u8], mut i: usize) -> Result<usize, usize> {
        while let Some(chunk) = bytes.get(i..i + 16) {
            if let Some(at) = first_marked(bytes, i, chunk) {
                return Ok(at);
            }
            i += 16;
        }
        Err(i)
    }

    /// The index of the first byte of `chunk` (16 bytes, from `bytes[i]`) that [`ESCAPES`]
    /// marks, if any.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn first_marked(bytes: &[u8], i: usize, chunk: &[u8]) -> Option<usize> {
        let (low, high) = chunk.split_at(8);
        let low = i64::from_le_bytes(low.try_into().unwrap_or([0; 8]));
        let high = i64::from_le_bytes(high.try_into().unwrap_or([0; 8]));
        let word = _mm_set_epi64x(high, low);
        // Signed: below 0x20 is 0x00..=0x1F and 0x80..=0xFF, the bytes above 0x7F being only
        // candidates (checked against the table); `"`, `\` and DEL exactly.
        let found = _mm_or_si128(
            _mm_or_si128(
                _mm_cmplt_epi8(word, _mm_set1_epi8(0x20)),
                _mm_cmpeq_epi8(word, _mm_set1_epi8(0x7F)),
            ),
            _mm_or_si128(
                _mm_cmpeq_epi8(word, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(word, _mm_set1_epi8(b'\\' as i8)),
            ),
        );
        let mut found = _mm_movemask_epi8(found) as u32;
        while found != 0 {
            let at = i + found.trailing_zeros() as usize;
            if ESCAPES[usize::from(bytes[at])] != 0 {
                return Some(at);
            }
            found &= found - 1;
        }
        None
    }
}

/// A `fmt::Write` that escapes what it is given into a line.
pub(crate) struct Escaping<'a>(pub(crate) &'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::push_escaped;

    fn quoted(value: &str) -> String {
        let mut line = String::from("\"");
        push_escaped(&mut line, value);
        line.push('"');
        line
    }

    /// Line and paragraph separators and the bidirectional controls.
    fn is_viewer_control(c: char) -> bool {
        matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }

    fn assert_round_trips(value: &str) {
        let quoted = quoted(value);
        assert!(
            quoted.chars().all(|c| !c.is_control() && !is_viewer_control(c)),
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
        assert_eq!(
            quoted("a\u{2028}b\u{2029}c\u{202a}\u{202e}d\u{2066}\u{2069}e"),
            r#""a\u2028b\u2029c\u202a\u202ed\u2066\u2069e""#
        );
        // Their neighbours, and other characters with the same lead byte, are kept.
        for c in [
            '\u{2027}', '\u{202f}', '\u{2065}', '\u{206a}', '—', '’', '€', '\u{2fff}',
        ] {
            assert_eq!(quoted(&c.to_string()), format!("\"{c}\""), "{c:?}");
        }
        // Every escaped character at every offset of the word-at-a-time scan.
        for special in [
            '"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}', '£', 'é', '😀', '\u{2028}',
            '\u{202e}', '\u{2069}', '—',
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

    #[test]
    fn short_strings_are_escaped_at_every_offset() {
        // The tail of the scan (the last eight bytes, the halves below eight), after an escape
        // and after a space (which a borrow from a control below could flag).
        for special in ['"', '\\', '\n', '\u{0}', '\u{7f}', '\u{9b}', 'é', '\u{2028}', '—'] {
            for len in 1..=17 {
                for at in 0..len {
                    for second in [None, Some(at + 1), Some(len - 1)] {
                        let mut text: Vec<char> = vec![' '; len];
                        text[at] = special;
                        if let Some(second) = second.filter(|&second| second < len) {
                            text[second] = '\u{1}';
                        }
                        assert_round_trips(&text.iter().collect::<String>());
                    }
                }
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
                    proptest::char::range('\u{2020}', '\u{2070}'),
                ],
                0..80,
            )
        ) {
            assert_round_trips(&chars.into_iter().collect::<String>());
        }
    }
}
