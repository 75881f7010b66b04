//! Process metrics under the standard names, read from `/proc/self` at scrape time (Linux only).

mod procfs;

use std::{fmt, fs};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

use crate::{
    PROCESS_CPU_SECONDS, PROCESS_MAX_FDS, PROCESS_OPEN_FDS, PROCESS_RESIDENT_MEMORY, PROCESS_START_TIME,
    PROCESS_VIRTUAL_MEMORY,
};

/// Registered by [`Metrics::new`](crate::Metrics::new) on Linux. A value that cannot be read is
/// left out of that scrape; nothing is guessed (no assumed page size or tick rate).
#[derive(Debug)]
pub(crate) struct ProcessCollector;

/// One reading of the process metrics.
#[derive(Debug, Default)]
pub(crate) struct ProcessSample {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) resident_bytes: Option<u64>,
    pub(crate) virtual_bytes: Option<u64>,
    pub(crate) open_fds: Option<u64>,
    pub(crate) max_fds: Option<u64>,
    pub(crate) start_time_seconds: Option<f64>,
}

impl ProcessSample {
    pub(crate) fn read() -> Self {
        let stat = fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| procfs::parse_stat(&text));
        let auxv = fs::read("/proc/self/auxv")
            .map(|bytes| procfs::parse_auxv(&bytes))
            .unwrap_or_default();
        let ticks = auxv.clock_ticks.map(|ticks| ticks as f64);
        let boot_time = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| procfs::parse_boot_time(&text));
        Self {
            cpu_seconds: stat.zip(ticks).map(|(stat, ticks)| stat.cpu_ticks as f64 / ticks),
            resident_bytes: stat
                .zip(auxv.page_size)
                .and_then(|(stat, page)| stat.resident_pages.checked_mul(page)),
            virtual_bytes: stat.map(|stat| stat.virtual_bytes),
            open_fds: fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as u64),
            max_fds: fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|text| procfs::parse_max_open_files(&text)),
            start_time_seconds: stat
                .zip(ticks)
                .zip(boot_time)
                .map(|((stat, ticks), boot)| boot as f64 + stat.start_ticks as f64 / ticks),
        }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let sample = ProcessSample::read();
        if let Some(seconds) = sample.cpu_seconds {
            // The encoder appends `_total` to counters.
            let name = PROCESS_CPU_SECONDS
                .strip_suffix("_total")
                .unwrap_or(PROCESS_CPU_SECONDS);
            let counter = ConstCounter::new(seconds);
            let help = "Total user and system CPU time spent in seconds";
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        let gauges = [
            (
                PROCESS_RESIDENT_MEMORY,
                "Resident memory size in bytes",
                sample.resident_bytes.map(|v| v as f64),
            ),
            (
                PROCESS_VIRTUAL_MEMORY,
                "Virtual memory size in bytes",
                sample.virtual_bytes.map(|v| v as f64),
            ),
            (
                PROCESS_OPEN_FDS,
                "Number of open file descriptors",
                sample.open_fds.map(|v| v as f64),
            ),
            (
                PROCESS_MAX_FDS,
                "Maximum number of open file descriptors",
                sample.max_fds.map(|v| v as f64),
            ),
            (
                PROCESS_START_TIME,
                "Start time of the process since unix epoch in seconds",
                sample.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_on_linux() {
        let before = ProcessSample::read().cpu_seconds.unwrap();
        // Burn CPU for longer than a clock tick (10 ms), so the counter must move.
        let spin = std::time::Instant::now();
        let mut x = 0_u64;
        while spin.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let sample = ProcessSample::read();
        assert!(
            sample.cpu_seconds.unwrap() > before,
            "CPU time counted: {before} -> {:?}",
            sample.cpu_seconds
        );
        assert!(sample.resident_bytes.unwrap() > 0);
        assert!(sample.virtual_bytes.unwrap() >= sample.resident_bytes.unwrap());
        assert!(sample.open_fds.unwrap() >= 3);
        // The start time is in the past, after 2020.
        let start = sample.start_time_seconds.unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(start > 1_577_836_800.0 && start <= now + 1.0, "{start}");
    }

    #[test]
    fn rendered_values_parse_as_numbers() {
        let text = crate::Metrics::new().render();
        for name in [
            PROCESS_CPU_SECONDS,
            PROCESS_RESIDENT_MEMORY,
            PROCESS_VIRTUAL_MEMORY,
            PROCESS_OPEN_FDS,
            PROCESS_MAX_FDS,
            PROCESS_START_TIME,
        ] {
            let line = text
                .lines()
                .find(|line| line.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| {
                    panic!("{name} missing (max fds may be unlimited here):\n{text}");
                });
            let value: f64 = line[name.len() + 1..].parse().unwrap();
            if name == PROCESS_CPU_SECONDS {
                // May still read 0 at the clock tick's resolution this early.
                assert!(value.is_finite() && value >= 0.0, "{line}");
            } else {
                assert!(value > 0.0, "{line}");
            }
        }
    }
}
