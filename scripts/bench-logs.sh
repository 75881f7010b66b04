#!/usr/bin/env bash
# Instructions per log event under callgrind, for each scenario of `log_driver` (see
# crates/belfry-bench/src/bin/log_driver.rs): at N and 2N iterations, (Ir(2N) - Ir(N)) / N, on
# the thread that logs (callgrind's out-01) and on all threads. Prints a markdown table.
#
#   bash scripts/bench-logs.sh            # N=2000
#   bash scripts/bench-logs.sh --n 5000
#   bash scripts/bench-logs.sh --wrk      # also: wrk against belfry's full stack (Sentry off),
#                                         # log writer thread vs BELFRY_LOG_BLOCKING=true,
#                                         # stdout to a pipe (as under a container runtime),
#                                         # server on core 0, wrk on core 1, 3 rounds interleaved
set -euo pipefail
cd "$(dirname "$0")/.."
N=2000
OUT=target/belfry-bench/logs
RUN_WRK=0
PORT=18090
while [ $# -gt 0 ]; do
    case "$1" in
        --n) N="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --wrk) RUN_WRK=1 ;;
        *) echo "bench-logs.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
SCENARIOS=(access-fmt-json access access-queued access-trace-ids handler handler-spans handler-spans-created)
cargo build --release -p belfry-bench --bin log_driver >&2
mkdir -p "$OUT"
rm -f "$OUT"/cg.*
total() { # the "summary:"/"totals:" line of one callgrind out file
    awk '/^(summary|totals):/ { print $2; exit }' "$1"
}
echo "| scenario | Ir per event, logging thread | Ir per event, all threads |"
echo "| --- | ---: | ---: |"
for scenario in "${SCENARIOS[@]}"; do
    for n in "$N" "$((2 * N))"; do
        valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/cg.$scenario.$n.out" \
            target/release/log_driver --scenario "$scenario" --events "$n" --warmup 300 >/dev/null 2>"$OUT/valgrind.$scenario.$n.log"
    done
    main_n=$(total "$OUT/cg.$scenario.$N.out-01")
    main_2n=$(total "$OUT/cg.$scenario.$((2 * N)).out-01")
    all_n=0; all_2n=0
    for f in "$OUT"/cg."$scenario"."$N".out-*; do all_n=$((all_n + $(total "$f"))); done
    for f in "$OUT"/cg."$scenario"."$((2 * N))".out-*; do all_2n=$((all_2n + $(total "$f"))); done
    echo "| $scenario | $(( (main_2n - main_n) / N )) | $(( (all_2n - all_n) / N )) |"
done

[ "$RUN_WRK" = 1 ] || exit 0
cargo build --release -p belfry-bench --bin bench_server >&2
echo
echo "| round | writer thread req/s | BELFRY_LOG_BLOCKING=true req/s |"
echo "| --- | ---: | ---: |"
for round in 1 2 3; do
    row="| $round"
    for blocking in false true; do
        # stdout through a pipe (process substitution, so that $! is the server's PID).
        BELFRY_LOG_BLOCKING=$blocking taskset -c 0 target/release/bench_server --variant belfry --no-sentry \
            --addr "127.0.0.1:$PORT" 2>/dev/null > >(cat >/dev/null) &
        server=$!
        for _ in $(seq 100); do
            curl -fs "http://127.0.0.1:$PORT/users/1" >/dev/null 2>&1 && break
            sleep 0.1
        done
        taskset -c 1 wrk -t1 -c32 -d1s "http://127.0.0.1:$PORT/users/1" >/dev/null
        rps=$(taskset -c 1 wrk -t1 -c32 -d3s "http://127.0.0.1:$PORT/users/1" | awk '/^Requests\/sec:/ {print $2}')
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        row="$row | $rps"
    done
    echo "$row |"
done
