#!/usr/bin/env bash
# The fuzz campaign: every cargo-fuzz target in fuzz/ for a given time each (default one
# hour: `scripts/fuzz.sh`, or `scripts/fuzz.sh 600` for ten minutes, or
# `scripts/fuzz.sh 600 sms_pdu control_request` for some targets), then each corpus
# minimized (cargo fuzz cmin). `-j N` runs N targets at once (default 1; each libFuzzer
# process uses one core, so N up to the core count costs no target any time). Prints per
# target: runs, coverage (libFuzzer's cov/ft), corpus size before and after, and any
# crash saved in fuzz/artifacts/<target>/ (copy a crash into fuzz/regressions/<target>/
# once fixed: tests/fuzz_corpus.rs replays both directories on stable in every CI run).
# Needs nightly and cargo-fuzz (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
jobs=1
if [ "${1:-}" = "-j" ]; then
    jobs=${2:?"-j needs a number"}
    shift 2
fi
case "$jobs" in
    '' | *[!0-9]* | 0) echo "fuzz: -j wants a positive number, not '$jobs'" >&2; exit 2 ;;
esac
seconds=${1:-3600}
shift || true
case "$seconds" in
    '' | *[!0-9]* | 0) echo "fuzz: SECONDS wants a positive number, not '$seconds'" >&2; exit 2 ;;
esac
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
# Every target built once before any runs, so parallel runs do not each build.
cargo +nightly fuzz build
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# One target: fuzz for $seconds, minimize, report. Its status: 1 when it crashed.
one() {
    local t=$1 status=0 before after runs cov
    mkdir -p "corpus/$t"
    before=$(find "corpus/$t" -type f | wc -l)
    echo "fuzz: $t for ${seconds} s (corpus $before)"
    if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 \
        >"$logs/$t.log" 2>&1; then
        status=1
        echo "fuzz: $t FOUND A CRASH: $(grep -m1 -o 'Test unit written to .*' "$logs/$t.log" || true)"
        tail -40 "$logs/$t.log"
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*' || echo "cov: ?")
    cargo +nightly fuzz cmin "$t" "corpus/$t" >"$logs/$t.cmin.log" 2>&1 || echo "fuzz: cmin of $t failed"
    after=$(find "corpus/$t" -type f | wc -l)
    echo "fuzz: $t: $runs runs in ${seconds} s, $cov, corpus $before -> $after after cmin"
    return $status
}

status=0
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
    one "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
exit $status
