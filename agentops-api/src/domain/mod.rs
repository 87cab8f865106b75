//! Use cases: validation, state machines and the rules of each entity.
//!
//! Each function opens at most one transaction, emits the events describing its changes
//! into that transaction (see [`crate::store::Tx`]) and publishes them after commit.
//! Nothing here knows about HTTP; routes call these functions and map their results.

pub mod agents;
pub mod artifacts;
pub mod budgets;
mod caller;
mod context;
pub mod deployments;
pub mod events;
pub mod keys;
pub mod limits;
pub mod notes;
pub mod pairings;
pub mod personas;
pub mod previews;
pub mod projects;
pub mod schedules;
pub mod task_status;
pub mod tasks;
pub mod threads;
pub mod tools;
pub mod usage;

use std::future::Future;

use serde::Serialize;
use sha2::{Digest, Sha256};

use agentops_sdk::types::{ErrorCode, FieldError, Page};
use uuid::Uuid;

use crate::error::DomainError;

pub use caller::Caller;
pub use context::{Context, Parts};

/// Whether the database answers (for readiness checks).
pub async fn ping_database(state: &Context) -> Result<(), sea_orm::DbErr> {
    crate::store::ping(&state.db).await
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Items per page.
    pub limit: u64,
    /// Only items older than this id.
    pub before: Option<Uuid>,
}

/// Collects field errors so a request learns about all its problems at once.
#[derive(Default)]
pub(crate) struct Checks(Vec<FieldError>);

impl Checks {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Text within `rule` (see [`limits::Text`]).
    pub fn text(&mut self, field: &str, value: &str, rule: limits::Text) {
        let limits::Text { min, max } = rule;
        let len = value.chars().count();
        if min > 0 && value.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if len < min || len > max {
            self.fail(
                field,
                format!("must be {min} to {max} characters (got {len})"),
            );
        } else if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.fail(field, "must not contain control characters");
        }
    }

    /// An identifier within `rule` (see [`limits::Name`]).
    pub fn ident(&mut self, field: &str, value: &str, rule: limits::Name) {
        let limits::Name { max, chars } = rule;
        let len = value.chars().count();
        if len == 0 || len > max {
            self.fail(field, format!("must be 1 to {max} characters (got {len})"));
        } else if !chars.admit(value) {
            self.fail(field, format!("may only contain {}", chars.describe()));
        }
    }

    /// An integer within `rule`.
    pub fn range(&mut self, field: &str, value: i64, rule: limits::Int) {
        let limits::Int { min, max } = rule;
        if value < min || value > max {
            self.fail(
                field,
                format!("must be between {min} and {max} (got {value})"),
            );
        }
    }

    /// A JSON value of at most `max` bytes serialised.
    ///
    /// Every number in it must lie within ±[`JSON_NUMBER_MAX`]: PostgreSQL keeps a JSON
    /// number as an exact decimal and gives it back written out in full, and near
    /// `f64::MAX` such a number no longer reads back as a float, so a value the API
    /// accepted could never be read again.
    pub fn json_size(&mut self, field: &str, value: &serde_json::Value, max: usize) {
        let size = serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len());
        if size > max {
            self.fail(
                field,
                format!("must be at most {max} bytes of JSON (got {size})"),
            );
        }
        if depth(value) > limits::JSON_DEPTH_MAX {
            self.fail(
                field,
                format!(
                    "must nest arrays and objects at most {} levels deep",
                    limits::JSON_DEPTH_MAX
                ),
            );
        }
        if let Some(path) = number_out_of_range(value, field) {
            self.fail(
                &path,
                format!("numbers must lie between -{JSON_NUMBER_MAX:e} and {JSON_NUMBER_MAX:e}"),
            );
        }
    }

    /// A JSON object of at most `max` bytes.
    pub fn object(&mut self, field: &str, value: &serde_json::Value, max: usize) {
        if value.is_object() {
            self.json_size(field, value, max);
        } else {
            self.fail(field, "must be a JSON object");
        }
    }

    /// A list of `rule.min..=rule.max` items.
    pub fn count(&mut self, field: &str, len: usize, rule: limits::Items) {
        let limits::Items { min, max } = rule;
        if len < min {
            match min {
                1 => self.fail(field, "must hold at least one item"),
                _ => self.fail(field, format!("must hold at least {min} items")),
            }
        } else if len > max {
            self.fail(field, format!("must have at most {max} items (got {len})"));
        }
    }

    /// Records a failure found elsewhere.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.fail(field, message);
    }

    /// `Ok` if no check failed.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.0))
        }
    }
}

/// A fingerprint of a request body, to tell a retry from a different request that reuses
/// an idempotency key.
pub(crate) fn request_hash(body: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// What to do with an idempotency key that was seen before.
pub(crate) fn check_replay(stored_hash: Option<&str>, hash: &str) -> Result<(), DomainError> {
    if stored_hash == Some(hash) {
        Ok(())
    } else {
        Err(reused_idempotency_key())
    }
}

/// The refusal of an idempotency key already used with a different request.
pub(crate) fn reused_idempotency_key() -> DomainError {
    DomainError::Refused {
        code: ErrorCode::IdempotencyKeyReused,
        message: "this Idempotency-Key was already used with a different request body".to_owned(),
    }
}

/// A stored row created under an idempotency key, with the hash of the request that did.
pub(crate) trait IdempotentRow {
    /// The hash of the creating request (`None` for rows from before hashes were kept).
    fn request_hash(&self) -> Option<&str>;
}

/// Creates at most once per idempotency key: with a key, a row `find` already holds
/// for it is answered (`replay`) if its request hash is `hash`, refused with
/// `idempotency_key_reused` otherwise; else `insert` runs, and if it loses a race on
/// the key's unique index to a concurrent twin, the twin's row is answered the same way.
/// Without a key, `insert` runs.
pub(crate) async fn create_once<Row, T, Find, Found, Replay, Replayed, Insert, Inserted>(
    key: Option<String>,
    hash: &str,
    find: Find,
    replay: Replay,
    insert: Insert,
) -> Result<projects::Created<T>, DomainError>
where
    Row: IdempotentRow,
    Find: Fn(String) -> Found,
    Found: Future<Output = Result<Option<Row>, DomainError>>,
    Replay: Fn(Row) -> Replayed,
    Replayed: Future<Output = Result<T, DomainError>>,
    Insert: FnOnce() -> Inserted,
    Inserted: Future<Output = Result<T, DomainError>>,
{
    let replayed = |row: Row| {
        let checked = check_replay(row.request_hash(), hash);
        let value = replay(row);
        async move {
            checked?;
            Ok(projects::Created {
                value: value.await?,
                replayed: true,
            })
        }
    };
    if let Some(key) = &key
        && let Some(existing) = find(key.clone()).await?
    {
        return replayed(existing).await;
    }
    match (insert().await, key) {
        (Ok(value), _) => Ok(projects::Created {
            value,
            replayed: false,
        }),
        // Two requests with one key raced: the loser answers with the winner's row.
        (Err(err), Some(key)) if is_unique_violation(&err) => match find(key).await? {
            Some(existing) => replayed(existing).await,
            None => Err(err),
        },
        (Err(err), _) => Err(err),
    }
}

/// Whether a database error is a unique-constraint violation (a lost insert race).
pub(crate) fn is_unique_violation(err: &DomainError) -> bool {
    matches!(err, DomainError::Db(db) if matches!(db.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))))
}

/// Turns `limit + 1` fetched rows into a page with the cursor of the next one.
pub(crate) fn paginate<T>(mut items: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let has_more = items.len() as u64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if has_more {
        items.last().map(|item| id(item).to_string())
    } else {
        None
    };
    Page { items, next_cursor }
}

pub use limits::JSON_NUMBER_MAX;

/// How many levels of arrays and objects `value` has (0 for a scalar).
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The path (`field.key.0`) of the first number in `value` beyond ±[`JSON_NUMBER_MAX`].
fn number_out_of_range(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::Number(n) => {
            let ok =
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.abs() <= JSON_NUMBER_MAX);
            (!ok).then(|| path.to_owned())
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| number_out_of_range(item, &format!("{path}.{i}"))),
        serde_json::Value::Object(map) => map
            .iter()
            .find_map(|(key, item)| number_out_of_range(item, &format!("{path}.{key}"))),
        _ => None,
    }
}
