#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted bash -c bodies get their values as "$1"...
# Really dumps and restores a throwaway database with infra/scripts/backup.sh
# and infra/scripts/restore.sh on the local PostgreSQL (127.0.0.1:5432, user
# postgres, trust auth; override with PGHOST/PGPORT/PGUSER). Databases get a
# random suffix and are dropped at the end.
#
# Prints "N passed, M failed" last; exits non-zero if anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BACKUP="$HERE/../scripts/backup.sh"
RESTORE="$HERE/../scripts/restore.sh"

export PGHOST=${PGHOST:-127.0.0.1}
export PGPORT=${PGPORT:-5432}
export PGUSER=${PGUSER:-postgres}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}

SUFFIX="$(date +%s)_$RANDOM$RANDOM"
SRC="agentops_restore_src_$SUFFIX"
DST="agentops_restore_dst_$SUFFIX"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentops-restore-test.XXXXXX")
PASSED=0
FAILED=0

url() { echo "postgres://$PGUSER@$PGHOST:$PGPORT/$1"; }
q() { psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

cleanup() {
  for db in "$SRC" "$DST"; do
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 \
      || psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       /'; }
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d" "${DETAIL:-}"; fi; DETAIL=""; }
DETAIL=""

for tool in psql pg_dump pg_restore sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "missing $tool"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
if ! psql -X -At -d postgres -c 'select 1' >/dev/null 2>&1; then
  echo "no PostgreSQL at $PGUSER@$PGHOST:$PGPORT"
  echo "0 passed, 1 failed"
  exit 1
fi

# A fingerprint of all the data: every table's rows in a stable order.
fingerprint() {
  q "$1" "select string_agg(t || ':' || n || ':' || h, ' ' order by t) from (
      select 'projects' t, count(*) n, md5(coalesce(string_agg(p::text, '|' order by id), '')) h from projects p
      union all select 'tasks', count(*), md5(coalesce(string_agg(x::text, '|' order by id), '')) from tasks x
      union all select 'events', count(*), md5(coalesce(string_agg(e::text, '|' order by id), '')) from events e
    ) s"
}

# --- source database with a schema shaped like the real one ----------------------------
q postgres "CREATE DATABASE \"$SRC\"" >/dev/null
q postgres "CREATE DATABASE \"$DST\"" >/dev/null
q "$SRC" "
  CREATE TABLE projects (id uuid PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued','running','completed','failed','blocked')),
    attempts int NOT NULL DEFAULT 0,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key text UNIQUE
  );
  CREATE INDEX tasks_runnable ON tasks (status, project_id) WHERE status = 'queued';
  CREATE TABLE events (id bigserial PRIMARY KEY, type text NOT NULL, data jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now());
  INSERT INTO projects (id, name)
    SELECT md5('p' || g)::uuid, 'project ' || g || ' — ünïcødé' FROM generate_series(1, 20) g;
  INSERT INTO tasks (id, project_id, title, status, attempts, payload, idempotency_key)
    SELECT md5('t' || g)::uuid, md5('p' || (g % 20 + 1))::uuid, 'task ' || g,
           (array['queued','running','completed','failed','blocked'])[g % 5 + 1], g % 3,
           jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')), 'key-' || g
    FROM generate_series(1, 500) g;
  INSERT INTO events (type, data)
    SELECT 'task.updated', jsonb_build_object('task', md5('t' || g)::uuid, 'seq', g) FROM generate_series(1, 2000) g;
" >/dev/null
SRC_FP=$(fingerprint "$SRC")

# --- backup -------------------------------------------------------------------------------
DUMP="$WORK/agentops.dump"
BACKUP_OUT=$(DATABASE_URL=$(url "$SRC") bash "$BACKUP" "$DUMP" 2>"$WORK/backup.err")
RC=$?
DETAIL=$(cat "$WORK/backup.err")
check "backup exits 0" test "$RC" -eq 0
check "backup prints the dump path" test "$BACKUP_OUT" = "$DUMP"
check "dump and checksum exist" test -s "$DUMP" -a -s "$DUMP.sha256"
check "dump lists the tables" bash -c 'pg_restore --list "$1" | grep -q "TABLE public events" && pg_restore --list "$1" | grep -q "TABLE public tasks"' _ "$DUMP"
DATABASE_URL=$(url "$SRC") bash "$BACKUP" "$DUMP" >/dev/null 2>&1
check "backup refuses to overwrite an existing file" test $? -ne 0
DATABASE_URL='' bash "$BACKUP" "$WORK/none.dump" >/dev/null 2>&1
check "backup without DATABASE_URL fails" test $? -ne 0

# --- restore into an empty database ------------------------------------------------------
TARGET_DATABASE_URL=$(url "$DST") bash "$RESTORE" "$DUMP" >"$WORK/restore.out" 2>&1
RC=$?
DETAIL=$(cat "$WORK/restore.out")
check "restore into an empty database exits 0" test "$RC" -eq 0
DST_FP=$(fingerprint "$DST" 2>&1)
DETAIL="src: $SRC_FP"$'\n'"dst: $DST_FP"
check "restored data is identical" test "$SRC_FP" = "$DST_FP"
check "foreign key restored" test "$(q "$DST" "select count(*) from pg_constraint where contype = 'f' and conrelid = 'tasks'::regclass")" = 1
check "partial index restored" test "$(q "$DST" "select count(*) from pg_indexes where indexname = 'tasks_runnable'")" = 1
check "sequence continues after the restored ids" test "$(q "$DST" "select nextval('events_id_seq')")" = 2001
DETAIL=$(q "$DST" "insert into tasks (id, project_id, title, status, idempotency_key) values (gen_random_uuid(), md5('p1')::uuid, 'dup', 'queued', 'key-1')" 2>&1)
check "unique constraint restored" test -n "$(grep -i 'duplicate key' <<<"$DETAIL")"

# --- refuses to overwrite a non-empty database without --yes ----------------------------
q "$DST" "DELETE FROM events WHERE id > 1000" >/dev/null
BEFORE=$(fingerprint "$DST")
TARGET_DATABASE_URL=$(url "$DST") bash "$RESTORE" "$DUMP" >"$WORK/restore.out" 2>&1
RC=$?
DETAIL=$(cat "$WORK/restore.out")
check "restore into a non-empty database without --yes refuses" test "$RC" -ne 0
check "refusal says why" grep -q "rerun with --yes" "$WORK/restore.out"
check "refused restore changed nothing" test "$(fingerprint "$DST")" = "$BEFORE"

# --- --yes replaces the damaged data with the dump -----------------------------------------
TARGET_DATABASE_URL=$(url "$DST") bash "$RESTORE" --yes "$DUMP" >"$WORK/restore.out" 2>&1
RC=$?
DETAIL=$(cat "$WORK/restore.out")
check "restore --yes exits 0" test "$RC" -eq 0
check "restore --yes brings the data back" test "$(fingerprint "$DST")" = "$SRC_FP"

# --- a corrupt dump fails and leaves the target untouched -------------------------------
cp "$DUMP" "$WORK/corrupt.dump"
size=$(wc -c <"$WORK/corrupt.dump")
truncate -s $((size / 2)) "$WORK/corrupt.dump"
q "$DST" "DELETE FROM tasks WHERE attempts = 2" >/dev/null
BEFORE=$(fingerprint "$DST")
TARGET_DATABASE_URL=$(url "$DST") bash "$RESTORE" --yes "$WORK/corrupt.dump" >"$WORK/restore.out" 2>&1
check "restore of a truncated dump fails" test $? -ne 0
check "failed restore left the target as it was" test "$(fingerprint "$DST")" = "$BEFORE"

cp "$DUMP" "$WORK/tampered.dump"
cp "$DUMP.sha256" "$WORK/tampered.dump.sha256"
sed -i "s/agentops.dump/tampered.dump/" "$WORK/tampered.dump.sha256"
printf 'x' >>"$WORK/tampered.dump"
TARGET_DATABASE_URL=$(url "$DST") bash "$RESTORE" --yes "$WORK/tampered.dump" >"$WORK/restore.out" 2>&1
RC=$?
check "checksum mismatch is refused" bash -c '[ "$1" -ne 0 ] && grep -q "checksum mismatch" "$2"' _ "$RC" "$WORK/restore.out"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
