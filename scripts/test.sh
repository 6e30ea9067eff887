#!/usr/bin/env bash
# Runs every test suite llmflow has, on a fresh machine:
#   1. Rust unit and integration tests (cargo test --workspace): core parsers, pricing,
#      redaction, the proxy against a mock upstream, the store, the API and the live feed.
#   2. End-to-end tests: the official OpenAI Python SDK (from PyPI, in .venv) against the
#      real llmflow binary and a mock upstream speaking OpenAI's wire format.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace

cargo build --bin llmflow

# The venv is (re)built when missing or when e2e/requirements.txt changed.
want=$(sha256sum e2e/requirements.txt | cut -d' ' -f1)
have=$(cat .venv/.requirements.sha256 2>/dev/null || true)
if [ ! -x .venv/bin/python ] || [ "$want" != "$have" ]; then
  if ! python3 -m venv .venv; then
    echo "scripts/test.sh: python3 -m venv failed; install python3-venv (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi

LLMFLOW_BIN="$PWD/target/debug/llmflow" .venv/bin/python -m pytest -q -p no:cacheprovider e2e
