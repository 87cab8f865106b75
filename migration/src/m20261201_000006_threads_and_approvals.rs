//! Conversations and approvals, for the Chief of Staff and the interfaces in front of it.
//!
//! A thread is one conversation (a Telegram chat, a dashboard session, an API caller),
//! found again by its channel and the channel's own id. Its messages are every user
//! message and every reply, in order. An approval is a plan of changes an agent proposes
//! in a thread and may carry out only once a human approves it: at most one is pending per
//! thread (a newer proposal or a new user message supersedes it), and it records what
//! carrying it out gave, so a restarted agent knows which approved plans it still owes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000006_threads_and_approvals"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE threads (
    id uuid PRIMARY KEY,
    channel text NOT NULL,
    external_id text,
    title text,
    metadata jsonb NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX threads_channel_external ON threads (channel, external_id) WHERE external_id IS NOT NULL;
CREATE TABLE thread_messages (
    id uuid PRIMARY KEY,
    thread_id uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    author text,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL
);
CREATE INDEX thread_messages_thread ON thread_messages (thread_id, id);
CREATE TABLE approvals (
    id uuid PRIMARY KEY,
    thread_id uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    summary text NOT NULL,
    plan jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded', 'executed', 'failed')),
    reason text,
    result jsonb,
    created_by uuid,
    decided_by uuid,
    created_at timestamptz NOT NULL,
    decided_at timestamptz,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX approvals_one_pending ON approvals (thread_id) WHERE status = 'pending';
CREATE INDEX approvals_thread ON approvals (thread_id, id);
CREATE INDEX approvals_status ON approvals (status, id)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE threads (
    id blob PRIMARY KEY NOT NULL,
    channel text NOT NULL,
    external_id text,
    title text,
    metadata text NOT NULL,
    created_by blob,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX threads_channel_external ON threads (channel, external_id) WHERE external_id IS NOT NULL;
CREATE TABLE thread_messages (
    id blob PRIMARY KEY NOT NULL,
    thread_id blob NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    author text,
    text text NOT NULL,
    metadata text NOT NULL,
    created_by blob,
    created_at text NOT NULL
);
CREATE INDEX thread_messages_thread ON thread_messages (thread_id, id);
CREATE TABLE approvals (
    id blob PRIMARY KEY NOT NULL,
    thread_id blob NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    summary text NOT NULL,
    plan text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded', 'executed', 'failed')),
    reason text,
    result text,
    created_by blob,
    decided_by blob,
    created_at text NOT NULL,
    decided_at text,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX approvals_one_pending ON approvals (thread_id) WHERE status = 'pending';
CREATE INDEX approvals_thread ON approvals (thread_id, id);
CREATE INDEX approvals_status ON approvals (status, id)
"#;

const DOWN: &str = r#"
DROP TABLE approvals;
DROP TABLE thread_messages;
DROP TABLE threads
"#;

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
