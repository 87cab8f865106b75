//! The event append answers with the ids of the writer's own events, not the events.
//!
//! `agentops_append_events` returned every row it wrote, the whole task as JSON in each:
//! PostgreSQL printed that JSON and the API parsed it back, although the writer holds
//! those events already and only needs their ids. `agentops_append_events_ids` does the
//! same work (see `m20261203_000009_write_functions`) and answers, for each row, whether
//! it is one of the writer's own (`own`, then only `id` and `created_at` are set) or one
//! moved from the outbox ahead of them (complete: the writer publishes it too).
//!
//! The old function stays, so that replicas of the previous version keep working during
//! a rolling upgrade.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000026_append_returns_ids"
    }
}

const CREATE_FUNCTION: &str = r#"
CREATE FUNCTION agentops_append_events_ids(batch jsonb, created timestamptz, max_moved integer)
RETURNS TABLE (id bigint, type text, created_at timestamptz, project_id uuid, task_id uuid,
               agent_id uuid, data jsonb, own boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(7243819113002) THEN
        INSERT INTO event_outbox (type, created_at, project_id, task_id, agent_id, data)
        SELECT e.value->>'type', created, (e.value->>'project_id')::uuid,
               (e.value->>'task_id')::uuid, (e.value->>'agent_id')::uuid, e.value->'data'
        FROM jsonb_array_elements(batch) WITH ORDINALITY AS e(value, n)
        ORDER BY e.n;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.id, s.type, s.created_at, s.project_id, s.task_id, s.agent_id, s.data, false
    FROM agentops_sequence_events(max_moved) s;
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (type, created_at, project_id, task_id, agent_id, data)
        SELECT e.value->>'type', created, (e.value->>'project_id')::uuid,
               (e.value->>'task_id')::uuid, (e.value->>'agent_id')::uuid, e.value->'data'
        FROM jsonb_array_elements(batch) WITH ORDINALITY AS e(value, n)
        ORDER BY e.n
        RETURNING events.id, events.created_at
    )
    SELECT i.id, NULL::text, i.created_at, NULL::uuid, NULL::uuid, NULL::uuid, NULL::jsonb, true
    FROM inserted i;
END
$$
"#;

postgres_only_migration! {
    up: [CREATE_FUNCTION],
    down: ["DROP FUNCTION IF EXISTS agentops_append_events_ids(jsonb, timestamptz, integer)"],
}
