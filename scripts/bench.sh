#!/usr/bin/env bash
# Measures belfry against bare axum and the tower-http (+ sentry-tower) stack, and belfry with
# OTLP traces on (the otel variant, exporting to a loopback sink in the process):
#   1. instructions per request, in-process, under callgrind (at N and 2N requests: the
#      difference divided by N, so start-up and warm-up cancel out), counted on the thread
#      that serves the requests (all threads are reported too);
#   2. loopback throughput and p99 with wrk: the server on core 0 with one tokio worker,
#      wrk on core 1, variants interleaved over several rounds, median reported; also the
#      server's CPU time per request (from /proc), steadier when other work shares the machine.
#   3. belfry built without its `otel` feature (callgrind only), against the belfry variant
#      (the feature compiled in, no endpoint set): what idle OTLP code costs a request;
#   4. the Sentry SDK's own cost (callgrind only): bare axum with a sentry-core hub per request,
#      and with one transaction in ten on top (REFERENCES: the floor under any integration).
# Prints a markdown table (ratios to bare) and where belfry's instructions go.
#
#   bash scripts/bench.sh            # full: N=5000, 5 wrk rounds of 5 s
#   bash scripts/bench.sh --quick    # N=2000, 3 wrk rounds of 3 s (about 75 s on 2 cores)
#   options: --out DIR (default target/belfry-bench), --port PORT (default 18080),
#            --skip-callgrind, --skip-wrk
# See docs/performance.md for the method and the latest results.
set -euo pipefail
cd "$(dirname "$0")/.."

N=5000
ROUNDS=5
DURATION=5
WARMUP_REQUESTS=300
OUT=target/belfry-bench
PORT=18080
RUN_CALLGRIND=1
RUN_WRK=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) N=2000 ROUNDS=3 DURATION=3 ;;
        --out) OUT="$2"; shift ;;
        --port) PORT="$2"; shift ;;
        --skip-callgrind) RUN_CALLGRIND=0 ;;
        --skip-wrk) RUN_WRK=0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
VARIANTS=(bare towerhttp sentrytower belfry-nosentry belfry otel)
REFERENCES=(sentry-hub sentry-hub-transactions)
START=$SECONDS

BIN=target/release
# step, install_tools, SERVER_CPU/CLIENT_CPU, start_server/stop_server, cpu_ticks.
source scripts/bench-lib.sh

step "tools"
install_tools
mkdir -p "$OUT"
# Only this script's own files: --out may name a directory that holds other things.
rm -f "$OUT"/cg.*.out* "$OUT"/ann.*.txt "$OUT"/ann-incl.*.txt "$OUT"/wrk.*.txt "$OUT"/cpu.*.txt \
    "$OUT"/server.*.log "$OUT"/valgrind.*.log "$OUT"/results.md "$OUT"/functions.*.md \
    "$OUT"/callgrind_driver.nootel
if [ "$RUN_CALLGRIND" = 1 ]; then
    # Same target directory: only belfry and belfry-bench are built twice.
    step "cargo build -p belfry-bench --release --no-default-features (belfry without its otel feature)"
    cargo build -p belfry-bench --release --no-default-features --bin callgrind_driver >&2
    cp "$BIN/callgrind_driver" "$OUT/callgrind_driver.nootel"
fi
step "cargo build -p belfry-bench --release"
cargo build -p belfry-bench --release --bins >&2

if [ "$RUN_CALLGRIND" = 1 ]; then
    # belfry's cap on Sentry transactions a second is wall-clock time: under valgrind it would
    # bind at a share set by the machine's speed. Off here, so the 0.1 rate is what is measured
    # (the wrk runs keep the deployed cap).
    export BELFRY_SENTRY_MAX_TRACES_PER_SECOND=0
    step "callgrind: $WARMUP_REQUESTS warm-up, then $N and $((2 * N)) requests per variant"
    for variant in "${VARIANTS[@]}" "${REFERENCES[@]}"; do
        for n in "$N" "$((2 * N))"; do
            "${CALLGRIND[@]}" --callgrind-out-file="$OUT/cg.$variant.$n.out" \
                "$BIN/callgrind_driver" --variant "$variant" --requests "$n" --warmup "$WARMUP_REQUESTS" \
                >/dev/null 2>"$OUT/valgrind.$variant.$n.log"
            callgrind_annotate --auto=no --inclusive=no --threshold=100 "$OUT/cg.$variant.$n.out-01" \
                >"$OUT/ann.$variant.$n.txt" 2>/dev/null
            callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$OUT/cg.$variant.$n.out-01" \
                >"$OUT/ann-incl.$variant.$n.txt" 2>/dev/null
            echo "  $variant at $n: $(grep -h '^summary:' "$OUT/cg.$variant.$n.out"-* | awk '{print $2}' | tr '\n' ' ')(per thread)" >&2
        done
    done
    for n in "$N" "$((2 * N))"; do
        "${CALLGRIND[@]}" --callgrind-out-file="$OUT/cg.belfry-nootel.$n.out" \
            "$OUT/callgrind_driver.nootel" --variant belfry --requests "$n" --warmup "$WARMUP_REQUESTS" \
            >/dev/null 2>"$OUT/valgrind.belfry-nootel.$n.log"
        echo "  belfry without the otel feature at $n: $(grep -h '^summary:' "$OUT/cg.belfry-nootel.$n.out"-* | awk '{print $2}' | tr '\n' ' ')(per thread)" >&2
    done
fi

unset BELFRY_SENTRY_MAX_TRACES_PER_SECOND

if [ "$RUN_WRK" = 1 ]; then
    echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    URL="http://127.0.0.1:$PORT/users/42"
    step "wrk: $ROUNDS rounds of ${VARIANTS[*]}, -t1 -c32 -d${DURATION}s each after a 1 s warm-up"
    for round in $(seq 1 "$ROUNDS"); do
        for variant in "${VARIANTS[@]}"; do
            start_server "$variant" "$OUT/server.$variant.r$round.log"
            "${CLIENT_CPU[@]}" wrk -t1 -c32 -d1s "$URL" >/dev/null
            before=$(cpu_ticks)
            "${CLIENT_CPU[@]}" wrk -t1 -c32 -d"${DURATION}s" --latency "$URL" >"$OUT/wrk.$variant.r$round.txt"
            echo "$before $(cpu_ticks) $CLK_TCK" >"$OUT/cpu.$variant.r$round.txt"
            stop_server
            printf '  round %s %-12s %s req/s, p99 %s\n' "$round" "$variant" \
                "$(awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk.$variant.r$round.txt")" \
                "$(awk '$1 == "99%" {print $2}' "$OUT/wrk.$variant.r$round.txt")" >&2
        done
    done
    LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "  load average after: $LOAD_AFTER" >&2
fi

step "results (also in $OUT/results.md)"
{
    echo "### belfry-bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m)," \
        "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' + uncommitted changes')"
    echo
    echo "callgrind: ${WARMUP_REQUESTS} warm-up + N=$N / 2N=$((2 * N)) requests in-process;" \
        "wrk: $ROUNDS rounds × ${DURATION}s, -t1 -c32, server on 1 tokio worker."
    if [ -n "${LOAD_AFTER:-}" ]; then
        echo "Load average after the wrk rounds: $LOAD_AFTER (the server and wrk use about 2;" \
            "more means other work shared the cores and the wrk figures are noisy)."
    fi
    echo
    "$BIN/bench_report" table --dir "$OUT" --n "$N"
} | tee "$OUT/results.md"
if [ "$RUN_CALLGRIND" = 1 ]; then
    "$BIN/bench_report" functions --dir "$OUT" --n "$N" --variant belfry --base bare --top 25 \
        >"$OUT/functions.belfry.md"
    "$BIN/bench_report" functions --dir "$OUT" --n "$N" --variant sentrytower --base bare --top 25 \
        >"$OUT/functions.sentrytower.md"
    "$BIN/bench_report" functions --dir "$OUT" --n "$N" --variant otel --base belfry --top 25 \
        >"$OUT/functions.otel.md"
    echo
    echo "Where belfry's instructions go (top 10 of each; top 25 in $OUT/functions.belfry.md):"
    echo
    "$BIN/bench_report" functions --dir "$OUT" --n "$N" --variant belfry --base bare --top 10
fi
echo
echo "bench.sh took $((SECONDS - START)) s" >&2
