#!/usr/bin/env bash
# Installs the official Python SDKs the end-to-end tests use as upstream callers of the demo
# (tests/peers/requirements.txt: opentelemetry-sdk, sentry-sdk) into a venv, once, and prints the
# venv's python on stdout. Idempotent: a venv whose requirements are unchanged is reused.
#
# Environment: BELFRY_TEST_PEERS_HOME, the venv's directory (default target/python-peers).
set -euo pipefail
cd "$(dirname "$0")/.."

home="${BELFRY_TEST_PEERS_HOME:-$PWD/target/python-peers}"
requirements="$PWD/tests/peers/requirements.txt"
stamp="$home/requirements.txt"
if [ ! -x "$home/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
  echo "python-peers: installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $home" >&2
  rm -rf "$home"
  python3 -m venv "$home" >&2
  "$home/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
echo "$home/bin/python"
