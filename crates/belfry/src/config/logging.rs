//! The logging settings: `LOG_FORMAT`, `RUST_LOG`, `BELFRY_AUDIT_LOG` and `BELFRY_LOG_*`.

use std::{path::PathBuf, time::Duration};

use super::read::Reader;
use crate::telemetry::{LogFormat, Telemetry};

/// What the environment says about logging; `None`: the default.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoggingConfig {
    format: Option<LogFormat>,
    filter: Option<String>,
    /// `stdout` is the default, so `None`.
    audit_log: Option<PathBuf>,
    blocking: Option<bool>,
    queue_lines: Option<usize>,
    flush_timeout: Option<Duration>,
    callsite_limit: Option<u32>,
}

impl LoggingConfig {
    pub(crate) fn read(read: &mut Reader<'_>) -> Self {
        Self {
            format: read.with("LOG_FORMAT", |value| {
                value.parse().map_err(|_| "`json` or `pretty`".to_owned())
            }),
            filter: read.with("RUST_LOG", |value| {
                crate::telemetry::check_filter(value).map(|()| value.to_owned())
            }),
            audit_log: read
                .text("BELFRY_AUDIT_LOG")
                .filter(|path| path != "stdout")
                .map(PathBuf::from),
            blocking: read.bool("BELFRY_LOG_BLOCKING"),
            queue_lines: read.parse("BELFRY_LOG_QUEUE_LINES", "a whole number of lines"),
            flush_timeout: read.millis("BELFRY_LOG_FLUSH_TIMEOUT_MS"),
            callsite_limit: read.parse(
                "BELFRY_LOG_MAX_LINES_PER_CALLSITE_PER_SECOND",
                "a whole number of lines (0: no limit)",
            ),
        }
    }

    /// Applies what is set to `telemetry`, through its builder methods.
    pub(crate) fn apply(&self, mut telemetry: Telemetry) -> Telemetry {
        if let Some(format) = self.format {
            telemetry = telemetry.log_format(format);
        }
        if let Some(filter) = &self.filter {
            telemetry = telemetry.filter(filter.clone());
        }
        if let Some(path) = &self.audit_log {
            telemetry = telemetry.audit_log_file(path.clone());
        }
        if let Some(blocking) = self.blocking {
            telemetry = telemetry.blocking(blocking);
        }
        if let Some(lines) = self.queue_lines {
            telemetry = telemetry.log_queue_lines(lines);
        }
        if let Some(timeout) = self.flush_timeout {
            telemetry = telemetry.log_flush_timeout(timeout);
        }
        if let Some(lines) = self.callsite_limit {
            telemetry = telemetry.max_lines_per_callsite_per_second(lines);
        }
        telemetry
    }
}
