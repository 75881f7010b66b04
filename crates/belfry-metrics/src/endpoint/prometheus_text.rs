//! [`to_prometheus_text`]: rewrites prometheus-client's OpenMetrics text as the Prometheus text
//! format (0.0.4), for scrapers and tools that only read that one (`promtool check metrics`).

use std::fmt::Write;

/// The differences that matter, for what prometheus-client writes:
///
/// - a counter family is named with its `_total` suffix (`# TYPE x_total counter`);
/// - an info family becomes a gauge named `x_info`; `unknown` becomes `untyped`;
/// - `# UNIT` lines go (the unit is already in the name), and so do exemplars (` # {...} v`);
/// - the final `# EOF` stays, as a comment.
pub(crate) fn to_prometheus_text(openmetrics: &str) -> String {
    let mut text = String::with_capacity(openmetrics.len());
    // A `# HELP` line waits for its `# TYPE` line, which may rename the family.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut text, help.take());
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (suffix, kind) = match kind {
                "counter" if !name.ends_with("_total") => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                kind => ("", kind),
            };
            match help.take() {
                Some((help_name, help_text)) if help_name == name => {
                    let _ = writeln!(text, "# HELP {name}{suffix} {help_text}");
                }
                other => flush_help(&mut text, other),
            }
            let _ = writeln!(text, "# TYPE {name}{suffix} {kind}");
        } else if line.starts_with("# UNIT ") {
            // Dropped: the text format has no units.
        } else {
            flush_help(&mut text, help.take());
            text.push_str(without_exemplar(line));
            text.push('\n');
        }
    }
    flush_help(&mut text, help);
    text
}

fn flush_help(text: &mut String, help: Option<(&str, &str)>) {
    if let Some((name, help)) = help {
        let _ = writeln!(text, "# HELP {name} {help}");
    }
}

/// A sample line without its exemplar. The exemplar follows the value as ` # {...}`; label
/// values, skipped here, may contain anything, ` # ` included.
fn without_exemplar(line: &str) -> &str {
    if line.starts_with('#') {
        return line;
    }
    let mut labels_end = 0;
    if let Some(open) = line.find(['{', ' ']).filter(|at| line.as_bytes()[*at] == b'{') {
        let (mut quoted, mut escaped) = (false, false);
        for (at, byte) in line.bytes().enumerate().skip(open) {
            match byte {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b'}' if !quoted => {
                    labels_end = at + 1;
                    break;
                }
                _ => {}
            }
        }
    }
    match line[labels_end..].find(" # ") {
        Some(at) => &line[..labels_end + at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total() {
        let openmetrics = "# HELP jobs Jobs done.\n# TYPE jobs counter\njobs_total{a=\"b\"} 3\n# EOF\n";
        assert_eq!(
            to_prometheus_text(openmetrics),
            "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{a=\"b\"} 3\n# EOF\n"
        );
    }

    #[test]
    fn gauges_and_histograms_are_unchanged() {
        let openmetrics = "# HELP g G.\n# TYPE g gauge\ng 1\n# HELP h H.\n# TYPE h histogram\n\
                           h_sum 1.0\nh_count 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n";
        assert_eq!(to_prometheus_text(openmetrics), openmetrics);
    }

    #[test]
    fn units_info_unknown_and_exemplars() {
        let openmetrics = "# HELP t_seconds T.\n# TYPE t_seconds counter\n# UNIT t_seconds seconds\n\
                           t_seconds_total{x=\"a # {b}\"} 2 # {trace=\"1\"} 1.0\n\
                           # HELP build Build.\n# TYPE build info\nbuild_info{v=\"1\"} 1\n\
                           # HELP u U.\n# TYPE u unknown\nu 5 # {} 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(openmetrics),
            "# HELP t_seconds_total T.\n# TYPE t_seconds_total counter\n\
             t_seconds_total{x=\"a # {b}\"} 2\n\
             # HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{v=\"1\"} 1\n\
             # HELP u U.\n# TYPE u untyped\nu 5\n# EOF\n"
        );
    }

    #[test]
    fn escaped_quotes_in_label_values() {
        assert_eq!(without_exemplar(r#"a{x="\"}"} 1 # {} 2"#), r#"a{x="\"}"} 1"#);
        assert_eq!(without_exemplar("a 1"), "a 1");
        assert_eq!(without_exemplar("a{x=\"unterminated"), "a{x=\"unterminated");
    }
}
