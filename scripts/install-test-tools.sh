#!/usr/bin/env bash
# Installs what the tests need on a fresh machine (Debian, Rust toolchain present); idempotent.
set -euo pipefail

if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "installing cargo-deny"
  cargo install --locked cargo-deny@0.20.2
fi
