//! `agentops_append_events_once` draws its ids in a loop rather than with a query.
//!
//! The function of migration 27 drew them with
//! `ARRAY(SELECT nextval(…) FROM generate_series(1, jsonb_array_length(batch)))`. The
//! row count of that query depends on the batch, so PostgreSQL's plan cache kept
//! choosing a custom plan and planned the query again on every call:
//! `pg_stat_statements` (`track = all`, `track_planning = on`) counted 11,970 plans in
//! 11,948 calls during `agentops-bench claim`, with more time spent planning than
//! running it. A loop of `nextval` calls is planned once per session. In a bare loop
//! of 20,000 calls drawing two ids each, a call took 4.8 µs instead of 12 µs.
//!
//! Everything else is as in migration 27: the same signature, the same order (the
//! transaction's id first, then the draws, then the rows in a subtransaction), so
//! replicas of either version can run side by side while a release rolls.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000029_append_draws_in_a_loop"
    }
}

const APPEND_LOOP: &str = r#"
CREATE OR REPLACE FUNCTION agentops_append_events_once(batch jsonb, created timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids bigint[] := '{}';
    wanted integer := jsonb_array_length(batch);
BEGIN
    -- This transaction's id before any draw: whoever draws after us knows it is ours.
    PERFORM pg_current_xact_id();
    FOR i IN 1 .. wanted LOOP
        ids[i] := nextval('events_id_seq'::regclass);
    END LOOP;
    -- A subtransaction: the rows' xmin is a transaction id given out after the draw.
    BEGIN
        INSERT INTO events (id, type, created_at, project_id, task_id, agent_id, data)
        OVERRIDING SYSTEM VALUE
        SELECT ids[e.n], e.value->>'type', created, (e.value->>'project_id')::uuid,
               (e.value->>'task_id')::uuid, (e.value->>'agent_id')::uuid, e.value->'data'
        FROM jsonb_array_elements(batch) WITH ORDINALITY AS e(value, n);
    EXCEPTION WHEN OTHERS THEN
        RAISE;
    END;
    RETURN QUERY SELECT unnest(ids);
END
$$
"#;

/// `down`: migration 27's function as that migration wrote it, put back in place.
fn append_of_migration_27() -> String {
    super::m20261206_000027_events_written_once::APPEND.replacen(
        "CREATE FUNCTION",
        "CREATE OR REPLACE FUNCTION",
        1,
    )
}

postgres_only_migration! {
    up: [APPEND_LOOP],
    down: [&append_of_migration_27()],
}
