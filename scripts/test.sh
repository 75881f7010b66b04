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

step "cargo package"
# Every publishable crate packages (metadata, README, path dependencies with versions); the
# publish = false packages are excluded by name. --no-verify: verifying would rebuild every crate
# from scratch in target/package, which costs CI minutes the build and tests above already spent.
# --allow-dirty: this script also runs on working trees with uncommitted changes.
# The .crate files it leaves in target/package are small (about 1.5 MB), so they stay.
cargo package --workspace --exclude belfry-bench --exclude belfry-demo --exclude belfry-tests \
  --no-verify --allow-dirty

step "all checks passed"
