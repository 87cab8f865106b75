//! Events are written once, straight into the log, and readers stop where every lower id
//! is settled; the outbox, its sequencer and the ordering lock leave the write path.
//!
//! `agentops_append_events_once(batch, created)` draws the batch's ids from the log's
//! sequence, then inserts the rows inside a subtransaction (the `EXCEPTION` block), so
//! that their `xmin` is a transaction id assigned *after* the draw. Any transaction that
//! drew a lower id had its own transaction id before its draw (the function asks for it
//! first), hence before ours: once a reader's snapshot has every transaction below a
//! row's `xmin` finished (`pg_snapshot_xmin`), every id below that row is committed and
//! visible to that snapshot, or will never exist.
//!
//! The sequence must hand out values in the order they are asked for, across sessions:
//! its cache stays 1 (the identity column's default, set again here), since a session
//! caching values would draw ids ahead of others.
//!
//! `agentops_settled_event_id(after)` is that test, in the caller's snapshot: the
//! highest id above `after` whose every lower id is settled, or `after`. Readers of the
//! log cap their reads there (see `store::events`).
//!
//! What the outbox holds is moved into the log. The earlier versions' functions and the
//! outbox stay: replicas of the previous version keep writing while a release rolls
//! (and after a rollback to it), and this version's poll moves whatever one of them
//! leaves queued.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000027_events_written_once"
    }
}

pub(crate) const APPEND: &str = r#"
CREATE FUNCTION agentops_append_events_once(batch jsonb, created timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids bigint[];
BEGIN
    -- This transaction's id before any draw: whoever draws after us knows it is ours.
    PERFORM pg_current_xact_id();
    ids := ARRAY(
        SELECT nextval('events_id_seq'::regclass)
        FROM generate_series(1, jsonb_array_length(batch))
    );
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

/// `xmin` precedes the snapshot's oldest running transaction, compared modulo 2^32 (the
/// width of `xmin`): a difference in `1 .. 2^32 - 2^30` is "before". Rows "after" it are
/// at most a running transaction's lifetime ahead, so a difference that large is an old
/// row whose id has wrapped, and is settled too.
const SETTLED: &str = r#"
CREATE FUNCTION agentops_settled_event_id(after bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
        SELECT e.id FROM events e
        WHERE e.id > after
          AND ((pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                - e.xmin::text::bigint) % 4294967296 + 4294967296) % 4294967296
              BETWEEN 1 AND 3221225471
        ORDER BY e.id DESC
        LIMIT 1
    ), after)
$$
"#;

const DRAIN_OUTBOX: &str = r#"
DO $$
BEGIN
    WHILE EXISTS (SELECT 1 FROM event_outbox) LOOP
        PERFORM agentops_sequence_events(5000);
    END LOOP;
END
$$
"#;

postgres_only_migration! {
    up: [
        "ALTER TABLE events ALTER COLUMN id SET CACHE 1",
        APPEND,
        SETTLED,
        DRAIN_OUTBOX,
    ],
    down: [
        "DROP FUNCTION agentops_settled_event_id(bigint)",
        "DROP FUNCTION agentops_append_events_once(jsonb, timestamptz)",
    ],
}
