#!/usr/bin/env bash
# The Python package from the checkout: `pip install .` into a fresh venv (maturin builds
# the wheel with the sim5360 binary inside), lint (ruff) and type-check (mypy --strict) the
# package, run its pytest suite and the examples, then again under pytest -n 2 (xdist);
# last the offline install of python/README.md with no network.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check "mypy>=1.10" "ruff>=0.5"
# The README's command: pip builds the wheel with maturin (the release binary inside) and
# installs it, with the `test` extra (pytest, xdist, pyserial, python-gsmmodem-new).
"$py" -m pip install --quiet --disable-pip-version-check '.[test]'
"$work/venv/bin/ruff" check python
"$work/venv/bin/ruff" format --check python
"$work/venv/bin/mypy" python/sim5360
# The installed package, not the checkout's sources: run from a directory without them.
(cd "$work" && SIM5360_CHECK_VENV="$work/venv" "$py" -m pytest -q -p no:cacheprovider "$OLDPWD/python/tests" "$OLDPWD/python/examples")
# The same tests again: their summary is marked so scripts/test.sh counts them once.
(cd "$work" && SIM5360_CHECK_VENV="$work/venv" "$py" -m pytest -q -p no:cacheprovider -n 2 "$OLDPWD/python/tests" "$OLDPWD/python/examples") \
    | sed -E 's/^([0-9]+ (passed|failed))/xdist run: \1/'
# Offline, once the registries' packages are cached: the build backend and the extra in a
# wheelhouse (pip's own cache is no use offline: pip revalidates index pages every time),
# then the README's offline command with no network at all (a network namespace where
# unshare works, else a proxy nobody listens on) and cargo told not to fetch either.
"$py" -m pip download --quiet --disable-pip-version-check --dest "$work/wheels" "maturin>=1.5,<2" "pyserial>=3.5"
/usr/bin/python3 -m venv "$work/offline"
offline=(env https_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 CARGO_NET_OFFLINE=true)
if unshare -n true 2>/dev/null; then
    offline=(unshare -n "${offline[@]}")
elif unshare -rn true 2>/dev/null; then
    offline=(unshare -rn "${offline[@]}")
fi
"${offline[@]}" "$work/offline/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-index --find-links "$work/wheels" '.[serial]'
(cd "$work" && "$work/offline/bin/python" -c \
    'import sys, serial, sim5360; b = sim5360.find_sim5360_bin(); assert b.is_relative_to(sys.prefix), b')
echo "python-check: offline install passed"
echo "python-check: passed"
