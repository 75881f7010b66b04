//! Numbers as JSON numbers, without the float formatter on the common path.

use std::fmt::Write as _;

/// `00`, `01`, … `99`: two digits with one `push_str` of a slice of a constant.
const PAIRS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839\
                     40414243444546474849505152535455565758596061626364656667686970717273747576777879\
                     8081828384858687888990919293949596979899";

/// `value % 100` as two digits.
#[inline]
pub(crate) fn push_two_digits(line: &mut String, value: u32) {
    let at = (value % 100) as usize * 2;
    line.push_str(&PAIRS[at..at + 2]);
}

/// An unsigned integer as a JSON number.
pub(crate) fn push_u64(line: &mut String, mut value: u64) {
    // Small numbers (status codes, counts) without the digit buffer.
    if value < 10 {
        line.push(char::from(b'0' + value as u8));
        return;
    }
    if value < 100 {
        push_two_digits(line, value as u32);
        return;
    }
    if value < 1000 {
        line.push(char::from(b'0' + (value / 100) as u8));
        push_two_digits(line, (value % 100) as u32);
        return;
    }
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
pub(crate) fn push_f64(line: &mut String, value: f64) {
    // Fast path for values with at most three decimals, such as the access log's `duration_ms`
    // (whole microseconds): integer arithmetic instead of the float formatter (~900 instructions
    // per line, measured). `value == thousandths / 1000.0` with a correctly rounded division
    // means the decimal `thousandths / 1000` reads back as exactly `value`.
    if value.is_finite() && value.abs() < 1e12 {
        // `(value * 1000.0).round()` without the `round` call: below 1e15 the product's integer
        // part is exact in an `i64`, and its fraction (the difference) exact in an `f64`.
        let scaled = value * 1000.0;
        let truncated = scaled as i64;
        let fraction = scaled - truncated as f64;
        let thousandths = if fraction >= 0.5 {
            truncated + 1
        } else if fraction <= -0.5 {
            truncated - 1
        } else {
            truncated
        };
        if thousandths as f64 / 1000.0 == value {
            if value.is_sign_negative() {
                line.push('-'); // `-0.0` too: it reads back as itself
            }
            let thousandths = thousandths.unsigned_abs();
            push_u64(line, thousandths / 1000);
            line.push('.');
            // Trailing zeros dropped, one kept: `.5`, `.25`, `.125`, `.0`.
            let fraction = (thousandths % 1000) as u32;
            if !fraction.is_multiple_of(10) {
                line.push(char::from(b'0' + (fraction / 100) as u8));
                push_two_digits(line, fraction % 100);
            } else if !fraction.is_multiple_of(100) {
                push_two_digits(line, fraction / 10);
            } else {
                line.push(char::from(b'0' + (fraction / 100) as u8));
            }
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

/// A signed integer as a JSON number.
pub(crate) fn push_i64(line: &mut String, value: i64) {
    if value < 0 {
        line.push('-');
    }
    push_u64(line, value.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::{push_f64, push_i64};

    #[test]
    fn unsigned_integers_at_every_width() {
        let mut value = 1u64;
        for _ in 0..20 {
            for candidate in [value - 1, value, value.saturating_add(1), value.saturating_mul(9)] {
                let mut line = String::new();
                super::push_u64(&mut line, candidate);
                assert_eq!(line, candidate.to_string());
            }
            value = value.saturating_mul(10);
        }
        let mut line = String::new();
        super::push_u64(&mut line, u64::MAX);
        assert_eq!(line, u64::MAX.to_string());
        for pair in 0..100 {
            let mut line = String::new();
            super::push_two_digits(&mut line, pair);
            assert_eq!(line, format!("{pair:02}"));
        }
    }

    #[test]
    fn integers_at_the_edges() {
        for (value, text) in [
            (0, "0"),
            (-7, "-7"),
            (i64::MIN, "-9223372036854775808"),
            (i64::MAX, "9223372036854775807"),
        ] {
            let mut line = String::new();
            push_i64(&mut line, value);
            assert_eq!(line, text);
        }
    }

    /// The form of `push_f64` with `f64::round`, for comparison.
    fn with_round(value: f64) -> Option<String> {
        let thousandths = (value * 1000.0).round();
        (value.is_finite() && value.abs() < 1e12 && thousandths / 1000.0 == value).then(|| {
            let sign = if value.is_sign_negative() { "-" } else { "" };
            let thousandths = (thousandths as i64).unsigned_abs();
            let fraction = format!("{:03}", thousandths % 1000);
            let fraction = fraction.trim_end_matches('0');
            let fraction = if fraction.is_empty() { "0" } else { fraction };
            format!("{sign}{}.{fraction}", thousandths / 1000)
        })
    }

    #[test]
    fn thousandths_are_written_as_with_round() {
        for value in [
            0.0,
            -0.0,
            0.5,
            0.0005,
            -0.0005,
            0.0015,
            2.5,
            999_999_999_999.999,
            0.134,
            -7.25,
        ] {
            let mut text = String::new();
            push_f64(&mut text, value);
            if let Some(expected) = with_round(value) {
                assert_eq!(text, expected, "{value:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn thousandths_match_round(micros in any::<i64>(), scale in 0u32..4) {
            let value = (micros % 2_000_000_000_000_000) as f64 / 10f64.powi(scale as i32 + 1);
            let mut text = String::new();
            push_f64(&mut text, value);
            if let Some(expected) = with_round(value) {
                prop_assert_eq!(text, expected);
            }
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
}
