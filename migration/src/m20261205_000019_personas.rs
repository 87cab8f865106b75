//! Personas: agents people create (a name, a system prompt, a model), share by link and
//! talk to. A persona's prompt, model, temperature and greeting are versioned: every
//! change is a new row of `persona_versions`, and the persona names its current one. An
//! owner's provider key is kept sealed (AES-256-GCM under the master key), never in
//! clear. `slug_key` (the slug in lower case) keeps slugs unique whatever their case.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000019_personas"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE personas (
    id uuid PRIMARY KEY,
    slug text NOT NULL,
    slug_key text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    owner text NOT NULL,
    visibility text NOT NULL CHECK (visibility IN ('private', 'link', 'public')),
    status text NOT NULL CHECK (status IN ('active', 'deleted')),
    version integer NOT NULL,
    daily_limit integer,
    provider_key_sealed text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE UNIQUE INDEX personas_slug ON personas (slug_key);
CREATE INDEX personas_owner ON personas (owner, id);
CREATE INDEX personas_visibility ON personas (visibility, id);
CREATE TABLE persona_versions (
    persona_id uuid NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
    version integer NOT NULL,
    system_prompt text NOT NULL,
    model text NOT NULL,
    temperature double precision NOT NULL,
    greeting text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (persona_id, version)
)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE personas (
    id blob PRIMARY KEY NOT NULL,
    slug text NOT NULL,
    slug_key text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    owner text NOT NULL,
    visibility text NOT NULL CHECK (visibility IN ('private', 'link', 'public')),
    status text NOT NULL CHECK (status IN ('active', 'deleted')),
    version integer NOT NULL,
    daily_limit integer,
    provider_key_sealed text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    deleted_at text
);
CREATE UNIQUE INDEX personas_slug ON personas (slug_key);
CREATE INDEX personas_owner ON personas (owner, id);
CREATE INDEX personas_visibility ON personas (visibility, id);
CREATE TABLE persona_versions (
    persona_id blob NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
    version integer NOT NULL,
    system_prompt text NOT NULL,
    model text NOT NULL,
    temperature real NOT NULL,
    greeting text,
    created_at text NOT NULL,
    PRIMARY KEY (persona_id, version)
)
"#;

const DOWN: &str = "DROP TABLE persona_versions; DROP TABLE personas";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
