#!/usr/bin/env bash
# trackgate's full test suite: unit tests, fixture conformance, property tests, the architecture
# check and the integration suite on SQLite, on the real PostgreSQL + RabbitMQ and on
# MariaDB/MySQL, the console and customer pages in Debian's chromium, the deploy kit (promtool
# on the alert rules and dashboard, Debian's nginx with the shipped config), schemathesis against a
# live gateway with the generated OpenAPI document, the docs' PHP push verifier run by PHP, a short run of every fuzz target (cargo-fuzz on the nightly toolchain, installed
# from crates.io if absent), then fmt and clippy.
#
# It first makes sure PostgreSQL (127.0.0.1:5432), RabbitMQ (127.0.0.1:5672) and MariaDB
# (127.0.0.1:3306, root without a password) are up: it starts them when installed but stopped,
# and installs them from Debian's packages when absent, so it works on a fresh machine. Tests
# that need a service fail if it is unreachable; none is skipped. Override the addresses with
# TRACKGATE_TEST_POSTGRES_URL / TRACKGATE_TEST_AMQP_URL / TRACKGATE_TEST_MYSQL_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/services.sh
. scripts/services.sh

ensure_postgres
ensure_rabbitmq
ensure_mariadb
ensure_browser
ensure_ops_tools
ensure_schemathesis
ensure_php
remove_stale_test_data

output=$(mktemp)
trap 'rm -f "$output"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$output"
test_status=${PIPESTATUS[0]}
# Every fuzz target for a short, bounded run (scripts/fuzz.sh; FUZZ_SECONDS each, default 20).
./scripts/fuzz.sh || test_status=1
set -e
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# One closing line over every test binary (cargo prints one `test result` per binary).
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$output"
exit "$test_status"
