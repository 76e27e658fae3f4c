#!/usr/bin/env bash
# Installs what the test suite needs. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "install-deps: cargo not found; install Rust first (rustup)" >&2; exit 1; }
