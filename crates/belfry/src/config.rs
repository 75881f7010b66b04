//! Reading belfry's settings from environment variables, with errors that name the variable.

use std::{fmt, str::FromStr};

/// A setting in the environment that could not be read.
///
/// ```
/// let error = belfry::ConfigError::new("BELFRY_SLOW_REQUEST_MS", "abc", "a whole number of milliseconds");
/// assert_eq!(
///     error.to_string(),
///     "BELFRY_SLOW_REQUEST_MS=`abc` is not valid: expected a whole number of milliseconds"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    expected: &'static str,
}

impl ConfigError {
    /// An error for `variable` holding `value`, which should have been `expected`.
    pub fn new(variable: &'static str, value: impl Into<String>, expected: &'static str) -> Self {
        Self {
            variable,
            value: value.into(),
            expected,
        }
    }

    /// The environment variable at fault.
    pub fn variable(&self) -> &'static str {
        self.variable
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}=`{}` is not valid: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// Reads `variable`; unset or blank gives `None`.
pub(crate) fn env_var<T: FromStr>(
    variable: &'static str,
    expected: &'static str,
) -> Result<Option<T>, ConfigError> {
    match std::env::var(variable) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::new(variable, value, expected)),
        _ => Ok(None),
    }
}

/// Reads a boolean `variable`: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
pub(crate) fn env_bool(variable: &'static str) -> Result<Option<bool>, ConfigError> {
    match std::env::var(variable) {
        Ok(value) if !value.trim().is_empty() => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(ConfigError::new(variable, value, "true or false")),
        },
        _ => Ok(None),
    }
}
