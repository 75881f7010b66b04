//! [`Reader`]: reads variables through a lookup, one policy for all: blank is unset, an invalid
//! value is a problem (collected, never replaced by a default).

use std::{str::FromStr, time::Duration};

use super::InvalidVariable;

/// Reads variables of one lookup (the environment, or a map in tests), collecting problems.
pub(crate) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) problems: Vec<InvalidVariable>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    /// The trimmed value of `variable`; unset, empty or blank gives `None`.
    pub(crate) fn text(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// Reads `variable` with `parse`, which says what it expected when the value is wrong.
    pub(crate) fn with<T>(
        &mut self,
        variable: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.read(variable, parse, InvalidVariable::new)
    }

    /// Reads a secret `variable` (a DSN, credentials) with `parse`; a problem never shows it.
    pub(crate) fn secret<T>(
        &mut self,
        variable: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.read(variable, parse, |variable, _value, expected| {
            InvalidVariable::secret(variable, expected)
        })
    }

    /// Reads `variable` with `parse`; a wrong value becomes the problem `invalid` makes of the
    /// variable, its value and what was expected.
    fn read<T>(
        &mut self,
        variable: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
        invalid: impl FnOnce(&'static str, String, String) -> InvalidVariable,
    ) -> Option<T> {
        let value = self.text(variable)?;
        match parse(&value) {
            Ok(parsed) => Some(parsed),
            Err(expected) => {
                self.problems.push(invalid(variable, value, expected));
                None
            }
        }
    }

    /// Reads `variable` with [`FromStr`].
    pub(crate) fn parse<T: FromStr>(&mut self, variable: &'static str, expected: &'static str) -> Option<T> {
        self.with(variable, |value| value.parse().map_err(|_| expected.to_owned()))
    }

    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
    pub(crate) fn bool(&mut self, variable: &'static str) -> Option<bool> {
        self.with(variable, |value| match value.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("true or false".to_owned()),
        })
    }

    /// A whole number of milliseconds.
    pub(crate) fn millis(&mut self, variable: &'static str) -> Option<Duration> {
        self.parse::<u64>(variable, "a whole number of milliseconds")
            .map(Duration::from_millis)
    }

    /// A number from 0 to 1.
    pub(crate) fn ratio(&mut self, variable: &'static str) -> Option<f64> {
        self.with(variable, parse_ratio)
    }
}

/// A number from 0 to 1.
pub(crate) fn parse_ratio(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err("a number from 0 to 1".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |_| Some(value.to_owned())
    }

    #[test]
    fn blank_is_unset_for_every_kind() {
        for blank in ["", "  ", "\t"] {
            let lookup = reader(blank);
            let mut read = Reader::new(&lookup);
            assert_eq!(read.bool("V"), None);
            assert_eq!(read.millis("V"), None);
            assert_eq!(read.ratio("V"), None);
            assert_eq!(read.parse::<u32>("V", "a number"), None);
            assert_eq!(read.text("V"), None);
            assert!(read.problems.is_empty(), "{blank:?}: {:?}", read.problems);
        }
    }

    #[test]
    fn ratios_outside_zero_to_one_are_problems() {
        for (value, expected) in [("0.25", Some(0.25)), ("1", Some(1.0)), (" 0 ", Some(0.0))] {
            let lookup = reader(value);
            let mut read = Reader::new(&lookup);
            assert_eq!(read.ratio("V"), expected, "{value}");
            assert!(read.problems.is_empty());
        }
        for value in ["1.5", "-0.1", "half", "NaN"] {
            let lookup = reader(value);
            let mut read = Reader::new(&lookup);
            assert_eq!(read.ratio("V"), None, "{value}");
            assert_eq!(read.problems.len(), 1, "{value}");
            assert_eq!(read.problems[0].variable(), "V");
        }
    }

    #[test]
    fn booleans_and_millis() {
        for (value, expected) in [("TRUE", true), ("0", false), ("Off", false), ("yes", true)] {
            let lookup = reader(value);
            assert_eq!(Reader::new(&lookup).bool("V"), Some(expected), "{value}");
        }
        let lookup = reader("5s");
        let mut read = Reader::new(&lookup);
        assert_eq!(read.millis("V"), None);
        assert_eq!(
            read.problems[0].to_string(),
            "V=`5s` is not valid: expected a whole number of milliseconds"
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let lookup = reader("https://s3cr3t@sentry.example/1 oops");
        let mut read = Reader::new(&lookup);
        let parsed: Option<()> = read.secret("SENTRY_DSN", |_| Err("a DSN".to_owned()));
        assert_eq!(parsed, None);
        assert!(!read.problems[0].to_string().contains("s3cr3t"));
    }
}
