#!/usr/bin/env bash
# Runs every check and test of the workspace, installing what they need first.
# This is the README's test command; CI (.ci/run) calls it on a clean checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "tools"
bash scripts/install-test-tools.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "sentry-compatible server (Bugsink) for the end-to-end tests"
export BELFRY_TEST_SENTRY_HOME="${BELFRY_TEST_SENTRY_HOME:-$PWD/target/sentry-server-test}"
SENTRY_SERVER_HOME="$BELFRY_TEST_SENTRY_HOME" bash scripts/sentry-server/up >/dev/null
trap 'SENTRY_SERVER_HOME="$BELFRY_TEST_SENTRY_HOME" bash scripts/sentry-server/down' EXIT

step "cargo test"
cargo test --workspace --all-features

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

step "cargo deny"
cargo deny --all-features check licenses bans sources

step "all checks passed"
