#!/usr/bin/env bash
# The whole test suite from a clean checkout: install what the tests need (idempotent,
# quick when already done), then format check, lints, the fault matrix document's
# freshness (scripts/fault-matrix.py --check), every test and the Python package's
# check (scripts/python-check.sh) and the dashboard's browser check
# (scripts/dashboard-check.sh). Ends with one summary line: "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# docs/faults.md is generated from the fault-matrix tests; a stale copy fails the run.
python3 scripts/fault-matrix.py --check

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# --no-fail-fast: a failing test binary does not hide the ones after it.
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# The Python package: wheel built from the checkout, a fresh venv, ruff, mypy, its pytest
# suite twice (the second time under xdist). Its pytest summaries count in the total.
bash scripts/python-check.sh 2>&1 | tee -a "$log" || status=$?
# The dashboard in headless chromium (screenshots in target/artifacts/dashboard).
bash scripts/dashboard-check.sh 2>&1 | tee -a "$log" || status=$?
passed=$(grep -E '^test result:|^[0-9]+ (passed|failed)' "$log" | grep -o '[0-9]* passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:|^[0-9]+ (passed|failed)' "$log" | grep -o '[0-9]* failed' | awk '{s+=$1} END {print s+0}')
echo
echo "tests: $passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    exit 1
fi
