//! The one place that reads the Sentry client's settings from environment variables:
//! [`ClientSettings::from_env`] and [`ClientSettings::from_vars`].

use std::{str::FromStr, time::Duration};

use crate::{ClientSettings, DEFAULT_SAMPLE_RATE, DEFAULT_SENTRY_FLUSH_TIMEOUT, DEFAULT_TRACES_SAMPLE_RATE};

impl ClientSettings {
    /// Reads the settings from the process's environment; see [`from_vars`](Self::from_vars).
    pub fn from_env(problems: &mut Vec<String>) -> Option<Self> {
        Self::from_vars(|name| std::env::var(name).ok(), problems)
    }

    /// Reads the settings from the variables `lookup` gives (unset, blank and whitespace mean
    /// the same: unset):
    ///
    /// | variable | setting | default |
    /// | --- | --- | --- |
    /// | `SENTRY_DSN` | the DSN; unset: no Sentry at all (`None`) | unset |
    /// | `SENTRY_ENVIRONMENT`, `SENTRY_RELEASE` | [`environment`](Self::environment), [`release`](Self::release) | unset |
    /// | `SENTRY_SAMPLE_RATE` | [`sample_rate`](Self::sample_rate), 0 to 1 | `1.0` |
    /// | `SENTRY_TRACES_SAMPLE_RATE` | [`traces_sample_rate`](Self::traces_sample_rate), 0 to 1 | `0.1` |
    /// | `SENTRY_SEND_DEFAULT_PII` | [`send_default_pii`](Self::send_default_pii) | `false` |
    /// | `BELFRY_SENTRY_FLUSH_TIMEOUT_MS` | [`flush_timeout`](Self::flush_timeout) | `2000` |
    /// | `BELFRY_PANIC_STACKTRACES` | [`panic_stack_traces`](Self::panic_stack_traces) | `false` |
    /// | `BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE` | [`max_events_per_minute`](Self::max_events_per_minute) | `100` |
    /// | `BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE` | [`max_events_per_fingerprint_per_minute`](Self::max_events_per_fingerprint_per_minute) | `10` |
    ///
    /// Unreadable values are described in `problems` and replaced by their defaults; an
    /// unreadable DSN turns Sentry off.
    ///
    /// ```
    /// use belfry_sentry::ClientSettings;
    ///
    /// let vars = |name: &str| match name {
    ///     "SENTRY_DSN" => Some("https://public@sentry.example.com/1".to_owned()),
    ///     "SENTRY_ENVIRONMENT" => Some("staging".to_owned()),
    ///     "SENTRY_SAMPLE_RATE" => Some("lots".to_owned()),
    ///     "SENTRY_RELEASE" => Some("  ".to_owned()), // blank: unset
    ///     _ => None,
    /// };
    /// let mut problems = Vec::new();
    /// let settings = ClientSettings::from_vars(vars, &mut problems).expect("a DSN");
    /// assert_eq!(settings.options().environment.as_deref(), Some("staging"));
    /// assert!(settings.options().release.is_none());
    /// assert_eq!(problems, ["SENTRY_SAMPLE_RATE=`lots` is not valid: expected a number from 0 to 1; using 1"]);
    ///
    /// assert!(ClientSettings::from_vars(|_| None, &mut problems).is_none(), "no DSN, no Sentry");
    /// ```
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Option<Self> {
        let var = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let dsn = var("SENTRY_DSN")?;
        let dsn = match dsn.parse::<sentry::types::Dsn>() {
            Ok(dsn) => dsn,
            Err(error) => {
                problems.push(format!("SENTRY_DSN is not a valid DSN ({error}); Sentry is off"));
                return None;
            }
        };
        let mut read = Reader { var, problems };
        let mut settings = ClientSettings::new(dsn)
            .sample_rate(read.rate("SENTRY_SAMPLE_RATE", DEFAULT_SAMPLE_RATE))
            .traces_sample_rate(read.rate("SENTRY_TRACES_SAMPLE_RATE", DEFAULT_TRACES_SAMPLE_RATE))
            .send_default_pii(read.flag("SENTRY_SEND_DEFAULT_PII"))
            .panic_stack_traces(read.flag("BELFRY_PANIC_STACKTRACES"))
            .flush_timeout(Duration::from_millis(read.number(
                "BELFRY_SENTRY_FLUSH_TIMEOUT_MS",
                "a whole number of milliseconds",
                DEFAULT_SENTRY_FLUSH_TIMEOUT.as_millis() as u64,
            )))
            .max_events_per_minute(read.number(
                "BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE",
                "a whole number of events (0: no cap)",
                crate::budget::DEFAULT_MAX_EVENTS_PER_MINUTE,
            ))
            .max_events_per_fingerprint_per_minute(read.number(
                "BELFRY_SENTRY_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE",
                "a whole number of events (0: no cap)",
                crate::budget::DEFAULT_MAX_EVENTS_PER_FINGERPRINT_PER_MINUTE,
            ));
        if let Some(environment) = (read.var)("SENTRY_ENVIRONMENT") {
            settings = settings.environment(environment);
        }
        if let Some(release) = (read.var)("SENTRY_RELEASE") {
            settings = settings.release(release);
        }
        Some(settings)
    }
}

/// Reads typed values, describing unreadable ones in `problems`.
struct Reader<'a, V> {
    var: V,
    problems: &'a mut Vec<String>,
}

impl<V: Fn(&str) -> Option<String>> Reader<'_, V> {
    fn invalid(&mut self, name: &str, value: &str, expected: &str, default: impl std::fmt::Display) {
        self.problems.push(format!(
            "{name}=`{value}` is not valid: expected {expected}; using {default}"
        ));
    }

    fn number<T: FromStr + std::fmt::Display>(&mut self, name: &str, expected: &str, default: T) -> T {
        let Some(value) = (self.var)(name) else {
            return default;
        };
        match value.parse() {
            Ok(number) => number,
            Err(_) => {
                self.invalid(name, &value, expected, &default);
                default
            }
        }
    }

    fn rate(&mut self, name: &str, default: f32) -> f32 {
        const EXPECTED: &str = "a number from 0 to 1";
        let Some(value) = (self.var)(name) else {
            return default;
        };
        match value.parse::<f32>() {
            Ok(rate) if (0.0..=1.0).contains(&rate) => rate,
            _ => {
                self.invalid(name, &value, EXPECTED, default);
                default
            }
        }
    }

    fn flag(&mut self, name: &str) -> bool {
        let Some(value) = (self.var)(name) else {
            return false;
        };
        match value.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                self.invalid(name, &value, "true or false", false);
                false
            }
        }
    }
}
