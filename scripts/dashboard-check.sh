#!/usr/bin/env bash
# The dashboard in a real browser: ESLint on its script, then Debian's chromium
# (headless) through chromium-driver and Selenium: boot URCs in the trace, AT+CSQ from a
# DTE, "Coverage off" reaching the DTE as +CREG: 0, an SMS from the form reaching it as
# +CMTI, a data call shown and hung up by DTR, pause and filter, the snapshot mode, no
# console errors. Screenshots of each step
# go to $SIM5360_ARTIFACTS/dashboard (default target/artifacts/dashboard), the CI
# artifact. Run by scripts/test.sh, and on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
dash=crates/sim5360/src/control/dashboard

# ESLint, pinned, installed once into a cache (idempotent, offline once cached).
ESLINT_VERSION=10.15.0
if [ "$(id -u)" = 0 ]; then cache=/var/cache/sim5360; else cache="${XDG_CACHE_HOME:-$HOME/.cache}/sim5360"; fi
eslint_dir="$cache/eslint-$ESLINT_VERSION"
if [ ! -x "$eslint_dir/node_modules/.bin/eslint" ]; then
    mkdir -p "$eslint_dir"
    npm install --prefix "$eslint_dir" --no-audit --no-fund --silent "eslint@$ESLINT_VERSION"
fi
(cd "$dash" && "$eslint_dir/node_modules/.bin/eslint" --max-warnings 0 --config eslint.config.mjs app.js)
echo "dashboard-check: eslint clean"

cargo build --release --quiet --bin sim5360
bin=target/release/sim5360
venv=$(bash scripts/install-deps.sh --print-venv)
"$venv/bin/python" scripts/dashboard_check.py "$bin" "${SIM5360_ARTIFACTS:-target/artifacts}/dashboard"
