#!/usr/bin/env bash
# The project's docs and comments stand alone: no reference to a file outside the
# repository (the research notes and design documents it was written from). Fails, naming
# each reference, when one comes back.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\.\./shared|CONTROL-DESIGN|SIM5360-(AT|data|device|sockets)\.md|HOUSE\.md|testbench/NOTES|(^|[^A-Z])DESIGN\.md'
if hits=$(git grep -nE "$pattern" -- . ':!scripts/docs-check.sh'); then
    echo "docs-check: references to files outside the repository:" >&2
    echo "$hits" >&2
    echo "docs-check: 1 failed"
    exit 1
fi
echo "docs-check: no reference outside the repository"
