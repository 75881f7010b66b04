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

/// Reads a ratio `variable`: a number from 0 to 1.
pub(crate) fn env_ratio(variable: &'static str) -> Result<Option<f64>, ConfigError> {
    const EXPECTED: &str = "a number from 0 to 1";
    match env_var::<f64>(variable, EXPECTED)? {
        Some(ratio) if !(0.0..=1.0).contains(&ratio) => {
            Err(ConfigError::new(variable, ratio.to_string(), EXPECTED))
        }
        ratio => Ok(ratio),
    }
}

/// The variable that sets the share of new traces sampled, for Sentry transactions and the
/// sampled flag sent downstream alike: one decision per trace.
pub(crate) const TRACES_SAMPLE_RATE: &str = "SENTRY_TRACES_SAMPLE_RATE";

/// The share of new traces sampled when `SENTRY_TRACES_SAMPLE_RATE` is unset: Sentry
/// transactions and the sampled flag sent downstream follow the one decision.
///
/// ```
/// assert_eq!(belfry::DEFAULT_TRACES_SAMPLE_RATE, 0.1);
/// ```
pub const DEFAULT_TRACES_SAMPLE_RATE: f32 = belfry_trace_context::RatioSampler::DEFAULT_RATIO as f32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_outside_zero_to_one_are_errors() {
        // A variable no other test sets.
        const VARIABLE: &str = "BELFRY_TEST_RATIO_ONLY_HERE";
        for (value, expected) in [("0.25", Ok(Some(0.25))), ("", Ok(None)), ("1", Ok(Some(1.0)))] {
            std::env::set_var(VARIABLE, value);
            assert_eq!(env_ratio(VARIABLE), expected, "{value}");
        }
        for value in ["1.5", "-0.1", "half", "NaN"] {
            std::env::set_var(VARIABLE, value);
            let error = env_ratio(VARIABLE).unwrap_err();
            assert_eq!(error.variable(), VARIABLE, "{value}");
        }
        std::env::remove_var(VARIABLE);
    }
}
