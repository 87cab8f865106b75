//! Pairings: the allowlist of chats an interface (the Telegram bot) serves.
//!
//! One row per chat of a channel, moving between `pending`, `approved` and `revoked`. A
//! chat the interface does not know is given a one-time code (`pending`, valid for
//! [`CODE_TTL`]); an operator approves the code (from the CLI, an operator chat or the
//! dashboard) and the chat is `approved`; it may be `revoked` later and ask again. A
//! pending row whose code ran out is reported as `expired` (computed, never stored), and
//! its code is never shown again.
//!
//! Requesting is idempotent: a chat with a valid code, or already approved, is answered
//! as it is, so an unknown chat writing many times gets one code. At most
//! [`PENDING_MAX`] valid codes wait on one channel (429 beyond), so a flood of strangers
//! cannot fill the table with codes. Requests and approvals take one lock
//! ([`store::pairings::lock`]) so that cap holds under concurrency.
//!
//! Codes are 8 characters of an alphabet without look-alikes (`A-Z` without `I` and `O`,
//! `2-9`): 40 random bits. They are stored as issued and matched after dropping case,
//! spaces and dashes from what was typed. Events never carry a code: viewer keys read
//! events, and the code is what lets a chat in.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use uuid::Uuid;

use agentops_sdk::types::{ErrorCode, Page, PairingApprove, PairingIn, PairingOut, PairingStatus};

use super::projects::Created;
use super::{Checks, PageRequest, limits, paginate};
use crate::domain::{Caller, Context};
use crate::error::DomainError;
use crate::store::{self, NewEvent, entity::pairing, pairings::ListFilter};

/// How long a code is valid.
pub const CODE_TTL: Duration = Duration::hours(1);
/// Valid codes that may wait on one channel.
pub const PENDING_MAX: u64 = 50;
/// Characters a code is made of: no `I`, `O`, `0` or `1`, which people confuse.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;

const PENDING: &str = "pending";
const APPROVED: &str = "approved";
const REVOKED: &str = "revoked";

/// Whether `row` is pending with a code that ran out by `now`.
fn expired(row: &pairing::Model, now: DateTime<Utc>) -> bool {
    row.status == PENDING && row.expires_at.is_none_or(|at| at <= now)
}

/// The row as the API shows it at `now`: `expired` for a pending row whose code ran out,
/// and the code only while it is valid.
fn out_at(row: pairing::Model, now: DateTime<Utc>) -> PairingOut {
    let status = if expired(&row, now) {
        PairingStatus::Expired
    } else {
        // The table's `CHECK` admits only the stored wire names.
        row.status.parse().unwrap_or(PairingStatus::Revoked)
    };
    PairingOut {
        id: row.id,
        code: row.code.filter(|_| status == PairingStatus::Pending),
        channel: row.channel,
        chat: row.chat,
        name: row.name,
        status,
        expires_at: row.expires_at,
        decided_by: row.decided_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// An event about `pairing`, without its code.
fn event(kind: &'static str, pairing: &PairingOut) -> NewEvent {
    let data = PairingOut {
        code: None,
        ..pairing.clone()
    };
    NewEvent {
        kind,
        project_id: None,
        task_id: None,
        agent_id: None,
        data: serde_json::to_value(data).unwrap_or_default(),
    }
}

/// A fresh code.
fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// What was typed, as codes are stored: upper case, without spaces or dashes.
fn normalize_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Who decided: the `by` given, else the name of the caller's key.
async fn decider<C: sea_orm::ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    by: Option<String>,
) -> Result<String, DomainError> {
    if let Some(by) = by {
        return Ok(by.trim().to_owned());
    }
    Ok(store::keys::find_active(conn, caller.key_id)
        .await?
        .map_or_else(|| caller.key_id.to_string(), |key| key.name))
}

/// Asks for a chat's pairing, as [`PairingIn`] describes: a code for a chat not yet
/// approved (reusing a valid one), or, with `approved`, the chat allowed at once.
/// `Created::replayed` is false when a row was inserted (201).
pub async fn request(
    state: &Context,
    caller: &Caller,
    input: PairingIn,
) -> Result<Created<PairingOut>, DomainError> {
    let mut checks = Checks::default();
    checks.ident("channel", &input.channel, limits::PAIRING_CHANNEL);
    checks.ident("chat", &input.chat, limits::PAIRING_CHAT);
    checks.text("name", &input.name, limits::PAIRING_NAME);
    let approve = match input.status.unwrap_or_default() {
        PairingStatus::Pending => false,
        PairingStatus::Approved => true,
        other => {
            checks.push(
                "status",
                format!("must be `pending` or `approved` (got `{other}`)"),
            );
            false
        }
    };
    checks.finish()?;
    let name = input.name.trim().to_owned();

    let mut tx = state.begin().await?;
    store::pairings::lock(tx.conn()).await?;
    let now = store::now();
    let existing =
        store::pairings::find_chat_for_update(tx.conn(), &input.channel, &input.chat).await?;
    let unchanged = existing.as_ref().is_some_and(|row| {
        row.status == APPROVED || (!approve && row.status == PENDING && !expired(row, now))
    });
    if let Some(row) = existing.clone().filter(|_| unchanged) {
        // Nothing to write: the transaction ends (rolled back) without a change.
        return Ok(Created {
            value: out_at(row, now),
            replayed: true,
        });
    }
    let mut row = existing.clone().unwrap_or_else(|| pairing::Model {
        id: Uuid::now_v7(),
        channel: input.channel.clone(),
        chat: input.chat.clone(),
        name: String::new(),
        status: PENDING.to_owned(),
        code: None,
        expires_at: None,
        decided_by: None,
        created_at: now,
        updated_at: now,
    });
    if !name.is_empty() {
        row.name = name;
    }
    row.updated_at = now;
    let kind = if approve {
        row.status = APPROVED.to_owned();
        row.code = None;
        row.expires_at = None;
        row.decided_by = Some(decider(tx.conn(), caller, None).await?);
        "pairing.approved"
    } else {
        let (pending, first_expiry) =
            store::pairings::pending_on(tx.conn(), &input.channel, now).await?;
        if pending >= PENDING_MAX {
            let wait = first_expiry.map_or(1, |at| {
                let ms = (at - now).num_milliseconds().max(0);
                u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
            });
            return Err(DomainError::Limited {
                message: format!(
                    "too many pending pairing requests on channel `{}` ({PENDING_MAX} codes \
                     wait for approval); the oldest expires in {wait} s",
                    input.channel
                ),
                retry_after_secs: wait,
            });
        }
        let mut code = new_code();
        while store::pairings::code_in_use(tx.conn(), &code).await? {
            code = new_code();
        }
        row.status = PENDING.to_owned();
        row.code = Some(code);
        row.expires_at = Some(now + CODE_TTL);
        row.decided_by = None;
        "pairing.requested"
    };
    let existed = existing.is_some();
    let saved = if existed {
        store::pairings::update(tx.conn(), row).await?
    } else {
        store::pairings::insert(tx.conn(), row).await?
    };
    let out = out_at(saved, now);
    tx.emit(event(kind, &out));
    state.commit(tx).await?;
    Ok(Created {
        value: out,
        replayed: existed,
    })
}

/// Approves the pending pairing holding `input.code` (case, spaces and dashes ignored);
/// `decided_by` is `input.by`, else the caller's key name.
pub async fn approve(
    state: &Context,
    caller: &Caller,
    input: PairingApprove,
) -> Result<PairingOut, DomainError> {
    let mut checks = Checks::default();
    checks.ident("code", &input.code, limits::PAIRING_CODE);
    if let Some(by) = &input.by {
        checks.text("by", by, limits::AUTHOR);
    }
    checks.finish()?;
    let code = normalize_code(&input.code);
    let mut tx = state.begin().await?;
    store::pairings::lock(tx.conn()).await?;
    let now = store::now();
    let Some(mut row) =
        store::pairings::find_pending_code_for_update(tx.conn(), &code, now).await?
    else {
        return Err(DomainError::refused(
            ErrorCode::PairingNotFound,
            "no pending pairing holds this code: it may be mistyped, already used, or \
             expired (codes expire after an hour; the chat gets a new one by writing again)",
        ));
    };
    row.status = APPROVED.to_owned();
    row.code = None;
    row.expires_at = None;
    row.decided_by = Some(decider(tx.conn(), caller, input.by).await?);
    row.updated_at = now;
    let out = out_at(store::pairings::update(tx.conn(), row).await?, now);
    tx.emit(event("pairing.approved", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// Revokes a pairing: the chat is no longer allowed and a pending code stops working.
/// A revoked pairing is answered unchanged.
pub async fn revoke(
    state: &Context,
    caller: &Caller,
    id: Uuid,
    by: Option<String>,
) -> Result<PairingOut, DomainError> {
    if let Some(by) = &by {
        let mut checks = Checks::default();
        checks.text("by", by, limits::AUTHOR);
        checks.finish()?;
    }
    let mut tx = state.begin().await?;
    let now = store::now();
    let mut row = store::pairings::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::PairingNotFound, id))?;
    if row.status == REVOKED {
        return Ok(out_at(row, now));
    }
    row.status = REVOKED.to_owned();
    row.code = None;
    row.expires_at = None;
    row.decided_by = Some(decider(tx.conn(), caller, by).await?);
    row.updated_at = now;
    let out = out_at(store::pairings::update(tx.conn(), row).await?, now);
    tx.emit(event("pairing.revoked", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// One pairing.
pub async fn get(state: &Context, id: Uuid) -> Result<PairingOut, DomainError> {
    store::pairings::find(&state.db, id)
        .await?
        .map(|row| out_at(row, store::now()))
        .ok_or_else(|| DomainError::not_found(ErrorCode::PairingNotFound, id))
}

/// Which pairings a listing wants.
#[derive(Debug, Default, Clone)]
pub struct PairingQuery {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this chat.
    pub chat: Option<String>,
    /// Only this status, as reported (`pending`: valid codes; `expired`: codes that ran
    /// out).
    pub status: Option<PairingStatus>,
}

/// Pairings, newest first (by when the chat first asked), as `query` says.
pub async fn list(
    state: &Context,
    query: PairingQuery,
    page: PageRequest,
) -> Result<Page<PairingOut>, DomainError> {
    let mut checks = Checks::default();
    if let Some(channel) = &query.channel {
        checks.ident("channel", channel, limits::PAIRING_CHANNEL);
    }
    if let Some(chat) = &query.chat {
        checks.ident("chat", chat, limits::PAIRING_CHAT);
    }
    checks.finish()?;
    let now = store::now();
    let mut filter = ListFilter {
        channel: query.channel.as_deref(),
        chat: query.chat.as_deref(),
        ..ListFilter::default()
    };
    match query.status {
        None => {}
        Some(PairingStatus::Pending) => {
            filter.status = Some(PENDING);
            filter.expires_after = Some(now);
        }
        Some(PairingStatus::Expired) => {
            filter.status = Some(PENDING);
            filter.expired_by = Some(now);
        }
        Some(PairingStatus::Approved) => filter.status = Some(APPROVED),
        Some(PairingStatus::Revoked) => filter.status = Some(REVOKED),
    }
    let rows = store::pairings::list(&state.db, filter, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(|row| out_at(row, now)).collect(),
        page.limit,
        |p| p.id,
    ))
}
