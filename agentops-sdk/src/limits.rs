//! The platform's limits on the request fields a client composes from free text (a
//! person's words, a model's plan), so it can check them before it sends anything.
//!
//! The server validates with these same values (its OpenAPI document declares them as
//! `maxLength` / `maxItems`); lengths count Unicode characters, not bytes.
//!
//! ```
//! use agentops_sdk::limits;
//! let title = "write the launch copy";
//! assert!(title.chars().count() <= limits::TASK_TITLE);
//! ```

/// Characters in a project's name.
pub const PROJECT_NAME: usize = 200;
/// Characters in a project's description.
pub const PROJECT_DESCRIPTION: usize = 10_000;
/// Characters in a task's title.
pub const TASK_TITLE: usize = 500;
/// Characters in a task's description.
pub const TASK_DESCRIPTION: usize = 100_000;
/// Characters in a short note: a heartbeat's message, why a task is released or
/// unblocked, why a plan is rejected.
pub const NOTE: usize = 2_000;
/// Characters in why a task was cancelled.
pub const CANCEL_REASON: usize = 10_000;
/// Characters in a schedule's name.
pub const SCHEDULE_NAME: usize = 200;
/// Characters in a task kind or an agent name (`[a-zA-Z0-9_.:-]`).
pub const KIND: usize = 100;
/// Tasks one task may depend on.
pub const DEPENDS_ON: usize = 100;
/// Characters in a pairing's `name`, the human label of a chat (a bot shortens a longer
/// one before it sends it).
pub const PAIRING_NAME: usize = 200;
