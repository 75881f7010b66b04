//! Numbers as JSON numbers, without the float formatter on the common path.

use std::fmt::Write as _;

pub(crate) fn push_u64(line: &mut String, mut value: u64) {
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

    proptest! {
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
