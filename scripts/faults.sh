#!/usr/bin/env bash
# The fault harness (benches/faults): load on the real gateway while RabbitMQ is stopped, the
# database restarted, the mall taken down and gateways killed with SIGKILL, then a
# reconciliation of carrier acks, store rows and mall receipts; exits non-zero on any loss, stuck
# or out-of-order push. It restarts this machine's PostgreSQL, MariaDB and RabbitMQ: run it on a
# test machine, not beside anything that needs them. Figures go to RELIABILITY.md by hand.
#
#   scripts/faults.sh                 # PostgreSQL + RabbitMQ, then MariaDB + embedded queue
#   scripts/faults.sh postgres        # only PostgreSQL + RabbitMQ
#   scripts/faults.sh mariadb         # only MariaDB (embedded queue, then RabbitMQ)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
. scripts/services.sh
ensure_postgres
ensure_rabbitmq
ensure_mariadb

OUT=${OUT:-target/faults-report}
mkdir -p "$OUT"
what=${1:-all}
status=0
run() { # name args...
  local name=$1; shift
  log "$name: $*"
  cargo bench --locked --bench faults -- "$@" 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)' | tee "$OUT/$name.md" || status=1
}
if [ "$what" = all ] || [ "$what" = postgres ]; then
  run postgres-rabbitmq --store postgres --queue rabbitmq
fi
if [ "$what" = all ] || [ "$what" = mariadb ]; then
  run mariadb-embedded --store mariadb --queue embedded
  run mariadb-rabbitmq --store mariadb --queue rabbitmq --scenario database-restarts
fi
log "reports in $OUT"
exit "$status"
