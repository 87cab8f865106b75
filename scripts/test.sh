#!/usr/bin/env bash
# Runs the whole AgentOps test suite on a fresh machine: starts (or installs) the services
# the tests need, then runs every test of the workspace, the doc tests and the offline
# infrastructure checks.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -E 'test(claim)'  # extra arguments go to cargo nextest
#
# Services: PostgreSQL from TEST_DATABASE_URL, else the local server on 127.0.0.1:5432,
# else a private cluster started here in a temporary directory; Redis likewise from
# TEST_REDIS_URL, the local server on 6379, or a private one (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

cleanup_actions=()
cleanup() {
    local action
    for action in "${cleanup_actions[@]}"; do eval "$action" || true; done
}
trap cleanup EXIT

# --- PostgreSQL --------------------------------------------------------------------------
pg_bin() {
    local name=$1 dir
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/$name" ] && { echo "$dir/$name"; return; }
    done
    return 1
}

ensure_postgres() {
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        log "PostgreSQL: using TEST_DATABASE_URL"
        return
    fi
    if pg_bin pg_isready >/dev/null && "$(pg_bin pg_isready)" -q -h 127.0.0.1 -p 5432 -U postgres \
        && psql_ok "postgres://postgres@127.0.0.1:5432/postgres"; then
        export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        log "PostgreSQL: local server on 127.0.0.1:5432"
        return
    fi
    if ! pg_bin initdb >/dev/null; then
        log "PostgreSQL: installing (apt-get install postgresql)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    local dir port=55432 user=postgres
    dir=$(mktemp -d /tmp/agentops-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then
        # initdb refuses to run as root: run the private cluster as the `postgres` user.
        id postgres >/dev/null 2>&1 || useradd -r -m postgres
        chown postgres "$dir"
        runas() { su postgres -s /bin/bash -c "$*"; }
    else
        runas() { bash -c "$*"; }
    fi
    log "PostgreSQL: starting a private cluster in $dir on port $port"
    runas "'$(pg_bin initdb)' -D '$dir/data' -U $user --auth=trust -E UTF8 >/dev/null"
    runas "'$(pg_bin pg_ctl)' -D '$dir/data' -o '-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off' -l '$dir/log' -w start >/dev/null"
    cleanup_actions+=("runas \"'$(pg_bin pg_ctl)' -D '$dir/data' -m immediate stop >/dev/null\"; rm -rf '$dir'")
    export TEST_DATABASE_URL="postgres://$user@127.0.0.1:$port/postgres"
}

psql_ok() {
    local psql
    psql=$(pg_bin psql) || return 0   # no client to check with: trust pg_isready
    "$psql" "$1" -qtAc 'select 1' >/dev/null 2>&1
}

# --- Redis ---------------------------------------------------------------------------------
ensure_redis() {
    if ! command -v redis-server >/dev/null 2>&1; then
        # The tests also start private redis-server processes (to stop them mid-test).
        log "Redis: installing (apt-get install redis-server)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    if [ -n "${TEST_REDIS_URL:-}" ]; then
        log "Redis: using TEST_REDIS_URL"
        return
    fi
    if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
        export TEST_REDIS_URL="redis://127.0.0.1:6379"
        log "Redis: local server on 127.0.0.1:6379"
        return
    fi
    local port=56379 dir
    dir=$(mktemp -d /tmp/agentops-redis.XXXXXX)
    log "Redis: starting a private server on port $port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    cleanup_actions+=("redis-cli -p $port shutdown nosave >/dev/null 2>&1; rm -rf '$dir'")
    export TEST_REDIS_URL="redis://127.0.0.1:$port"
}

# --- Rust test runner --------------------------------------------------------------------
ensure_nextest() {
    if ! cargo nextest --version >/dev/null 2>&1; then
        log "installing cargo-nextest"
        cargo install cargo-nextest --locked
    fi
}

ensure_postgres
ensure_redis
ensure_nextest

# Test databases carry this run's id, so several runs can share one server.
export AGENTOPS_TEST_RUN="${AGENTOPS_TEST_RUN:-$(date +%s)$$}"
cleanup_actions+=("drop_test_databases")
drop_test_databases() {
    local psql
    psql=$(pg_bin psql) || return 0
    "$psql" "$TEST_DATABASE_URL" -qtAc \
        "select datname from pg_database where datname like 'agentops_test_${AGENTOPS_TEST_RUN}_%'" 2>/dev/null \
        | while read -r name; do
            [ -n "$name" ] && "$psql" "$TEST_DATABASE_URL" -qc "drop database if exists $name with (force)" >/dev/null 2>&1
        done
}

log "cargo nextest run --workspace"
cargo nextest run --workspace --no-fail-fast "$@"

if [ $# -eq 0 ]; then
    log "doc tests"
    cargo test --workspace --doc --quiet
    if [ -f infra/check.sh ]; then
        log "infrastructure checks"
        bash infra/check.sh
    fi
fi
