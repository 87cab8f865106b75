//! Personas: agents people create (a name, what they are like, a model), share by link
//! and talk to.
//!
//! **Who acts.** A persona belongs to the person who created it (`owner`). The platform
//! does not know people, only keys, so an interface holding an admin key (the Telegram
//! bot, the dashboard) names the person it acts for with `X-On-Behalf-Of`
//! (`telegram:123456789`); an admin key without it acts as the operator (sees and may
//! change every persona); any other key acts as itself (`key:<its id>`).
//!
//! **Who sees what.** A `private` persona is seen by its owner only; `link` by anyone
//! who has its id or slug; `public` by anyone, and listed. Only the owner (and the
//! operator) see its system prompt, may change it, or delete it. Someone else's private
//! persona is answered as not found.
//!
//! **Versions.** The prompt, model, temperature and greeting form a version: a change to
//! any of them writes version n+1 and keeps the older ones readable, so a conversation
//! can record which version answered it.
//!
//! **Secrets.** An owner's provider key is sealed (AES-256-GCM, `agentops_sdk::secrets`)
//! under the master key with the persona's id as associated data, and never returned:
//! answers say `has_provider_key`. So is the token of the Telegram bot a persona may also
//! be (answers say `telegram_bot_id`, the token's public part). The platform's own
//! runtimes (the persona runtime, the Telegram bots), holding an admin key, read them
//! sealed ([`secrets`]) and open them with the master key they are given; no endpoint
//! answers a secret in clear. Deleting a persona drops its sealed secrets.

use chrono::Utc;
use uuid::Uuid;

use agentops_sdk::types::{
    ErrorCode, Page, PersonaConversationOut, PersonaIn, PersonaOut, PersonaPatch,
    PersonaSecretsOut, PersonaStatus, PersonaVersionOut, Role, Visibility, persona_keys,
};

use super::{Checks, PageRequest, limits, paginate};
use crate::domain::{Caller, Context};
use crate::error::DomainError;
use crate::store::{self, NewEvent, entity::persona, entity::persona_version};

/// The temperature a persona gets when none is given.
pub const DEFAULT_TEMPERATURE: f64 = 0.7;

const ACTIVE: &str = "active";
const DELETED: &str = "deleted";

/// Who acts on personas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An admin key acting for the platform: sees and may change every persona.
    Operator,
    /// A person (as an interface names them), or a key acting for itself.
    Person(String),
}

impl Actor {
    /// Who `caller` acts as, with the `X-On-Behalf-Of` header `on_behalf_of`.
    ///
    /// # Errors
    /// 403 if a key other than an admin names someone; 422 if the name is not one.
    pub fn of(caller: &Caller, on_behalf_of: Option<&str>) -> Result<Self, DomainError> {
        match on_behalf_of {
            Some(person) => {
                if caller.role != Role::Admin {
                    return Err(DomainError::refused(
                        ErrorCode::Forbidden,
                        "only an admin key may act for someone else (X-On-Behalf-Of)",
                    ));
                }
                let mut checks = Checks::default();
                checks.text("X-On-Behalf-Of", person, limits::PERSONA_OWNER);
                checks.finish()?;
                Ok(Actor::Person(person.trim().to_owned()))
            }
            None if caller.role == Role::Admin => Ok(Actor::Operator),
            None => Ok(Actor::Person(format!("key:{}", caller.key_id))),
        }
    }

    /// Whether this actor owns `row` (the operator owns everything).
    fn owns(&self, row: &persona::Model) -> bool {
        match self {
            Actor::Operator => true,
            Actor::Person(person) => row.owner == *person,
        }
    }

    /// Whether this actor may see `row` at all.
    fn sees(&self, row: &persona::Model) -> bool {
        self.owns(row) || (row.visibility != "private" && row.status == ACTIVE)
    }
}

fn visibility(row: &persona::Model) -> Visibility {
    row.visibility.parse().unwrap_or_default()
}

/// The persona as `actor` sees it, at `version` (its current one's settings).
fn out(row: persona::Model, version: &persona_version::Model, actor: &Actor) -> PersonaOut {
    let owner_view = actor.owns(&row);
    PersonaOut {
        id: row.id,
        visibility: visibility(&row),
        status: row.status.parse().unwrap_or(PersonaStatus::Deleted),
        version: u32::try_from(row.version).unwrap_or(1),
        system_prompt: owner_view.then(|| version.system_prompt.clone()),
        model: version.model.clone(),
        temperature: version.temperature,
        greeting: version.greeting.clone(),
        daily_limit: row.daily_limit.and_then(|n| u32::try_from(n).ok()),
        has_provider_key: row.provider_key_sealed.is_some(),
        telegram_bot_id: row.telegram_bot_id,
        today: None,
        slug: row.slug,
        name: row.name,
        description: row.description,
        owner: row.owner,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn version_out(row: persona_version::Model, owner_view: bool) -> PersonaVersionOut {
    PersonaVersionOut {
        persona_id: row.persona_id,
        version: u32::try_from(row.version).unwrap_or(1),
        system_prompt: owner_view.then_some(row.system_prompt),
        model: row.model,
        temperature: row.temperature,
        greeting: row.greeting,
        created_at: row.created_at,
    }
}

/// An event about a persona: who and what, never its prompt or key.
fn event(kind: &'static str, persona: &PersonaOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: None,
        task_id: None,
        agent_id: None,
        data: serde_json::json!({
            "id": persona.id,
            "slug": persona.slug,
            "name": persona.name,
            "owner": persona.owner,
            "visibility": persona.visibility,
            "status": persona.status,
            "version": persona.version,
        }),
    }
}

/// `secret`, persona `id`'s `field`, sealed.
fn seal(state: &Context, id: Uuid, field: &str, secret: &str) -> Result<String, DomainError> {
    let key = state.secrets.as_ref().ok_or_else(|| {
        DomainError::refused(
            ErrorCode::SecretsUnavailable,
            format!(
                "this platform has no master key (AGENTOPS_SECRET_KEY), so it cannot store \
                 a secret; leave {field} out"
            ),
        )
    })?;
    Ok(key.seal(secret, &persona_keys::secret_context(id, field)))
}

/// A Telegram bot token as @BotFather makes them: the bot's id, `:`, a secret part.
fn check_bot_token(checks: &mut Checks, field: &str, token: &str) {
    if token.is_empty() {
        return;
    }
    if bot_id(token).is_none() {
        checks.push(
            field,
            "must be a Telegram bot token from @BotFather: the bot's id (digits), `:`, then \
             20–200 of `A-Za-z0-9_-`",
        );
    }
}

/// The bot id of a well-formed token (see [`limits::Rule::BotToken`]).
fn bot_id(token: &str) -> Option<i64> {
    let (id, secret) = token.split_once(':')?;
    let secret_ok = (20..=200).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let id_ok = (1..=18).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
    (secret_ok && id_ok).then(|| id.parse().ok()).flatten()
}

/// A persona's bot as stored: its sealed token and its id (both `None`: no bot).
type BotSetting = (Option<String>, Option<i64>);

/// The bot a token given in a request sets (`""`: none); `None` if none was given.
fn bot_of(
    state: &Context,
    id: Uuid,
    token: Option<&str>,
) -> Result<Option<BotSetting>, DomainError> {
    match token {
        None => Ok(None),
        Some("") => Ok(Some((None, None))),
        Some(token) => Ok(Some((
            Some(seal(state, id, persona_keys::TELEGRAM_BOT_TOKEN, token)?),
            bot_id(token),
        ))),
    }
}

/// A slug made from `name`: lower-case letters, digits and dashes.
fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "persona".to_owned()
    } else {
        slug
    }
}

/// The models people may choose for a persona (`AGENTOPS_PERSONA_MODELS`, trimmed; empty:
/// any).
pub fn models(state: &Context) -> agentops_sdk::types::PersonaModelsOut {
    agentops_sdk::types::PersonaModelsOut {
        models: state
            .cfg
            .persona_models
            .iter()
            .map(|m| m.trim())
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// Refuses a model the operator did not list, when they listed some.
fn check_model(state: &Context, checks: &mut Checks, model: &str) {
    let allowed = models(state).models;
    if !allowed.is_empty() && !allowed.iter().any(|m| m == model.trim()) {
        checks.push(
            "model",
            format!(
                "must be one of the platform's models: {}",
                allowed.join(", ")
            ),
        );
    }
}

fn check_temperature(checks: &mut Checks, field: &str, value: f64) {
    let limits::Float { min, max } = limits::TEMPERATURE;
    if !value.is_finite() || value < min || value > max {
        checks.push(field, format!("must be between {min} and {max}"));
    }
}

/// Creates a persona as `actor`, owned by them (the operator may name an owner).
pub async fn create(
    state: &Context,
    caller: &Caller,
    actor: &Actor,
    input: PersonaIn,
) -> Result<PersonaOut, DomainError> {
    if caller.role == Role::Viewer {
        return Err(DomainError::refused(
            ErrorCode::Forbidden,
            "creating a persona needs the agent or admin role; the key has the viewer role",
        ));
    }
    let mut checks = Checks::default();
    checks.text("name", &input.name, limits::PERSONA_NAME);
    if let Some(slug) = &input.slug {
        checks.ident("slug", slug, limits::PERSONA_SLUG);
    }
    if let Some(description) = &input.description {
        checks.text("description", description, limits::PERSONA_DESCRIPTION);
    }
    checks.text(
        "system_prompt",
        &input.system_prompt,
        limits::PERSONA_PROMPT,
    );
    checks.text("model", &input.model, limits::PERSONA_MODEL);
    check_model(state, &mut checks, &input.model);
    if let Some(t) = input.temperature {
        check_temperature(&mut checks, "temperature", t);
    }
    if let Some(greeting) = &input.greeting {
        checks.text("greeting", greeting, limits::PERSONA_GREETING);
    }
    if let Some(limit) = input.daily_limit {
        checks.range("daily_limit", i64::from(limit), limits::DAILY_LIMIT);
    }
    if let Some(key) = &input.provider_api_key {
        checks.text("provider_api_key", key, limits::PERSONA_PROVIDER_KEY);
    }
    if let Some(token) = &input.telegram_bot_token {
        check_bot_token(&mut checks, "telegram_bot_token", token);
    }
    if let Some(owner) = &input.owner {
        checks.text("owner", owner, limits::PERSONA_OWNER);
    }
    checks.finish()?;
    let owner = match (actor, &input.owner) {
        (Actor::Operator, Some(owner)) => owner.trim().to_owned(),
        (Actor::Operator, None) => format!("key:{}", caller.key_id),
        (Actor::Person(person), Some(owner)) if owner.trim() != person => {
            return Err(DomainError::refused(
                ErrorCode::Forbidden,
                "a persona is owned by who creates it: leave `owner` out (only an admin key \
                 without X-On-Behalf-Of names another owner)",
            ));
        }
        (Actor::Person(person), _) => person.clone(),
    };
    let id = Uuid::now_v7();
    let sealed = match input.provider_api_key.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => Some(seal(state, id, persona_keys::PROVIDER_API_KEY, key)?),
        _ => None,
    };
    let (telegram_token_sealed, telegram_bot_id) =
        bot_of(state, id, input.telegram_bot_token.as_deref())?.unwrap_or_default();

    let mut tx = state.begin().await?;
    let slug = match &input.slug {
        Some(slug) => {
            if store::personas::slug_taken(tx.conn(), &slug.to_lowercase(), None).await? {
                return Err(DomainError::refused(
                    ErrorCode::AlreadyExists,
                    format!("the slug `{slug}` is taken (slugs are unique whatever their case)"),
                ));
            }
            slug.clone()
        }
        None => {
            let base = slug_from(&input.name);
            let mut slug = base.clone();
            let mut n = 1;
            while store::personas::slug_taken(tx.conn(), &slug, None).await? {
                n += 1;
                slug = format!("{base}-{n}");
            }
            slug
        }
    };
    let now = store::now();
    let row = persona::Model {
        id,
        slug_key: slug.to_lowercase(),
        slug,
        name: input.name.trim().to_owned(),
        description: input
            .description
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned(),
        owner,
        visibility: input.visibility.unwrap_or_default().to_string(),
        status: ACTIVE.to_owned(),
        version: 1,
        daily_limit: input.daily_limit.map(|n| n as i32),
        provider_key_sealed: sealed,
        telegram_token_sealed,
        telegram_bot_id,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    let version = persona_version::Model {
        persona_id: id,
        version: 1,
        system_prompt: input.system_prompt.trim().to_owned(),
        model: input.model.trim().to_owned(),
        temperature: input.temperature.unwrap_or(DEFAULT_TEMPERATURE),
        greeting: input
            .greeting
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned),
        created_at: now,
    };
    let row = store::personas::insert(tx.conn(), row)
        .await
        .map_err(unique_slug)?;
    let version = store::personas::insert_version(tx.conn(), version).await?;
    let made = out(row, &version, actor);
    tx.emit(event("persona.created", &made));
    state.commit(tx).await?;
    Ok(made)
}

/// A slug (or a bot) taken by a concurrent writer reads as taken.
fn unique_slug(err: sea_orm::DbErr) -> DomainError {
    let text = err.to_string();
    if text.contains("personas_slug") || text.contains("personas.slug_key") {
        DomainError::refused(ErrorCode::AlreadyExists, "the slug is taken")
    } else if text.contains("personas_telegram_bot") || text.contains("personas.telegram_bot_id") {
        DomainError::refused(
            ErrorCode::AlreadyExists,
            "this Telegram bot already answers as another persona (one bot is one persona)",
        )
    } else {
        err.into()
    }
}

/// The persona named by `reference` (its id, or its slug in any case) that `actor` may
/// see, with its current version.
async fn visible<C: sea_orm::ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    reference: &str,
) -> Result<(persona::Model, persona_version::Model), DomainError> {
    let not_found = || DomainError::not_found(ErrorCode::PersonaNotFound, reference);
    let row = match Uuid::parse_str(reference) {
        Ok(id) => store::personas::find(conn, id).await?,
        Err(_) if limits::Chars::Slug.admit(reference) && reference.len() <= 64 => {
            store::personas::find_slug(conn, &reference.to_lowercase()).await?
        }
        Err(_) => None,
    }
    .filter(|row| actor.sees(row))
    .ok_or_else(not_found)?;
    let version = store::personas::find_version(conn, row.id, row.version)
        .await?
        .ok_or_else(not_found)?;
    Ok((row, version))
}

/// The persona named by `reference`, locked until the transaction ends, with its current
/// version, if `actor` owns it (else 403, or 404 if they may not even see it); `what`
/// names the change refused.
async fn owned_for_update<C: sea_orm::ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    reference: &str,
    what: &str,
) -> Result<(persona::Model, persona_version::Model), DomainError> {
    let not_found = || DomainError::not_found(ErrorCode::PersonaNotFound, reference);
    // Its owner never changes: who may change it is known before the lock.
    let found = owned(conn, actor, reference, &format!("{what} a persona")).await?;
    let row = store::personas::find_for_update(conn, found.id)
        .await?
        .ok_or_else(not_found)?;
    // The version as the lock found it (a change may have landed in between).
    let version = store::personas::find_version(conn, row.id, row.version)
        .await?
        .ok_or_else(not_found)?;
    Ok((row, version))
}

/// One persona, by id or slug.
pub async fn get(
    state: &Context,
    actor: &Actor,
    reference: &str,
) -> Result<PersonaOut, DomainError> {
    let (row, version) = visible(&state.db, actor, reference).await?;
    let owned = actor.owns(&row);
    let mut found = out(row, &version, actor);
    if owned {
        with_usage(state, vec![&mut found]).await?;
    }
    Ok(found)
}

/// The last midnight (UTC) before `now`: when daily limits and today's use start over.
fn midnight_before(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
}

/// Fills in `today` of `personas` (those their reader owns), in one look.
async fn with_usage(state: &Context, personas: Vec<&mut PersonaOut>) -> Result<(), DomainError> {
    let ids: Vec<Uuid> = personas.iter().map(|p| p.id).collect();
    let usage = store::personas::usage_since(&state.db, &ids, midnight_before(Utc::now())).await?;
    for persona in personas {
        let (messages, people) = usage.get(&persona.id).copied().unwrap_or_default();
        persona.today = Some(agentops_sdk::types::PersonaUsage { messages, people });
    }
    Ok(())
}

/// Changes a persona (its owner, or the operator). A change of what it is like makes a
/// new version.
pub async fn update(
    state: &Context,
    actor: &Actor,
    reference: &str,
    patch: PersonaPatch,
) -> Result<PersonaOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(name) = &patch.name {
        checks.text("name", name, limits::PERSONA_NAME);
    }
    if let Some(slug) = &patch.slug {
        checks.ident("slug", slug, limits::PERSONA_SLUG);
    }
    if let Some(description) = &patch.description {
        checks.text("description", description, limits::PERSONA_DESCRIPTION);
    }
    if let Some(prompt) = &patch.system_prompt {
        checks.text("system_prompt", prompt, limits::PERSONA_PROMPT);
    }
    if let Some(model) = &patch.model {
        checks.text("model", model, limits::PERSONA_MODEL);
        check_model(state, &mut checks, model);
    }
    if let Some(t) = patch.temperature {
        check_temperature(&mut checks, "temperature", t);
    }
    if let Some(greeting) = &patch.greeting {
        checks.text("greeting", greeting, limits::PERSONA_GREETING);
    }
    if let Some(limit) = patch.daily_limit {
        checks.range(
            "daily_limit",
            i64::from(limit),
            limits::Int {
                min: 0,
                max: limits::DAILY_LIMIT.max,
            },
        );
    }
    if let Some(key) = &patch.provider_api_key {
        checks.text("provider_api_key", key, limits::PERSONA_PROVIDER_KEY);
    }
    if let Some(token) = &patch.telegram_bot_token {
        check_bot_token(&mut checks, "telegram_bot_token", token);
    }
    checks.finish()?;

    let mut tx = state.begin().await?;
    let (mut row, current) = owned_for_update(tx.conn(), actor, reference, "change").await?;
    if row.status == DELETED {
        return Err(DomainError::refused(
            ErrorCode::PersonaDeleted,
            "this persona was deleted",
        ));
    }
    let now = store::now();
    if let Some(name) = &patch.name {
        row.name = name.trim().to_owned();
    }
    if let Some(slug) = &patch.slug {
        let key = slug.to_lowercase();
        if store::personas::slug_taken(tx.conn(), &key, Some(row.id)).await? {
            return Err(DomainError::refused(
                ErrorCode::AlreadyExists,
                format!("the slug `{slug}` is taken (slugs are unique whatever their case)"),
            ));
        }
        row.slug = slug.clone();
        row.slug_key = key;
    }
    if let Some(description) = &patch.description {
        row.description = description.trim().to_owned();
    }
    if let Some(visibility) = patch.visibility {
        row.visibility = visibility.to_string();
    }
    if let Some(limit) = patch.daily_limit {
        row.daily_limit = (limit > 0).then_some(limit as i32);
    }
    if let Some(key) = patch.provider_api_key.as_deref().map(str::trim) {
        row.provider_key_sealed = if key.is_empty() {
            None
        } else {
            Some(seal(state, row.id, persona_keys::PROVIDER_API_KEY, key)?)
        };
    }
    if let Some((sealed, bot)) = bot_of(state, row.id, patch.telegram_bot_token.as_deref())? {
        row.telegram_token_sealed = sealed;
        row.telegram_bot_id = bot;
    }
    let next = persona_version::Model {
        persona_id: row.id,
        version: row.version + 1,
        system_prompt: patch
            .system_prompt
            .as_deref()
            .map_or_else(|| current.system_prompt.clone(), |p| p.trim().to_owned()),
        model: patch
            .model
            .as_deref()
            .map_or_else(|| current.model.clone(), |m| m.trim().to_owned()),
        temperature: patch.temperature.unwrap_or(current.temperature),
        greeting: match patch.greeting.as_deref().map(str::trim) {
            None => current.greeting.clone(),
            Some("") => None,
            Some(greeting) => Some(greeting.to_owned()),
        },
        created_at: now,
    };
    let changed = next.system_prompt != current.system_prompt
        || next.model != current.model
        || next.temperature != current.temperature
        || next.greeting != current.greeting;
    let version = if changed {
        row.version = next.version;
        store::personas::insert_version(tx.conn(), next).await?
    } else {
        current
    };
    row.updated_at = now;
    let row = store::personas::update(tx.conn(), row)
        .await
        .map_err(unique_slug)?;
    let changed_out = out(row, &version, actor);
    tx.emit(event("persona.updated", &changed_out));
    state.commit(tx).await?;
    Ok(changed_out)
}

/// Deletes a persona (its owner, or the operator): it takes no new messages, its sealed
/// key is dropped, and its history stays for the owner; with `purge`, the persona and
/// its versions are removed for good. Deleting a deleted persona changes nothing.
pub async fn delete(
    state: &Context,
    actor: &Actor,
    reference: &str,
    purge: bool,
) -> Result<(), DomainError> {
    let mut tx = state.begin().await?;
    let (mut row, version) = owned_for_update(tx.conn(), actor, reference, "delete").await?;
    if purge {
        store::personas::purge(tx.conn(), row.id).await?;
        row.status = DELETED.to_owned();
        let gone = out(row, &version, actor);
        tx.emit(NewEvent {
            data: serde_json::json!({"id": gone.id, "slug": gone.slug, "owner": gone.owner,
                                      "purged": true}),
            ..event("persona.deleted", &gone)
        });
        state.commit(tx).await?;
        return Ok(());
    }
    if row.status == DELETED {
        return Ok(());
    }
    let now = store::now();
    row.status = DELETED.to_owned();
    row.deleted_at = Some(now);
    row.updated_at = now;
    row.provider_key_sealed = None;
    row.telegram_token_sealed = None;
    row.telegram_bot_id = None;
    let row = store::personas::update(tx.conn(), row).await?;
    let gone = out(row, &version, actor);
    tx.emit(event("persona.deleted", &gone));
    state.commit(tx).await?;
    Ok(())
}

/// Which personas a listing wants.
#[derive(Debug, Default, Clone)]
pub struct PersonaQuery {
    /// Only this owner's (`me`: the actor's own).
    pub owner: Option<String>,
    /// Only this visibility.
    pub visibility: Option<Visibility>,
    /// Only this status.
    pub status: Option<PersonaStatus>,
    /// Only those that are (or are not) a Telegram bot of their own.
    pub telegram_bot: Option<bool>,
}

/// Personas newest first: every one for the operator; for a person, the public ones and
/// their own (link and private ones of others are never listed).
pub async fn list(
    state: &Context,
    actor: &Actor,
    query: PersonaQuery,
    page: PageRequest,
) -> Result<Page<PersonaOut>, DomainError> {
    if let Some(owner) = &query.owner {
        let mut checks = Checks::default();
        checks.text("owner", owner, limits::PERSONA_OWNER);
        checks.finish()?;
    }
    let me = match actor {
        Actor::Person(person) => Some(person.as_str()),
        Actor::Operator => None,
    };
    let owner = match query.owner.as_deref() {
        Some("me") => Some(me.unwrap_or_default().to_owned()),
        other => other.map(str::to_owned),
    };
    let visibility = query.visibility.map(|v| v.to_string());
    let status = query.status.map(|s| s.to_string());
    let filter = store::personas::ListFilter {
        owner: owner.as_deref(),
        visibility: visibility.as_deref(),
        active_only: false,
        or_owned_by: me,
        public_only: me.is_some(),
        telegram_bot: query.telegram_bot,
    };
    let mut rows = Vec::new();
    let mut before = page.before;
    // Others' deleted personas are never listed; fetch until the page is full.
    loop {
        let batch =
            store::personas::list(&state.db, filter.clone(), before, page.limit + 1).await?;
        let exhausted = (batch.len() as u64) <= page.limit;
        before = batch.last().map(|row| row.id);
        rows.extend(
            batch
                .into_iter()
                .filter(|row| actor.sees(row) && status.as_deref().is_none_or(|s| row.status == s)),
        );
        if exhausted || rows.len() as u64 > page.limit {
            break;
        }
    }
    let mut items = Vec::with_capacity(rows.len());
    let mut owned = Vec::new();
    for row in rows {
        let version = store::personas::find_version(&state.db, row.id, row.version).await?;
        if let Some(version) = version {
            owned.push(actor.owns(&row));
            items.push(out(row, &version, actor));
        }
    }
    let mut page = paginate(items, page.limit, |p| p.id);
    let mine = page
        .items
        .iter_mut()
        .zip(owned)
        .filter_map(|(persona, owned)| owned.then_some(persona))
        .collect();
    with_usage(state, mine).await?;
    Ok(page)
}

/// The persona named by `reference`, if `actor` owns it (or is the operator): 403 for
/// anyone else who may see it, 404 for who may not; a deleted one too (its
/// conversations stay for its owner).
async fn owned<C: sea_orm::ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    reference: &str,
    what: &str,
) -> Result<persona::Model, DomainError> {
    let (row, _) = visible(conn, actor, reference).await?;
    if !actor.owns(&row) {
        return Err(DomainError::refused(
            ErrorCode::Forbidden,
            format!("only its owner may {what}"),
        ));
    }
    Ok(row)
}

/// A persona's conversations, newest first: for its owner (and the operator) only.
pub async fn conversations(
    state: &Context,
    actor: &Actor,
    reference: &str,
    page: PageRequest,
) -> Result<Page<PersonaConversationOut>, DomainError> {
    let row = owned(
        &state.db,
        actor,
        reference,
        "read a persona's conversations",
    )
    .await?;
    let prefix = format!("{}:", row.id);
    let found =
        store::personas::conversations(&state.db, row.id, page.before, page.limit + 1).await?;
    let items = found
        .into_iter()
        .map(|(thread, messages, last)| PersonaConversationOut {
            thread_id: thread.id,
            person: thread
                .external_id
                .as_deref()
                .and_then(|external| external.strip_prefix(&prefix))
                .unwrap_or_default()
                .to_owned(),
            messages,
            started_at: thread.created_at,
            last_message_at: last,
        })
        .collect();
    Ok(paginate(items, page.limit, |c| c.thread_id))
}

/// One of a persona's conversations, its messages newest first: for its owner (and the
/// operator) only. A thread that is not one of this persona's conversations is a 404.
pub async fn conversation(
    state: &Context,
    actor: &Actor,
    reference: &str,
    thread: Uuid,
    page: PageRequest,
) -> Result<Page<agentops_sdk::types::MessageOut>, DomainError> {
    let row = owned(
        &state.db,
        actor,
        reference,
        "read a persona's conversations",
    )
    .await?;
    if store::personas::persona_of_thread(&state.db, thread).await? != Some(row.id) {
        return Err(DomainError::not_found(ErrorCode::ThreadNotFound, thread));
    }
    super::threads::messages(state, thread, page).await
}

/// A persona's versions, newest first.
pub async fn versions(
    state: &Context,
    actor: &Actor,
    reference: &str,
    before: Option<i32>,
    limit: u64,
) -> Result<Vec<PersonaVersionOut>, DomainError> {
    let (row, _) = visible(&state.db, actor, reference).await?;
    let owner_view = actor.owns(&row);
    let rows = store::personas::versions(&state.db, row.id, before, limit).await?;
    Ok(rows
        .into_iter()
        .map(|v| version_out(v, owner_view))
        .collect())
}

/// One version of a persona.
pub async fn version(
    state: &Context,
    actor: &Actor,
    reference: &str,
    number: u32,
) -> Result<PersonaVersionOut, DomainError> {
    let (row, _) = visible(&state.db, actor, reference).await?;
    let owner_view = actor.owns(&row);
    let found =
        store::personas::find_version(&state.db, row.id, number.min(i32::MAX as u32) as i32)
            .await?
            .ok_or_else(|| {
                DomainError::not_found(
                    ErrorCode::PersonaNotFound,
                    format!("{reference} version {number}"),
                )
            })?;
    Ok(version_out(found, owner_view))
}

/// Seals every persona's provider key again under `new` (opened with `old`): what the
/// rotation of the master key does. Keys already under `new` are left. Returns how many
/// were re-sealed.
///
/// # Errors
/// If a key sealed under neither cannot be opened (it is left, and named), or the
/// database fails.
pub async fn reseal(
    db: &sea_orm::DatabaseConnection,
    old: &agentops_sdk::secrets::MasterKey,
    new: &agentops_sdk::secrets::MasterKey,
) -> anyhow::Result<usize> {
    let mut after = None;
    let mut resealed = 0;
    loop {
        let batch = store::personas::with_secrets(db, after, 100).await?;
        let Some(last) = batch.last() else {
            return Ok(resealed);
        };
        after = Some(last.id);
        for mut row in batch {
            // Only the two sealed columns are written, and only if they are still what
            // was read: the services may be up, and an owner's change made meanwhile (a
            // new key, a removed token, a deletion) is read again, never undone.
            loop {
                let Some(sealed) = sealed_again(&row, old, new)? else {
                    break;
                };
                let before = (
                    row.provider_key_sealed.as_deref(),
                    row.telegram_token_sealed.as_deref(),
                );
                if store::personas::swap_sealed(db, row.id, before, sealed, Utc::now()).await? {
                    resealed += 1;
                    break;
                }
                match store::personas::find(db, row.id).await? {
                    Some(now) => row = now,
                    None => break,
                }
            }
        }
    }
}

/// A persona's provider key and Telegram token sealed under `new` (those under `old`
/// opened and sealed again, those already under `new` or absent kept), or `None` if
/// nothing needs sealing again.
fn sealed_again(
    row: &store::entity::persona::Model,
    old: &agentops_sdk::secrets::MasterKey,
    new: &agentops_sdk::secrets::MasterKey,
) -> anyhow::Result<Option<(Option<String>, Option<String>)>> {
    let mut sealed = (
        row.provider_key_sealed.clone(),
        row.telegram_token_sealed.clone(),
    );
    let mut changed = false;
    for (field, slot) in [
        (persona_keys::PROVIDER_API_KEY, &mut sealed.0),
        (persona_keys::TELEGRAM_BOT_TOKEN, &mut sealed.1),
    ] {
        let Some(current) = slot.clone() else {
            continue;
        };
        if agentops_sdk::secrets::sealed_with(&current) == Some(new.id()) {
            continue;
        }
        let context = persona_keys::secret_context(row.id, field);
        let secret = old.open(&current, &context).map_err(|err| {
            anyhow::anyhow!("persona {}: its {field} does not open: {err}", row.id)
        })?;
        *slot = Some(new.seal(&secret, &context));
        changed = true;
    }
    Ok(changed.then_some(sealed))
}

/// A persona's secrets, sealed, for the operator (an admin key acting for itself): the
/// platform's own runtimes open them with the master key.
///
/// # Errors
/// 403 for anyone else, 404 if there is no such persona.
pub async fn secrets(
    state: &Context,
    actor: &Actor,
    reference: &str,
) -> Result<PersonaSecretsOut, DomainError> {
    if *actor != Actor::Operator {
        return Err(DomainError::refused(
            ErrorCode::Forbidden,
            "a persona's sealed secrets are for the platform's own runtimes: an admin key \
             acting for itself (no X-On-Behalf-Of)",
        ));
    }
    let (row, _) = visible(&state.db, actor, reference).await?;
    Ok(PersonaSecretsOut {
        persona_id: row.id,
        provider_api_key: row.provider_key_sealed,
        telegram_bot_token: row.telegram_token_sealed,
    })
}

/// The longest a chat request waits for the persona's answer.
pub const CHAT_WAIT_MAX: u64 = 120;

/// The `external_id` of a person's conversation with a persona: the persona's id, `:`,
/// and the person, or a digest of them when that would not fit.
fn conversation_id(persona: Uuid, user: &str) -> String {
    let readable = format!("{persona}:{user}");
    if readable.chars().count() <= 200 {
        return readable;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(user.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{persona}:sha256:{hex}")
}

/// Hands a person's message to a persona: kept in their own conversation with it (one
/// thread per persona and person, channel `persona`, its greeting first), answered by
/// the persona runtime (an agent reading the event stream). Waits up to `wait` for the
/// answer. A person over the persona's daily limit is refused (429, until midnight UTC);
/// its owner is not limited.
pub async fn chat(
    state: &Context,
    caller: &Caller,
    actor: &Actor,
    reference: &str,
    input: agentops_sdk::types::PersonaChatIn,
    idempotency_key: Option<String>,
    wait: std::time::Duration,
) -> Result<agentops_sdk::types::PersonaChatOut, DomainError> {
    use agentops_sdk::types::{MessageIn, MessageRole, ThreadIn, persona_keys};
    let user = match (&input.user, actor) {
        (Some(user), Actor::Person(person)) if user.trim() != person => {
            return Err(DomainError::refused(
                ErrorCode::Forbidden,
                "`user` must be who acts (X-On-Behalf-Of, or the key itself)",
            ));
        }
        (Some(user), _) => user.trim().to_owned(),
        (None, Actor::Person(person)) => person.clone(),
        // An admin key acting for itself speaks as itself.
        (None, Actor::Operator) => format!("key:{}", caller.key_id),
    };
    let mut checks = Checks::default();
    checks.text("user", &user, limits::PERSONA_OWNER);
    checks.text("text", &input.text, limits::MESSAGE_TEXT);
    if let Some(via) = &input.via {
        checks.text("via", via, limits::PERSONA_VIA);
    }
    checks.finish()?;
    let (row, version) = visible(&state.db, actor, reference).await?;
    if row.status == DELETED {
        return Err(DomainError::refused(
            ErrorCode::PersonaDeleted,
            format!(
                "{} was deleted by its owner and takes no new messages",
                row.name
            ),
        ));
    }
    let opened = super::threads::open(
        state,
        caller,
        ThreadIn {
            channel: Some(persona_keys::CHANNEL.to_owned()),
            external_id: Some(conversation_id(row.id, &user)),
            title: Some(agentops_sdk::text::truncate(
                &format!("{} · {user}", row.name),
                200,
            )),
            metadata: Some(serde_json::json!({
                persona_keys::PERSONA: row.id,
                persona_keys::USER: user,
            })),
        },
    )
    .await?;
    let thread = opened.value;
    let owner_speaks = row.owner == user;
    if let Some(limit) = row.daily_limit.filter(|_| !owner_speaks) {
        let now = Utc::now();
        let midnight = midnight_before(now);
        let said =
            store::threads::count_messages_since(&state.db, thread.id, "user", midnight).await?;
        if said >= u64::try_from(limit).unwrap_or(0) {
            let next = midnight + chrono::Duration::days(1);
            let left = (next - now).num_seconds().max(1);
            return Err(DomainError::Limited {
                message: format!(
                    "you have sent {} its {limit} messages for today; you can write again at \
                     00:00 UTC (in {} h {} min)",
                    row.name,
                    left / 3600,
                    (left % 3600) / 60
                ),
                retry_after_secs: u64::try_from(left).unwrap_or(1),
            });
        }
    }
    // A new conversation opens with the persona's greeting.
    if !opened.replayed
        && let Some(greeting) = &version.greeting
    {
        super::threads::post_message(
            state,
            caller,
            thread.id,
            MessageIn {
                metadata: Some(serde_json::json!({
                    persona_keys::PERSONA: row.id,
                    persona_keys::VERSION: row.version,
                    "greeting": true,
                })),
                author: Some(row.name.clone()),
                ..MessageIn::assistant(greeting.clone())
            },
            Some(format!("persona-greeting:{}", thread.id)),
        )
        .await?;
    }
    // Listening before the message exists: its answer cannot slip by.
    let mut events = state.events.subscribe();
    let message = super::threads::post_message(
        state,
        caller,
        thread.id,
        MessageIn {
            metadata: Some(serde_json::json!({
                persona_keys::PERSONA: row.id,
                persona_keys::VERSION: row.version,
                persona_keys::USER: user,
                persona_keys::VIA: input.via.as_deref().map(str::trim),
            })),
            author: Some(user.clone()),
            ..MessageIn::user(input.text)
        },
        idempotency_key,
    )
    .await?
    .value;
    let persona_version = message
        .metadata
        .get(persona_keys::VERSION)
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(1);
    let answers = |m: &agentops_sdk::types::MessageOut| {
        m.role == MessageRole::Assistant
            && m.thread_id == thread.id
            && m.metadata
                .get("in_reply_to")
                .and_then(serde_json::Value::as_str)
                == Some(message.id.to_string().as_str())
    };
    let mut reply = None;
    let deadline = tokio::time::Instant::now() + wait;
    // A repeated request may find its answer there already.
    let recent = |state: &Context| {
        let thread = thread.id;
        let state = state.clone();
        async move {
            let rows = store::threads::list_messages(&state.db, thread, None, 20).await?;
            Ok::<_, DomainError>(
                rows.into_iter()
                    .map(agentops_sdk::types::MessageOut::from)
                    .collect::<Vec<_>>(),
            )
        }
    };
    if let Some(found) = recent(state).await?.into_iter().find(|m| answers(m)) {
        reply = Some(found);
    }
    while reply.is_none() && !wait.is_zero() {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => break,
            Ok(Ok(live)) => {
                if live.event.kind == "thread.message"
                    && let Ok(said) = serde_json::from_value::<agentops_sdk::types::MessageOut>(
                        live.event.data.clone(),
                    )
                    && answers(&said)
                {
                    reply = Some(said);
                }
            }
            // Fell behind the stream: read the thread instead.
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                reply = recent(state).await?.into_iter().find(|m| answers(m));
                events = state.events.subscribe();
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => break,
        }
    }
    if reply.is_none() && !wait.is_zero() {
        reply = recent(state).await?.into_iter().find(|m| answers(m));
    }
    Ok(agentops_sdk::types::PersonaChatOut {
        thread_id: thread.id,
        message_id: message.id,
        persona_version,
        reply,
    })
}
