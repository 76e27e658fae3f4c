#!/usr/bin/env bash
# The Python package from the checkout: `pip install .` into a fresh venv (maturin builds
# the wheel with the sim5360 binary inside), lint (ruff) and type-check (mypy --strict) the
# package, run its pytest suite and the examples, then again under pytest -n 2 (xdist).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check \
    "pytest>=8" "pytest-xdist>=3" "pyserial>=3.5" "mypy>=1.10" "ruff>=0.5" "python-gsmmodem-new>=0.13,<1"
# The README's command: pip builds the wheel with maturin (the release binary inside) and
# installs it.
"$py" -m pip install --quiet --disable-pip-version-check .
"$work/venv/bin/ruff" check python
"$work/venv/bin/ruff" format --check python
"$work/venv/bin/mypy" python/sim5360
# The installed package, not the checkout's sources: run from a directory without them.
(cd "$work" && SIM5360_CHECK_VENV="$work/venv" "$py" -m pytest -q -p no:cacheprovider "$OLDPWD/python/tests" "$OLDPWD/python/examples")
(cd "$work" && SIM5360_CHECK_VENV="$work/venv" "$py" -m pytest -q -p no:cacheprovider -n 2 "$OLDPWD/python/tests" "$OLDPWD/python/examples")
echo "python-check: passed"
