# Shared by scripts/bench.sh and scripts/bench-scaling.sh (sourced, not run): the tools they
# install, how they run callgrind, the cores they pin to, and the bench_server they start, measure
# and stop.
# Expects BIN (the release directory) and PORT set by the sourcing script.

step() { printf '\n==> %s\n' "$*" >&2; }

# install_tools [COMMAND PACKAGE]...: wrk, valgrind and taskset, and each extra command not found
# (from its Debian package).
install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v valgrind >/dev/null || missing+=(valgrind)
    command -v taskset >/dev/null || missing+=(util-linux)
    while [ $# -ge 2 ]; do
        command -v "$1" >/dev/null || missing+=("$2")
        shift 2
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get install -y "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }
    fi
}

# callgrind as both scripts run it: one out file per thread (…out-01 is the thread that drives the
# requests), and threads taking fair turns — the driver yields after each request, so Sentry's
# transport and the log writer keep up as on a spare core instead of dropping what they would
# deliver (see belfry_bench::drive_routes).
CALLGRIND=(valgrind --tool=callgrind --fair-sched=yes --separate-threads=yes)

# The server on core 0, wrk on core 1 (with fewer than two cores, not pinned apart).
if [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
else
    echo "$(basename "$0"): only 1 core: server and wrk are not pinned apart" >&2
    SERVER_CPU=()
    CLIENT_CPU=()
fi

SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

# start_server VARIANT LOG: bench_server on the server core, waits until it listens.
start_server() {
    "${SERVER_CPU[@]}" "$BIN/bench_server" --variant "$1" --addr "127.0.0.1:$PORT" >/dev/null 2>"$2" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        grep -q listening "$2" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$2" >&2; exit 1; }
        sleep 0.05
    done
    echo "$(basename "$0"): the server did not listen" >&2
    exit 1
}

# The server's CPU time (user + system), in clock ticks: CPU per request is steadier than
# throughput when other work shares the machine.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
CLK_TCK=$(getconf CLK_TCK)
