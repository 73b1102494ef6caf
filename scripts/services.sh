#!/usr/bin/env bash
# Shared by scripts/test.sh and scripts/bench.sh (sourced, not run): make sure PostgreSQL
# (127.0.0.1:5432), RabbitMQ (127.0.0.1:5672) and MariaDB (127.0.0.1:3306, root without a
# password) are up, starting them when installed but stopped and installing them from Debian's
# packages when absent, so both work on a fresh machine.

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

port_open() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_for_port() { # port seconds name
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done
  log "$3 did not come up on port $1"; return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

apt_install() {
  log "installing $* from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d keeps the packages from trying to start services through an init system.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if [ -z "${TRACKGATE_TEST_POSTGRES_URL:-}" ] && ! port_open 5432; then
    local installed_now=0
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then apt_install postgresql; installed_now=1; fi
    local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ "$installed_now" = 1 ]; then
      # A fresh cluster asks for passwords on TCP; the tests connect as `postgres` on loopback.
      as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "/etc/postgresql/$version/main/pg_hba.conf"
    fi
    log "starting PostgreSQL $version"
    # restart, not start: the package may have started the cluster before pg_hba.conf changed.
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart \
      || as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for_port 5432 60 PostgreSQL
  fi
}

# The load generator reports statements per webhook from pg_stat_statements, which PostgreSQL
# only loads at start: set it once and restart the local cluster (a no-op when already loaded).
ensure_pg_stat_statements() {
  local url=${TRACKGATE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  if ! psql "$url" -Atc "SHOW shared_preload_libraries" 2>/dev/null | grep -q pg_stat_statements; then
    log "loading pg_stat_statements (restarts the local PostgreSQL once)"
    psql "$url" -qc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
    local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart
    wait_for_port 5432 60 PostgreSQL
  fi
  # Planning time per statement too (the load generator reports it per webhook); a reload.
  if [ "$(psql "$url" -Atc "SHOW pg_stat_statements.track_planning")" != on ]; then
    psql "$url" -qc "ALTER SYSTEM SET pg_stat_statements.track_planning = on" -c "SELECT pg_reload_conf()" >/dev/null
  fi
}

ensure_rabbitmq() {
  if [ -z "${TRACKGATE_TEST_AMQP_URL:-}" ] && ! port_open 5672; then
    if ! command -v rabbitmq-server >/dev/null 2>&1; then apt_install rabbitmq-server; fi
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached || true
    wait_for_port 5672 120 RabbitMQ
  fi
}

ensure_mariadb() {
  if [ -z "${TRACKGATE_TEST_MYSQL_URL:-}" ] && ! port_open 3306; then
    local installed_now=0
    if [ ! -x /usr/sbin/mariadbd ]; then apt_install mariadb-server; installed_now=1; fi
    log "starting MariaDB"
    as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    wait_for_port 3306 60 MariaDB
    if [ "$installed_now" = 1 ]; then
      # The tests connect as root over TCP without a password, to the `test` database.
      as_root mariadb -e "CREATE DATABASE IF NOT EXISTS test; ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" || true
    fi
  fi
}

# Leftovers of earlier runs whose tests panicked before cleaning up (best effort).
# The browser tests drive Debian's chromium through chromedriver (tests/it/browser.rs), with a
# CJK font so Chinese labels render in screenshots. Nothing downloads a browser of its own.
ensure_browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk' || missing+=(fonts-wqy-microhei)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} for the browser tests"
    apt_install "${missing[@]}"
  fi
}

remove_stale_test_data() {
  if [ -z "${TRACKGATE_TEST_POSTGRES_URL:-}" ] && command -v psql >/dev/null 2>&1; then
    for db in $(psql -h 127.0.0.1 -U postgres -d postgres -Atc "select datname from pg_database where datname like 'tg_test_%'" 2>/dev/null); do
      psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
    done
  fi
  if [ -z "${TRACKGATE_TEST_MYSQL_URL:-}" ] && command -v mariadb >/dev/null 2>&1; then
    for db in $(mariadb -h 127.0.0.1 -u root -N -e "show databases like 'tg\_test\_%'" 2>/dev/null); do
      mariadb -h 127.0.0.1 -u root -e "drop database if exists \`$db\`" >/dev/null 2>&1 || true
    done
  fi
  if [ -z "${TRACKGATE_TEST_AMQP_URL:-}" ] && command -v rabbitmqctl >/dev/null 2>&1; then
    for queue in $(as_root rabbitmqctl list_queues name -q --no-table-headers 2>/dev/null | grep '^tgtest\.' || true); do
      as_root rabbitmqctl delete_queue "$queue" >/dev/null 2>&1 || true
    done
  fi
}

# promtool (Debian's prometheus package) and nginx for the deploy kit's tests
# (tests/it/deploy.rs); nginx is only run by the tests, never left running.
ensure_ops_tools() {
  local missing=()
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} for the deploy kit tests"
    apt_install "${missing[@]}"
    # Debian starts the services it installs: the tests start their own.
    systemctl stop prometheus nginx >/dev/null 2>&1 || service prometheus stop >/dev/null 2>&1 || true
    service nginx stop >/dev/null 2>&1 || true
  fi
}

# PHP runs the mall's push verifier exactly as docs/mall-integration.md prints it
# (tests/it/contract.rs).
ensure_php() {
  command -v php >/dev/null 2>&1 || apt_install php-cli
}

# schemathesis (PyPI) runs against a live gateway in tests/it/contract.rs.
ensure_schemathesis() {
  if ! command -v schemathesis >/dev/null 2>&1; then
    log "installing schemathesis from PyPI for the contract test"
    python3 -m pip install --quiet --disable-pip-version-check schemathesis
    hash -r
  fi
  command -v schemathesis >/dev/null 2>&1 || { log "schemathesis is not on PATH after installing it"; return 1; }
}
