#!/usr/bin/env bash
# Runs the whole AgentOps test suite on a fresh machine: starts (or installs) the services
# the tests need, then runs every test of the workspace, the doc tests and the offline
# infrastructure checks, then drives the web dashboard in a real browser and fuzzes the
# API against its OpenAPI document.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -E 'test(claim)'  # extra arguments go to cargo nextest
#
# Services: PostgreSQL from TEST_DATABASE_URL, else the local server on 127.0.0.1:5432,
# else a private cluster started here in a temporary directory; Redis likewise from
# TEST_REDIS_URL, the local server on 6379, or a private one (installed if missing); an
# S3-compatible server from TEST_S3_ENDPOINT, else moto started here (installed if missing).
# Speech: TEST_SPEECH_URL, else the local speech server (scripts/speech/, installed if
# missing; AGENTOPS_SKIP_SPEECH=1 skips it). bubblewrap for Seed's sandbox (installed if
# missing).
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

# --- S3-compatible server ------------------------------------------------------------------
# The artifact tests need an S3-compatible server; each test creates a bucket of its own.
# moto is pinned in a private virtualenv: 5.2.0-5.2.4 answer CompleteMultipartUpload with
# the wrong XML root element (getmoto/moto#10055), which aws-sdk-s3 rightly rejects.
MOTO_VERSION=5.2.5

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

moto_venv() {
    local venv="${AGENTOPS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentops}/moto-$MOTO_VERSION"
    if [ ! -x "$venv/bin/moto_server" ]; then
        log "S3: installing moto[server]==$MOTO_VERSION into $venv" >&2
        rm -rf "$venv"
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install -q "moto[server]==$MOTO_VERSION" >&2
    fi
    echo "$venv"
}

# Starts moto on a free port with extra arguments; sets MOTO_PORT (not a subshell, so
# that the cleanup action is kept).
start_moto() {
    local venv=$1 dir=$2 port pid
    shift 2
    port=$(free_port)
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" "$@" >"$dir/log" 2>&1 &
    pid=$!
    cleanup_actions+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf '$dir'")
    for _ in $(seq 100); do port_open "$port" && break; sleep 0.1; done
    port_open "$port" || { cat "$dir/log"; echo "moto did not start" >&2; exit 1; }
    MOTO_PORT=$port
}

ensure_s3() {
    local venv="" dir
    if [ -n "${TEST_S3_ENDPOINT:-}" ]; then
        log "S3: using TEST_S3_ENDPOINT"
    else
        venv=$(moto_venv)
        dir=$(mktemp -d /tmp/agentops-s3.XXXXXX)
        log "S3: starting moto $MOTO_VERSION"
        start_moto "$venv" "$dir"
        export TEST_S3_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
    fi
    # Production object storage is reached over TLS: a second moto serves HTTPS with a
    # certificate from a throwaway CA, which the tests (and only they) trust through
    # SSL_CERT_FILE: the system's roots plus that CA (rustls-native-certs reads it).
    if [ -n "${TEST_S3_TLS_ENDPOINT:-}" ]; then
        log "S3 over TLS: using TEST_S3_TLS_ENDPOINT"
        return
    fi
    command -v openssl >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
    }
    [ -n "$venv" ] || venv=$(moto_venv)
    dir=$(mktemp -d /tmp/agentops-s3-tls.XXXXXX)
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=agentops test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/key.pem" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/cert.pem" 2>/dev/null
    cat "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$dir/ca.pem" >"$dir/roots.pem" 2>/dev/null \
        || cp "$dir/ca.pem" "$dir/roots.pem"
    log "S3 over TLS: starting moto $MOTO_VERSION"
    start_moto "$venv" "$dir" -c "$dir/cert.pem" -k "$dir/key.pem"
    export TEST_S3_TLS_ENDPOINT="https://127.0.0.1:$MOTO_PORT"
    TEST_ROOTS="$dir/roots.pem"
}

# --- Speech (local OpenAI-compatible STT/TTS server) ---------------------------------------
# The speech tests talk to scripts/speech/server.py (faster-whisper tiny.en + piper, see
# docs/speech.md) through TEST_SPEECH_URL. Its virtualenv (~650 MB) is kept in the cache dir
# between runs; install.sh does nothing when it is up to date. AGENTOPS_SKIP_SPEECH=1 skips it
# for quick local runs (the speech tests then have no server).
ensure_speech() {
    if [ -n "${TEST_SPEECH_URL:-}" ]; then
        log "Speech: using TEST_SPEECH_URL"
        return
    fi
    if [ "${AGENTOPS_SKIP_SPEECH:-0}" = 1 ]; then
        log "Speech: skipped (AGENTOPS_SKIP_SPEECH=1)"
        return
    fi
    log "Speech: installing (if needed) and starting the local speech server"
    if ! scripts/speech/install.sh; then
        echo "ERROR: the local speech engine did not install (scripts/speech/install.sh);" \
            "the tests need it. AGENTOPS_SKIP_SPEECH=1 skips it for a quick local run." >&2
        exit 1
    fi
    local port="${AGENTOPS_SPEECH_PORT:-8093}" was_running=0 url
    port_open "$port" && was_running=1
    if ! url=$(scripts/speech/start.sh); then
        echo "ERROR: the local speech server did not start (scripts/speech/start.sh)." >&2
        exit 1
    fi
    # Stop it at the end only if this run started it.
    [ "$was_running" = 1 ] || cleanup_actions+=("scripts/speech/stop.sh >/dev/null")
    export TEST_SPEECH_URL="$url"
}

# --- Seed's sandbox -------------------------------------------------------------------------
# Seed runs shell steps under bubblewrap (Debian's bubblewrap; prlimit comes with
# util-linux; socat relays granted network to its egress proxy); its tests run real
# steps in it.
ensure_bubblewrap() {
    if ! command -v bwrap >/dev/null; then
        log "bubblewrap: installing (apt-get install bubblewrap)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
    fi
    command -v prlimit >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq util-linux >/dev/null
    }
    # Steps granted the network reach it through the worker's egress proxy, relayed into
    # their network namespace by socat.
    [ -x /usr/bin/socat ] || {
        log "socat: installing (apt-get install socat)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null
    }
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
ensure_s3
ensure_speech
ensure_bubblewrap
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
test_env=()
if [ -n "${TEST_ROOTS:-}" ]; then
    test_env=(SSL_CERT_FILE="$TEST_ROOTS")
fi
env "${test_env[@]}" cargo nextest run --workspace --no-fail-fast "$@"

if [ $# -eq 0 ]; then
    log "doc tests"
    cargo test --workspace --doc --quiet
    if [ -f infra/check.sh ]; then
        log "infrastructure checks"
        bash infra/check.sh
    fi
    # The dashboard in a real browser (Debian's Chromium + playwright-core, installed
    # on first use), against the whole platform on the embedded defaults.
    log "browser tests (dashboard)"
    scripts/browser-tests.sh
    # The API against its own OpenAPI document, on SQLite and on PostgreSQL + Redis.
    log "API fuzzing (schemathesis)"
    scripts/fuzz-api.sh
fi
