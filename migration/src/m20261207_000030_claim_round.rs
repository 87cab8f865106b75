//! `agentops_claim_round(calls, done, at, created)`: a batch of claims, with the
//! completions they carry and their events, in one statement on PostgreSQL.
//!
//! A worker's claim (with what it finished since its last one) was a transaction of
//! seven round trips: `BEGIN`, the claimants' lock, the completions, the claim, the
//! event append, `COMMIT`, and the ping sqlx sends when the connection goes back to the
//! pool. Every round trip costs both ends system calls, TLS records and protocol work
//! for the same few rows. Run as one statement in its own implicit transaction, the
//! whole round is one round trip (and the ping).
//!
//! The function does what the API's claim path does, in the same order and with the
//! same locks:
//!
//! 1. each claimant, in agent id order: a keyed claim locks its agent and asks whether
//!    its key still holds tasks (`agentops_lock_claimant`), an unkeyed one checks that
//!    its agent exists;
//! 2. the completions (`done`, in the order they were sent), in one `UPDATE` by primary
//!    key (rows locked in id order), each only if the task is `running` under its claim
//!    token;
//! 3. each claim in turn, in the order the claims arrived: its runnable tasks picked in
//!    claim order (priority, then age, then id) with `FOR NO KEY UPDATE SKIP LOCKED`,
//!    one at a time from a cursor (the claimable index read in order; only the rows
//!    fetched are locked), then moved to `running`;
//! 4. one event per change, `task.completed` first, then `task.claimed`, appended by
//!    `agentops_append_events_once` as the last thing the transaction does; each
//!    event's data is the task as `GET /tasks/{id}` answers it, written by the `UPDATE`
//!    that changed it (`agentops_task_json`).
//!
//! It answers the rows it changed: which call (claims), the task's JSON, its claim
//! token (claims) and its event's id. Anything out of the ordinary is left to the API's
//! general path, which explains it: an unknown agent, a key that still holds tasks (a
//! repeated claim), a completion that did not apply (a retry, a stale token), a
//! completed task that others depend on (their release). The function then raises
//! SQLSTATE `AO001` and, being one statement, leaves nothing behind. The dependents are
//! asked about in a statement of their own, after the completions' locks were granted,
//! for the reason migration 28 gives.
//!
//! Its statements run on generic plans (`plan_cache_mode = force_generic_plan`), planned
//! once per connection: left to choose, PostgreSQL planned them again on every call,
//! which cost more than running them. Every one of them reaches its rows by primary key,
//! through the claimable index in order, or over the function's own arrays, so no value
//! of a parameter calls for another plan. JIT compilation is off (`jit = off`): the
//! generic plan of the pick estimates a cost (the labels' subquery for every queued
//! task) above `jit_above_cost`, and compiling it took milliseconds per call while the
//! pick itself reads a handful of rows.
//!
//! `agentops_task_json(tasks, depends_on)` writes a task's wire form as the API's serializer does:
//! every field, timestamps in RFC 3339 UTC with `Z` and as many fractional digits as
//! needed among 0, 3 and 6 (chrono's `AutoSi`), and a whole `progress` as `1.0`.
//! SQLite keeps the API's own path; nothing to create there.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000030_claim_round"
    }
}

const JSON_TIME: &str = r#"
CREATE FUNCTION agentops_json_time(at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN right(to_char(at AT TIME ZONE 'UTC', 'US'), 6) = '000000'
                THEN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                WHEN right(to_char(at AT TIME ZONE 'UTC', 'US'), 3) = '000'
                THEN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS')
                ELSE to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') END || 'Z'
$$
"#;

const JSON_FLOAT: &str = r#"
CREATE FUNCTION agentops_json_float(x double precision) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN x = trunc(x) AND abs(x) < 1e15 THEN CAST(trunc(x)::bigint::text || '.0' AS jsonb)
                ELSE to_jsonb(x) END
$$
"#;

const TASK_JSON: &str = r#"
CREATE FUNCTION agentops_task_json(t tasks, depends_on uuid[]) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'project_id', t.project_id, 'title', t.title,
        'description', t.description, 'kind', t.kind, 'labels', t.labels,
        'priority', t.priority, 'input', t.input, 'status', t.status,
        'depends_on', to_jsonb(depends_on),
        'attempts', t.attempts, 'max_attempts', t.max_attempts, 'agent_id', t.agent_id,
        'lease_expires_at', agentops_json_time(t.lease_expires_at),
        'not_before', agentops_json_time(t.not_before),
        'progress', agentops_json_float(t.progress),
        'progress_message', t.progress_message, 'result', t.result, 'error', t.error,
        'block_reason', t.block_reason,
        'created_at', agentops_json_time(t.created_at),
        'updated_at', agentops_json_time(t.updated_at),
        'started_at', agentops_json_time(t.started_at),
        'finished_at', agentops_json_time(t.finished_at))
$$
"#;

const CLAIM_ROUND: &str = r#"
CREATE FUNCTION agentops_claim_round(calls jsonb, done jsonb, at timestamptz, created timestamptz)
RETURNS TABLE (out_call integer, out_completed boolean, out_task text, out_token uuid, out_event bigint)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan SET jit = off AS $$
DECLARE
    c record;
    cur refcursor;
    picked_id uuid;
    picked uuid[];
    -- The completions by task id, and their ids in the order given.
    by_id jsonb;
    done_order uuid[];
    done_count integer;
    -- Every change's event, completions first, in order; the claims' calls and tokens.
    events jsonb := '[]';
    claimed_calls integer[] := '{}';
    claimed_tokens uuid[] := '{}';
    ids bigint[];
BEGIN
    -- 1. The claimants, in agent id order.
    FOR c IN SELECT (e.value->>'agent_id')::uuid AS agent, e.value->>'claim_key' AS claim_key
             FROM jsonb_array_elements(calls) AS e(value) ORDER BY 1 LOOP
        IF c.claim_key IS NULL THEN
            PERFORM 1 FROM agents a WHERE a.id = c.agent;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'agentops: unknown agent' USING ERRCODE = 'AO001';
            END IF;
        ELSIF agentops_lock_claimant(c.agent, c.claim_key, at) IS DISTINCT FROM 0 THEN
            RAISE EXCEPTION 'agentops: unknown agent or repeated claim' USING ERRCODE = 'AO001';
        END IF;
    END LOOP;

    -- 2. The completions: one update by primary key (rows locked in id order).
    done_count := jsonb_array_length(done);
    IF done_count > 0 THEN
        SELECT jsonb_object_agg(e.value->>'id', e.value),
               array_agg((e.value->>'id')::uuid ORDER BY e.ord)
        INTO by_id, done_order
        FROM jsonb_array_elements(done) WITH ORDINALITY AS e(value, ord);
        WITH changed AS (
            UPDATE tasks t SET status = 'completed', result = by_id->(t.id::text)->'result',
                   lease_expires_at = NULL, progress = 1.0, finished_at = at, updated_at = at
            WHERE t.id = ANY (done_order)
              AND t.claim_token = (by_id->(t.id::text)->>'claim_token')::uuid
              AND t.status = 'running'
            RETURNING t.id, t.project_id, t.agent_id,
                      agentops_task_json(t, ARRAY(SELECT d.depends_on FROM task_dependencies d
                                                  WHERE d.task_id = t.id ORDER BY d.depends_on)) AS data
        )
        SELECT COALESCE(jsonb_agg(jsonb_build_object(
                   'type', 'task.completed', 'project_id', changed.project_id,
                   'task_id', changed.id, 'agent_id', changed.agent_id, 'data', changed.data)
                   ORDER BY array_position(done_order, changed.id)), '[]')
        INTO events FROM changed;
        IF jsonb_array_length(events) <> done_count THEN
            RAISE EXCEPTION 'agentops: a completion did not apply' USING ERRCODE = 'AO001';
        END IF;
        IF EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on = ANY (done_order)) THEN
            RAISE EXCEPTION 'agentops: completed tasks have dependents' USING ERRCODE = 'AO001';
        END IF;
    END IF;

    -- 3. The claims, in arrival order.
    FOR c IN SELECT e.ord::integer AS call_no, (e.value->>'agent_id')::uuid AS agent,
                    e.value->>'claim_key' AS claim_key,
                    (e.value->>'lease_seconds')::integer AS lease,
                    (e.value->>'limit')::integer AS lim,
                    ARRAY(SELECT jsonb_array_elements_text(e.value->'kinds')) AS kinds,
                    ARRAY(SELECT jsonb_array_elements_text(e.value->'labels')) AS labels,
                    (e.value->>'project_id')::uuid AS project
             FROM jsonb_array_elements(calls) WITH ORDINALITY AS e(value, ord)
             ORDER BY e.ord LOOP
        picked := '{}';
        OPEN cur NO SCROLL FOR
            SELECT t.id FROM tasks t
            WHERE t.status = 'queued' AND (t.not_before IS NULL OR t.not_before <= at)
              AND (cardinality(c.kinds) = 0 OR t.kind = ANY (c.kinds))
              AND (c.project IS NULL OR t.project_id = c.project)
              AND (cardinality(c.labels) = 0
                   OR (SELECT count(*) FROM task_labels l
                       WHERE l.task_id = t.id AND l.label = ANY (c.labels)) = cardinality(c.labels))
            ORDER BY t.priority DESC, t.created_at, t.id
            FOR NO KEY UPDATE SKIP LOCKED;
        WHILE cardinality(picked) < c.lim LOOP
            FETCH cur INTO picked_id;
            EXIT WHEN NOT FOUND;
            picked := picked || picked_id;
        END LOOP;
        CLOSE cur;
        CONTINUE WHEN cardinality(picked) = 0;
        WITH changed AS (
            UPDATE tasks t SET status = 'running', agent_id = c.agent, lease_seconds = c.lease,
                   lease_expires_at = at + make_interval(secs => c.lease), started_at = at,
                   updated_at = at, progress = NULL, block_reason = NULL,
                   claim_key = c.claim_key, claim_token = gen_random_uuid()
            WHERE t.id = ANY (picked)
            RETURNING t.id, t.project_id, t.agent_id, t.claim_token,
                      agentops_task_json(t, ARRAY(SELECT d.depends_on FROM task_dependencies d
                                                  WHERE d.task_id = t.id ORDER BY d.depends_on)) AS data
        ), ordered AS (
            SELECT changed.*, array_position(picked, changed.id) AS n FROM changed
        )
        SELECT events || jsonb_agg(jsonb_build_object(
                   'type', 'task.claimed', 'project_id', ordered.project_id,
                   'task_id', ordered.id, 'agent_id', ordered.agent_id, 'data', ordered.data)
                   ORDER BY ordered.n),
               claimed_tokens || array_agg(ordered.claim_token ORDER BY ordered.n)
        INTO events, claimed_tokens FROM ordered;
        claimed_calls := claimed_calls || array_fill(c.call_no, ARRAY[cardinality(picked)]);
    END LOOP;

    IF jsonb_array_length(events) = 0 THEN
        RETURN;
    END IF;

    -- 4. The events, last.
    ids := ARRAY(SELECT agentops_append_events_once(events, created));
    RETURN QUERY
    SELECT CASE WHEN e.ord > done_count THEN claimed_calls[e.ord - done_count] END,
           e.ord <= done_count,
           (e.value->'data')::text,
           CASE WHEN e.ord > done_count THEN claimed_tokens[e.ord - done_count] END,
           ids[e.ord]
    FROM jsonb_array_elements(events) WITH ORDINALITY AS e(value, ord)
    ORDER BY e.ord;
END
$$
"#;

postgres_only_migration! {
    up: [JSON_TIME, JSON_FLOAT, TASK_JSON, CLAIM_ROUND],
    down: [
        "DROP FUNCTION agentops_claim_round(jsonb, jsonb, timestamptz, timestamptz)",
        "DROP FUNCTION agentops_task_json(tasks, uuid[])",
        "DROP FUNCTION agentops_json_float(double precision)",
        "DROP FUNCTION agentops_json_time(timestamptz)",
    ],
}
