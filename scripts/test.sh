#!/usr/bin/env bash
# The whole test suite from a clean checkout: install what the tests need (idempotent,
# quick when already done), then format check, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
