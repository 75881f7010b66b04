#!/usr/bin/env bash
# Memory soak: 10,000 requests, then wrk rounds until at least 1,000,000 requests have been
# served by belfry's full stack (belfry-bench's server, Sentry on with a closed-port DSN);
# prints the resident memory after the first 10,000 and at the end. Bounded: it stops after
# 1M requests (or 60 wrk rounds), and stops the server it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18282}"
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release -q -p belfry-bench --bin bench_server
BIN=target/release
taskset -c 0 "$BIN/bench_server" --variant belfry --addr "127.0.0.1:$PORT" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$PORT/users/1" && break; sleep 0.1; done
python3 - "$PORT" <<'PY'
import http.client, sys
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for i in range(10000):
    connection.request("GET", "/users/%d" % i)
    connection.getresponse().read()
PY
rss_10k=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
total=10000
for _ in $(seq 60); do
    [ "$total" -ge 1000000 ] && break
    served=$(taskset -c 1 wrk -t1 -c32 -d5s "http://127.0.0.1:$PORT/users/1" | awk '/requests in/{print $1}')
    total=$((total + served))
done
rss_end=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
echo "requests: $total; VmRSS after 10k: ${rss_10k} KiB; at the end: ${rss_end} KiB; growth: $((rss_end - rss_10k)) KiB"
