//! The command line shared by the bench binaries: `--variant V [--no-sentry]` plus options of
//! their own, each `--name value`.

use std::{process::ExitCode, str::FromStr};

use crate::Variant;

/// Parsed arguments; options are read with [`Args::option`].
#[derive(Debug)]
pub struct Args {
    /// `--variant`.
    pub variant: Variant,
    /// `false` with `--no-sentry`.
    pub sentry: bool,
    options: Vec<(String, String)>,
}

impl Args {
    /// Parses the process's arguments; `options` are the `--name` options the binary accepts
    /// besides `--variant`. On a mistake, prints it with `usage` and returns the exit code.
    pub fn parse(program: &str, usage: &str, options: &[&str]) -> Result<Self, ExitCode> {
        let fail = |problem: String| {
            eprintln!("{program}: {problem}");
            eprintln!("usage: {usage}");
            ExitCode::from(2)
        };
        let mut variant = None;
        let mut sentry = true;
        let mut values = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--no-sentry" {
                sentry = false;
                continue;
            }
            let Some(value) = args.next() else {
                return Err(fail(format!("`{arg}` needs a value")));
            };
            if arg == "--variant" {
                variant = Some(value.parse().map_err(fail)?);
            } else if options.contains(&arg.as_str()) {
                values.push((arg, value));
            } else {
                return Err(fail(format!("unexpected argument `{arg}`")));
            }
        }
        let variant = variant.ok_or_else(|| fail("--variant is required".to_owned()))?;
        Ok(Self {
            variant,
            sentry,
            options: values,
        })
    }

    /// The value of option `name` (the last one given), or `default`.
    pub fn option<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.options.iter().rev().find(|(option, _)| option == name) {
            Some((_, value)) => value
                .parse()
                .map_err(|error| format!("{name} `{value}`: {error}")),
            None => Ok(default),
        }
    }
}
