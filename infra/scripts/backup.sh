#!/usr/bin/env bash
# Logical backup of the AgentOps database with pg_dump (custom format).
#
# Usage: infra/scripts/backup.sh [OUTPUT_FILE]
#
#   DATABASE_URL   database to dump (required). In production the database is
#                  on the private network only: open the bastion tunnel first
#                  (terraform output bastion_tunnel_command) and use
#                  `terraform output -raw database_admin_url` with the host
#                  replaced by 127.0.0.1:15432.
#   BACKUP_DIR     directory for the dump when OUTPUT_FILE is not given
#                  (default ./backups); the file is agentops-<UTC time>.dump
#   BACKUP_S3_URI  optional s3://bucket/prefix/ to upload the dump and its
#                  checksum to (uses the aws CLI; set AWS_ENDPOINT_URL to
#                  https://s3.<region>.scw.cloud and AWS_* credentials)
#   PG_DUMP, PG_RESTORE, AWS, SHA256SUM   commands (defaults: pg_dump, pg_restore, aws, sha256sum)
#
# The dump is checked with `pg_restore --list` and a .sha256 file is written
# next to it. Prints the dump's path on stdout. pg_dump must be at least the
# server's major version (PostgreSQL 16 by default).
set -euo pipefail

PG_DUMP=${PG_DUMP:-pg_dump}
PG_RESTORE=${PG_RESTORE:-pg_restore}
AWS=${AWS:-aws}
SHA256SUM=${SHA256SUM:-sha256sum}

log() { echo "backup: $*" >&2; }
die() { log "$*"; exit 1; }

[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"

if [ $# -ge 1 ]; then
  out=$1
else
  dir=${BACKUP_DIR:-./backups}
  mkdir -p "$dir"
  out="$dir/agentops-$(date -u +%Y%m%dT%H%M%SZ).dump"
fi
[ ! -e "$out" ] || die "$out already exists; refusing to overwrite"

tmp="$out.partial"
trap 'rm -f "$tmp"' EXIT

log "dumping to $out"
# --no-owner/--no-privileges: restorable by another role or on another instance.
"$PG_DUMP" --format=custom --compress=6 --no-owner --no-privileges \
  --file="$tmp" --dbname="$DATABASE_URL"

# A dump that pg_restore cannot read is not a backup.
entries=$("$PG_RESTORE" --list "$tmp" | grep -cv '^;' || true)
[ "$entries" -gt 0 ] || die "dump has no entries"
mv "$tmp" "$out"
trap - EXIT

(cd "$(dirname "$out")" && "$SHA256SUM" "$(basename "$out")" >"$(basename "$out").sha256")
log "ok: $entries entries, $(wc -c <"$out") bytes, checksum in $out.sha256"

if [ -n "${BACKUP_S3_URI:-}" ]; then
  dest=${BACKUP_S3_URI%/}/
  log "uploading to $dest"
  "$AWS" s3 cp "$out" "$dest"
  "$AWS" s3 cp "$out.sha256" "$dest"
fi

echo "$out"
