#!/usr/bin/env bash
# AgentOps release: build and push the image, run migrations, roll every
# serverless container to the new tag, wait until the API is ready, and roll
# back to the previous tag automatically if it never becomes ready.
#
# Usage: infra/deploy.sh [--dry-run] [--skip-build] [--skip-migrations] [--tag TAG]
#
# Required environment (eval "$(terraform -chdir=infra/terraform output -raw deploy_env)"):
#   IMAGE_REPO      registry repository without tag, e.g. rg.fr-par.scw.cloud/agentops-1a2b3c/agentops
#   API_URL         public API URL; readiness is GET $API_URL/ready == 200
#   CONTAINER_IDS   space-separated serverless container IDs; the first one is the API
#   DATABASE_URL    database the migrations run against (through the bastion tunnel)
# Optional:
#   SCW_REGION      region of the containers (default fr-par)
#   TAG             image tag to deploy (default: git short SHA, "-dirty" if the tree is dirty)
#   PREVIOUS_TAG    tag to roll back to (default: read from the API container)
#   READY_TIMEOUT   seconds to wait for the rollout and /ready (default 300)
#   READY_INTERVAL  seconds between two polls (default 5)
#   DOCKER_PLATFORM platform of the built image (default linux/amd64, what Scaleway runs)
#   MIGRATE_CMD     command running the migrations (default: run the new image with
#                   "migrate up", host network so it can use a local tunnel)
#   DRY_RUN=1, SKIP_BUILD=1, SKIP_MIGRATIONS=1   same as the flags
#   AGENTOPS_URL    base URL of an AgentOps platform (e.g. https://api.example.com) and
#   AGENTOPS_API_KEY  an admin key of it: with both set, the deployment records itself
#                   there (POST /api/v1/deployments at the start with the commit of
#                   `git rev-parse HEAD` and its branch, status "building"; PATCH
#                   "deploying" before migrations and the roll; PATCH "healthy",
#                   "rolled_back" or "failed" with this report at the end). Recording is
#                   best effort: a platform that is down or refuses is logged, never
#                   fails the deploy. Nothing is recorded in a dry run.
# Every external action goes through an overridable command, so tests can put
# fakes on PATH: DOCKER (docker), SCW (scw), CURL (curl), GIT (git).
#
# Exit status: 0 deployed; 1 not ready and rolled back; 2 failed before any
# container was changed (build, push, migrations, configuration);
# 3 not ready and the rollback failed or was impossible.
set -uo pipefail

DOCKER=${DOCKER:-docker}
SCW=${SCW:-scw}
CURL=${CURL:-curl}
GIT=${GIT:-git}

SCW_REGION=${SCW_REGION:-fr-par}
READY_TIMEOUT=${READY_TIMEOUT:-300}
READY_INTERVAL=${READY_INTERVAL:-5}
DOCKER_PLATFORM=${DOCKER_PLATFORM:-linux/amd64}
DRY_RUN=${DRY_RUN:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_MIGRATIONS=${SKIP_MIGRATIONS:-0}
TAG=${TAG:-}
PREVIOUS_TAG=${PREVIOUS_TAG:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    --skip-migrations) SKIP_MIGRATIONS=1 ;;
    --tag) shift; TAG=${1:-} ;;
    --tag=*) TAG=${1#--tag=} ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "deploy: $*" >&2; }

# Run an external command given as words; the first word may hold several
# (e.g. DOCKER="sudo docker"). In dry-run mode only print it.
run() {
  local -a cmd
  read -r -a cmd <<<"$1"
  shift
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ ${cmd[*]} $*" >&2
    return 0
  fi
  "${cmd[@]}" "$@"
}

# Read-only commands (git, scw ... get) run even in dry-run mode.
query() {
  local -a cmd
  read -r -a cmd <<<"$1"
  shift
  "${cmd[@]}" "$@"
}

START=$(date +%s)
GIT_SHA=${GIT_SHA:-$(query "$GIT" rev-parse --short=12 HEAD 2>/dev/null || true)}
[ -n "$GIT_SHA" ] || GIT_SHA=unknown
if [ -z "$TAG" ]; then
  if [ "$GIT_SHA" = unknown ]; then
    TAG=""
  else
    TAG=$GIT_SHA
    if [ -n "$(query "$GIT" status --porcelain 2>/dev/null || true)" ]; then
      TAG="$GIT_SHA-dirty"
    fi
  fi
fi

OUTCOME=""
REASON=""
ROLLED=()

# --- recording on the platform (optional, best effort) --------------------------------
# With AGENTOPS_URL and AGENTOPS_API_KEY, each step is sent to the platform's
# /api/v1/deployments through $CURL. A failure is logged and the deploy goes on: the
# release must never depend on the platform it may be about to replace.
RECORD=0
DEPLOYMENT_ID=""
AUTH_HEADER_FILE=""
if [ -n "${AGENTOPS_URL:-}" ] && [ -n "${AGENTOPS_API_KEY:-}" ]; then
  RECORD=1
  AGENTOPS_URL=${AGENTOPS_URL%/}
fi

json_escape() { # the JSON string body of $1 (quotes, backslashes, control characters)
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037'
}

# record METHOD PATH JSON -> prints the answer's body on success (2xx); logs and
# returns 1 otherwise. The key goes in a header file, not on the command line.
record() {
  local method=$1 path=$2 body=$3 out code
  local -a cmd extra=()
  read -r -a cmd <<<"$CURL"
  [ "$method" = POST ] && extra=(-H "Idempotency-Key: deploy-$GIT_SHA-$START")
  out=$("${cmd[@]}" -sS --max-time 10 --retry 2 --retry-delay 1 -X "$method" \
    -H "@$AUTH_HEADER_FILE" -H "Content-Type: application/json" "${extra[@]}" \
    -d "$body" -w '\n%{http_code}' "$AGENTOPS_URL$path" 2>&1) || {
    log "deployment not recorded ($method $path): ${out:-curl failed}"
    return 1
  }
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  case "$code" in
    2??) printf '%s\n' "$out" ;;
    *) log "deployment not recorded ($method $path): HTTP $code ${out:0:300}"; return 1 ;;
  esac
}

# record_start: POST the deployment (status "building"); sets DEPLOYMENT_ID.
record_start() {
  [ "$RECORD" = 1 ] || return 0
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ record the deployment at $AGENTOPS_URL/api/v1/deployments" >&2
    return 0
  fi
  local sha branch body answer
  # In this shell, not in the `$(record ...)` below, so that it lasts for every call
  # and is removed when the script exits.
  AUTH_HEADER_FILE=$(umask 077 && mktemp "${TMPDIR:-/tmp}/agentops-deploy-auth.XXXXXX") || {
    log "deployment not recorded: cannot create a temporary file"
    return 0
  }
  trap 'rm -f "$AUTH_HEADER_FILE"' EXIT
  printf 'Authorization: Bearer %s\n' "$AGENTOPS_API_KEY" >"$AUTH_HEADER_FILE"
  sha=$(query "$GIT" rev-parse HEAD 2>/dev/null || true)
  case "$sha" in
    ''|*[!0-9a-fA-F]*) sha=$GIT_SHA ;;
  esac
  case "${#sha}:$sha" in
    *:*[!0-9a-fA-F]*|[0-6]:*) log "deployment not recorded: no git commit (${sha:-none})"; return 0 ;;
  esac
  branch=$(query "$GIT" rev-parse --abbrev-ref HEAD 2>/dev/null || true)
  body="{\"git_sha\":\"$sha\",\"status\":\"building\""
  case "$branch" in
    ''|HEAD|*[[:space:]]*) ;;
    *) body="$body,\"branch\":\"$(json_escape "${branch:0:200}")\"" ;;
  esac
  body="$body,\"report\":\"$(json_escape "tag ${TAG:-none} (previous: ${PREVIOUS_TAG:-none}): building")\""
  body="$body,\"metadata\":{\"tag\":\"$(json_escape "${TAG:-}")\",\"image_repo\":\"$(json_escape "${IMAGE_REPO:-}")\"}}"
  answer=$(record POST /api/v1/deployments "$body") || return 0
  DEPLOYMENT_ID=$(printf '%s' "$answer" | json_string id)
  [ -n "$DEPLOYMENT_ID" ] && log "recorded as deployment $DEPLOYMENT_ID"
  return 0
}

# record_step STATUS REPORT [METADATA_JSON]: PATCH the deployment, if it was recorded.
record_step() {
  [ -n "$DEPLOYMENT_ID" ] || return 0
  local body
  body="{\"status\":\"$1\",\"report\":\"$(json_escape "${2:0:20000}")\""
  [ -n "${3:-}" ] && body="$body,\"metadata\":$3"
  record PATCH "/api/v1/deployments/$DEPLOYMENT_ID" "$body}" >/dev/null || true
}

report() {
  local code=$1
  local end text status
  end=$(date +%s)
  text=$(
    echo "=== agentops deploy report ==="
    echo "git sha:      $GIT_SHA"
    echo "tag:          ${TAG:-none}"
    echo "previous tag: ${PREVIOUS_TAG:-none}"
    echo "image:        ${IMAGE_REPO:-?}:${TAG:-?}"
    echo "containers:   ${CONTAINER_IDS:-none}"
    echo "outcome:      $OUTCOME"
    if [ -n "$REASON" ]; then
      case "$OUTCOME" in
        rolled_back|rollback_failed) echo "rollback reason: $REASON" ;;
        *) echo "reason:       $REASON" ;;
      esac
    fi
    echo "duration:     $((end - START))s"
  )
  printf '%s\n' "$text"
  case "$OUTCOME" in
    success) status=healthy ;;
    rolled_back) status=rolled_back ;;
    *) status=failed ;;
  esac
  record_step "$status" "$text" \
    "{\"outcome\":\"$OUTCOME\",\"exit_code\":$code,\"previous_tag\":\"$(json_escape "${PREVIOUS_TAG:-}")\"}"
  exit "$code"
}

fail_early() {
  OUTCOME=failed
  REASON=$1
  report 2
}

# --- configuration ------------------------------------------------------------
[ -n "${IMAGE_REPO:-}" ] || fail_early "IMAGE_REPO is not set"
[ -n "${API_URL:-}" ] || fail_early "API_URL is not set"
[ -n "${CONTAINER_IDS:-}" ] || fail_early "CONTAINER_IDS is not set"
[ -n "$TAG" ] || fail_early "no tag: not in a git checkout, set TAG or --tag"
case "$TAG" in
  *[!A-Za-z0-9_.-]*) fail_early "invalid tag: $TAG" ;;
esac
if [ "$SKIP_MIGRATIONS" != 1 ] && [ -z "${DATABASE_URL:-}" ]; then
  fail_early "DATABASE_URL is not set (open the bastion tunnel, see docs/deploy.md)"
fi
read -r -a IDS <<<"$CONTAINER_IDS"
API_ID=${IDS[0]}
IMAGE="$IMAGE_REPO:$TAG"
API_URL=${API_URL%/}

# --- helpers reading `scw ... -o json` (one JSON object) ------------------------
json_string() { # json_string FIELD < json
  tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}

container_json() {
  query "$SCW" container container get "$1" "region=$SCW_REGION" -o json
}

container_image() {
  local json image
  json=$(container_json "$1") || return 1
  image=$(printf '%s' "$json" | json_string registry_image)
  [ -n "$image" ] || image=$(printf '%s' "$json" | json_string image)
  printf '%s\n' "$image"
}

tag_of() { # tag of an image reference, empty if it has none
  local ref=$1 last=${1##*/}
  case "$last" in
    *:*) printf '%s\n' "${ref##*:}" ;;
    *) printf '\n' ;;
  esac
}

set_image() { # set_image CONTAINER_ID IMAGE   (an update always redeploys)
  run "$SCW" container container update "$1" "registry-image=$2" "region=$SCW_REGION" -o json >/dev/null
}

http_status() { # prints the HTTP status of GET $1, 000 on connection failure
  local code
  code=$(run "$CURL" -sS -o /dev/null -w '%{http_code}' --max-time 5 "$1" 2>/dev/null) || true
  printf '%s\n' "${code:-000}"
}

# wait_ready DEADLINE IMAGE -> 0 when every container is "ready" on IMAGE and
# /ready answers 200; otherwise 1 with WAIT_REASON set. (Checking the image
# too means a container still reporting the previous revision as ready does
# not count.)
WAIT_REASON=""
wait_ready() {
  local deadline=$1 want=$2 id json status image code=000
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ wait for containers ready and GET $API_URL/ready == 200 (${READY_TIMEOUT}s)" >&2
    return 0
  fi
  for id in "${IDS[@]}"; do
    while :; do
      json=$(container_json "$id" 2>/dev/null) || json=""
      status=$(printf '%s' "$json" | json_string status)
      image=$(printf '%s' "$json" | json_string registry_image)
      [ -n "$image" ] || image=$(printf '%s' "$json" | json_string image)
      case "$status" in
        ready) [ "$image" = "$want" ] && break ;;
        error)
          WAIT_REASON="container $id failed to deploy: $(printf '%s' "$json" | json_string error_message)"
          return 1 ;;
      esac
      if [ "$(date +%s)" -ge "$deadline" ]; then
        WAIT_REASON="container $id not ready on $want within ${READY_TIMEOUT}s (status: ${status:-unknown}, image: ${image:-unknown})"
        return 1
      fi
      sleep "$READY_INTERVAL"
    done
  done
  while :; do
    code=$(http_status "$API_URL/ready")
    if [ "$code" = 200 ]; then
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      WAIT_REASON="GET $API_URL/ready did not return 200 within ${READY_TIMEOUT}s (last status: $code)"
      return 1
    fi
    sleep "$READY_INTERVAL"
  done
}

rollback() { # rollback REASON
  REASON=$1
  log "not ready: $REASON"
  if [ -z "$PREVIOUS_TAG" ]; then
    OUTCOME=rollback_failed
    REASON="$REASON; no previous tag to roll back to"
    report 3
  fi
  log "rolling back to $IMAGE_REPO:$PREVIOUS_TAG"
  local id ok=1
  for id in "${ROLLED[@]}"; do
    if ! set_image "$id" "$IMAGE_REPO:$PREVIOUS_TAG"; then
      ok=0
      log "rollback of container $id failed"
    fi
  done
  if [ "$ok" = 1 ] && wait_ready $(($(date +%s) + READY_TIMEOUT)) "$IMAGE_REPO:$PREVIOUS_TAG"; then
    OUTCOME=rolled_back
    report 1
  fi
  OUTCOME=rollback_failed
  [ "$ok" = 1 ] && REASON="$REASON; after rollback: $WAIT_REASON"
  [ "$ok" = 1 ] || REASON="$REASON; updating containers back to $PREVIOUS_TAG failed"
  report 3
}

# --- 1. previous tag (what we roll back to) -----------------------------------------
if [ -z "$PREVIOUS_TAG" ]; then
  current=$(container_image "$API_ID") || fail_early "cannot read container $API_ID with $SCW"
  PREVIOUS_TAG=$(tag_of "$current")
fi
log "deploying $IMAGE (previous: ${PREVIOUS_TAG:-none})"
record_start

# --- 2. build and push ------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
  REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
  run "$DOCKER" build --platform "$DOCKER_PLATFORM" \
    --label "org.opencontainers.image.revision=$GIT_SHA" \
    -t "$IMAGE" "$REPO_ROOT" >&2 || fail_early "docker build failed"
  run "$DOCKER" push "$IMAGE" >&2 || fail_early "docker push failed"
fi

# --- 3. migrations (forward-only, must stay compatible with the previous tag) -----
# No test step here (CI tests before a release), so the record goes from building
# straight to deploying.
record_step deploying "tag $TAG (previous: ${PREVIOUS_TAG:-none}): image $IMAGE ready; $( [ "$SKIP_MIGRATIONS" = 1 ] && echo "skipping migrations" || echo "running migrations") and rolling ${#IDS[@]} container(s)"
if [ "$SKIP_MIGRATIONS" != 1 ]; then
  log "running migrations"
  if [ -n "${MIGRATE_CMD:-}" ]; then
    if [ "$DRY_RUN" = 1 ]; then
      echo "+ $MIGRATE_CMD" >&2
    else
      bash -c "$MIGRATE_CMD" >&2 || fail_early "migrations failed (MIGRATE_CMD); no container was changed"
    fi
  else
    export DATABASE_URL
    run "$DOCKER" run --rm --network host -e DATABASE_URL "$IMAGE" migrate up >&2 \
      || fail_early "migrations failed; no container was changed"
  fi
fi

# --- 4. roll every container to the new tag ---------------------------------------
deadline=$(($(date +%s) + READY_TIMEOUT))
for id in "${IDS[@]}"; do
  log "rolling container $id"
  ROLLED+=("$id")
  if ! set_image "$id" "$IMAGE"; then
    rollback "update of container $id to $TAG failed"
  fi
done

# --- 5. wait for /ready, or roll back ------------------------------------------------
if wait_ready "$deadline" "$IMAGE"; then
  OUTCOME=success
  report 0
fi
rollback "$WAIT_REASON"
