//! [`ConfigError`]: every setting of the environment that could not be read, at once.

use std::fmt;

/// One environment variable whose value is not valid.
///
/// ```
/// let problem = belfry::InvalidVariable::new("BELFRY_SLOW_REQUEST_MS", "abc", "a whole number of milliseconds");
/// assert_eq!(problem.variable(), "BELFRY_SLOW_REQUEST_MS");
/// assert_eq!(
///     problem.to_string(),
///     "BELFRY_SLOW_REQUEST_MS=`abc` is not valid: expected a whole number of milliseconds"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidVariable {
    variable: &'static str,
    /// `None` for a secret (a DSN, exporter headers): never printed.
    value: Option<String>,
    expected: String,
}

impl InvalidVariable {
    /// `variable` holds `value`, which should have been `expected`.
    pub fn new(variable: &'static str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            variable,
            value: Some(value.into()),
            expected: expected.into(),
        }
    }

    /// `variable` holds a secret that is not valid: the message never shows the value.
    ///
    /// ```
    /// let problem = belfry::InvalidVariable::secret("SENTRY_DSN", "a DSN (https://<key>@<host>/<project>)");
    /// assert_eq!(
    ///     problem.to_string(),
    ///     "SENTRY_DSN (value not shown) is not valid: expected a DSN (https://<key>@<host>/<project>)"
    /// );
    /// ```
    pub fn secret(variable: &'static str, expected: impl Into<String>) -> Self {
        Self {
            variable,
            value: None,
            expected: expected.into(),
        }
    }

    /// The environment variable at fault.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// What the variable should hold.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

impl fmt::Display for InvalidVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}=`{}` is not valid", self.variable, value)?,
            None => write!(f, "{} (value not shown) is not valid", self.variable)?,
        }
        write!(f, ": expected {}", self.expected)
    }
}

/// The settings of the environment that could not be read — all of them, so one start-up shows
/// every mistake. Returned by [`Config::from_env`](crate::Config::from_env) (and
/// [`Belfry::from_env`](crate::Belfry::from_env), [`telemetry::init`](crate::telemetry::init)),
/// never empty.
///
/// ```
/// let error = belfry::Config::from_lookup(|name| match name {
///     "BELFRY_SLOW_REQUEST_MS" => Some("1s".into()),
///     "LOG_FORMAT" => Some("xml".into()),
///     _ => None,
/// })
/// .unwrap_err();
/// let variables: Vec<_> = error.problems().iter().map(|problem| problem.variable()).collect();
/// assert_eq!(variables, ["LOG_FORMAT", "BELFRY_SLOW_REQUEST_MS"]);
/// assert!(error.to_string().starts_with("2 settings are not valid:\n  LOG_FORMAT=`xml`"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<InvalidVariable>,
}

impl ConfigError {
    /// An error of one problem: `variable` holds `value`, which should have been `expected`.
    ///
    /// ```
    /// let error = belfry::ConfigError::new("BELFRY_SLOW_REQUEST_MS", "abc", "a whole number of milliseconds");
    /// assert_eq!(
    ///     error.to_string(),
    ///     "BELFRY_SLOW_REQUEST_MS=`abc` is not valid: expected a whole number of milliseconds"
    /// );
    /// ```
    pub fn new(variable: &'static str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            problems: vec![InvalidVariable::new(variable, value, expected)],
        }
    }

    pub(crate) fn from_problems(problems: Vec<InvalidVariable>) -> Option<Self> {
        (!problems.is_empty()).then_some(Self { problems })
    }

    /// Every variable that could not be read, in the order belfry reads them.
    pub fn problems(&self) -> &[InvalidVariable] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => one.fmt(f),
            problems => {
                write!(f, "{} settings are not valid:", problems.len())?;
                for problem in problems {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

/// The message, as [`Display`](fmt::Display) writes it: what `main` returning this error prints.
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}
