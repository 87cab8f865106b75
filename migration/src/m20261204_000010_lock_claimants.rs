//! PostgreSQL function `agentops_lock_claimants`: the keyed claims that share a
//! transaction (group commit) lock their agents and ask whether each key's claim still
//! holds tasks, in one round trip.
//!
//! It does for many agents what `agentops_lock_claimant` does for one: each agent's row
//! is locked `FOR NO KEY UPDATE`, in id order (so two batches naming the same agents
//! cannot deadlock on them), and each question is asked after its lock is granted, in a
//! new snapshot (a volatile function's statements each take one), so a repeat that waited
//! for the first claim sees what that claim took.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000010_lock_claimants"
    }
}

// `holds`: NULL for no such agent, else 1 if the key's claim still holds a running task
// whose lease has not expired at `at`, 0 otherwise.
const CREATE_LOCK_CLAIMANTS: &str = r#"
CREATE FUNCTION agentops_lock_claimants(agents uuid[], claims text[], at timestamptz)
RETURNS TABLE (agent uuid, holds integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT u.agent, u.claim FROM unnest(agents, claims) AS u(agent, claim)
             ORDER BY u.agent
    LOOP
        agent := c.agent;
        PERFORM 1 FROM agents a WHERE a.id = c.agent FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            holds := NULL;
        ELSIF EXISTS (SELECT 1 FROM tasks t WHERE t.status = 'running' AND t.agent_id = c.agent
                      AND t.claim_key = c.claim AND t.lease_expires_at > at) THEN
            holds := 1;
        ELSE
            holds := 0;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$
"#;

postgres_only_migration! {
    up: [CREATE_LOCK_CLAIMANTS],
    down: ["DROP FUNCTION IF EXISTS agentops_lock_claimants(uuid[], text[], timestamptz)"],
}
