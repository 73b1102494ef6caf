#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md, in one run on one machine, so the figures and the ceilings
# they are divided by come from the same session. Writes each report to $OUT (default
# target/bench-report/) and prints them. Takes about 15 minutes on the 2-core reference box.
#
#   scripts/bench.sh            # everything
#   scripts/bench.sh intake     # only the load generator's intake runs
#   scripts/bench.sh parsers    # only the parser benchmarks (criterion + karrio side by side)
#   scripts/bench.sh track      # only the support lookups on 1,000,000 shipments
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
. scripts/services.sh

OUT=${OUT:-target/bench-report}
mkdir -p "$OUT"
what=${1:-all}
run() { # name command...
  local name=$1; shift
  log "$name: $*"
  "$@" 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)' | tee "$OUT/$name.md"
}

if [ "$what" = all ] || [ "$what" = parsers ]; then
  # The peer: karrio from PyPI, pinned, in its own virtualenv (../shared/peer/setup.sh).
  if [ ! -x "${KARRIO_PYTHON:-/tmp/karrio-venv/bin/python}" ]; then bash ../shared/peer/setup.sh; fi
  run versus-karrio cargo bench --locked -p trackgate-carriers --bench versus_karrio
  run parsers cargo bench --locked -p trackgate-carriers --bench parsers -- \
    --warm-up-time 1 --measurement-time 2 --noplot
  python3 scripts/criterion-summary.py < "$OUT/parsers.md" > "$OUT/parsers-summary.md"
fi
if [ "$what" = all ] || [ "$what" = intake ] || [ "$what" = track ]; then
  ensure_postgres
  ensure_pg_stat_statements
  ensure_rabbitmq
fi
if [ "$what" = all ] || [ "$what" = intake ]; then
  run intake-sqlite-flat cargo bench --locked --bench loadgen -- --store sqlite --webhooks 30000
  run intake-postgres-flat cargo bench --locked --bench loadgen -- --store postgres --webhooks 60000
  rate=$(grep -o 'acknowledged per second | \*\*[0-9]*' "$OUT/intake-postgres-flat.md" | grep -o '[0-9]*$')
  run intake-postgres-half-rate cargo bench --locked --bench loadgen -- --store postgres \
    --webhooks 30000 --rate "$((rate / 2))" --no-ceilings
  run intake-postgres-1000 cargo bench --locked --bench loadgen -- --store postgres \
    --webhooks 30000 --rate 1000 --no-ceilings
  run intake-postgres-500 cargo bench --locked --bench loadgen -- --store postgres \
    --webhooks 20000 --rate 500 --no-ceilings
  run intake-postgres-250 cargo bench --locked --bench loadgen -- --store postgres \
    --webhooks 15000 --rate 250 --no-ceilings
  run intake-sqlite-250 cargo bench --locked --bench loadgen -- --store sqlite \
    --webhooks 15000 --rate 250 --no-ceilings
fi
if [ "$what" = all ] || [ "$what" = track ]; then
  run track cargo bench --locked --bench loadgen -- --track --connections 16
fi
# The load generator's gateways declare durable queues under a tg_bench_<pid> prefix.
if command -v rabbitmqctl >/dev/null 2>&1; then
  for queue in $(as_root rabbitmqctl list_queues name -q --no-table-headers 2>/dev/null | grep '^tg_bench_' || true); do
    as_root rabbitmqctl delete_queue "$queue" >/dev/null 2>&1 || true
  done
fi
log "reports in $OUT"
