//! Reading what the benchmark tools write: callgrind out files, `callgrind_annotate` listings and
//! `wrk` reports. Used by `src/bin/bench_report.rs`.

use std::collections::HashMap;

/// The total instruction count of a callgrind out file: its `summary:` line (or `totals:`).
///
/// ```
/// let text = "events: Ir\nfn=(1) main\n1 10\nsummary: 1234\ntotals: 1234\n";
/// assert_eq!(belfry_bench::report::callgrind_total(text), Some(1234));
/// ```
pub fn callgrind_total(text: &str) -> Option<u64> {
    let line_value = |prefix: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
    };
    line_value("summary:").or_else(|| line_value("totals:"))
}

/// One line of a `callgrind_annotate` function listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnotatedFunction {
    /// Instructions (`Ir`).
    pub instructions: u64,
    /// The source file the instructions come from (for inlined code, the inlined function's).
    pub file: String,
    /// The function (symbol) the instructions ran in.
    pub function: String,
}

/// The function lines of a `callgrind_annotate --auto=no` listing
/// (`5,148,982 ( 8.38%)  file.rs:function [binary]`).
///
/// ```
/// let text = "61,412,705 (100.0%)  PROGRAM TOTALS\n\
///             5,148,982 ( 8.38%)  ./string/memmove.S:__memcpy_avx [/usr/lib/libc.so.6]\n\
///             2,617,490 ( 4.26%)  /rustc/x/library/core/src/str/validations.rs:core::str::converts::from_utf8\n";
/// let functions = belfry_bench::report::parse_annotate(text);
/// assert_eq!(functions.len(), 2);
/// assert_eq!(functions[0].instructions, 5_148_982);
/// assert_eq!(functions[0].function, "__memcpy_avx");
/// assert_eq!(functions[1].file, "/rustc/x/library/core/src/str/validations.rs");
/// ```
pub fn parse_annotate(text: &str) -> Vec<AnnotatedFunction> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let (count, rest) = line.split_once(' ')?;
            let instructions = count.replace(',', "").parse().ok()?;
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('(')?.split_once(')')?.1.trim();
            if rest == "PROGRAM TOTALS" || rest == "events annotated" {
                return None;
            }
            let (file, function) = rest.split_once(':')?;
            let function = match function.rfind(" [") {
                Some(at) if function.ends_with(']') => &function[..at],
                _ => function,
            };
            Some(AnnotatedFunction {
                instructions,
                file: file.to_owned(),
                function: function.to_owned(),
            })
        })
        .collect()
}

/// How the lines of one function coming from several source files are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// Own instructions (`--inclusive=no`): the lines add up.
    Sum,
    /// Inclusive instructions (`--inclusive=yes`): each line already holds (nearly) the whole
    /// call tree, so the largest is taken.
    Max,
}

/// Instructions per request of each function: (listing at 2N − listing at N) / N, the lines of
/// one function (one per source file its instructions come from) combined by `combine`.
pub fn per_request(
    at_n: &[AnnotatedFunction],
    at_2n: &[AnnotatedFunction],
    n: u64,
    combine: Combine,
) -> HashMap<String, f64> {
    fn totals(listing: &[AnnotatedFunction], combine: Combine) -> HashMap<&str, u64> {
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for entry in listing {
            let total = totals.entry(entry.function.as_str()).or_default();
            *total = match combine {
                Combine::Sum => *total + entry.instructions,
                Combine::Max => (*total).max(entry.instructions),
            };
        }
        totals
    }
    let (small, big) = (totals(at_n, combine), totals(at_2n, combine));
    let mut costs: HashMap<String, f64> = HashMap::new();
    for (function, instructions) in &big {
        let before = small.get(function).copied().unwrap_or_default();
        costs.insert(
            (*function).to_owned(),
            (*instructions as f64 - before as f64) / n as f64,
        );
    }
    for (function, instructions) in &small {
        costs
            .entry((*function).to_owned())
            .or_insert(-(*instructions as f64) / n as f64);
    }
    costs
}

/// The crate a function (symbol) belongs to: the first path segment of its self type or path,
/// `libc` for bare C symbols.
///
/// ```
/// use belfry_bench::report::crate_of;
///
/// assert_eq!(crate_of("<&mut serde_json::ser::Serializer<W,F> as serde_core::ser::Serializer>::serialize_str"), "serde_json");
/// assert_eq!(crate_of("core::str::converts::from_utf8"), "core");
/// assert_eq!(crate_of("core::ptr::drop_in_place<belfry_access_log::record::RequestRecord>"), "belfry_access_log");
/// assert_eq!(crate_of("_int_free"), "libc");
/// assert_eq!(crate_of("__rustc::__rdl_alloc"), "alloc");
/// ```
pub fn crate_of(function: &str) -> String {
    let mut name = function;
    // Drop glue is charged to the type dropped.
    if let Some(inner) = name.strip_prefix("core::ptr::drop_in_place<") {
        name = inner;
    }
    let name = name.trim_start_matches(['<', '&', '*']);
    let name = name
        .strip_prefix("mut ")
        .or_else(|| name.strip_prefix("dyn "))
        .unwrap_or(name);
    let name = name.trim_start_matches(['<', '&', '*']);
    match name.split_once("::") {
        Some(("__rustc", _)) => "alloc".to_owned(),
        Some((krate, _)) if !krate.is_empty() && !krate.contains([' ', '<', '(']) => krate.to_owned(),
        _ => "libc".to_owned(),
    }
}

/// Sums per-function costs by [`crate_of`].
pub fn by_crate(costs: &HashMap<String, f64>) -> HashMap<String, f64> {
    let mut crates: HashMap<String, f64> = HashMap::new();
    for (function, cost) in costs {
        *crates.entry(crate_of(function)).or_default() += cost;
    }
    crates
}

/// What `wrk --latency` reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WrkReport {
    /// `Requests/sec:`.
    pub requests_per_second: f64,
    /// The 99th percentile latency, in microseconds.
    pub p99_us: f64,
    /// Socket errors and non-2xx/3xx responses.
    pub errors: u64,
    /// Requests completed (`N requests in 3.00s`).
    pub requests: u64,
}

/// Reads a `wrk --latency` report.
///
/// ```
/// let text = "  Latency Distribution\n     50%  300.00us\n     99%    1.25ms\n\
///             \x20 500 requests in 5.00s, 60.00MB read\n  Non-2xx or 3xx responses: 2\n\
///             Requests/sec: 100000.50\nTransfer/sec:     12.00MB\n";
/// let report = belfry_bench::report::parse_wrk(text).unwrap();
/// assert_eq!(report.requests_per_second, 100000.5);
/// assert_eq!(report.p99_us, 1250.0);
/// assert_eq!(report.errors, 2);
/// assert_eq!(report.requests, 500);
/// ```
pub fn parse_wrk(text: &str) -> Option<WrkReport> {
    let mut requests_per_second = None;
    let mut p99_us = None;
    let mut errors = 0;
    let mut requests = 0;
    for line in text.lines().map(str::trim) {
        if let Some((count, _)) = line.split_once(" requests in ") {
            requests = count.trim().parse().unwrap_or(0);
        }
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            requests_per_second = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("99%") {
            p99_us = duration_us(value.trim());
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += value.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += value
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Some(WrkReport {
        requests_per_second: requests_per_second?,
        p99_us: p99_us?,
        errors,
        requests,
    })
}

/// CPU microseconds per request from a `cpu.<variant>.r<round>.txt` line
/// (`ticks_before ticks_after ticks_per_second`) and the requests wrk completed meanwhile.
///
/// ```
/// assert_eq!(belfry_bench::report::cpu_us_per_request("100 400 100", 100_000), Some(30.0));
/// assert_eq!(belfry_bench::report::cpu_us_per_request("100 400 100", 0), None);
/// ```
pub fn cpu_us_per_request(line: &str, requests: u64) -> Option<f64> {
    let numbers: Vec<f64> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    let [before, after, ticks_per_second] = numbers[..] else {
        return None;
    };
    (requests > 0 && ticks_per_second > 0.0)
        .then(|| (after - before) / ticks_per_second * 1e6 / requests as f64)
}

/// `310.12us`, `1.25ms`, `2.00s`, `1.00m` in microseconds.
fn duration_us(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some(number * scale)
}

/// The median of `values` (the mean of the two middle ones for an even count).
///
/// ```
/// assert_eq!(belfry_bench::report::median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(belfry_bench::report::median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// assert_eq!(belfry_bench::report::median(&[]), None);
/// ```
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        len if len % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_request_subtracts_and_divides() {
        let at_n = parse_annotate("1,000 (10%)  a.rs:f [bin]\n500 (5%)  b.rs:f\n100 (1%)  c.rs:g\n");
        let at_2n = parse_annotate("2,000 (10%)  a.rs:f [bin]\n1,000 (5%)  b.rs:f\n100 (1%)  c.rs:g\n");
        let costs = per_request(&at_n, &at_2n, 100, Combine::Sum);
        assert_eq!(costs["f"], 15.0);
        assert_eq!(costs["g"], 0.0);
        let inclusive = per_request(&at_n, &at_2n, 100, Combine::Max);
        assert_eq!(inclusive["f"], 10.0);
    }

    #[test]
    fn socket_errors_are_counted() {
        let text = "     99%  800.00us\n  Socket errors: connect 1, read 2, write 0, timeout 3\nRequests/sec: 10.00\n";
        assert_eq!(parse_wrk(text).unwrap().errors, 6);
    }

    #[test]
    fn a_report_without_throughput_is_rejected() {
        assert_eq!(parse_wrk("     99%  800.00us\n"), None);
    }
}
