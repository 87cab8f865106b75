#!/usr/bin/env bash
# What the benchmark's database sessions wait on: samples pg_stat_activity every 10 ms
# for SECONDS seconds (default 60) and prints, per wait event, how many samples found an
# active session of an `agentops_bench_*` database waiting on it ("running" = on CPU or
# between waits). Run it beside `agentops-bench claim`; see docs/benchmarks.md.
#
#   scripts/pg-wait-events.sh [SECONDS] [POSTGRES_URL]
set -euo pipefail
seconds="${1:-60}"
url="${2:-postgres://postgres@127.0.0.1:5432/postgres}"
samples=$((seconds * 100))
psql "$url" -Atq -v ON_ERROR_STOP=1 <<SQL
CREATE TEMP TABLE wait_samples (event text);
DO \$\$
BEGIN
    FOR i IN 1..${samples} LOOP
        PERFORM pg_stat_clear_snapshot();
        INSERT INTO wait_samples
            SELECT COALESCE(wait_event_type || ':' || wait_event, 'running')
            FROM pg_stat_activity
            WHERE datname LIKE 'agentops_bench_%' AND state = 'active'
              AND pid <> pg_backend_pid();
        PERFORM pg_sleep(0.01);
    END LOOP;
END
\$\$;
SELECT rpad(event, 32) || lpad(count(*)::text, 8) FROM wait_samples GROUP BY event ORDER BY count(*) DESC;
SQL
