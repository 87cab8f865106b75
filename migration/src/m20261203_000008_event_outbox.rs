//! The event outbox (PostgreSQL only): write transactions put their events here, and the
//! sequencer moves them into `events`, numbering them in the order it moves them.
//!
//! Writers then never wait for each other: ids are given out after commit, by one short
//! transaction at a time, instead of inside every writer's transaction under a global
//! lock (see `agentops-api/src/store/events.rs`). SQLite has one writer at a time, so it
//! keeps writing to `events` directly and gets no outbox.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000008_event_outbox"
    }
}

// `seq` only orders the rows the sequencer moves in one batch; it is never shown.
const CREATE_TABLE: &str = r#"
CREATE TABLE event_outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL,
    created_at timestamptz NOT NULL,
    project_id uuid,
    task_id uuid,
    agent_id uuid,
    data jsonb NOT NULL
) WITH (
    -- Every row is deleted within milliseconds of its insert: vacuum it often, so the
    -- sequencer's scan from the head of the index does not walk a long trail of dead
    -- entries between autovacuum's default thresholds.
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0,
    -- Nor let vacuum truncate the emptied pages at its end: that takes an exclusive lock
    -- on the table, and every writer would queue behind it.
    vacuum_truncate = false
)
"#;

// One sequencer batch in one round trip (as first written; migration 25 replaces it) (called as a statement of its own, it is its own
// transaction). The lock is taken by a statement of its own: a VOLATILE function's next
// statement takes a fresh snapshot, so it sees every row the previous batch (which held
// the lock until it committed) moved. 7243819113002 is the key writers took before the
// outbox, so old and new replicas stay ordered together during a rolling upgrade. Ids
// are drawn as the sorted rows reach the insert, so a batch keeps outbox order.
pub(crate) const CREATE_SEQUENCE_FUNCTION: &str = r#"
CREATE FUNCTION agentops_sequence_events(max_rows integer) RETURNS SETOF events
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7243819113002);
    RETURN QUERY
    WITH moved AS (
        DELETE FROM event_outbox o
        WHERE o.seq IN (SELECT q.seq FROM event_outbox q ORDER BY q.seq LIMIT max_rows)
        RETURNING o.seq, o.type, o.created_at, o.project_id, o.task_id, o.agent_id, o.data
    ), inserted AS (
        INSERT INTO events (type, created_at, project_id, task_id, agent_id, data)
        SELECT m.type, m.created_at, m.project_id, m.task_id, m.agent_id, m.data
        FROM moved m ORDER BY m.seq
        RETURNING events.id, events.type, events.created_at, events.project_id,
                  events.task_id, events.agent_id, events.data
    )
    SELECT * FROM inserted;
END
$$
"#;

postgres_only_migration! {
    up: [CREATE_TABLE, CREATE_SEQUENCE_FUNCTION],
    down: [
        "DROP FUNCTION IF EXISTS agentops_sequence_events(integer)",
        "DROP TABLE IF EXISTS event_outbox",
    ],
}
