#!/usr/bin/env bash
# Installs what the tests need on a fresh machine (Debian, Rust toolchain present); idempotent.
set -euo pipefail

if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "installing cargo-deny"
  cargo install --locked cargo-deny@0.20.2
fi

# promtool, for the tests that lint /metrics and check the alert rules (tests/tests/metrics.rs,
# tests/tests/dashboard.rs, crates/belfry-metrics/tests/promtool.rs). Debian's `prometheus`
# package ships /usr/bin/promtool. It also ships the Prometheus server, which Debian starts only
# through systemd (not at all in a container without it); should the install have started one
# anyway, that process (and only that one) is stopped again.
if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian package prometheus)"
  as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
  }
  apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
  }
  # PIDs of processes named exactly `prometheus`: pgrep when there is one, /proc otherwise.
  prometheus_pids() {
    if command -v pgrep >/dev/null 2>&1; then
      pgrep -x prometheus || true
    else
      grep -lx prometheus /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3 || true
    fi
  }
  running_before=" $(prometheus_pids | tr '\n' ' ') "
  if ! apt_install; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    apt_install
  fi
  for pid in $(prometheus_pids); do
    case "$running_before" in
      *" $pid "*) ;; # was running before the install: not ours to stop
      *)
        echo "stopping the prometheus server the install started (pid $pid)"
        as_root kill "$pid"
        ;;
    esac
  done
  command -v promtool >/dev/null 2>&1 || { echo "promtool still missing after the install" >&2; exit 1; }
fi

# The Sentry-compatible test server (scripts/sentry-server/up) installs Bugsink from PyPI into a
# venv: it needs python3 >= 3.10 with venv and ensurepip.
if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
  echo "installing python3-venv"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
    || { $SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv; }
fi
