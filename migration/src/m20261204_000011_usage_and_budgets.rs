//! The token ledger and the budgets the server enforces.
//!
//! - `usage_records`: one row per model call, with who and what it was for, the tokens
//!   and the estimated cost (micro-dollars, from the server's price table at the time).
//! - `budgets`: a token (and optionally cost) limit per day or month for a target
//!   (everything, proactive or reactive work, an agent, a project, a person).
//! - `budget_periods`: each budget's spend and reservations in one period, the row a
//!   reservation's conditional `UPDATE` checks and moves, so concurrent reservers never
//!   take more than the limit between them.
//! - `budget_reservations` and their `budget_reservation_legs` (one per budget the
//!   reservation holds room in): held until settled by a usage record, released, or
//!   expired.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000011_usage_and_budgets"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE usage_records (
    id uuid PRIMARY KEY,
    recorded_at timestamptz NOT NULL,
    agent_id uuid,
    project_id uuid,
    task_id uuid,
    thread_id uuid,
    user_ref text,
    scope text NOT NULL CHECK (scope IN ('reactive', 'proactive')),
    kind text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    tokens_in bigint NOT NULL CHECK (tokens_in >= 0),
    tokens_out bigint NOT NULL CHECK (tokens_out >= 0),
    cost_micros bigint CHECK (cost_micros >= 0),
    latency_ms bigint NOT NULL CHECK (latency_ms >= 0),
    outcome text NOT NULL CHECK (outcome IN ('ok', 'error')),
    error text,
    reservation_id uuid UNIQUE,
    recorded_by uuid,
    idempotency_key text,
    request_hash text
);
CREATE INDEX usage_records_recorded_at ON usage_records (recorded_at);
CREATE INDEX usage_records_agent ON usage_records (agent_id, recorded_at);
CREATE INDEX usage_records_project ON usage_records (project_id, recorded_at);
CREATE UNIQUE INDEX usage_records_idempotency ON usage_records (recorded_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE budgets (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    applies_to text NOT NULL
        CHECK (applies_to IN ('all', 'proactive', 'reactive', 'agent', 'project', 'user')),
    subject text,
    period text NOT NULL CHECK (period IN ('day', 'month')),
    time_zone text NOT NULL,
    limit_tokens bigint NOT NULL CHECK (limit_tokens > 0),
    limit_cost_micros bigint CHECK (limit_cost_micros > 0),
    enabled boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE budget_periods (
    budget_id uuid NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    used_tokens bigint NOT NULL DEFAULT 0,
    reserved_tokens bigint NOT NULL DEFAULT 0 CHECK (reserved_tokens >= 0),
    used_cost_micros bigint NOT NULL DEFAULT 0,
    reserved_cost_micros bigint NOT NULL DEFAULT 0 CHECK (reserved_cost_micros >= 0),
    warned boolean NOT NULL DEFAULT false,
    exhausted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (budget_id, period_start)
);

CREATE TABLE budget_reservations (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    state text NOT NULL CHECK (state IN ('held', 'settled', 'released')),
    tokens bigint NOT NULL CHECK (tokens > 0),
    cost_micros bigint NOT NULL CHECK (cost_micros >= 0),
    agent_id uuid,
    project_id uuid,
    task_id uuid,
    thread_id uuid,
    user_ref text,
    scope text NOT NULL,
    created_by uuid
);
CREATE INDEX budget_reservations_held ON budget_reservations (expires_at) WHERE state = 'held';

CREATE TABLE budget_reservation_legs (
    reservation_id uuid NOT NULL REFERENCES budget_reservations (id) ON DELETE CASCADE,
    budget_id uuid NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    PRIMARY KEY (reservation_id, budget_id)
)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE usage_records (
    id blob PRIMARY KEY NOT NULL,
    recorded_at text NOT NULL,
    agent_id blob,
    project_id blob,
    task_id blob,
    thread_id blob,
    user_ref text,
    scope text NOT NULL CHECK (scope IN ('reactive', 'proactive')),
    kind text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    tokens_in integer NOT NULL CHECK (tokens_in >= 0),
    tokens_out integer NOT NULL CHECK (tokens_out >= 0),
    cost_micros integer CHECK (cost_micros >= 0),
    latency_ms integer NOT NULL CHECK (latency_ms >= 0),
    outcome text NOT NULL CHECK (outcome IN ('ok', 'error')),
    error text,
    reservation_id blob UNIQUE,
    recorded_by blob,
    idempotency_key text,
    request_hash text
);
CREATE INDEX usage_records_recorded_at ON usage_records (recorded_at);
CREATE INDEX usage_records_agent ON usage_records (agent_id, recorded_at);
CREATE INDEX usage_records_project ON usage_records (project_id, recorded_at);
CREATE UNIQUE INDEX usage_records_idempotency ON usage_records (recorded_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE budgets (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL UNIQUE,
    applies_to text NOT NULL
        CHECK (applies_to IN ('all', 'proactive', 'reactive', 'agent', 'project', 'user')),
    subject text,
    period text NOT NULL CHECK (period IN ('day', 'month')),
    time_zone text NOT NULL,
    limit_tokens integer NOT NULL CHECK (limit_tokens > 0),
    limit_cost_micros integer CHECK (limit_cost_micros > 0),
    enabled boolean NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);

CREATE TABLE budget_periods (
    budget_id blob NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start text NOT NULL,
    used_tokens integer NOT NULL DEFAULT 0,
    reserved_tokens integer NOT NULL DEFAULT 0 CHECK (reserved_tokens >= 0),
    used_cost_micros integer NOT NULL DEFAULT 0,
    reserved_cost_micros integer NOT NULL DEFAULT 0 CHECK (reserved_cost_micros >= 0),
    warned boolean NOT NULL DEFAULT false,
    exhausted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (budget_id, period_start)
);

CREATE TABLE budget_reservations (
    id blob PRIMARY KEY NOT NULL,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    state text NOT NULL CHECK (state IN ('held', 'settled', 'released')),
    tokens integer NOT NULL CHECK (tokens > 0),
    cost_micros integer NOT NULL CHECK (cost_micros >= 0),
    agent_id blob,
    project_id blob,
    task_id blob,
    thread_id blob,
    user_ref text,
    scope text NOT NULL,
    created_by blob
);
CREATE INDEX budget_reservations_held ON budget_reservations (expires_at) WHERE state = 'held';

CREATE TABLE budget_reservation_legs (
    reservation_id blob NOT NULL REFERENCES budget_reservations (id) ON DELETE CASCADE,
    budget_id blob NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start text NOT NULL,
    PRIMARY KEY (reservation_id, budget_id)
)
"#;

const DOWN: &str = "DROP TABLE budget_reservation_legs; DROP TABLE budget_reservations; \
                    DROP TABLE budget_periods; DROP TABLE budgets; DROP TABLE usage_records";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
