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

step "the facade's Cargo features, each on its own (clippy, unit tests, docs)"
# `default-features = false` plus one feature at a time; everything together is the workspace
# run below. Doc tests run there only: they show the default features. The docs build without
# a warning with any one feature (a link to what a feature left out goes to its row in the
# crate's feature table).
for feature in "" sentry metrics health reqwest otel; do
    echo "-- belfry --no-default-features --features '$feature'"
    cargo clippy -p belfry --no-default-features --features "$feature" --lib --tests -- -D warnings
    cargo test -p belfry --no-default-features --features "$feature" --lib --tests --quiet
    RUSTDOCFLAGS="-D warnings" cargo doc -p belfry --no-deps --no-default-features --features "$feature" --quiet
done
# Without default features, none of Sentry's, TLS or Prometheus crates is compiled.
if cargo tree -e normal --no-default-features -p belfry | grep -Eq '\b(sentry|rustls|ureq|prometheus-client) v'; then
    echo "belfry --no-default-features pulls in sentry, rustls, ureq or prometheus-client" >&2
    exit 1
fi
# OTLP export alone does not bring the Prometheus registry (`metrics` turns its push on).
if cargo tree -e normal --no-default-features --features otel -p belfry | grep -Eq '\b(belfry-metrics|prometheus-client) v'; then
    echo "belfry with only the otel feature pulls in belfry-metrics or prometheus-client" >&2
    exit 1
fi
# The capture layer knows no Sentry: belfry-sentry plugs into it.
if cargo tree -p belfry-capture | grep -Eq '\bsentry[a-z-]* v'; then
    echo "belfry-capture depends on a sentry crate" >&2
    exit 1
fi

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
