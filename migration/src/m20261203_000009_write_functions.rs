//! Functions that do in one round trip what took a writer several (PostgreSQL only).
//!
//! Round trips, not the database's work, were what a task's claim and completion spent
//! their time on (`docs/benchmarks.md`): each statement inside a write transaction costs
//! a network exchange and a wake-up on both sides. Where the steps must be separate
//! statements (a fresh snapshot after a lock is granted), a plpgsql function runs them
//! server-side: each of its statements still takes its own snapshot.
//!
//! - `agentops_append_events`: appending a transaction's events, with the rules
//!   `agentops-api/src/store/events.rs` describes: never wait for the ordering lock;
//!   lock free → move the outbox, then number this transaction's events after it; lock
//!   busy → queue them in the outbox.
//! - `agentops_lock_claimant`: a keyed claim locks its agent, then asks whether that
//!   key's claim still holds tasks. The question must be asked after the lock is granted,
//!   in a new snapshot, or a repeat that waited for the first claim would not see what
//!   the first claim took (a single statement keeps the snapshot it started with).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000009_write_functions"
    }
}

// `batch` is a JSON array of {type, project_id, task_id, agent_id, data}, in the order
// the transaction emitted them. Returns the rows written to `events` (the outbox's moved
// first, then the batch's), or no row when the batch was queued in the outbox.
const CREATE_FUNCTION: &str = r#"
CREATE FUNCTION agentops_append_events(batch jsonb, created timestamptz, max_moved integer)
RETURNS SETOF events
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
    RETURN QUERY SELECT * FROM agentops_sequence_events(max_moved);
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (type, created_at, project_id, task_id, agent_id, data)
        SELECT e.value->>'type', created, (e.value->>'project_id')::uuid,
               (e.value->>'task_id')::uuid, (e.value->>'agent_id')::uuid, e.value->'data'
        FROM jsonb_array_elements(batch) WITH ORDINALITY AS e(value, n)
        ORDER BY e.n
        RETURNING events.id, events.type, events.created_at, events.project_id,
                  events.task_id, events.agent_id, events.data
    )
    SELECT * FROM inserted;
END
$$
"#;

// 1 when the agent's claim with `claim` still holds tasks (running, lease not expired at
// `at`), 0 when not, NULL for no such agent; the agent's row stays locked until the
// transaction ends. The status is a literal so the partial index `tasks_claim_key` is used.
const CREATE_LOCK_CLAIMANT: &str = r#"
CREATE FUNCTION agentops_lock_claimant(agent uuid, claim text, at timestamptz)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM agents a WHERE a.id = agent FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM tasks t WHERE t.status = 'running' AND t.agent_id = agent
               AND t.claim_key = claim AND t.lease_expires_at > at) THEN
        RETURN 1;
    END IF;
    RETURN 0;
END
$$
"#;

postgres_only_migration! {
    up: [CREATE_FUNCTION, CREATE_LOCK_CLAIMANT],
    down: [
        "DROP FUNCTION IF EXISTS agentops_lock_claimant(uuid, text, timestamptz)",
        "DROP FUNCTION IF EXISTS agentops_append_events(jsonb, timestamptz, integer)",
    ],
}
