#!/usr/bin/env bash
# Fuzzes the API against its own OpenAPI document with schemathesis: every check, a fixed
# seed and a bounded number of cases per operation, on SQLite and on PostgreSQL + Redis.
# Fails on any 5xx, any answer the document does not describe, any valid request refused
# and any invalid one accepted (exceptions, each explained: scripts/schemathesis.toml).
#
#   scripts/fuzz-api.sh                  # both backends (run by scripts/test.sh)
#   FUZZ_BACKENDS=sqlite FUZZ_PHASES=fuzzing,stateful scripts/fuzz-api.sh
#
# Needs TEST_DATABASE_URL and TEST_REDIS_URL for the PostgreSQL run (scripts/test.sh sets
# them up); schemathesis is installed, pinned, in a private virtualenv like moto.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

SCHEMATHESIS_VERSION=4.32.0
FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-20}
FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_BACKENDS=${FUZZ_BACKENDS:-sqlite postgres}

log() { printf '\n==> %s\n' "$*"; }

venv="${AGENTOPS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentops}/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/st" ]; then
    log "fuzz: installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >/dev/null 2>&1 || {
        rm -rf "$venv"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

log "fuzz: building the server"
cargo build --quiet --bin agentops
bin=$PWD/target/debug/agentops

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work=$(mktemp -d /tmp/agentops-fuzz.XXXXXX)
server_pid=""
pg_database=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    if [ -n "$pg_database" ] && command -v psql >/dev/null; then
        psql "$TEST_DATABASE_URL" -qc "drop database if exists $pg_database with (force)" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

key="fuzz-admin-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
failed=0

fuzz() {
    local backend=$1 port dir
    port=$(free_port)
    dir="$work/$backend"
    mkdir -p "$dir"
    local env_vars=(
        AGENTOPS_DATA_DIR="$dir/data"
        AGENTOPS_ADMIN_KEY="$key"
        AGENTOPS_BIND="127.0.0.1:$port"
        # The fuzzer sends thousands of requests with one key: rate limiting is tested
        # elsewhere and would only turn its cases into 429s here.
        AGENTOPS_RATE_LIMIT_PER_SECOND=1000000
        AGENTOPS_RATE_LIMIT_BURST=1000000
        RUST_LOG=warn
    )
    if [ "$backend" = postgres ]; then
        pg_database="agentops_fuzz_$$"
        psql "$TEST_DATABASE_URL" -qc "create database $pg_database" >/dev/null
        env_vars+=(
            DATABASE_URL="${TEST_DATABASE_URL%/*}/$pg_database"
            REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
            AGENTOPS_REDIS_PREFIX="agentops-fuzz-$$:"
            # As production runs on PostgreSQL: with the master key of stored secrets.
            AGENTOPS_SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
        )
    fi
    # `agentops api` serves the API alone: no embedded Seed claims the fuzzer's tasks.
    env "${env_vars[@]}" "$bin" api >"$dir/server.log" 2>&1 &
    server_pid=$!
    log "fuzz: schemathesis on $backend (server on port $port)"
    local status=0
    # Run from the throw-away directory: Hypothesis keeps the examples it found in
    # `.hypothesis/` under the working directory and replays them on the next run, so a
    # machine's history would change what a run generates (a fixed seed must mean a
    # fixed run).
    (cd "$dir" && "$venv/bin/st" --config-file "$repo/scripts/schemathesis.toml" --no-color \
        run "http://127.0.0.1:$port/api/v1/openapi.json" \
        --wait-for-schema 60 \
        --checks all \
        --seed "$FUZZ_SEED" \
        --max-examples "$FUZZ_EXAMPLES" \
        --header "Authorization: Bearer $key" \
        ${FUZZ_PHASES:+--phases "$FUZZ_PHASES"} \
        --report junit --report-dir "$dir/report") || status=$?
    if grep -q -E "panicked|internal error" "$dir/server.log"; then
        echo "the server logged a panic or an internal error:" >&2
        grep -E -A5 "panicked|internal error" "$dir/server.log" | head -50 >&2
        status=1
    fi
    stop_server
    if [ "$backend" = postgres ]; then
        psql "$TEST_DATABASE_URL" -qc "drop database if exists $pg_database with (force)" >/dev/null 2>&1 || true
        pg_database=""
    fi
    [ "$status" -eq 0 ] || failed=1
}

for backend in $FUZZ_BACKENDS; do
    fuzz "$backend"
done
exit "$failed"
