//! Pairings: the allowlist of chats an interface (the Telegram bot) serves. One row per
//! chat of a channel, moving between `pending` (a one-time code waits for an operator's
//! approval), `approved` and `revoked`. Approval looks a row up by its code.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000018_pairings"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE pairings (
    id uuid PRIMARY KEY,
    channel text NOT NULL,
    chat text NOT NULL,
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
    code text,
    expires_at timestamptz,
    decided_by text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX pairings_chat ON pairings (channel, chat);
CREATE INDEX pairings_code ON pairings (code)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE pairings (
    id blob PRIMARY KEY NOT NULL,
    channel text NOT NULL,
    chat text NOT NULL,
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
    code text,
    expires_at text,
    decided_by text,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX pairings_chat ON pairings (channel, chat);
CREATE INDEX pairings_code ON pairings (code)
"#;

const DOWN: &str = "DROP TABLE pairings";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
