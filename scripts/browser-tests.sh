#!/usr/bin/env bash
# Runs the dashboard's real-browser tests (tests/browser, Node's built-in test runner and
# playwright-core driving the system Chromium) against a freshly built `agentops up`
# serving an empty data directory.
#
#   scripts/browser-tests.sh                     # every test
#   scripts/browser-tests.sh --filter 'login'    # only tests whose name matches
#   BROWSER_DATABASE_URL=postgres://... scripts/browser-tests.sh   # on PostgreSQL
#
# Installs Debian's chromium if /usr/bin/chromium is missing, and the pinned Node
# dependencies (tests/browser/package-lock.json) when they are missing or out of date.
# Screenshots land in docs/dashboard. Extra arguments after the options go to `node --test`.
# BROWSER_DATABASE_URL (optional) names an existing, empty PostgreSQL database to use
# instead of SQLite; BROWSER_REDIS_URL (optional) a Redis to go with it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

node_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --filter) node_args+=(--test-name-pattern "$2"); shift 2 ;;
        --filter=*) node_args+=(--test-name-pattern "${1#--filter=}"); shift ;;
        *) node_args+=("$1"); shift ;;
    esac
done

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    log "browser: installing chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    chromium=/usr/bin/chromium
fi
# Emoji (the chat's 🎤 and 🔊, the bot's marks) render as boxes without a colour font.
if [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
    log "browser: installing an emoji font (fonts-noto-color-emoji)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null) \
        || log "browser: no emoji font (screenshots show boxes for emoji)"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "browser: installing Node.js (apt-get install nodejs npm)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

lock_sum=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
stamp=tests/browser/node_modules/.agentops-lock.sha256
if [ ! -d tests/browser/node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    log "browser: installing the test dependencies (npm ci)"
    (cd tests/browser && npm ci --silent --no-audit --no-fund)
    echo "$lock_sum" >"$stamp"
fi

log "browser: building the server"
cargo build --quiet --bin agentops
bin=$PWD/target/debug/agentops

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work=$(mktemp -d /tmp/agentops-browser.XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
chief_port=$(free_port)
while [ "$chief_port" = "$port" ]; do chief_port=$(free_port); done
key=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
url="http://127.0.0.1:$port"
env_vars=(
    AGENTOPS_DATA_DIR="$work/data"
    AGENTOPS_BIND="127.0.0.1:$port"
    AGENTOPS_ADMIN_KEY="$key"
    # No embedded Seed: it would claim and run the tasks the tests create.
    AGENTOPS_EMBEDDED_SEED=false
    AGENTOPS_CHIEF_BIND="127.0.0.1:$chief_port"
    # A plan's progress lines in the chat every 2 s rather than 30 s.
    AGENTOPS_PLAN_PROGRESS_SECS=2
    RUST_LOG=warn
)
backend=sqlite
if [ -n "${BROWSER_DATABASE_URL:-}" ]; then
    backend=postgres
    env_vars+=(DATABASE_URL="$BROWSER_DATABASE_URL")
    [ -z "${BROWSER_REDIS_URL:-}" ] || env_vars+=(REDIS_URL="$BROWSER_REDIS_URL")
fi

log "browser: starting agentops on $url ($backend)"
# No subcommand: `agentops up`.
env "${env_vars[@]}" "$bin" >"$work/server.log" 2>&1 &
server_pid=$!

ready=0
for _ in $(seq 1 120); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if curl -fsS -o /dev/null "$url/ready" 2>/dev/null; then ready=1; break; fi
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    echo "the server did not become ready within 60 s; its log:" >&2
    tail -50 "$work/server.log" >&2
    exit 1
fi

mkdir -p docs/dashboard
log "browser: node --test tests/browser/"
status=0
AGENTOPS_URL="$url" AGENTOPS_ADMIN_KEY="$key" CHROMIUM="$chromium" SCREENSHOTS=docs/dashboard \
    node --test --test-concurrency=1 "${node_args[@]}" tests/browser/ || status=$?

if grep -q -E "panicked|internal error" "$work/server.log"; then
    echo "the server logged a panic or an internal error:" >&2
    grep -E -A5 "panicked|internal error" "$work/server.log" | head -50 >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "server log (last 30 lines):" >&2
    tail -30 "$work/server.log" >&2
fi
exit "$status"
