#!/usr/bin/env bash
# Every cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time each, on the nightly toolchain,
# seeded with the carrier fixtures, the default config and API bodies. A crash fails the run and
# leaves its input in fuzz/artifacts/<target>/ (reproduce: cargo +nightly fuzz run <target> FILE).
#
#   scripts/fuzz.sh            # each target for FUZZ_SECONDS (default 20) — what the suite runs
#   scripts/fuzz.sh 600        # a longer run, as recorded in RELIABILITY.md
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-20}}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "[fuzz.sh] installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked --quiet
fi
python3 scripts/fuzz-seeds.py fuzz/corpus
mkdir -p fuzz/logs
failed=0
for target in carrier_parsers carrier_definitions webhook_signatures config_loader api_bodies stream_inputs; do
  log=fuzz/logs/$target.log
  # --dev: debug assertions and overflow checks on, and a build that fits the suite's time;
  # no sanitizer: the crates forbid unsafe code, and a panic is what we look for.
  if cargo +nightly fuzz run --dev --sanitizer none "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "[fuzz.sh] $target: ${seconds}s, $runs inputs, no failure" >&2
  else
    echo "[fuzz.sh] $target FAILED (full log: $log):" >&2
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|error(\[|:)' "$log" | head -20 >&2 || tail -30 "$log" >&2
    failed=1
  fi
done
exit "$failed"

