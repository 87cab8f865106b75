//! Schedules: a task template and when to create it (a cron expression in a time zone,
//! an interval, or one time).
//!
//! Every replica's reaper fires what is due ([`fire_due`]); there is no leader. On
//! PostgreSQL due rows are claimed with `FOR UPDATE SKIP LOCKED`, so two replicas do not
//! even try the same row at once; on any backend the task a due time creates carries the
//! idempotency key `schedule:<id>:<due time>` under the schedule creator's key, and the
//! schedule moves on only from the due time it was read at. A crash between creating the
//! task and moving the schedule on makes the next pass create nothing new: each due time
//! gives one task. On PostgreSQL pausing, resuming and deleting lock the row too, so they
//! wait for a firing in flight and never write back a run count or due time read before
//! it. A due time whose task fails for want of the database (not for its template) stays
//! due and is tried again on the next pass.
//!
//! Missed due times (the platform was down): `skip` goes on to the next due time from
//! now; `run_once` creates one task for all of them first. A due time is "missed" once it
//! is more than [`GRACE`] old.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use uuid::Uuid;

use agentops_sdk::types::{
    ErrorCode, MissedRuns, Page, Role, ScheduleIn, ScheduleOut, ScheduleStatus, TaskIn,
    TaskTemplate,
};

use super::{Caller, Checks, Context, PageRequest, limits, paginate};
use crate::error::DomainError;
use crate::store::entity::schedule::Model;
use crate::store::{self, NewEvent};

/// How late a due time may be fired and still count as on time.
pub const GRACE: Duration = Duration::seconds(60);

/// Shortest and longest interval.
const EVERY: limits::Int = limits::Int {
    min: 60,
    max: 31_536_000,
};

/// When a schedule is due.
enum When {
    Cron(Box<Cron>, Tz),
    Every(Duration),
    At(DateTime<Utc>),
}

impl When {
    fn of(row: &Model) -> Option<Self> {
        let tz: Tz = row.time_zone.parse().unwrap_or(Tz::UTC);
        if let Some(cron) = &row.cron {
            return Cron::from_str(cron)
                .ok()
                .map(|c| When::Cron(Box::new(c), tz));
        }
        if let Some(seconds) = row.every_seconds {
            return Some(When::Every(Duration::seconds(seconds)));
        }
        row.run_at.map(When::At)
    }

    /// The first due time after `after` (none: a one-time schedule that is past).
    fn next_after(&self, after: DateTime<Utc>, anchor: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            When::Cron(cron, tz) => cron
                .find_next_occurrence(&after.with_timezone(tz), false)
                .ok()
                .map(|at| at.with_timezone(&Utc)),
            When::Every(every) => {
                // The interval keeps its phase from `anchor` (its previous due time).
                let steps = ((after - anchor).num_seconds() / every.num_seconds()).max(0) + 1;
                Some(anchor + *every * i32::try_from(steps).unwrap_or(i32::MAX))
            }
            When::At(at) => (*at > after).then_some(*at),
        }
    }

    fn describe(&self) -> String {
        match self {
            When::Cron(cron, tz) => format!("{} ({tz})", cron.describe()),
            When::Every(every) => {
                let s = every.num_seconds();
                if s % 86_400 == 0 {
                    format!("Every {} day(s)", s / 86_400)
                } else if s % 3_600 == 0 {
                    format!("Every {} hour(s)", s / 3_600)
                } else if s % 60 == 0 {
                    format!("Every {} minute(s)", s / 60)
                } else {
                    format!("Every {s} seconds")
                }
            }
            When::At(at) => format!("Once, at {}", at.to_rfc3339()),
        }
    }
}

fn out(row: Model) -> ScheduleOut {
    let when = When::of(&row);
    let status = if row.paused {
        ScheduleStatus::Paused
    } else if row.next_run_at.is_none() {
        ScheduleStatus::Finished
    } else {
        ScheduleStatus::Active
    };
    ScheduleOut {
        id: row.id,
        description: when.map_or_else(String::new, |w| w.describe()),
        project_id: row.project_id,
        task: serde_json::from_value(row.template).unwrap_or_default(),
        cron: row.cron,
        every_seconds: row.every_seconds.map(|s| s.max(0) as u64),
        at: row.run_at,
        time_zone: row.time_zone,
        missed: row.missed.parse().unwrap_or_default(),
        status,
        next_run_at: row.next_run_at,
        last_run_at: row.last_run_at,
        last_task_id: row.last_task_id,
        runs: row.runs.max(0) as u64,
        created_at: row.created_at,
        updated_at: row.updated_at,
        name: row.name,
    }
}

fn schedule_event(kind: &'static str, schedule: &ScheduleOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: Some(schedule.project_id),
        task_id: None,
        agent_id: None,
        data: serde_json::to_value(schedule).unwrap_or_default(),
    }
}

fn check_template(checks: &mut Checks, task: &TaskTemplate) {
    checks.text("task.title", &task.title, limits::TASK_TITLE);
    if let Some(description) = &task.description {
        checks.text("task.description", description, limits::TASK_DESCRIPTION);
    }
    if let Some(kind) = &task.kind {
        checks.ident("task.kind", kind, limits::KIND);
    }
    if let Some(labels) = &task.labels {
        checks.count(
            "task.labels",
            labels.len(),
            limits::Items {
                min: 0,
                max: limits::LABELS.max - 1,
            },
        );
        for label in labels {
            checks.ident("task.labels[]", label, limits::LABEL);
        }
    }
    if let Some(priority) = task.priority {
        checks.range("task.priority", i64::from(priority), limits::PRIORITY);
    }
    if let Some(max_attempts) = task.max_attempts {
        checks.range(
            "task.max_attempts",
            i64::from(max_attempts),
            limits::MAX_ATTEMPTS,
        );
    }
    if let Some(input) = &task.input {
        checks.json_size("task.input", input, super::tasks::INPUT_MAX);
    }
}

/// Creates a schedule.
pub async fn create(
    state: &Context,
    caller: &Caller,
    input: ScheduleIn,
) -> Result<ScheduleOut, DomainError> {
    let mut checks = Checks::default();
    checks.text("name", &input.name, limits::SCHEDULE_NAME);
    check_template(&mut checks, &input.task);
    let tz = input
        .time_zone
        .as_deref()
        .unwrap_or("UTC")
        .trim()
        .to_owned();
    let parsed_tz = tz.parse::<Tz>();
    if parsed_tz.is_err() {
        checks.push(
            "time_zone",
            "must be an IANA time zone, such as UTC or Europe/Paris",
        );
    }
    let now = store::now();
    let given = [
        input.cron.is_some(),
        input.every_seconds.is_some(),
        input.at.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        checks.push(
            "cron",
            "give exactly one of `cron`, `every_seconds` and `at`",
        );
    }
    let cron = input.cron.as_deref().map(str::trim);
    if let Some(cron) = cron {
        if cron.chars().count() > 200 {
            checks.push("cron", "must be at most 200 characters");
        } else if let Err(err) = Cron::from_str(cron) {
            checks.push("cron", format!("is not a cron expression: {err}"));
        }
    }
    if let Some(every) = input.every_seconds {
        checks.range(
            "every_seconds",
            i64::try_from(every).unwrap_or(i64::MAX),
            EVERY,
        );
    }
    if input.at.is_some_and(|at| at <= now) {
        checks.push("at", "must be in the future");
    }
    checks.finish()?;
    if store::projects::find(&state.db, input.project_id)
        .await?
        .is_none()
    {
        return Err(DomainError::not_found(
            ErrorCode::ProjectNotFound,
            input.project_id,
        ));
    }
    let mut row = Model {
        id: Uuid::now_v7(),
        name: input.name.trim().to_owned(),
        project_id: input.project_id,
        template: serde_json::to_value(&input.task).unwrap_or_default(),
        cron: cron.map(str::to_owned),
        every_seconds: input.every_seconds.map(|s| s as i64),
        run_at: input.at,
        time_zone: tz,
        missed: input.missed.unwrap_or_default().as_str().to_owned(),
        paused: false,
        next_run_at: None,
        last_run_at: None,
        last_task_id: None,
        runs: 0,
        created_by: caller.key_id,
        created_at: now,
        updated_at: now,
    };
    row.next_run_at = When::of(&row).and_then(|w| w.next_after(now, now));
    if row.next_run_at.is_none() {
        return Err(DomainError::invalid("cron", "never comes due"));
    }
    let mut tx = state.begin().await?;
    let row = store::schedules::insert(tx.conn(), row).await?;
    let created = out(row);
    tx.emit(schedule_event("schedule.created", &created));
    state.commit(tx).await?;
    Ok(created)
}

/// One schedule.
pub async fn get(state: &Context, id: Uuid) -> Result<ScheduleOut, DomainError> {
    find(state, id).await.map(out)
}

async fn find(state: &Context, id: Uuid) -> Result<Model, DomainError> {
    store::schedules::find(&state.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ScheduleNotFound, id))
}

/// Schedules (of one project, if given), newest first.
pub async fn list(
    state: &Context,
    project_id: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<ScheduleOut>, DomainError> {
    let rows = store::schedules::list(&state.db, project_id, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(out).collect(),
        page.limit,
        |s| s.id,
    ))
}

/// Pauses (`true`) or resumes a schedule; resumed, it is next due from now.
pub async fn set_paused(
    state: &Context,
    id: Uuid,
    paused: bool,
) -> Result<ScheduleOut, DomainError> {
    let mut tx = state.begin().await?;
    // Locked: a firing in flight commits its run first, and the row saved below is the
    // one it left (read unlocked, saving it would put the run count back).
    let mut row = store::schedules::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ScheduleNotFound, id))?;
    let now = store::now();
    if row.paused != paused {
        row.paused = paused;
        if !paused {
            let anchor = row.last_run_at.unwrap_or(row.created_at);
            row.next_run_at = When::of(&row).and_then(|w| w.next_after(now, anchor));
        }
        row.updated_at = now;
        row = store::schedules::save(tx.conn(), row).await?;
        let changed = out(row.clone());
        tx.emit(schedule_event(
            if paused {
                "schedule.paused"
            } else {
                "schedule.resumed"
            },
            &changed,
        ));
    }
    state.commit(tx).await?;
    Ok(out(row))
}

/// Deletes a schedule (the tasks it created stay).
pub async fn delete(state: &Context, id: Uuid) -> Result<(), DomainError> {
    let mut tx = state.begin().await?;
    let row = store::schedules::find_for_delete(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ScheduleNotFound, id))?;
    store::schedules::delete(tx.conn(), id).await?;
    tx.emit(schedule_event("schedule.deleted", &out(row)));
    state.commit(tx).await
}

/// The label a schedule's tasks carry.
pub fn label(schedule_id: Uuid) -> String {
    format!("schedule:{schedule_id}")
}

/// Creates the task of one due time (idempotent per schedule and due time).
async fn create_task(
    state: &Context,
    row: &Model,
    due: DateTime<Utc>,
) -> Result<Uuid, DomainError> {
    let template: TaskTemplate = serde_json::from_value(row.template.clone()).unwrap_or_default();
    let mut labels = template.labels.unwrap_or_default();
    labels.push(label(row.id));
    let creator = Caller {
        key_id: row.created_by,
        role: Role::Admin,
    };
    let input = TaskIn {
        project_id: row.project_id,
        title: template.title,
        description: template.description,
        kind: template.kind,
        labels: Some(labels),
        priority: template.priority,
        input: template.input,
        depends_on: None,
        max_attempts: template.max_attempts,
    };
    let key = format!("schedule:{}:{}", row.id, due.timestamp());
    let created = super::tasks::create(state, &creator, input, Some(key)).await?;
    Ok(created.value.id)
}

/// Fires the schedules due now; how many tasks they created.
pub async fn fire_due(state: &Context) -> Result<usize, DomainError> {
    let now = store::now();
    let postgres = state.db.get_database_backend() == sea_orm::DbBackend::Postgres;
    // PostgreSQL: the due rows stay locked for this pass (other replicas skip them)
    // while their tasks are created in transactions of their own. SQLite has one
    // writer: its rows are moved on with a compare-and-set instead.
    let claim = if postgres {
        Some(state.begin().await?)
    } else {
        None
    };
    let due = match &claim {
        Some(tx) => store::schedules::due(tx.conn(), now, 50).await?,
        None => store::schedules::due(&state.db, now, 50).await?,
    };
    let mut fired = 0;
    let mut events = Vec::new();
    for row in due {
        let Some(due_at) = row.next_run_at else {
            continue;
        };
        let when = When::of(&row);
        let late = now - due_at > GRACE;
        let run = !late || row.missed == MissedRuns::RunOnce.as_str();
        let made = if run {
            match create_task(state, &row, due_at).await {
                Ok(task) => Some(task),
                // The database (or a limit) failed, not the template: the schedule stays
                // due at this time and the next pass tries again (the idempotency key
                // makes that create nothing twice, should the task exist after all).
                Err(
                    err @ (DomainError::Db(_)
                    | DomainError::Exhausted { .. }
                    | DomainError::Limited { .. }),
                ) => {
                    tracing::warn!(schedule = %row.id, due = %due_at,
                        "a schedule's task could not be created now; trying again: {err}");
                    continue;
                }
                Err(err) => {
                    // A template the platform refuses now (its project's rules changed):
                    // say so, and go on to the next due time rather than retrying forever.
                    tracing::warn!(schedule = %row.id, "a schedule could not create its task: {err}");
                    None
                }
            }
        } else {
            tracing::info!(schedule = %row.id, due = %due_at, "skipped a missed run");
            None
        };
        let next = when.and_then(|w| w.next_after(now.max(due_at), due_at));
        let fired_at = made.map(|task| (now, task));
        let moved = match &claim {
            Some(tx) => {
                store::schedules::advance(tx.conn(), row.id, due_at, next, fired_at).await?
            }
            None => store::schedules::advance(&state.db, row.id, due_at, next, fired_at).await?,
        };
        if moved && made.is_some() {
            fired += 1;
            let mut after = row.clone();
            after.next_run_at = next;
            after.last_run_at = Some(now);
            after.last_task_id = made;
            after.runs += 1;
            events.push(schedule_event("schedule.fired", &out(after)));
        }
    }
    // The fired events go out with the claim's commit (PostgreSQL), or on their own.
    let mut tx = match claim {
        Some(tx) => tx,
        None if events.is_empty() => return Ok(fired),
        None => state.begin().await?,
    };
    for event in events {
        tx.emit(event);
    }
    state.commit(tx).await?;
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn cron_expressions_are_read_in_their_time_zone_with_seconds_optional() {
        let weekdays = When::Cron(
            Box::new(Cron::from_str("0 9 * * MON-FRI").unwrap()),
            Tz::Europe__Paris,
        );
        // Friday 2026-12-04 10:00 UTC is 11:00 in Paris: next is Monday 09:00 Paris.
        let now = at("2026-12-04T10:00:00Z");
        assert_eq!(
            weekdays.next_after(now, now),
            Some(at("2026-12-07T08:00:00Z"))
        );
        let every_ten_seconds =
            When::Cron(Box::new(Cron::from_str("*/10 * * * * *").unwrap()), Tz::UTC);
        assert_eq!(
            every_ten_seconds.next_after(at("2026-12-04T10:00:01Z"), now),
            Some(at("2026-12-04T10:00:10Z"))
        );
    }

    #[test]
    fn intervals_keep_their_phase_and_one_time_schedules_end() {
        let every = When::Every(Duration::seconds(3_600));
        let anchor = at("2026-12-04T10:00:00Z");
        assert_eq!(
            every.next_after(anchor, anchor),
            Some(at("2026-12-04T11:00:00Z"))
        );
        // Down for three and a half hours: the next is on the hour, not from now.
        assert_eq!(
            every.next_after(at("2026-12-04T13:30:00Z"), anchor),
            Some(at("2026-12-04T14:00:00Z"))
        );
        let once = When::At(anchor);
        assert_eq!(
            once.next_after(at("2026-12-04T09:00:00Z"), anchor),
            Some(anchor)
        );
        assert_eq!(once.next_after(anchor, anchor), None);
    }
}
