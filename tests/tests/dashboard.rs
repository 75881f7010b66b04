//! The Grafana dashboard (docs/dashboards/belfry.json) and the alert rules
//! (docs/alerts/belfry.rules.yml): promtool accepts the rules and their unit tests, every PromQL
//! expression parses, and every metric they query is one the demo really exports.
//!
//! promtool is required: without it these tests fail and say how to install it.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use belfry_tests::{get, promtool, Demo};
use serde_json::Value;

const DASHBOARD: &str = "docs/dashboards/belfry.json";
const RULES: &str = "docs/alerts/belfry.rules.yml";
const RULES_TESTS: &str = "docs/alerts/belfry.rules.test.yml";
const RUNBOOK: &str = "docs/runbook.md";

/// How long to wait for the demo's first health-check run to show up in the metrics.
const HEALTH_WAIT: Duration = Duration::from_secs(10);

/// Series Prometheus itself writes for each target.
const SCRAPE_SERIES: [&str; 1] = ["up"];

/// PromQL words followed by something else than `(` that are not metric names.
const KEYWORDS: [&str; 18] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
];

/// PromQL modifiers followed by a list of label names, `by (route, le)`.
const LABEL_LIST_KEYWORDS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

fn workspace_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &str) -> String {
    let path = workspace_file(path);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn assert_promtool_succeeds(args: &[&str]) -> String {
    let (status, output) = promtool(args, None);
    assert!(status.success(), "promtool {args:?} ({status}):\n{output}");
    output
}

/// Index just past the bracket closing the one at `open` (`{`, `[` or `(`), skipping strings.
fn skip_group(chars: &[char], open: usize) -> usize {
    let (opening, closing) = match chars[open] {
        '{' => ('{', '}'),
        '[' => ('[', ']'),
        _ => ('(', ')'),
    };
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i);
                continue;
            }
            c if c == opening => depth += 1,
            c if c == closing => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// Index just past the string literal starting at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

fn is_identifier_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_identifier(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The metric names a PromQL expression selects: identifiers outside label matchers (`{..}`),
/// ranges (`[..]`), strings and label lists (`by (..)`), that are neither function calls nor
/// keywords. Grafana variables (`$route`, `${x}`) are skipped.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '{' || c == '[' {
            i = skip_group(&chars, i);
        } else if c == '#' {
            i = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |n| i + n);
        } else if c == '$' {
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = skip_group(&chars, i);
            } else {
                while i < chars.len() && is_identifier(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // Numbers and durations: 0.95, 1e-3, 5m, 0x1f.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
            {
                let exponent = matches!(chars[i], 'e' | 'E');
                i += 1;
                if exponent && matches!(chars.get(i), Some('+' | '-')) {
                    i += 1;
                }
            }
        } else if is_identifier_start(c) {
            let start = i;
            while i < chars.len() && is_identifier(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if LABEL_LIST_KEYWORDS.contains(&word.as_str()) {
                if call {
                    i = skip_group(&chars, next);
                }
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every `expr` of the dashboard's panels, and the selectors of its `label_values` variables.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn walk(value: &Value, exprs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    exprs.push(expr.clone());
                }
                for child in map.values() {
                    walk(child, exprs);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, exprs)),
            _ => {}
        }
    }
    let mut exprs = Vec::new();
    walk(&dashboard["panels"], &mut exprs);
    for variable in variables(dashboard) {
        if variable["type"] != "query" {
            continue;
        }
        let query = match &variable["query"] {
            Value::String(query) => query.as_str(),
            query => query["query"].as_str().unwrap_or_default(),
        };
        let name = &variable["name"];
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: not label_values(selector, label): {query}"));
        let (selector, _label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("variable {name}: no selector in {query}"));
        exprs.push(selector.to_owned());
    }
    exprs
}

fn variables(dashboard: &Value) -> &Vec<Value> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
}

/// Each alerting rule's lines, from its `- alert:` line to the next one.
fn alert_blocks(rules: &str) -> Vec<Vec<&str>> {
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in rules.lines() {
        if line.trim_start().starts_with("- alert:") {
            blocks.push(Vec::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push(line);
        }
    }
    blocks
}

/// The `expr` of every rule: `expr: <one line>` or a block scalar (`expr: |`).
fn rule_exprs(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let mut exprs = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let body: Vec<&str> = lines[index + 1..]
                .iter()
                .take_while(|next| next.trim().is_empty() || next.len() - next.trim_start().len() > indent)
                .copied()
                .collect();
            exprs.push(body.join("\n"));
        } else {
            exprs.push(value.trim_matches(|c| c == '"' || c == '\'').to_owned());
        }
    }
    exprs
}

/// Metric names in a live demo's exposition: every family (a histogram as its `_bucket`, `_sum`
/// and `_count` series) and every sample name, after a request and the first health-check run.
fn exported_names() -> BTreeSet<String> {
    let demo = Demo::start();
    assert_eq!(get(&demo.url("/users/1"), &[]).status, 200);
    let deadline = Instant::now() + HEALTH_WAIT;
    let exposition = loop {
        let response = get(&demo.url("/metrics"), &[("accept", "*/*")]);
        assert_eq!(response.status, 200);
        if response.body.contains("\nbelfry_health_check_status{") {
            break response.body;
        }
        assert!(
            Instant::now() < deadline,
            "no health-check metrics:\n{}",
            response.body
        );
        thread::sleep(Duration::from_millis(50));
    };
    let mut names: BTreeSet<String> = SCRAPE_SERIES.iter().map(|name| name.to_string()).collect();
    for line in exposition.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ") {
            let (name, kind) = family.split_once(' ').expect("# TYPE name type");
            names.insert(name.to_owned());
            if matches!(kind, "histogram" | "summary") {
                names.extend(["_sum", "_count"].map(|suffix| format!("{name}{suffix}")));
            }
            if kind == "histogram" {
                names.insert(format!("{name}_bucket"));
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

fn names_in(exprs: &[String]) -> BTreeSet<String> {
    exprs.iter().flat_map(|expr| metric_names(expr)).collect()
}

fn assert_all_exported(what: &str, used: &BTreeSet<String>, exported: &BTreeSet<String>) {
    let missing: Vec<&String> = used.difference(exported).collect();
    assert!(
        missing.is_empty(),
        "{what} query metrics the demo does not export: {missing:?}\nexported: {exported:?}"
    );
}

/// The anchor GitHub gives a Markdown heading: lowercase, punctuation dropped, spaces as `-`.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let output = assert_promtool_succeeds(&["check", "rules", RULES]);
    assert!(output.contains("SUCCESS: 5 rules found"), "{output}");
    assert_promtool_succeeds(&["test", "rules", RULES_TESTS]);
}

#[test]
fn every_alert_has_for_severity_annotations_and_a_runbook() {
    let rules = read(RULES);
    let runbook_anchors: BTreeSet<String> = read(RUNBOOK)
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(github_anchor)
        .collect();
    let blocks = alert_blocks(&rules);
    let names: Vec<&str> = blocks
        .iter()
        .map(|block| block[0].trim_start().trim_start_matches("- alert:").trim())
        .collect();
    for wanted in [
        "BelfryHighErrorRate",
        "BelfryHighLatency",
        "BelfryCriticalHealthCheckFailing",
        "BelfryHighMemory",
        "BelfryTargetDown",
    ] {
        assert!(names.contains(&wanted), "no {wanted} in {names:?}");
    }
    for (name, block) in names.iter().zip(&blocks) {
        let field = |key: &str| {
            block
                .iter()
                .find_map(|line| line.trim_start().strip_prefix(key))
                .map(|value| value.trim().trim_matches('"'))
                .unwrap_or_else(|| panic!("{name}: no `{key}`"))
        };
        assert!(!field("for:").is_empty(), "{name}: empty for");
        assert!(
            matches!(field("severity:"), "critical" | "warning"),
            "{name}: severity"
        );
        assert!(!field("summary:").is_empty(), "{name}: summary");
        assert!(!field("description:").is_empty(), "{name}: description");
        let anchor = field("runbook_url:")
            .strip_prefix("docs/runbook.md#")
            .unwrap_or_else(|| panic!("{name}: runbook_url is not docs/runbook.md#<anchor>"));
        assert_eq!(anchor, name.to_ascii_lowercase(), "{name}: runbook anchor");
        assert!(
            runbook_anchors.contains(anchor),
            "{name}: no `## {name}` section in {RUNBOOK}"
        );
    }
}

#[test]
fn the_dashboard_is_a_grafana_dashboard_with_the_expected_panels() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON");
    let schema = dashboard["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dashboard["uid"].as_str().is_some_and(|uid| !uid.is_empty()));

    let variables = variables(&dashboard);
    let variable = |name: &str| {
        variables
            .iter()
            .find(|variable| variable["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let route = variable("route");
    assert_eq!(route["type"], "query");
    let query = route["query"]["query"]
        .as_str()
        .or(route["query"].as_str())
        .unwrap();
    assert!(
        query.starts_with("label_values(http_server_request_duration_seconds_count")
            && query.ends_with(", http_route)"),
        "{query}"
    );

    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut titles = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("panel title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "{title}: id used twice"
        );
        for key in ["x", "y", "w", "h"] {
            assert!(panel["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        if panel["type"] == "row" {
            continue;
        }
        titles.push(title);
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                target["expr"].as_str().is_some_and(|expr| !expr.is_empty()),
                "{title}"
            );
        }
    }
    for wanted in [
        "Request rate by route",
        "Error rate (5xx ratio) by route",
        "Latency p50 / p95 / p99 by route",
        "Active requests",
        "Health check status",
        "Health check duration",
        "Resident memory",
        "CPU",
    ] {
        assert!(titles.contains(&wanted), "no panel {wanted:?} in {titles:?}");
    }
}

/// Grafana's variables replaced by values PromQL accepts, for promtool.
fn as_plain_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$job", ".+")
        .replace("$route", ".*")
}

#[test]
fn every_dashboard_expression_is_valid_promql() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON");
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 10, "{exprs:?}");
    // promtool parses PromQL only inside rule files: each expression becomes a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (index, expr) in exprs.iter().enumerate() {
        let expr = as_plain_promql(expr);
        assert!(!expr.contains('$'), "unknown variable in {expr}");
        rules.push_str(&format!(
            "      - record: dashboard:expr_{index}\n        expr: |\n          {expr}\n"
        ));
    }
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let path = std::env::temp_dir().join(format!(
        "belfry-dashboard-{}-{nanos}.rules.yml",
        std::process::id()
    ));
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(rules.as_bytes()))
        .expect("write the rules file");
    let (status, output) = promtool(&["check", "rules", path.to_str().unwrap()], None);
    let _ = std::fs::remove_file(&path);
    assert!(
        status.success(),
        "promtool check rules ({status}):\n{output}\n{rules}"
    );
}

#[test]
fn the_dashboard_and_the_alerts_query_only_metrics_the_demo_exports() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON");
    let in_dashboard = names_in(&dashboard_exprs(&dashboard));
    let in_rules = names_in(&rule_exprs(&read(RULES)));
    // The scanner found what the panels and rules are about.
    for name in [
        "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_bucket",
        "http_server_active_requests",
        "belfry_health_check_status",
        "belfry_health_check_duration_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(in_dashboard.contains(name), "{name} not in {in_dashboard:?}");
    }
    for name in [
        "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_bucket",
        "belfry_health_check_status",
        "process_resident_memory_bytes",
        "up",
    ] {
        assert!(in_rules.contains(name), "{name} not in {in_rules:?}");
    }
    let exported = exported_names();
    assert_all_exported(DASHBOARD, &in_dashboard, &exported);
    assert_all_exported(RULES, &in_rules, &exported);
}

#[test]
fn metric_names_skips_functions_keywords_labels_strings_and_variables() {
    let expr = r#"
        label_replace(
          histogram_quantile(0.95, sum by (http_route, le) (rate(a_bucket{job=~"$job", x="b{c}"}[$__rate_interval])))
          / on (job) group_left(instance) sum without (le) (b_total offset 5m) > bool 1e-3
          or c:recorded * 2 and ${var} unless max(d) by (e) # comment f_total
          , "http_route", "(unmatched)", "http_route", "")
    "#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["a_bucket", "b_total", "c:recorded", "d"]);
    let rules = "      - alert: A\n        expr: |\n          x\n            / y\n        for: 1m\n      - record: r\n        expr: z > 1\n";
    assert_eq!(rule_exprs(rules), ["          x\n            / y", "z > 1"]);
}
