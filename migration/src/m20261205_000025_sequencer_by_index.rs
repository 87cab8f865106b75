//! The sequencer finds its batch through the outbox's primary key whatever the
//! statistics say.
//!
//! `agentops_sequence_events` deleted `WHERE seq IN (SELECT … ORDER BY seq LIMIT n)`.
//! Once `ANALYZE` had seen the outbox full (during a burst of writes), the planner
//! turned that into a hash semi join over a sequential scan of the whole table, empty
//! pages included (vacuum keeps them: `vacuum_truncate = false`): under `bench claim`
//! about 7% of PostgreSQL's CPU went to that scan, and it ran holding the ordering lock,
//! so more writers found the lock busy and queued their events. `= ANY (ARRAY(…))` makes
//! the batch an array the delete looks up by key, one index probe per row.

use sea_orm_migration::prelude::*;

use crate::m20261203_000008_event_outbox::CREATE_SEQUENCE_FUNCTION;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000025_sequencer_by_index"
    }
}

const REPLACE_FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION agentops_sequence_events(max_rows integer) RETURNS SETOF events
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7243819113002);
    RETURN QUERY
    WITH moved AS (
        DELETE FROM event_outbox o
        WHERE o.seq = ANY (ARRAY(SELECT q.seq FROM event_outbox q ORDER BY q.seq LIMIT max_rows))
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
    up: [REPLACE_FUNCTION],
    down: [
        "DROP FUNCTION agentops_sequence_events(integer)",
        CREATE_SEQUENCE_FUNCTION,
    ],
}
