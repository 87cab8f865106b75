#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted bash -c bodies get their values as "$1"...
# Tests the decision logic of infra/deploy.sh against a local target:
# fake `docker` and `scw` executables on PATH that record their calls and
# keep each container's image in a state directory, and a tiny HTTP server
# on 127.0.0.1 (ephemeral port) whose /ready answers 200 or 503 depending
# on the image the API container currently runs.
#
# Prints "N passed, M failed" last; exits non-zero if anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DEPLOY="$HERE/../deploy.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentops-deploy-test.XXXXXX")
SERVER_PID=""
PASSED=0
FAILED=0

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       /'; }

check() { # check DESCRIPTION COMMAND...
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc" "$(context)"; fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
not_contains() { ! grep -qF -- "$2" <<<"$1"; }
context() {
  printf -- '--- stdout\n%s\n--- stderr (tail)\n%s\n--- calls\n%s\n' \
    "$OUT" "$(tail -n 8 <<<"$ERR")" "$(cat "$CALLS" 2>/dev/null)"
}

# --- fakes ------------------------------------------------------------------------
BIN="$WORK/bin"
STATE="$WORK/state"
CALLS="$WORK/calls.log"
mkdir -p "$BIN" "$STATE" "$WORK/tmp"

cat >"$BIN/docker" <<'EOF'
#!/usr/bin/env bash
echo "docker $*" >>"$FAKE_CALLS"
case "$1" in
  run) exit "${FAKE_MIGRATE_RC:-0}" ;;
  build) exit "${FAKE_BUILD_RC:-0}" ;;
  *) exit 0 ;;
esac
EOF

cat >"$BIN/scw" <<'EOF'
#!/usr/bin/env bash
# scw container container get|update <id> [registry-image=...] [region=...] [-o json]
echo "scw $*" >>"$FAKE_CALLS"
[ "$1 $2" = "container container" ] || { echo "fake scw: unsupported: $*" >&2; exit 2; }
verb=$3 id=$4
shift 4
case "$verb" in
  get)
    [ -f "$FAKE_STATE/$id.image" ] || { echo "not found" >&2; exit 1; }
    image=$(cat "$FAKE_STATE/$id.image")
    status=${FAKE_STATUS:-ready}
    case ",${FAKE_ERROR_TAGS:-}," in *",${image##*:},"*) status=error ;; esac
    printf '{"id":"%s","name":"c-%s","status":"%s","registry_image":"%s","error_message":"%s","cron_status":"ready"}\n' \
      "$id" "$id" "$status" "$image" "image crashed on start"
    ;;
  update)
    [ "${FAKE_UPDATE_RC:-0}" = 0 ] || exit "$FAKE_UPDATE_RC"
    [ "${FAKE_UPDATE_NOOP:-0}" = 1 ] && { echo '{}'; exit 0; }
    for arg in "$@"; do
      case "$arg" in registry-image=*) echo "${arg#registry-image=}" >"$FAKE_STATE/$id.image" ;; esac
    done
    echo '{}'
    ;;
  *) echo "fake scw: unsupported verb $verb" >&2; exit 2 ;;
esac
EOF

# /ready is 503 while the API container runs a tag listed in $STATE/bad_tags
# ("*" = every tag), 200 otherwise.
cat >"$WORK/ready_server.py" <<'EOF'
import http.server, os, sys

port_file, state, api_id = sys.argv[1:4]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 404
        if self.path == "/ready":
            with open(os.path.join(state, api_id + ".image")) as f:
                tag = f.read().strip().rsplit(":", 1)[-1]
            with open(os.path.join(state, "bad_tags")) as f:
                bad = f.read().split()
            code = 503 if ("*" in bad or tag in bad) else 200
        body = b"ready\n" if code == 200 else b"not ready\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
EOF

# Real curl when present; otherwise a minimal stand-in for the flags deploy.sh uses.
if command -v curl >/dev/null 2>&1; then
  CURL_CMD=$(command -v curl)
else
  cat >"$BIN/curl" <<'EOF'
#!/usr/bin/env python3
import sys, urllib.request, urllib.error
url = sys.argv[-1]
try:
    code = urllib.request.urlopen(url, timeout=5).status
except urllib.error.HTTPError as e:
    code = e.code
except Exception:
    sys.stdout.write("000"); sys.exit(7)
sys.stdout.write(str(code))
EOF
  CURL_CMD="$BIN/curl"
fi

# $CURL for deploy.sh: calls to the fake platform ($FAKE_AGENTOPS_URL) are logged to
# $FAKE_API_CALLS as "METHOD URL BODY" (and the auth header file's content to
# $FAKE_API_AUTH) and answered here; everything else (the readiness checks) goes to the
# curl above.
cat >"$BIN/platform-curl" <<'EOF'
#!/usr/bin/env bash
api=0
for arg in "$@"; do
  case "$arg" in "$FAKE_AGENTOPS_URL"/*) api=1 ;; esac
done
[ "$api" = 1 ] || exec "$REAL_CURL" "$@"
method=GET body="" url="" auth=""
while [ $# -gt 0 ]; do
  case "$1" in
    -X) method=$2; shift ;;
    -d|--data|--data-binary) body=$2; shift ;;
    -H) case "$2" in @*) auth=$(cat "${2#@}") ;; esac; shift ;;
    -w|--max-time|--retry|--retry-delay) shift ;;
    http://*|https://*) url=$1 ;;
  esac
  shift
done
echo "$method $url $body" >>"$FAKE_API_CALLS"
echo "auth: $auth" >>"$FAKE_API_AUTH"
case "${FAKE_API_MODE:-ok}" in
  down) echo "curl: (7) Failed to connect" >&2; exit 7 ;;
  refuse) printf '{"error":{"code":"unauthorized","message":"no"}}\n401'; exit 0 ;;
esac
case "$method" in
  POST) printf '{"id":"0193f000-0000-7000-8000-00000000d001","git_sha":"x","status":"building"}\n201' ;;
  *) printf '{"id":"0193f000-0000-7000-8000-00000000d001"}\n200' ;;
esac
EOF

# `git` answering what deploy.sh asks of it for the recorded deployment.
cat >"$BIN/fake-git" <<'EOF'
#!/usr/bin/env bash
case "$*" in
  "rev-parse HEAD") echo 0123456789abcdef0123456789abcdef01234567 ;;
  "rev-parse --abbrev-ref HEAD") echo release/v2 ;;
  "rev-parse --short=12 HEAD") echo 0123456789ab ;;
  "status --porcelain") ;;
  *) exit 1 ;;
esac
EOF
chmod +x "$BIN"/*

API_ID=11111111-aaaa-4aaa-8aaa-000000000001
SEED_ID=22222222-bbbb-4bbb-8bbb-000000000002
REPO=rg.fr-par.scw.cloud/agentops-test/agentops
echo "" >"$STATE/bad_tags"
echo "$REPO:v1" >"$STATE/$API_ID.image"

python3 "$WORK/ready_server.py" "$WORK/port" "$STATE" "$API_ID" &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
if ! [ -s "$WORK/port" ]; then
  echo "could not start the readiness server"
  echo "0 passed, 1 failed"
  exit 1
fi
API_URL="http://127.0.0.1:$(cat "$WORK/port")"
PLATFORM="http://agentops.test"
API_CALLS="$WORK/api_calls.log"
API_AUTH="$WORK/api_auth.log"

# run_deploy [VAR=value ...] -- [deploy.sh args]; sets OUT, ERR, RC
run_deploy() {
  local -a envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  : >"$CALLS"
  : >"$API_CALLS"
  : >"$API_AUTH"
  OUT=$(env PATH="$BIN:$PATH" FAKE_CALLS="$CALLS" FAKE_STATE="$STATE" \
    FAKE_API_CALLS="$API_CALLS" FAKE_API_AUTH="$API_AUTH" FAKE_AGENTOPS_URL="$PLATFORM" \
    REAL_CURL="$CURL_CMD" AGENTOPS_URL= AGENTOPS_API_KEY= TMPDIR="$WORK/tmp" \
    DOCKER=docker SCW=scw CURL="$BIN/platform-curl" GIT=false GIT_SHA=abc123def456 \
    IMAGE_REPO="$REPO" API_URL="$API_URL" CONTAINER_IDS="$API_ID $SEED_ID" \
    DATABASE_URL=postgres://u:p@127.0.0.1:1/db SCW_REGION=fr-par \
    READY_TIMEOUT=2 READY_INTERVAL=0.1 "${envs[@]}" \
    bash "$DEPLOY" "$@" 2>"$WORK/stderr")
  RC=$?
  ERR=$(cat "$WORK/stderr")
}

reset_state() { # reset_state BAD_TAGS
  echo "$REPO:v1" >"$STATE/$API_ID.image"
  echo "$REPO:v1" >"$STATE/$SEED_ID.image"
  echo "$1" >"$STATE/bad_tags"
}

# --- 1. ready -> success, no rollback ---------------------------------------------------
reset_state ""
run_deploy TAG=v2
check "ready: exit 0" test "$RC" -eq 0
check "ready: report says success" contains "$OUT" "outcome:      success"
check "ready: report has git sha and tag" \
  bash -c 'grep -q "git sha:      abc123def456" <<<"$1" && grep -q "tag:          v2" <<<"$1" && grep -q "previous tag: v1" <<<"$1"' _ "$OUT"
check "ready: image built and pushed" \
  bash -c 'grep -q "^docker build .* -t '"$REPO"':v2 " "$1" && grep -q "^docker push '"$REPO"':v2$" "$1"' _ "$CALLS"
check "ready: migrations ran with the new image" contains "$(cat "$CALLS")" "docker run --rm --network host -e DATABASE_URL $REPO:v2 migrate up"
check "ready: both containers rolled to v2" \
  test "$(grep -c "update .*registry-image=$REPO:v2 " "$CALLS")" -eq 2
check "ready: no rollback" not_contains "$(cat "$CALLS")" "registry-image=$REPO:v1"
check "ready: containers now run v2" test "$(cat "$STATE/$SEED_ID.image")" = "$REPO:v2"
check "ready: no rollback reason printed" not_contains "$OUT" "rollback reason"
check "ready: without AGENTOPS_URL nothing is recorded" test ! -s "$API_CALLS"

# --- 2. never ready -> rollback to the previous tag, non-zero, reason --------------------
reset_state "v2"
run_deploy TAG=v2
check "not ready: exit 1" test "$RC" -eq 1
check "not ready: report says rolled_back" contains "$OUT" "outcome:      rolled_back"
check "not ready: reason names /ready and the last status" \
  contains "$OUT" "rollback reason: GET $API_URL/ready did not return 200 within 2s (last status: 503)"
check "not ready: every container updated back to v1" \
  test "$(grep -c "update .*registry-image=$REPO:v1 " "$CALLS")" -eq 2
check "not ready: rollback came after the roll" \
  bash -c 'grep -n "registry-image" "$1" | tail -n 1 | grep -q ":v1 "' _ "$CALLS"
check "not ready: containers back on v1" \
  bash -c '[ "$(cat "$1")" = "$3" ] && [ "$(cat "$2")" = "$3" ]' _ "$STATE/$API_ID.image" "$STATE/$SEED_ID.image" "$REPO:v1"

# --- 3. migration failure -> no roll, non-zero --------------------------------------------
reset_state ""
run_deploy TAG=v2 FAKE_MIGRATE_RC=1
check "migration failure: exit 2" test "$RC" -eq 2
check "migration failure: report says failed with reason" \
  bash -c 'grep -q "outcome:      failed" <<<"$1" && grep -q "reason:       migrations failed" <<<"$1"' _ "$OUT"
check "migration failure: no container updated" not_contains "$(cat "$CALLS")" "container container update"
check "migration failure: containers still on v1" test "$(cat "$STATE/$API_ID.image")" = "$REPO:v1"

# --- 4. container fails to deploy -> rollback with the platform's reason ------------------
reset_state ""
run_deploy TAG=v2 FAKE_ERROR_TAGS=v2
check "deploy error: exit 1" test "$RC" -eq 1
check "deploy error: reason is the container error" \
  contains "$OUT" "rollback reason: container $API_ID failed to deploy: image crashed on start"
check "deploy error: rolled back to v1" test "$(cat "$STATE/$SEED_ID.image")" = "$REPO:v1"

# --- 4b. /ready answered by the previous revision does not count -------------------------
reset_state ""
run_deploy TAG=v2 FAKE_UPDATE_NOOP=1
check "stale revision: exit 1 (rolled back)" test "$RC" -eq 1
check "stale revision: reason says the container is not on the new image" \
  contains "$OUT" "rollback reason: container $API_ID not ready on $REPO:v2 within 2s (status: ready, image: $REPO:v1)"

# --- 5. not ready even after rollback -> exit 3 -----------------------------------------
reset_state "*"
run_deploy TAG=v2
check "still down after rollback: exit 3" test "$RC" -eq 3
check "still down after rollback: outcome rollback_failed" contains "$OUT" "outcome:      rollback_failed"
check "still down after rollback: rollback was attempted" contains "$(cat "$CALLS")" "registry-image=$REPO:v1"

# --- 6. first deploy without a previous tag -> cannot roll back ---------------------------
reset_state "v2"
echo "$REPO" >"$STATE/$API_ID.image"
run_deploy TAG=v2
check "no previous tag: exit 3" test "$RC" -eq 3
check "no previous tag: says so" contains "$OUT" "no previous tag to roll back to"

# --- 7. dry run -> prints the plan, changes nothing --------------------------------------
reset_state "*"
run_deploy TAG=v2 -- --dry-run
check "dry run: exit 0" test "$RC" -eq 0
check "dry run: prints the update it would do" contains "$ERR" "+ scw container container update $API_ID registry-image=$REPO:v2"
check "dry run: prints the migration" contains "$ERR" "+ docker run --rm --network host -e DATABASE_URL $REPO:v2 migrate up"
check "dry run: only read-only calls" \
  bash -c '! grep -v "container container get" "$1" | grep -q .' _ "$CALLS"
check "dry run: containers untouched" test "$(cat "$STATE/$API_ID.image")" = "$REPO:v1"

# --- 8. configuration errors fail before doing anything ----------------------------------
reset_state ""
run_deploy TAG=v2 IMAGE_REPO=
check "missing IMAGE_REPO: exit 2 and nothing called" \
  bash -c '[ "$1" -eq 2 ] && ! [ -s "$2" ] && grep -q "reason:       IMAGE_REPO is not set" <<<"$3"' _ "$RC" "$CALLS" "$OUT"
run_deploy TAG=v2 DATABASE_URL=
check "missing DATABASE_URL: exit 2, no update" \
  bash -c '[ "$1" -eq 2 ] && ! grep -q update "$2"' _ "$RC" "$CALLS"

# --- 9. recording on the platform (AGENTOPS_URL + AGENTOPS_API_KEY) ------------------------
DEPLOYMENTS="$PLATFORM/api/v1/deployments"
DEPLOYMENT="$DEPLOYMENTS/0193f000-0000-7000-8000-00000000d001"
# api_call N METHOD URL FRAGMENT...: the Nth platform call is METHOD URL with each
# fragment in its body.
api_call() {
  local line fragment
  line=$(sed -n "${1}p" "$API_CALLS")
  case "$line" in "$2 $3 "*) ;; *) return 1 ;; esac
  shift 3
  for fragment in "$@"; do contains "$line" "$fragment" || return 1; done
}
api_count() { test "$(wc -l <"$API_CALLS")" -eq "$1"; }
recording=(AGENTOPS_URL="$PLATFORM/" AGENTOPS_API_KEY=secret-admin-key GIT="$BIN/fake-git")

reset_state ""
run_deploy TAG=v2 "${recording[@]}"
check "recorded, healthy: exit 0 and success" \
  bash -c '[ "$1" -eq 0 ] && grep -q "outcome:      success" <<<"$2"' _ "$RC" "$OUT"
check "recorded, healthy: a POST then two PATCHes" api_count 3
check "recorded, healthy: POST building with the commit, branch and tag" \
  api_call 1 POST "$DEPLOYMENTS" '"git_sha":"0123456789abcdef0123456789abcdef01234567"' \
  '"status":"building"' '"branch":"release/v2"' '"tag":"v2"' 'previous: v1'
check "recorded, healthy: PATCH deploying" \
  api_call 2 PATCH "$DEPLOYMENT" '"status":"deploying"' 'running migrations'
check "recorded, healthy: PATCH healthy with the report" \
  api_call 3 PATCH "$DEPLOYMENT" '"status":"healthy"' 'outcome:      success' \
  '"outcome":"success"' '"exit_code":0' '\n'
check "recorded, healthy: the key is sent in a header file, not on the command line" \
  bash -c 'grep -qx "auth: Authorization: Bearer secret-admin-key" "$1" && ! grep -q secret-admin-key "$2"' \
  _ "$API_AUTH" "$API_CALLS"
check "recorded, healthy: the key's header file is removed at the end" \
  bash -c '! ls "$1"/agentops-deploy-auth.* >/dev/null 2>&1' _ "$WORK/tmp"

reset_state "v2"
run_deploy TAG=v2 "${recording[@]}"
check "recorded, rolled back: exit 1" test "$RC" -eq 1
check "recorded, rolled back: three calls" api_count 3
check "recorded, rolled back: POST building" api_call 1 POST "$DEPLOYMENTS" '"status":"building"'
check "recorded, rolled back: PATCH deploying" api_call 2 PATCH "$DEPLOYMENT" '"status":"deploying"'
check "recorded, rolled back: PATCH rolled_back with the rollback reason" \
  api_call 3 PATCH "$DEPLOYMENT" '"status":"rolled_back"' \
  "rollback reason: GET $API_URL/ready did not return 200 within 2s (last status: 503)" \
  '"outcome":"rolled_back"' '"previous_tag":"v1"'

reset_state ""
run_deploy TAG=v2 FAKE_MIGRATE_RC=1 "${recording[@]}"
check "recorded, migrations failed: exit 2" test "$RC" -eq 2
check "recorded, migrations failed: PATCH failed with the reason" \
  api_call 3 PATCH "$DEPLOYMENT" '"status":"failed"' 'reason:       migrations failed'

reset_state "v2"
echo "$REPO" >"$STATE/$API_ID.image"
run_deploy TAG=v2 "${recording[@]}"
check "recorded, no previous tag: exit 3 and PATCH failed" \
  bash -c '[ "$1" -eq 3 ]' _ "$RC"
check "recorded, no previous tag: the report says why" \
  api_call 3 PATCH "$DEPLOYMENT" '"status":"failed"' 'no previous tag to roll back to'

reset_state ""
run_deploy TAG=v2 FAKE_API_MODE=down "${recording[@]}"
check "platform down: the deploy still succeeds" \
  bash -c '[ "$1" -eq 0 ] && grep -q "outcome:      success" <<<"$2"' _ "$RC" "$OUT"
check "platform down: logged" contains "$ERR" "deployment not recorded (POST /api/v1/deployments)"
check "platform down: no PATCH without a deployment" api_count 1

reset_state "v2"
run_deploy TAG=v2 FAKE_API_MODE=refuse "${recording[@]}"
check "platform refuses: the deploy's own outcome stands (rolled back, exit 1)" test "$RC" -eq 1
check "platform refuses: logged with the status" \
  contains "$ERR" "deployment not recorded (POST /api/v1/deployments): HTTP 401"

reset_state ""
run_deploy TAG=v2 "${recording[@]}" -- --dry-run
check "recorded, dry run: exit 0, nothing sent" \
  bash -c '[ "$1" -eq 0 ] && ! [ -s "$2" ]' _ "$RC" "$API_CALLS"
check "recorded, dry run: the intent is printed" \
  contains "$ERR" "+ record the deployment at $PLATFORM/api/v1/deployments"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
