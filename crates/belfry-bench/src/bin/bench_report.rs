//! Turns the files `scripts/bench.sh` collects into markdown:
//!
//! ```text
//! bench_report table     --dir DIR --n N
//! bench_report functions --dir DIR --n N [--variant belfry] [--base bare] [--top 25]
//! ```
//!
//! In DIR: `cg.<variant>.<N>.out` and `cg.<variant>.<2N>.out` (callgrind), `wrk.<variant>.r<round>.txt`
//! (`wrk --latency`), and for `functions` `ann.<variant>.<n>.txt` / `ann-incl.<variant>.<n>.txt`
//! (`callgrind_annotate --auto=no --inclusive=no|yes`).

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use belfry_bench::{
    report::{
        by_crate, callgrind_total, cpu_us_per_request, crate_of, median, parse_annotate, parse_wrk,
        per_request, Combine,
    },
    Variant,
};

/// The callgrind files of the `belfry` variant built without belfry's `otel` feature.
const BELFRY_WITHOUT_OTEL: &str = "belfry-nootel";

struct Options {
    command: String,
    dir: PathBuf,
    n: u64,
    variant: Variant,
    base: Variant,
    top: usize,
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("bench_report: {problem}");
            eprintln!(
                "usage: bench_report table|functions --dir DIR --n N [--variant V] [--base V] [--top K]"
            );
            return ExitCode::from(2);
        }
    };
    let result = match options.command.as_str() {
        "table" => table(&options),
        "functions" => functions(&options),
        other => Err(format!("unknown command `{other}`")),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("bench_report: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or("a command is required")?;
    let mut options = Options {
        command,
        dir: PathBuf::from("."),
        n: 0,
        variant: Variant::Belfry,
        base: Variant::Bare,
        top: 25,
    };
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("`{arg}` needs a value"))?;
        match arg.as_str() {
            "--dir" => options.dir = PathBuf::from(value),
            "--n" => options.n = value.parse().map_err(|e| format!("--n: {e}"))?,
            "--variant" => options.variant = value.parse()?,
            "--base" => options.base = value.parse()?,
            "--top" => options.top = value.parse().map_err(|e| format!("--top: {e}"))?,
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    if options.n == 0 {
        return Err("--n N (the smaller callgrind request count) is required".to_owned());
    }
    Ok(options)
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Which threads' instructions to count.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Threads {
    /// The thread that drives the requests (callgrind's `-01` file with `--separate-threads=yes`).
    Request,
    /// Every thread of the process.
    All,
}

/// The instruction total of one callgrind run (`cg.<variant>.<n>.out`, split per thread into
/// `...out-01`, `...out-02`, ... when run with `--separate-threads=yes`).
fn run_total(dir: &Path, variant: &str, n: u64, threads: Threads) -> Result<Option<u64>, String> {
    let base = format!("cg.{variant}.{n}.out");
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        let wanted = match threads {
            Threads::Request => name == format!("{base}-01") || name == base,
            Threads::All => name == base || name.strip_prefix(&format!("{base}-")).is_some(),
        };
        if wanted {
            files.push(path);
        }
    }
    files.sort();
    if threads == Threads::Request {
        // Per-thread files when there are any: the first thread drives the requests.
        let first_thread: Vec<PathBuf> = files
            .iter()
            .filter(|path| path.to_string_lossy().ends_with("-01"))
            .cloned()
            .collect();
        if !first_thread.is_empty() {
            files = first_thread;
        }
    }
    let mut total = None;
    for path in &files {
        if let Some(count) = callgrind_total(&read(path)?) {
            total = Some(total.unwrap_or(0) + count);
        }
    }
    Ok(total)
}

/// Instructions per request of `variant` ((2N − N) / N), or `None` when it was not measured.
fn instructions_per_request(
    dir: &Path,
    variant: &str,
    n: u64,
    threads: Threads,
) -> Result<Option<f64>, String> {
    let small = run_total(dir, variant, n, threads)?;
    let big = run_total(dir, variant, 2 * n, threads)?;
    Ok(small
        .zip(big)
        .map(|(small, big)| (big as f64 - small as f64) / n as f64))
}

struct Throughput {
    rounds: usize,
    /// Requests per second of each round, by round number.
    by_round: HashMap<String, f64>,
    /// Median server CPU microseconds per request, when recorded.
    cpu_us: Option<f64>,
    requests_per_second: f64,
    min: f64,
    max: f64,
    p99_us: f64,
    errors: u64,
}

fn throughput(dir: &Path, variant: Variant) -> Result<Option<Throughput>, String> {
    let prefix = format!("wrk.{variant}.r");
    let mut reports = Vec::new();
    let mut by_round = HashMap::new();
    let mut cpu = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        let Some(round) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".txt"))
        else {
            continue;
        };
        let report = parse_wrk(&read(&path)?).ok_or(format!("{}: not a wrk report", path.display()))?;
        by_round.insert(round.to_owned(), report.requests_per_second);
        let cpu_file = dir.join(format!("cpu.{variant}.r{round}.txt"));
        if let Some(us) = fs::read_to_string(cpu_file)
            .ok()
            .and_then(|line| cpu_us_per_request(&line, report.requests))
        {
            cpu.push(us);
        }
        reports.push(report);
    }
    if reports.is_empty() {
        return Ok(None);
    }
    let rates: Vec<f64> = reports.iter().map(|r| r.requests_per_second).collect();
    let p99s: Vec<f64> = reports.iter().map(|r| r.p99_us).collect();
    Ok(Some(Throughput {
        rounds: reports.len(),
        by_round,
        cpu_us: median(&cpu),
        requests_per_second: median(&rates).unwrap_or_default(),
        min: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max: rates.iter().copied().fold(0.0, f64::max),
        p99_us: median(&p99s).unwrap_or_default(),
        errors: reports.iter().map(|r| r.errors).sum(),
    }))
}

fn table(options: &Options) -> Result<String, String> {
    let mut out = String::new();
    out.push_str(
        "| variant | Ir/request | ratio to bare | req/s (median; min–max) | ratio | p99 (median) \
         | per-round ratio (median) | server CPU/request (median) |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let base_ir = instructions_per_request(&options.dir, Variant::Bare.name(), options.n, Threads::Request)?;
    let mut all_threads = Vec::new();
    let base_wrk = throughput(&options.dir, Variant::Bare)?;
    let mut notes = Vec::new();
    let mut measured = HashMap::new();
    let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(value), Some(base)) if base > 0.0 => format!("{:.2}×", value / base),
        _ => "–".to_owned(),
    };
    for variant in Variant::ALL {
        let ir = instructions_per_request(&options.dir, variant.name(), options.n, Threads::Request)?;
        if let Some(all) = instructions_per_request(&options.dir, variant.name(), options.n, Threads::All)? {
            all_threads.push(format!("{variant} {all:.0}"));
        }
        let wrk = throughput(&options.dir, variant)?;
        let ir_text = ir.map_or("–".to_owned(), |ir| format!("{ir:.0}"));
        let dash = || "–".to_owned();
        let (rps_text, p99_text, cpu_text) = match &wrk {
            Some(t) => (
                format!("{:.0} ({:.0}–{:.0})", t.requests_per_second, t.min, t.max),
                format!("{:.2} ms", t.p99_us / 1000.0),
                t.cpu_us.map_or_else(dash, |us| format!("{us:.1} µs")),
            ),
            None => (dash(), dash(), dash()),
        };
        // The ratio within each round (the variants ran back to back), then the median: less
        // sensitive to load that comes and goes than the ratio of the medians.
        let per_round = match (&wrk, &base_wrk) {
            (Some(t), Some(base)) => {
                let ratios: Vec<f64> = t
                    .by_round
                    .iter()
                    .filter_map(|(round, rps)| Some(rps / base.by_round.get(round)?))
                    .collect();
                median(&ratios)
            }
            _ => None,
        };
        measured.insert(
            variant,
            Measured {
                ir,
                throughput: per_round,
                p99_us: wrk.as_ref().map(|t| t.p99_us),
            },
        );
        let per_round = per_round.map_or_else(dash, |r| format!("{r:.2}×"));
        out.push_str(&format!(
            "| {variant} | {ir_text} | {} | {rps_text} | {} | {p99_text} | {per_round} | {cpu_text} |\n",
            ratio(ir, base_ir),
            ratio(
                wrk.as_ref().map(|t| t.requests_per_second),
                base_wrk.as_ref().map(|t| t.requests_per_second)
            ),
        ));
        if let Some(t) = &wrk {
            if t.errors > 0 {
                notes.push(format!(
                    "{variant}: {} socket errors or non-2xx responses",
                    t.errors
                ));
            }
            if t.rounds != base_wrk.as_ref().map_or(0, |base| base.rounds) {
                notes.push(format!(
                    "{variant}: {} wrk rounds, bare had a different number",
                    t.rounds
                ));
            }
        }
    }
    // The `belfry` variant built without belfry's `otel` feature (bench.sh's second build):
    // what the OTLP code costs when compiled in but not configured.
    if let Some(without) =
        instructions_per_request(&options.dir, BELFRY_WITHOUT_OTEL, options.n, Threads::Request)?
    {
        out.push_str(&format!(
            "| belfry, `otel` feature not compiled (callgrind only) | {without:.0} | {} | – | – | – | – | – |\n",
            ratio(Some(without), base_ir)
        ));
    }
    if !all_threads.is_empty() {
        out.push_str(&format!(
            "\nIr/request counts the thread that serves the requests. All threads (adds Sentry's \
             transport and its loopback sink, the log writer and belfry's hung-request watcher): \
             {}.\n",
            all_threads.join(", ")
        ));
    }
    if !notes.is_empty() {
        out.push_str(&format!("\n({})\n", notes.join("; ")));
    }
    out.push_str(&targets(&measured));
    out.push_str(&sentry_floor(options, base_ir, &measured)?);
    Ok(out)
}

/// What the Sentry SDK itself costs in the same harness ([`Variant::REFERENCES`]), beside what
/// belfry's Sentry adds: the floor under the Sentry target.
fn sentry_floor(
    options: &Options,
    base_ir: Option<f64>,
    measured: &HashMap<Variant, Measured>,
) -> Result<String, String> {
    let ir = |variant: Variant| {
        instructions_per_request(&options.dir, variant.name(), options.n, Threads::Request)
    };
    let (Some(bare), Some(hub), Some(transactions)) = (
        base_ir,
        ir(Variant::SentryHub)?,
        ir(Variant::SentryHubTransactions)?,
    ) else {
        return Ok(String::new());
    };
    let per_transaction = (transactions - hub) * 10.0;
    let mut out = format!(
        "\nThe Sentry SDK's own cost, same harness (callgrind, serving thread): a hub per request \
         (sentry-tower's `NewSentryLayer` on bare axum) {:+.0} Ir a request; one transaction in ten \
         on top (sentry-core starting, scoping and finishing it, nothing on it) {:+.0} more \
         ({per_transaction:.0} a transaction). Together {:+.0} a request",
        hub - bare,
        transactions - hub,
        transactions - bare,
    );
    let off = measured.get(&Variant::BelfrySentryOff).and_then(|m| m.ir);
    let on = measured.get(&Variant::Belfry).and_then(|m| m.ir);
    if let (Some(off), Some(on)) = (off, on) {
        out.push_str(&format!(
            ", {:.1} % of belfry with Sentry off, whose +5 % budget is {:.0}; belfry's Sentry adds {:+.0} ({:+.1} %).\n",
            (transactions - bare) / off * 100.0,
            off * 0.05,
            on - off,
            (on / off - 1.0) * 100.0,
        ));
    } else {
        out.push_str(".\n");
    }
    Ok(out)
}

/// One variant's figures, for [`targets`].
#[derive(Clone, Copy, Default)]
struct Measured {
    ir: Option<f64>,
    /// The median of the per-round throughput ratios to bare.
    throughput: Option<f64>,
    p99_us: Option<f64>,
}

/// The performance issue's targets, each with the figure measured and whether it is met.
fn targets(measured: &HashMap<Variant, Measured>) -> String {
    let get = |variant| measured.get(&variant).copied().unwrap_or_default();
    let (bare, belfry, off, otel) = (
        get(Variant::Bare),
        get(Variant::Belfry),
        get(Variant::BelfrySentryOff),
        get(Variant::Otel),
    );
    let quotient = |a: Option<f64>, b: Option<f64>| a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b);
    let rows = [
        (
            "belfry (Sentry on) instructions ≤ 2.2× bare",
            quotient(belfry.ir, bare.ir),
            2.2,
            true,
            "×",
        ),
        (
            "belfry throughput ≥ 0.90× bare (median per-round ratio)",
            belfry.throughput,
            0.90,
            false,
            "×",
        ),
        (
            "belfry p99 ≤ 1.2× bare",
            quotient(belfry.p99_us, bare.p99_us),
            1.2,
            true,
            "×",
        ),
        (
            "Sentry on ≤ +5 % over Sentry off (instructions)",
            quotient(belfry.ir, off.ir),
            1.05,
            true,
            "%",
        ),
        (
            "OTLP traces on ≤ +10 % over belfry (instructions)",
            quotient(otel.ir, belfry.ir),
            1.10,
            true,
            "%",
        ),
    ];
    let mut out = String::from("\nTargets (performance issue #19):\n\n");
    for (target, value, bound, at_most, unit) in rows {
        let figure = match (value, unit) {
            (Some(value), "%") => format!("{:+.1} %", (value - 1.0) * 100.0),
            (Some(value), _) => format!("{value:.2}×"),
            (None, _) => "not measured".to_owned(),
        };
        let verdict = match value {
            Some(value) if (at_most && value <= bound) || (!at_most && value >= bound) => "met",
            Some(_) => "missed",
            None => "–",
        };
        out.push_str(&format!("- {target}: {figure} — {verdict}\n"));
    }
    out
}

fn listing(dir: &Path, kind: &str, variant: Variant, n: u64) -> Result<HashMap<String, f64>, String> {
    let at_n = parse_annotate(&read(&dir.join(format!("{kind}.{variant}.{n}.txt")))?);
    let at_2n = parse_annotate(&read(&dir.join(format!("{kind}.{variant}.{}.txt", 2 * n)))?);
    let combine = if kind == "ann-incl" {
        Combine::Max
    } else {
        Combine::Sum
    };
    Ok(per_request(&at_n, &at_2n, n, combine))
}

fn sorted(costs: &HashMap<String, f64>) -> Vec<(&String, f64)> {
    let mut rows: Vec<(&String, f64)> = costs.iter().map(|(name, cost)| (name, *cost)).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    rows
}

fn shorten(function: &str) -> String {
    const MAX: usize = 140;
    let escaped = function.replace('|', "\\|");
    if escaped.chars().count() <= MAX {
        escaped
    } else {
        format!("{}…", escaped.chars().take(MAX).collect::<String>())
    }
}

fn functions(options: &Options) -> Result<String, String> {
    let (dir, n, variant, base) = (&options.dir, options.n, options.variant, options.base);
    let own = listing(dir, "ann", variant, n)?;
    let base_own = listing(dir, "ann", base, n)?;
    let total: f64 = own.values().sum();
    let base_total: f64 = base_own.values().sum();
    let mut out = format!(
        "Instructions per request from `callgrind_annotate` at {n} and {} requests: (2N − N) / N. \
         {variant}: {total:.0} Ir/request, {base}: {base_total:.0}.\n\n",
        2 * n
    );

    out.push_str(&format!(
        "#### {variant}: top {} functions, own instructions (`--inclusive=no`)\n\n",
        options.top
    ));
    out.push_str("| Ir/request | share | function |\n| ---: | ---: | --- |\n");
    for (function, cost) in sorted(&own).into_iter().take(options.top) {
        out.push_str(&format!(
            "| {cost:.0} | {:.1}% | `{}` |\n",
            100.0 * cost / total,
            shorten(function)
        ));
    }

    let mut extra: HashMap<String, f64> = own.clone();
    for (function, cost) in &base_own {
        *extra.entry(function.clone()).or_default() -= cost;
    }
    out.push_str(&format!(
        "\n#### What {variant} adds over {base}: top {} functions by own instructions ({variant} − {base})\n\n",
        options.top
    ));
    out.push_str(&format!(
        "| Ir/request | function |\n| ---: | --- |\n| {:.0} | **total** |\n",
        total - base_total
    ));
    for (function, cost) in sorted(&extra).into_iter().take(options.top) {
        out.push_str(&format!("| {cost:.0} | `{}` |\n", shorten(function)));
    }

    let crates = by_crate(&own);
    let base_crates = by_crate(&base_own);
    let mut crate_rows: Vec<(&String, f64, f64)> = crates
        .iter()
        .map(|(krate, cost)| {
            (
                krate,
                *cost,
                cost - base_crates.get(krate).copied().unwrap_or_default(),
            )
        })
        .collect();
    crate_rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    out.push_str(&format!(
        "\n#### {variant} by crate of the function symbol (own instructions; drop glue charged to the type dropped)\n\n"
    ));
    out.push_str(&format!(
        "| crate | Ir/request | {variant} − {base} |\n| --- | ---: | ---: |\n"
    ));
    for (krate, cost, delta) in crate_rows
        .into_iter()
        .filter(|row| row.1.abs() >= 1.0)
        .take(options.top)
    {
        out.push_str(&format!("| {krate} | {cost:.0} | {delta:+.0} |\n"));
    }

    if let Ok(inclusive) = listing(dir, "ann-incl", variant, n) {
        out.push_str(&format!(
            "\n#### {variant}: belfry's own functions, inclusive of what they call (`--inclusive=yes`)\n\n"
        ));
        out.push_str("| Ir/request | function |\n| ---: | --- |\n");
        let mut rows = sorted(&inclusive);
        rows.retain(|(function, _)| {
            let krate = crate_of(function);
            krate.starts_with("belfry") && krate != "belfry_bench"
        });
        for (function, cost) in rows.into_iter().take(options.top.min(15)) {
            out.push_str(&format!("| {cost:.0} | `{}` |\n", shorten(function)));
        }
    }
    Ok(out)
}
