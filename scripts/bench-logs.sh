#!/usr/bin/env bash
# Instructions per log event under callgrind, for each scenario of `log_driver` (see
# crates/belfry-bench/src/bin/log_driver.rs): at N and 2N iterations, (Ir(2N) - Ir(N)) / N, on
# the thread that logs (callgrind's out-01) and on all threads. Prints a markdown table.
#
#   bash scripts/bench-logs.sh            # N=2000
#   bash scripts/bench-logs.sh --n 5000
set -euo pipefail
cd "$(dirname "$0")/.."
N=2000
OUT=target/belfry-bench/logs
while [ $# -gt 0 ]; do
    case "$1" in
        --n) N="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        *) echo "bench-logs.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
SCENARIOS=(access-baseline access access-queued access-trace-ids handler handler-spans handler-spans-created)
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
