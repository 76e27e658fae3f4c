#!/usr/bin/env bash
# The whole test suite from a clean checkout: install what the tests need (idempotent,
# quick when already done), then format check, lints, the fault matrix document's
# freshness (scripts/fault-matrix.py --check), every test and the Python package's
# check (scripts/python-check.sh), the dashboard's browser check
# (scripts/dashboard-check.sh) and the docs check (scripts/docs-check.sh: nothing refers to
# a file outside the repository). Ends with one summary line, "tests: N passed, M failed
# (...)", where M counts failed tests, pytest errors, crashed test binaries and failed checks.
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
checks_failed=0
# --no-fail-fast: a failing test binary does not hide the ones after it.
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# The Python package: wheel built from the checkout, a fresh venv, ruff, mypy, its pytest
# suite twice (the second time under xdist, which does not count again).
bash scripts/python-check.sh 2>&1 | tee -a "$log" || { status=1; checks_failed=$((checks_failed + 1)); echo "test.sh: python-check failed" | tee -a "$log"; }
# The dashboard in headless chromium (screenshots in target/artifacts/dashboard).
bash scripts/dashboard-check.sh 2>&1 | tee -a "$log" || { status=1; checks_failed=$((checks_failed + 1)); echo "test.sh: dashboard-check failed" | tee -a "$log"; }
# The docs stand alone: no reference to a file outside the repository.
bash scripts/docs-check.sh 2>&1 | tee -a "$log" || { status=1; checks_failed=$((checks_failed + 1)); }
# Counting: a grep that finds nothing is a zero, not an error.
set +e +o pipefail
# The closing line counts every way a run can fail: failed tests (cargo's and pytest's),
# pytest errors, test binaries that ended without a result line (a crash), and checks
# that failed.
sum() { grep -oE "[0-9]+ $1" | awk '{s+=$1} END {print s+0}'; }
results=$(grep -E '^test result:|^[0-9]+ (passed|failed)|^[0-9]+ failed|, [0-9]+ (failed|errors?) in|^[0-9]+ errors? in' "$log" || true)
passed=$(printf '%s\n' "$results" | sum passed)
failed=$(printf '%s\n' "$results" | sum failed)
errors=$(printf '%s\n' "$results" | grep -oE '[0-9]+ errors?' | awk '{s+=$1} END {print s+0}')
# cargo lists the targets that failed at the end ("error: N targets failed:" then one line
# each); those with no failing test of their own crashed.
targets_failed=$(grep -oE '^error: [0-9]+ targets? failed' "$log" | grep -oE '[0-9]+' | head -1)
targets_failed=${targets_failed:-$(grep -c '^error: test failed, to rerun pass' "$log" || true)}
binaries_with_failures=$(grep -c '^test result: FAILED' "$log" || true)
crashed=$(( targets_failed > binaries_with_failures ? targets_failed - binaries_with_failures : 0 ))
total_failed=$((failed + errors + crashed + checks_failed))
echo
echo "tests: $passed passed, $total_failed failed ($failed tests, $errors pytest errors, $crashed crashed test binaries, $checks_failed failed checks)"
if [ "$status" -ne 0 ] || [ "$total_failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    exit 1
fi
