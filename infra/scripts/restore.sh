#!/usr/bin/env bash
# Restore an AgentOps database from a dump made by backup.sh.
#
# Usage: infra/scripts/restore.sh [--yes] DUMP_FILE
#
#   TARGET_DATABASE_URL  database to restore into (required). Prefer a new,
#                        empty database; check it, then point the API at it
#                        (docs/deploy.md, "Restore").
#   --yes                required when the target already has tables: their
#                        objects are dropped and replaced by the dump's
#                        (RESTORE_CONFIRM=yes does the same)
#   PG_RESTORE, PSQL, SHA256SUM   commands (defaults: pg_restore, psql, sha256sum)
#
# The restore runs in a single transaction: if anything fails, the target is
# left exactly as it was. When DUMP_FILE.sha256 exists, it is verified first.
set -euo pipefail

PG_RESTORE=${PG_RESTORE:-pg_restore}
PSQL=${PSQL:-psql}
SHA256SUM=${SHA256SUM:-sha256sum}
CONFIRM=${RESTORE_CONFIRM:-no}

log() { echo "restore: $*" >&2; }
die() { log "$*"; exit 1; }

dump=""
while [ $# -gt 0 ]; do
  case "$1" in
    --yes|-y) CONFIRM=yes ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) [ -z "$dump" ] || die "only one dump file"; dump=$1 ;;
  esac
  shift
done

[ -n "$dump" ] || die "usage: restore.sh [--yes] DUMP_FILE"
[ -f "$dump" ] || die "no such file: $dump"
[ -n "${TARGET_DATABASE_URL:-}" ] || die "TARGET_DATABASE_URL is not set"

if [ -f "$dump.sha256" ]; then
  (cd "$(dirname "$dump")" && "$SHA256SUM" --check --status "$(basename "$dump").sha256") \
    || die "checksum mismatch for $dump"
  log "checksum ok"
fi

"$PG_RESTORE" --list "$dump" >/dev/null || die "$dump is not a readable pg_dump archive"

tables=$("$PSQL" "$TARGET_DATABASE_URL" -X -At -v ON_ERROR_STOP=1 -c \
  "select count(*) from pg_tables where schemaname not in ('pg_catalog','information_schema')") \
  || die "cannot connect to the target database"
if [ "$tables" -gt 0 ] && [ "$CONFIRM" != yes ]; then
  die "target has $tables tables; rerun with --yes to replace them"
fi

log "restoring $dump ($tables existing tables in the target)"
"$PG_RESTORE" --clean --if-exists --no-owner --no-privileges \
  --single-transaction --exit-on-error \
  --dbname="$TARGET_DATABASE_URL" "$dump"

after=$("$PSQL" "$TARGET_DATABASE_URL" -X -At -v ON_ERROR_STOP=1 -c \
  "select count(*) from pg_tables where schemaname not in ('pg_catalog','information_schema')")
log "ok: target now has $after tables"
