//! A persona may be its own Telegram bot: its owner's bot token (from @BotFather) is kept
//! sealed like the provider key (AES-256-GCM under the master key), and the bot's id
//! (the token's part before `:`, not a secret) beside it, unique: one bot answers as one
//! persona.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000020_persona_bots"
    }
}

const POSTGRES_UP: &str = r#"
ALTER TABLE personas ADD COLUMN telegram_token_sealed text;
ALTER TABLE personas ADD COLUMN telegram_bot_id bigint;
CREATE UNIQUE INDEX personas_telegram_bot ON personas (telegram_bot_id)
    WHERE telegram_bot_id IS NOT NULL
"#;

const SQLITE_UP: &str = r#"
ALTER TABLE personas ADD COLUMN telegram_token_sealed text;
ALTER TABLE personas ADD COLUMN telegram_bot_id integer;
CREATE UNIQUE INDEX personas_telegram_bot ON personas (telegram_bot_id)
    WHERE telegram_bot_id IS NOT NULL
"#;

const DOWN: &str = "DROP INDEX personas_telegram_bot; \
                    ALTER TABLE personas DROP COLUMN telegram_bot_id; \
                    ALTER TABLE personas DROP COLUMN telegram_token_sealed";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
