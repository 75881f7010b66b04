#!/usr/bin/env bash
# Does belfry's cost grow with the work around it? (performance issue #19)
#   1. instructions per request under callgrind (N and 2N requests after a warm-up, the
#      difference divided by N, counted on the thread that serves the requests, `-01`), as
#      scripts/bench.sh counts them, at 1, 10, 100 and 1000 routes (`--routes K`: /users/{id}
#      and K-1 routes of distinct templates /r{i}/items/{id}, request i going to route i % K;
#      "first": every request to /users/{id}, what the other routes cost by being there);
#   2. the same at 0, 1, 2, 4, 8 and 16 user span fields (`--span-fields F`: the handler runs
#      inside a user info_span! with F fields and logs one info! event in it), with the slope;
#   3. wrk (-t1) at -c 1, 10, 100 and 1000 keep-alive connections: the server on core 0 with one
#      tokio worker, wrk on core 1; server CPU µs per request from /proc (throughput is noisy
#      when other work shares the machine), req/s alongside;
#   4. the server's VmRSS after a warm-up (50k requests) and as 1,000,000 more are served (wrk
#      -c32 in 2 s chunks).
# Callgrind rows: belfry (Sentry on, traces sample rate 0.1, as bench.sh, but without the cap of
# 100 transactions per second: under callgrind that wall-clock cap binds at a share that depends
# on how fast the machine runs valgrind, so the figure would move with the load), belfry with
# Sentry off (exact: no sampling), bare axum for reference. wrk and RSS rows: bare and belfry
# (the cap on, as deployed).
# Prints a markdown table (also in $OUT/results.md) and writes an SVG plot per curve into
# --plots DIR, and where the instructions that grow go ($OUT/growth.md).
#
#   bash scripts/bench-scaling.sh            # full: N=5000, wrk 3 rounds of 5 s
#   bash scripts/bench-scaling.sh --quick    # N=2000, wrk 1 round of 3 s (RSS still over 1M)
#   options: --out DIR (default target/belfry-bench-scaling), --port PORT (default 18280),
#            --plots DIR (default docs/img), --skip-callgrind, --skip-wrk, --skip-rss
# See docs/performance.md ("Scaling") for the method and the latest results.
set -euo pipefail
cd "$(dirname "$0")/.."

N=5000
ROUNDS=3
DURATION=5
WARMUP_REQUESTS=300
RSS_WARMUP=50000
RSS_REQUESTS=1000000
OUT=target/belfry-bench-scaling
PLOTS=docs/img
PORT=18280
RUN_CALLGRIND=1
RUN_WRK=1
RUN_RSS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) N=2000 ROUNDS=1 DURATION=3 ;;
        --out) OUT="$2"; shift ;;
        --port) PORT="$2"; shift ;;
        --plots) PLOTS="$2"; shift ;;
        --skip-callgrind) RUN_CALLGRIND=0 ;;
        --skip-wrk) RUN_WRK=0 ;;
        --skip-rss) RUN_RSS=0 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "bench-scaling.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ROUTES=(1 10 100 1000)
FIELDS=(0 1 2 4 8 16)
CONNECTIONS=(1 10 100 1000)
# name and arguments of each callgrind row
CG_ROWS=("belfry|--variant belfry" "belfry-nosentry|--variant belfry --no-sentry" "bare|--variant bare")
ROUTE_ROWS=("${CG_ROWS[@]}" "belfry-first|--variant belfry --route-traffic first" "belfry-nosentry-first|--variant belfry --no-sentry --route-traffic first"
    "bare-first|--variant bare --route-traffic first")
START=$SECONDS
BIN=target/release
# step, install_tools, SERVER_CPU/CLIENT_CPU, start_server/stop_server, cpu_ticks.
source scripts/bench-lib.sh

step "tools"
install_tools python3 python3
# 1000 connections need 1000+ descriptors in wrk and in the server (both inherit this limit).
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -n 4096 2>/dev/null || echo "bench-scaling.sh: ulimit -n is $(ulimit -n): -c1000 may fail" >&2
fi

mkdir -p "$OUT" "$PLOTS"
# Only this script's own files (--out may name a directory that holds other things), and only
# those of the parts that run: with every --skip-* the report is made again from the last run.
rm -f "$OUT"/results.md "$OUT"/growth.md
step "cargo build -p belfry-bench --release"
cargo build -p belfry-bench --release --bins >&2

# The serving thread's instructions (`-01`) of one callgrind run.
thread_ir() { awk '/^summary:/ {print $2}' "$1-01"; }

# cg NAME TAG ARGS...: Ir/request of callgrind_driver ARGS at N and 2N, appended as
# "NAME TAG IR" to stdout; annotations of the 2N run kept as ann.NAME.TAG.{N,2N}.txt.
cg() {
    local name=$1 tag=$2 n
    shift 2
    for n in "$N" "$((2 * N))"; do
        "${CALLGRIND[@]}" --callgrind-out-file="$OUT/cg.$name.$tag.$n.out" \
            "$BIN/callgrind_driver" "$@" --requests "$n" --warmup "$WARMUP_REQUESTS" \
            >/dev/null 2>"$OUT/valgrind.$name.$tag.$n.log"
        callgrind_annotate --auto=no --inclusive=no --threshold=100 "$OUT/cg.$name.$tag.$n.out-01" \
            >"$OUT/ann.$name.$tag.$n.txt" 2>/dev/null
    done
    local a b
    a=$(thread_ir "$OUT/cg.$name.$tag.$N.out")
    b=$(thread_ir "$OUT/cg.$name.$tag.$((2 * N)).out")
    echo "$name $tag $(((b - a) / N))"
    echo "  $name $tag: $(((b - a) / N)) Ir/request" >&2
}

if [ "$RUN_CALLGRIND" = 1 ]; then
    # Each sampled request a transaction (10 %, a coin per request), whatever the wall clock.
    export BELFRY_SENTRY_MAX_TRACES_PER_SECOND=0
    rm -f "$OUT"/cg.*.out* "$OUT"/ann.*.txt "$OUT"/valgrind.*.log "$OUT"/routes.tsv "$OUT"/fields.tsv
    step "callgrind: routes ${ROUTES[*]}; $WARMUP_REQUESTS warm-up, then $N and $((2 * N)) requests"
    for row in "${ROUTE_ROWS[@]}"; do
        IFS='|' read -r name args <<<"$row"
        for k in "${ROUTES[@]}"; do
            # shellcheck disable=SC2086 # args is a list of words
            cg "$name" "routes$k" $args --routes "$k" >>"$OUT/routes.tsv"
        done
    done
    step "callgrind: span fields ${FIELDS[*]} (a user span around the handler, one event in it)"
    for row in "${CG_ROWS[@]}"; do
        IFS='|' read -r name args <<<"$row"
        # shellcheck disable=SC2086
        cg "$name" "nospan" $args >>"$OUT/fields.tsv"
        for f in "${FIELDS[@]}"; do
            # shellcheck disable=SC2086
            cg "$name" "fields$f" $args --span-fields "$f" >>"$OUT/fields.tsv"
        done
    done
    unset BELFRY_SENTRY_MAX_TRACES_PER_SECOND
fi

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
wrk_requests() { awk '/ requests in / {print $1}' "$1"; }
URL="http://127.0.0.1:$PORT/users/42"

if [ "$RUN_WRK" = 1 ]; then
    rm -f "$OUT"/wrk.*.c*.txt "$OUT"/server.*.r*.log "$OUT"/connections.tsv "$OUT"/load.txt
    echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    step "wrk: $ROUNDS rounds of bare and belfry at -c ${CONNECTIONS[*]}, -t1 -d${DURATION}s each after a 1 s warm-up"
    for round in $(seq 1 "$ROUNDS"); do
        for variant in bare belfry; do
            start_server "$variant" "$OUT/server.$variant.r$round.log"
            for c in "${CONNECTIONS[@]}"; do
                "${CLIENT_CPU[@]}" wrk -t1 -c"$c" -d1s "$URL" >/dev/null
                before=$(cpu_ticks)
                "${CLIENT_CPU[@]}" wrk -t1 -c"$c" -d"${DURATION}s" --latency "$URL" \
                    >"$OUT/wrk.$variant.c$c.r$round.txt"
                after=$(cpu_ticks)
                requests=$(wrk_requests "$OUT/wrk.$variant.c$c.r$round.txt")
                rps=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk.$variant.c$c.r$round.txt")
                p99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk.$variant.c$c.r$round.txt")
                errors=$(awk '/Socket errors|Non-2xx/ {printf "%s ", $0}' "$OUT/wrk.$variant.c$c.r$round.txt")
                echo "$variant $c $round $requests $rps $p99 $(((after - before) * 1000000 / CLK_TCK)) ${errors:--}" \
                    | tr -s ' ' >>"$OUT/connections.tsv"
                printf '  round %s %-7s -c%-5s %s req/s, p99 %s %s\n' "$round" "$variant" "$c" "$rps" "$p99" "$errors" >&2
            done
            stop_server
        done
    done
    echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    cut -d' ' -f1-3 /proc/loadavg >"$OUT/load.txt"
fi

if [ "$RUN_RSS" = 1 ]; then
    rm -f "$OUT"/wrk.*.rss.txt "$OUT"/server.*.rss.log "$OUT"/rss.tsv
    step "RSS: bare and belfry, $RSS_WARMUP warm-up requests, then $RSS_REQUESTS more (wrk -t1 -c32, 2 s chunks)"
    for variant in bare belfry; do
        start_server "$variant" "$OUT/server.$variant.rss.log"
        done_requests=0
        while [ "$done_requests" -lt "$RSS_WARMUP" ]; do
            "${CLIENT_CPU[@]}" wrk -t1 -c32 -d1s "$URL" >"$OUT/wrk.$variant.rss.txt"
            done_requests=$((done_requests + $(wrk_requests "$OUT/wrk.$variant.rss.txt")))
        done
        rss_before=$(rss_kb)
        echo "$variant 0 $rss_before" >>"$OUT/rss.tsv"
        done_requests=0
        while [ "$done_requests" -lt "$RSS_REQUESTS" ]; do
            "${CLIENT_CPU[@]}" wrk -t1 -c32 -d2s "$URL" >"$OUT/wrk.$variant.rss.txt"
            done_requests=$((done_requests + $(wrk_requests "$OUT/wrk.$variant.rss.txt")))
            echo "$variant $done_requests $(rss_kb)" >>"$OUT/rss.tsv"
        done
        echo "  $variant: VmRSS $rss_before kB after warm-up," \
            "$(rss_kb) kB after $done_requests more requests" >&2
        stop_server
    done
fi

step "results (also in $OUT/results.md; plots in $PLOTS; growth in $OUT/growth.md)"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' + uncommitted changes')"
python3 - "$OUT" "$PLOTS" "$N" "$COMMIT" <<'PY' | tee "$OUT/results.md"
"""Tables, plots and the growth breakdown of bench-scaling.sh (python3 standard library only)."""
import os
import statistics
import sys
import time

out, plots, n, commit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def rows(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


COLOURS = {"belfry": "#c0392b", "belfry-nosentry": "#e67e22", "bare": "#2c3e50",
           "belfry-first": "#8e44ad", "belfry-nosentry-first": "#f1c40f", "bare-first": "#7f8c8d",
           "overhead": "#27ae60", "overhead-first": "#16a085"}
LABELS = {"belfry": "belfry (Sentry on, 0.1)", "belfry-nosentry": "belfry, Sentry off", "bare": "bare axum",
          "belfry-first": "belfry, /users only", "belfry-nosentry-first": "belfry, Sentry off, /users only", "bare-first": "bare, /users only",
          "overhead": "belfry Sentry off − bare", "overhead-first": "the same, /users only"}


def plot(file, title, xlabel, ylabel, series, logx=False):
    """A line plot of series {name: [(x, y)]} as a small standalone SVG."""
    import math

    w, h, left, right, top, bottom = 720, 360, 70, 240, 36, 48
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    if not xs:
        return
    fx = (lambda x: math.log10(x)) if logx else (lambda x: x)
    x0, x1 = fx(min(xs)), fx(max(xs))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = max(ys) * 1.1 or 1
    sx = lambda x: left + (fx(x) - x0) / (x1 - x0) * (w - left - right)
    sy = lambda y: h - bottom - y / y1 * (h - top - bottom)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<text x="{(w - right + left) / 2}" y="{h - 10}" text-anchor="middle">{xlabel}</text>',
           f'<text x="16" y="{(h - bottom + top) / 2}" text-anchor="middle" transform="rotate(-90 16 {(h - bottom + top) / 2})">{ylabel}</text>']
    for i in range(6):
        y = y1 * i / 5
        svg.append(f'<line x1="{left}" x2="{w - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:,.4g}</text>')
    for x in sorted(set(xs)):
        svg.append(f'<text x="{sx(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x:,.4g}</text>')
    svg.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{h - bottom}" stroke="black"/>')
    svg.append(f'<line x1="{left}" x2="{w - right}" y1="{h - bottom}" y2="{h - bottom}" stroke="black"/>')
    for i, (name, points) in enumerate(series.items()):
        colour = COLOURS.get(name, "#7f8c8d")
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(points))
        svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            svg.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        svg.append(f'<line x1="{w - right + 12}" x2="{w - right + 32}" y1="{top + 14 + 18 * i}" y2="{top + 14 + 18 * i}" stroke="{colour}" stroke-width="2"/>')
        svg.append(f'<text x="{w - right + 36}" y="{top + 18 + 18 * i}">{LABELS.get(name, name)}</text>')
    svg.append("</svg>")
    with open(os.path.join(plots, file), "w") as f:
        f.write("\n".join(svg) + "\n")


def spread(values):
    low, high = min(values), max(values)
    return (high - low) / low * 100 if low else 0.0


print(f"### belfry-bench scaling: {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} cores, commit {commit}")
print()

routes = rows("routes.tsv")
if routes:
    names = list(dict.fromkeys(r[0] for r in routes))
    ks = sorted({int(r[1][len("routes"):]) for r in routes})
    ir = {(r[0], int(r[1][len("routes"):])): int(r[2]) for r in routes}
    for overhead, belfry, bare in (("overhead", "belfry-nosentry", "bare"), ("overhead-first", "belfry-nosentry-first", "bare-first")):
        if belfry in names and bare in names:
            names.append(overhead)
            ir.update({(overhead, k): ir[belfry, k] - ir[bare, k] for k in ks})
    print(f"Instructions per request against the number of routes (callgrind, N={n}/{2 * n}, serving thread;"
          " Sentry on without the transaction cap; requests to every route in turn, or to /users/{id} only):")
    print()
    print("| routes | " + " | ".join(LABELS[name] for name in names) + " |")
    print("| ---: |" + " ---: |" * len(names))
    for k in ks:
        print(f"| {k:,} | " + " | ".join(f"{ir[name, k]:,}" for name in names) + " |")
    print("| spread (max − min) / min | " + " | ".join(f"{spread([ir[name, k] for k in ks]):.2f} %" for name in names) + " |")
    print()
    plot("scaling-routes.svg", "Instructions per request vs routes", "routes (log scale)", "Ir / request",
         {name: [(k, ir[name, k]) for k in ks] for name in names}, logx=True)

fields = rows("fields.tsv")
if fields:
    names = list(dict.fromkeys(r[0] for r in fields))
    ir = {(r[0], r[1]): int(r[2]) for r in fields}
    fs = sorted({int(r[1][len("fields"):]) for r in fields if r[1].startswith("fields")})
    print("Instructions per request against the user span's fields (the handler inside `info_span!` with F fields, one `info!` in it):")
    print()
    print("| span fields | " + " | ".join(LABELS[name] for name in names) + " |")
    print("| ---: |" + " ---: |" * len(names))
    print("| no span, no event | " + " | ".join(f"{ir[name, 'nospan']:,}" for name in names) + " |")
    for f in fs:
        print(f"| {f} | " + " | ".join(f"{ir[name, f'fields{f}']:,}" for name in names) + " |")
    slopes, worst = [], []
    for name in names:
        points = [(f, ir[name, f"fields{f}"]) for f in fs]
        mx, my = statistics.mean(p[0] for p in points), statistics.mean(p[1] for p in points)
        slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
        intercept = my - slope * mx
        slopes.append(f"{slope:,.0f}")
        worst.append(f"{max(abs(y - (intercept + slope * x)) for x, y in points):,.0f}")
    print("| slope (least squares), Ir per field | " + " | ".join(slopes) + " |")
    print("| largest distance from that line | " + " | ".join(worst) + " |")
    print()
    plot("scaling-span-fields.svg", "Instructions per request vs user span fields", "fields on the user span", "Ir / request",
         {name: [(f, ir[name, f"fields{f}"]) for f in fs] for name in names})

conns = rows("connections.tsv")
if conns:
    names = list(dict.fromkeys(r[0] for r in conns))
    cs = sorted({int(r[1]) for r in conns})
    cpu = {}
    for r in conns:
        cpu.setdefault((r[0], int(r[1])), []).append(r)
    rounds = max(len(v) for v in cpu.values())
    load = open(os.path.join(out, "load.txt")).read().strip() if os.path.exists(os.path.join(out, "load.txt")) else "?"
    print(f"wrk -t1, keep-alive connections, server on one tokio worker (core 0), wrk on core 1; median of {rounds} round(s); load average after: {load}:")
    print()
    both = "bare" in names and "belfry" in names
    print("| connections | " + " | ".join(f"{name} CPU µs/request | {name} req/s | {name} p99" for name in names)
          + (" | belfry − bare CPU µs/request" if both else "") + " |")
    print("| ---: |" + " ---: | ---: | ---: |" * len(names) + (" ---: |" if both else ""))
    med = {}
    for c in cs:
        cells = []
        for name in names:
            runs = cpu[name, c]
            us = statistics.median(int(r[6]) / int(r[3]) for r in runs)
            med[name, c] = us
            rps = statistics.median(float(r[4]) for r in runs)
            errors = " ".join(" ".join(r[7:]) for r in runs if r[7:] != ["-"])
            cells.append(f"{us:.2f} | {rps:,.0f} | {runs[len(runs) // 2][5]}{' (' + errors + ')' if errors else ''}")
        if both:
            med["overhead", c] = med["belfry", c] - med["bare", c]
            cells.append(f"{med['overhead', c]:.2f}")
        print(f"| {c:,} | " + " | ".join(cells) + " |")
    if both:
        names.append("overhead")
        LABELS["overhead"] = "belfry − bare"
    print()
    plot("scaling-connections.svg", "Server CPU per request vs keep-alive connections", "connections (log scale)", "server CPU µs / request",
         {name: [(c, med[name, c]) for c in cs] for name in names}, logx=True)

rss = rows("rss.tsv")
if rss:
    names = list(dict.fromkeys(r[0] for r in rss))
    print("Server VmRSS after the warm-up and after 1,000,000 more requests (wrk -t1 -c32):")
    print()
    print("| variant | VmRSS after warm-up | after | requests | growth | largest |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    series = {}
    for name in names:
        points = [(int(r[1]), int(r[2])) for r in rss if r[0] == name]
        series[name] = [(x / 1e6, y / 1024) for x, y in points]
        first, last = points[0][1], points[-1][1]
        print(f"| {LABELS[name]} | {first / 1024:.2f} MB | {last / 1024:.2f} MB | {points[-1][0]:,} | {(last - first) / 1024:+.2f} MB | {max(y for _, y in points) / 1024:.2f} MB |")
    print()
    plot("scaling-rss.svg", "Server VmRSS while serving", "requests after the warm-up (millions)", "VmRSS (MB)", series)


def annotate(path):
    """{function: Ir} of a callgrind_annotate listing."""
    result = {}
    for line in open(path):
        line = line.strip()
        count, _, rest = line.partition(" ")
        try:
            ir = int(count.replace(",", ""))
        except ValueError:
            continue
        rest = rest.strip()
        if not rest.startswith("(") or "PROGRAM TOTALS" in rest:
            continue
        rest = rest.split(")", 1)[1].strip()
        function = rest.split(":", 1)[1] if ":" in rest else rest
        function = function.rsplit(" [", 1)[0]
        result[function] = result.get(function, 0) + ir
    return result


def per_request(name, tag):
    a = annotate(os.path.join(out, f"ann.{name}.{tag}.{n}.txt"))
    b = annotate(os.path.join(out, f"ann.{name}.{tag}.{2 * n}.txt"))
    return {f: (b.get(f, 0) - a.get(f, 0)) / n for f in set(a) | set(b)}


with open(os.path.join(out, "growth.md"), "w") as growth:
    for name in ("belfry-nosentry", "belfry", "bare"):
        for low, high in (("routes1", "routes1000"), ("fields0", "fields16"), ("nospan", "fields0")):
            try:
                a, b = per_request(name, low), per_request(name, high)
            except FileNotFoundError:
                continue
            delta = sorted(((b.get(f, 0) - a.get(f, 0), f) for f in set(a) | set(b)), key=lambda d: -abs(d[0]))
            growth.write(f"### {name}: {high} − {low}, Ir/request by function (top 15)\n\n")
            growth.write(f"total {sum(d for d, _ in delta):+,.0f}\n\n")
            for d, f in delta[:15]:
                growth.write(f"- {d:+,.0f} `{f[:160]}`\n")
            growth.write("\n")
PY
echo
echo "bench-scaling.sh took $((SECONDS - START)) s" >&2
