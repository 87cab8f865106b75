//! What the Chief of Staff can do: read the platform's state (at once) and change work
//! (only once a person approves), all through the SDK.

use agentops_sdk::limits;
use agentops_sdk::text::{clean, truncate};
use agentops_sdk::types::{
    CancelIn, ProjectIn, ScheduleIn, ScheduleOut, TaskIn, TaskOut, TaskStatus, TaskTemplate,
    UnblockIn,
};
use agentops_sdk::{CancellationToken, Client};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// One change to the platform, as stored in an approval's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
#[expect(
    clippy::large_enum_variant,
    reason = "plans are a few actions, stored as JSON; boxing would only complicate their schema"
)]
pub enum Action {
    /// Create a project.
    CreateProject {
        /// Its name.
        name: String,
        /// What it is about.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// Create tasks in a project (one created by an earlier action of the plan, or an
    /// existing one), in order; a task may depend on tasks listed before it.
    CreateTasks {
        /// The project's name or id.
        project: String,
        /// The tasks.
        tasks: Vec<NewTask>,
    },
    /// Put a blocked task back in the queue with an answer.
    UnblockTask {
        /// The task's id, or the end of it as shown in listings (`#3fa2c1`).
        task: String,
        /// The answer for its next attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Cancel a task that has not finished.
    CancelTask {
        /// The task's id, or the end of it.
        task: String,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Create a schedule: a task created on a cron expression, an interval or once
    /// (exactly one of `cron`, `every_seconds`, `at`).
    CreateSchedule {
        /// A name people will recognise it by ("weekday status report").
        name: String,
        /// The project its tasks go to (created if there is none by that name);
        /// `Routines` if absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        project: Option<String>,
        /// The task it creates each time. Kind `chief` for what the Chief of Staff does
        /// itself: `input` `{"remind": "…"}` posts a reminder, `{"report": "status"}` a
        /// status report, in the conversation that asked for it.
        task: NewTask,
        /// The task's input.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
        /// A cron expression (minute hour day month weekday, e.g. `0 9 * * MON-FRI`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cron: Option<String>,
        /// Or: every this many seconds (at least 60).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every_seconds: Option<u64>,
        /// Or: once, at this time (RFC 3339, e.g. `2026-12-05T10:00:00Z`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// The IANA time zone of the cron expression (UTC if absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
    },
    /// Pause a schedule (by its name or id).
    PauseSchedule {
        /// The schedule's name (or words of it) or id.
        schedule: String,
    },
    /// Resume a paused schedule (by its name or id).
    ResumeSchedule {
        /// The schedule's name (or words of it) or id.
        schedule: String,
    },
}

/// A task to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// One-line summary.
    pub title: String,
    /// Full instructions (for a Seed: its goal, or plain commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which agents may take it (default `seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Titles of tasks listed earlier in the same action that must complete first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// `text` as the platform takes it ([`clean`]), or nothing when nothing is left.
fn cleaned_optional(text: Option<String>) -> Option<String> {
    text.map(|t| clean(&t)).filter(|t| !t.is_empty())
}

/// A task title as the platform takes it: [`clean`], and one longer than the platform's
/// limit cut at a word with "…" (the whole text goes to the description; see
/// [`NewTask::cleaned`]). The same words always give the same title, so a task's
/// `after` still names the task it means.
fn title_of(text: &str) -> String {
    let text = clean(text);
    if text.chars().count() <= limits::TASK_TITLE {
        return text;
    }
    let cut: String = text.chars().take(limits::TASK_TITLE - 1).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(at) if at > cut.len() / 2 => cut[..at].trim_end().to_owned(),
        _ => cut,
    };
    format!("{cut}…")
}

impl NewTask {
    /// The same task with its texts as the platform takes them (see [`Action::cleaned`]).
    /// A title too long for the platform is shortened, and the whole of it starts the
    /// description, so nothing the person wrote is lost; a description too long is cut.
    #[must_use]
    pub fn cleaned(self) -> Self {
        let whole = clean(&self.title);
        let title = title_of(&whole);
        let description = cleaned_optional(self.description);
        let description = if title == whole {
            description
        } else {
            Some(match description {
                Some(more) => format!("{whole}\n\n{more}"),
                None => whole,
            })
        };
        NewTask {
            title,
            description: description.map(|d| truncate(&d, limits::TASK_DESCRIPTION)),
            kind: cleaned_optional(self.kind),
            after: self.after.iter().map(|t| title_of(t)).collect(),
        }
    }
}

impl Action {
    /// The same action with each of its texts as the platform takes them
    /// ([`clean`]), and optional ones left out when nothing is left: an LLM may put
    /// control characters anywhere, and the platform refuses them in names, titles and
    /// notes, only once the plan is approved.
    #[must_use]
    pub fn cleaned(self) -> Self {
        let optional = cleaned_optional;
        match self {
            Action::CreateProject { name, description } => Action::CreateProject {
                name: clean(&name),
                description: optional(description)
                    .map(|d| truncate(&d, limits::PROJECT_DESCRIPTION)),
            },
            Action::CreateTasks { project, tasks } => Action::CreateTasks {
                project: clean(&project),
                tasks: tasks.into_iter().map(NewTask::cleaned).collect(),
            },
            Action::UnblockTask { task, note } => Action::UnblockTask {
                task: clean(&task),
                note: optional(note),
            },
            Action::CancelTask { task, reason } => Action::CancelTask {
                task: clean(&task),
                reason: optional(reason),
            },
            Action::CreateSchedule {
                name,
                project,
                task,
                input,
                cron,
                every_seconds,
                at,
                time_zone,
            } => Action::CreateSchedule {
                name: clean(&name),
                project: optional(project),
                // A schedule's task has no earlier tasks to wait for.
                task: NewTask {
                    after: Vec::new(),
                    ..task.cleaned()
                },
                input,
                cron: optional(cron),
                every_seconds,
                at: optional(at),
                time_zone: optional(time_zone),
            },
            Action::PauseSchedule { schedule } => Action::PauseSchedule {
                schedule: clean(&schedule),
            },
            Action::ResumeSchedule { schedule } => Action::ResumeSchedule {
                schedule: clean(&schedule),
            },
        }
    }

    /// The same action; a schedule of the Chief's own work (kind `chief`) reports to the
    /// thread `thread_id` (its task input's `thread_id`, unless it names one).
    #[must_use]
    pub fn reporting_to(mut self, thread_id: Uuid) -> Self {
        if let Action::CreateSchedule { task, input, .. } = &mut self
            && task.kind.as_deref() == Some(CHIEF_KIND)
        {
            let mut fields = match input.take() {
                Some(Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            fields
                .entry("thread_id")
                .or_insert_with(|| json!(thread_id));
            *input = Some(Value::Object(fields));
        }
        self
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateProject { name, .. } => format!("create project \"{name}\""),
            Action::CreateTasks { project, tasks } => {
                let titles: Vec<String> =
                    tasks.iter().map(|t| format!("\"{}\"", t.title)).collect();
                format!(
                    "add {} to project \"{project}\": {}",
                    plural(tasks.len(), "task"),
                    titles.join(", ")
                )
            }
            Action::UnblockTask { task, note } => match note {
                Some(note) => format!("unblock task {task} with \"{note}\""),
                None => format!("unblock task {task}"),
            },
            Action::CancelTask { task, .. } => format!("cancel task {task}"),
            Action::CreateSchedule {
                name,
                cron,
                every_seconds,
                at,
                time_zone,
                ..
            } => {
                let when = match (cron, every_seconds, at) {
                    (Some(cron), _, _) => {
                        format!("on `{cron}` ({})", time_zone.as_deref().unwrap_or("UTC"))
                    }
                    (_, Some(seconds), _) => format!("every {}", duration_words(*seconds)),
                    (_, _, Some(at)) => format!("once, at {at}"),
                    _ => "(no time given)".into(),
                };
                format!("schedule \"{name}\" {when}")
            }
            Action::PauseSchedule { schedule } => format!("pause schedule \"{schedule}\""),
            Action::ResumeSchedule { schedule } => format!("resume schedule \"{schedule}\""),
        }
    }
}

/// `90` → "1 minute 30 seconds"-like words, in the largest whole unit.
fn duration_words(seconds: u64) -> String {
    for (unit, size) in [("day", 86_400), ("hour", 3_600), ("minute", 60)] {
        if seconds.is_multiple_of(size) {
            return plural((seconds / size) as usize, unit);
        }
    }
    plural(seconds as usize, "second")
}

/// "3 tasks", "1 task".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// How a task is shown to people: its title and the end of its id.
pub fn short_id(id: Uuid) -> String {
    let hex = id.simple().to_string();
    format!("#{}", &hex[hex.len() - 6..])
}

/// Checks a plan before it is proposed, so a person never approves something that
/// cannot run.
///
/// # Errors
/// What is wrong, for the person.
pub fn validate(actions: &[Action]) -> Result<(), String> {
    if actions.is_empty() {
        return Err("the plan does nothing".into());
    }
    let planned: usize = actions
        .iter()
        .map(|a| match a {
            Action::CreateTasks { tasks, .. } => tasks.len(),
            _ => 0,
        })
        .sum();
    if planned > PLAN_TASKS_MAX {
        return Err(format!(
            "the plan adds {planned} tasks; one plan can add at most {PLAN_TASKS_MAX}, so split it"
        ));
    }
    for action in actions {
        match action {
            Action::CreateProject { name, .. } => {
                if name.trim().is_empty() {
                    return Err("a project needs a name".into());
                }
                fits("a project's name", name, limits::PROJECT_NAME)?;
            }
            Action::CreateTasks { project, tasks } => {
                if project.trim().is_empty() {
                    return Err("which project should the tasks go to?".into());
                }
                if tasks.is_empty() {
                    return Err("there are no tasks to add".into());
                }
                let mut seen: Vec<&str> = Vec::new();
                for task in tasks {
                    check_task(task)?;
                    if let Some(missing) = task.after.iter().find(|a| !seen.contains(&a.as_str())) {
                        return Err(format!(
                            "\"{}\" comes after \"{missing}\", which is not listed before it",
                            task.title
                        ));
                    }
                    if task.after.len() > limits::DEPENDS_ON {
                        return Err(format!(
                            "\"{}\" waits for {} tasks; a task can wait for at most {}",
                            task.title,
                            task.after.len(),
                            limits::DEPENDS_ON
                        ));
                    }
                    seen.push(&task.title);
                }
            }
            Action::UnblockTask { task, .. } | Action::CancelTask { task, .. }
                if task.trim().is_empty() =>
            {
                return Err("which task?".into());
            }
            Action::UnblockTask {
                note: Some(note), ..
            } => fits("the answer", note, limits::NOTE)?,
            Action::CancelTask {
                reason: Some(reason),
                ..
            } => fits("the reason", reason, limits::CANCEL_REASON)?,
            Action::CreateSchedule {
                name,
                project,
                task,
                cron,
                every_seconds,
                at,
                ..
            } => {
                if name.trim().is_empty() || task.title.trim().is_empty() {
                    return Err("a schedule needs a name and a task".into());
                }
                fits("a schedule's name", name, limits::SCHEDULE_NAME)?;
                if let Some(project) = project {
                    fits("a project's name", project, limits::PROJECT_NAME)?;
                }
                check_task(task)?;
                if [cron.is_some(), every_seconds.is_some(), at.is_some()]
                    .iter()
                    .filter(|given| **given)
                    .count()
                    != 1
                {
                    return Err(
                        "when should it run? (a cron expression, an interval or a time)".into(),
                    );
                }
                if let Some(at) = at
                    && chrono::DateTime::parse_from_rfc3339(at).is_err()
                {
                    return Err(format!("`{at}` is not a time I can read"));
                }
            }
            Action::PauseSchedule { schedule } | Action::ResumeSchedule { schedule }
                if schedule.trim().is_empty() =>
            {
                return Err("which schedule?".into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// The most tasks one plan may add: its report on how they went reads them all.
pub const PLAN_TASKS_MAX: usize = 1_000;

/// `Err` for the person when `text`, `what`, is longer than `max` characters.
fn fits(what: &str, text: &str, max: usize) -> Result<(), String> {
    let length = text.chars().count();
    if length > max {
        return Err(format!(
            "{what} is {length} characters long; the most the platform takes is {max}"
        ));
    }
    Ok(())
}

/// `Err` for the person when the platform would refuse `task`.
fn check_task(task: &NewTask) -> Result<(), String> {
    if task.title.trim().is_empty() {
        return Err("a task needs a title".into());
    }
    fits("a task's title", &task.title, limits::TASK_TITLE)?;
    if let Some(description) = &task.description {
        fits(
            "a task's description",
            description,
            limits::TASK_DESCRIPTION,
        )?;
    }
    if let Some(kind) = &task.kind
        && (kind.is_empty()
            || kind.chars().count() > limits::KIND
            || !kind
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        return Err(format!(
            "`{kind}` is not a kind of agent (up to {} letters, digits, `_`, `.`, `:` and `-`)",
            limits::KIND
        ));
    }
    Ok(())
}

/// Whether `a` and `b` name the same project: the same words in any case (any
/// alphabet's), as [`preview`] and [`execute`] both read names.
pub fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// Titles shown when a plan adds many tasks; the rest are counted ("and 62 more"), and
/// all of them are in the plan the person approves.
const TITLES_SHOWN: usize = 8;

/// A plan as a person will judge it, checked against the platform before anyone is
/// asked to approve it: a project the tasks go to must exist (or be created earlier in
/// the plan), a task to unblock must be blocked, a task to cancel must not have
/// finished, a schedule must exist. Each action comes back with the task or schedule it
/// names resolved to its id (so carrying it out acts on the one the person saw) and a
/// line for people that names tasks by short code and title, never by raw id.
///
/// # Errors
/// What is missing or wrong, for the person.
pub async fn preview(
    client: &Client,
    actions: Vec<Action>,
) -> Result<(Vec<Action>, Vec<String>), String> {
    let mut planned: Vec<String> = Vec::new();
    let mut checked = Vec::with_capacity(actions.len());
    let mut lines = Vec::with_capacity(actions.len());
    for action in actions {
        match action {
            Action::CreateProject { ref name, .. } => {
                if planned.iter().any(|p| same_name(p, name)) {
                    return Err(format!("the plan creates project \"{name}\" twice"));
                }
                planned.push(name.clone());
                // A project by that name already exists: its tasks go there, rather
                // than to a second project of the same name.
                match resolve_project(client, name, &[]).await {
                    Ok(_) => lines.push(format!("use the existing project \"{name}\"")),
                    Err(_) => {
                        lines.push(action.describe());
                        checked.push(action);
                    }
                }
            }
            Action::CreateTasks {
                ref project,
                ref tasks,
            } => {
                if !planned.iter().any(|p| same_name(p, project)) {
                    resolve_project(client, project, &[]).await?;
                }
                let shown: Vec<String> = tasks
                    .iter()
                    .take(TITLES_SHOWN)
                    .map(|t| format!("\"{}\"", t.title))
                    .collect();
                let more = tasks.len().saturating_sub(TITLES_SHOWN);
                lines.push(format!(
                    "add {} to project \"{project}\": {}{}",
                    plural(tasks.len(), "task"),
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ));
                checked.push(action);
            }
            Action::UnblockTask { task, note } => {
                let found = resolve_task(client, &task).await?;
                if found.status != TaskStatus::Blocked {
                    return Err(format!(
                        "task {} \"{}\" is {}, not blocked",
                        short_id(found.id),
                        found.title,
                        found.status
                    ));
                }
                lines.push(match &note {
                    Some(note) => format!(
                        "unblock {} \"{}\" with \"{note}\"",
                        short_id(found.id),
                        found.title
                    ),
                    None => format!("unblock {} \"{}\"", short_id(found.id), found.title),
                });
                checked.push(Action::UnblockTask {
                    task: found.id.to_string(),
                    note,
                });
            }
            Action::CancelTask { task, reason } => {
                let found = resolve_task(client, &task).await?;
                if found.status.is_final() {
                    return Err(format!(
                        "task {} \"{}\" is already {}",
                        short_id(found.id),
                        found.title,
                        found.status
                    ));
                }
                lines.push(format!("cancel {} \"{}\"", short_id(found.id), found.title));
                checked.push(Action::CancelTask {
                    task: found.id.to_string(),
                    reason,
                });
            }
            Action::PauseSchedule { schedule } => {
                let found = resolve_schedule(client, &schedule).await?;
                lines.push(format!("pause schedule \"{}\"", found.name));
                checked.push(Action::PauseSchedule {
                    schedule: found.id.to_string(),
                });
            }
            Action::ResumeSchedule { schedule } => {
                let found = resolve_schedule(client, &schedule).await?;
                lines.push(format!("resume schedule \"{}\"", found.name));
                checked.push(Action::ResumeSchedule {
                    schedule: found.id.to_string(),
                });
            }
            other @ Action::CreateSchedule { .. } => {
                lines.push(other.describe());
                checked.push(other);
            }
        }
    }
    Ok((checked, lines))
}

/// Finds a task by id or by the end of its id (`#3fa2c1` or `3fa2c1`), among the most
/// recent 1,000.
///
/// # Errors
/// A message for the person if there is no such task, or several.
pub async fn resolve_task(client: &Client, reference: &str) -> Result<TaskOut, String> {
    let reference = reference
        .trim()
        .trim_start_matches('#')
        .to_ascii_lowercase();
    if let Ok(id) = Uuid::parse_str(&reference) {
        return client
            .tasks()
            .get(id)
            .await
            .map_err(|err| format!("task {reference}: {err}"));
    }
    if reference.len() < 4 || !reference.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{reference}` is not a task id (use the #code shown next to a task)"
        ));
    }
    let matches: Vec<TaskOut> = client
        .tasks()
        .list()
        .limit(200)
        .stream()
        .take(1_000)
        .try_filter(|t| {
            let hex = t.id.simple().to_string();
            std::future::ready(hex.ends_with(&reference))
        })
        .try_collect()
        .await
        .map_err(|err| format!("cannot list tasks: {err}"))?;
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("there is no task #{reference}")),
        _ => Err(format!(
            "#{reference} matches several tasks: give more of its id"
        )),
    }
}

async fn resolve_project(
    client: &Client,
    reference: &str,
    created: &[(String, Uuid)],
) -> Result<Uuid, String> {
    if let Some((_, id)) = created.iter().find(|(name, _)| same_name(name, reference)) {
        return Ok(*id);
    }
    if let Ok(id) = Uuid::parse_str(reference.trim()) {
        return Ok(id);
    }
    let projects: Vec<_> = client
        .projects()
        .list()
        .limit(200)
        .stream()
        .take(1_000)
        .try_filter(|p| std::future::ready(same_name(&p.name, reference)))
        .try_collect()
        .await
        .map_err(|err| format!("cannot list projects: {err}"))?;
    match projects.as_slice() {
        [one] => Ok(one.id),
        [] => Err(format!("there is no project called \"{reference}\"")),
        _ => Err(format!("several projects are called \"{reference}\"")),
    }
}

/// Carries out an approved plan. Every create uses an idempotency key made of the
/// approval's id and the action's place in the plan, so carrying out the same approval
/// again (after a crash half-way) creates nothing twice.
///
/// # Errors
/// What failed, for the person; what was done before it stays done. `stop`, once
/// cancelled, stops the plan before its next action.
pub async fn execute(
    client: &Client,
    approval_id: Uuid,
    actions: &[Action],
    stop: &CancellationToken,
) -> Result<Value, String> {
    let mut created_projects: Vec<(String, Uuid)> = Vec::new();
    let mut done = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        // The safe point between two steps: a newer message of the conversation may
        // stop the plan here; what was done stays done.
        if stop.is_cancelled() {
            return Err(format!(
                "I stopped after {i} of {} steps to read your newer message; what was done stays done",
                actions.len()
            ));
        }
        let key = |part: &str| format!("approval:{approval_id}:{i}:{part}");
        match action {
            Action::CreateProject { name, description } => {
                let (project, _) = client
                    .projects()
                    .create_with_key(
                        ProjectIn {
                            name: name.clone(),
                            description: description.clone(),
                            metadata: Some(json!({"approval_id": approval_id})),
                        },
                        key("project"),
                    )
                    .await
                    .map_err(|err| format!("creating project \"{name}\": {err}"))?;
                created_projects.push((project.name.clone(), project.id));
                done.push(json!({"created_project": {"id": project.id, "name": project.name}}));
            }
            Action::CreateTasks { project, tasks } => {
                let project_id = resolve_project(client, project, &created_projects).await?;
                let mut ids: Vec<(String, Uuid)> = Vec::new();
                let mut created = Vec::new();
                for (j, task) in tasks.iter().enumerate() {
                    let depends_on: Vec<Uuid> = task
                        .after
                        .iter()
                        .filter_map(|title| ids.iter().find(|(t, _)| t == title).map(|(_, id)| *id))
                        .collect();
                    let (out, _) = client
                        .tasks()
                        .create_with_key(
                            TaskIn {
                                project_id,
                                title: task.title.clone(),
                                description: task.description.clone(),
                                kind: Some(task.kind.clone().unwrap_or_else(|| "seed".into())),
                                labels: Some(vec![plan_label(approval_id)]),
                                depends_on: (!depends_on.is_empty()).then_some(depends_on),
                                ..TaskIn::default()
                            },
                            key(&format!("task:{j}")),
                        )
                        .await
                        .map_err(|err| format!("creating task \"{}\": {err}", task.title))?;
                    ids.push((task.title.clone(), out.id));
                    created.push(json!({"id": out.id, "title": out.title, "status": out.status}));
                }
                done.push(json!({"created_tasks": {"project_id": project_id, "tasks": created}}));
            }
            Action::UnblockTask { task, note } => {
                let found = resolve_task(client, task).await?;
                if found.status == TaskStatus::Blocked {
                    client
                        .tasks()
                        .unblock(found.id, UnblockIn { note: note.clone() })
                        .await
                        .map_err(|err| format!("unblocking {}: {err}", short_id(found.id)))?;
                }
                done.push(json!({"unblocked": found.id}));
            }
            Action::CancelTask { task, reason } => {
                let found = resolve_task(client, task).await?;
                if !found.status.is_final() {
                    client
                        .tasks()
                        .cancel(
                            found.id,
                            CancelIn {
                                reason: reason.clone(),
                            },
                        )
                        .await
                        .map_err(|err| format!("cancelling {}: {err}", short_id(found.id)))?;
                }
                done.push(json!({"cancelled": found.id}));
            }
            Action::CreateSchedule {
                name,
                project,
                task,
                input,
                cron,
                every_seconds,
                at,
                time_zone,
            } => {
                let project_name = project.as_deref().unwrap_or(ROUTINES);
                let project_id = match resolve_project(client, project_name, &created_projects)
                    .await
                {
                    Ok(id) => id,
                    Err(_) => {
                        let (made, _) = client
                            .projects()
                            .create_with_key(
                                ProjectIn {
                                    name: project_name.to_owned(),
                                    description: Some("Work that runs on a schedule.".into()),
                                    metadata: Some(json!({"approval_id": approval_id})),
                                },
                                key("schedule-project"),
                            )
                            .await
                            .map_err(|err| format!("creating project \"{project_name}\": {err}"))?;
                        created_projects.push((made.name.clone(), made.id));
                        made.id
                    }
                };
                // Carried out again after a crash, it finds the schedule it made.
                let existing = client
                    .schedules()
                    .list()
                    .project(project_id)
                    .limit(200)
                    .send()
                    .await
                    .map_err(|err| format!("cannot list schedules: {err}"))?
                    .items
                    .into_iter()
                    .find(|s| s.name == *name);
                let schedule = match existing {
                    Some(schedule) => schedule,
                    None => client
                        .schedules()
                        .create(ScheduleIn {
                            name: name.clone(),
                            project_id,
                            task: TaskTemplate {
                                title: task.title.clone(),
                                description: task.description.clone(),
                                kind: Some(task.kind.clone().unwrap_or_else(|| "seed".into())),
                                input: input.clone(),
                                ..TaskTemplate::default()
                            },
                            cron: cron.clone(),
                            every_seconds: *every_seconds,
                            at: at
                                .as_deref()
                                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                                .map(|at| at.with_timezone(&chrono::Utc)),
                            time_zone: time_zone.clone(),
                            missed: None,
                        })
                        .await
                        .map_err(|err| format!("creating schedule \"{name}\": {err}"))?,
                };
                done.push(
                    json!({"created_schedule": {"id": schedule.id, "name": schedule.name,
                                  "next_run_at": schedule.next_run_at}}),
                );
            }
            Action::PauseSchedule { schedule } | Action::ResumeSchedule { schedule } => {
                let found = resolve_schedule(client, schedule).await?;
                let pause = matches!(action, Action::PauseSchedule { .. });
                let changed = if pause {
                    client.schedules().pause(found.id).await
                } else {
                    client.schedules().resume(found.id).await
                }
                .map_err(|err| format!("changing schedule \"{}\": {err}", found.name))?;
                done.push(
                    json!({if pause {"paused_schedule"} else {"resumed_schedule"}:
                                  {"id": changed.id, "name": changed.name}}),
                );
            }
        }
    }
    Ok(json!({ "done": done }))
}

/// The label of the tasks an approved plan created: the Chief of Staff follows them and
/// tells the plan's conversation when they have all finished.
pub fn plan_label(approval_id: Uuid) -> String {
    format!("{PLAN_LABEL}{approval_id}")
}

/// The prefix of [`plan_label`].
pub use agentops_sdk::types::PLAN_LABEL;

/// The task kind the Chief of Staff carries out itself (reminders, reports).
pub const CHIEF_KIND: &str = "chief";

/// The project schedules go to when none is named.
pub const ROUTINES: &str = "Routines";

/// Words that do not tell schedules apart ("stop *the daily* report").
const FILLER: [&str; 12] = [
    "the", "my", "a", "an", "daily", "weekly", "hourly", "monthly", "schedule", "reminder",
    "please", "that",
];

/// Finds a schedule by id, by name, or by the words of its name ("the daily report" finds
/// "status report"), among the newest 200.
///
/// # Errors
/// A message for the person if there is no such schedule, or several.
pub async fn resolve_schedule(client: &Client, reference: &str) -> Result<ScheduleOut, String> {
    if let Ok(id) = Uuid::parse_str(reference.trim()) {
        return client
            .schedules()
            .get(id)
            .await
            .map_err(|err| format!("cannot read schedule {id}: {err}"));
    }
    let schedules = client
        .schedules()
        .list()
        .limit(200)
        .send()
        .await
        .map_err(|err| format!("cannot list schedules: {err}"))?
        .items;
    let wanted = reference.trim().trim_matches('"').to_lowercase();
    if let Some(exact) = schedules.iter().find(|s| s.name.to_lowercase() == wanted) {
        return Ok(exact.clone());
    }
    let words: Vec<&str> = wanted
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !FILLER.contains(w))
        .collect();
    let matching: Vec<&ScheduleOut> = schedules
        .iter()
        .filter(|s| {
            let name = s.name.to_lowercase();
            !words.is_empty() && words.iter().all(|w| name.contains(w))
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("I found no schedule like \"{reference}\"")),
        several => Err(format!(
            "several schedules match \"{reference}\": {}",
            several
                .iter()
                .map(|s| format!("\"{}\"", s.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The schedules, for people.
///
/// # Errors
/// If the platform cannot be read.
pub async fn schedules(client: &Client) -> Result<String, String> {
    let schedules = client
        .schedules()
        .list()
        .limit(50)
        .send()
        .await
        .map_err(|err| format!("cannot list schedules: {err}"))?
        .items;
    if schedules.is_empty() {
        return Ok("There are no schedules yet.".into());
    }
    let lines: Vec<String> = schedules
        .iter()
        .map(|s| {
            let next = s
                .next_run_at
                .map(|at| format!(", next at {}", at.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            format!("\"{}\" — {} ({}{next})", s.name, s.description, s.status)
        })
        .collect();
    Ok(format!(
        "{}:\n{}",
        plural(schedules.len(), "schedule"),
        lines.join("\n")
    ))
}

/// A short report of the platform's state: projects, or one project's tasks, with what
/// is blocked and why.
///
/// # Errors
/// If the platform cannot be read.
pub async fn report(client: &Client, project: Option<&str>) -> Result<String, String> {
    let project_id = match project {
        Some(name) => Some(resolve_project(client, name, &[]).await?),
        None => None,
    };
    let mut list = client.tasks().list().limit(200);
    if let Some(id) = project_id {
        list = list.project(id);
    }
    let tasks: Vec<TaskOut> = list
        .stream()
        .take(500)
        .try_collect()
        .await
        .map_err(|err| format!("cannot list tasks: {err}"))?;
    if tasks.is_empty() {
        return Ok(match project {
            Some(name) => format!("Project \"{name}\" has no tasks yet."),
            None => "There are no tasks yet.".into(),
        });
    }
    let mut counts: Vec<(TaskStatus, usize)> = TaskStatus::ALL
        .iter()
        .map(|s| (*s, tasks.iter().filter(|t| t.status == *s).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_by_key(|(s, _)| TaskStatus::ALL.iter().position(|x| x == s));
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let mut text = format!("{}: {}.", plural(tasks.len(), "task"), summary.join(", "));
    for task in tasks.iter().filter(|t| t.status == TaskStatus::Blocked) {
        text.push_str(&format!(
            "\nBlocked {} \"{}\": {}",
            short_id(task.id),
            task.title,
            task.block_reason.as_deref().unwrap_or("(no reason given)")
        ));
    }
    for task in tasks
        .iter()
        .filter(|t| matches!(t.status, TaskStatus::Running | TaskStatus::Queued))
        .take(10)
    {
        text.push_str(&format!(
            "\n{} {} \"{}\"{}",
            task.status,
            short_id(task.id),
            task.title,
            task.progress_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    Ok(text)
}

/// The projects, newest first.
///
/// # Errors
/// If the platform cannot be read.
pub async fn projects(client: &Client) -> Result<String, String> {
    let projects = crate::chief::look::all_projects(client).await?;
    if projects.is_empty() {
        return Ok("There are no projects yet.".into());
    }
    // All of them are counted; the newest are named.
    let names: Vec<String> = projects
        .iter()
        .take(PROJECTS_NAMED)
        .map(|p| format!("\"{}\"", p.name))
        .collect();
    let more = projects.len().saturating_sub(PROJECTS_NAMED);
    Ok(format!(
        "{}: {}{}.",
        plural(projects.len(), "project"),
        names.join(", "),
        if more > 0 {
            format!(" and {more} more (the newest are named)")
        } else {
            String::new()
        }
    ))
}

/// Projects named in a list of them; the rest are counted.
const PROJECTS_NAMED: usize = 50;

/// One task, for people.
pub fn describe_task(task: &TaskOut) -> String {
    let mut text = format!(
        "{} \"{}\" is {}",
        short_id(task.id),
        task.title,
        task.status
    );
    if let Some(p) = task.progress {
        text.push_str(&format!(" ({:.0}%)", p * 100.0));
    }
    if let Some(reason) = &task.block_reason {
        text.push_str(&format!(": {reason}"));
    } else if let Some(error) = &task.error {
        text.push_str(&format!(": {error}"));
    } else if let Some(message) = &task.progress_message {
        text.push_str(&format!(": {message}"));
    }
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_read_and_write_as_tagged_json() {
        let plan = vec![
            Action::CreateProject {
                name: "Launch".into(),
                description: None,
            },
            Action::CreateTasks {
                project: "Launch".into(),
                tasks: vec![
                    NewTask {
                        title: "draft".into(),
                        description: None,
                        kind: None,
                        after: vec![],
                    },
                    NewTask {
                        title: "review".into(),
                        description: None,
                        kind: None,
                        after: vec!["draft".into()],
                    },
                ],
            },
        ];
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(
            json[0],
            json!({"action": "create_project", "name": "Launch"})
        );
        assert_eq!(json[1]["tasks"][1]["after"], json!(["draft"]));
        let back: Vec<Action> = serde_json::from_value(json).unwrap();
        assert_eq!(back, plan);
        assert!(validate(&plan).is_ok());
        assert_eq!(
            plan[1].describe(),
            "add 2 tasks to project \"Launch\": \"draft\", \"review\""
        );
    }

    #[test]
    fn a_plan_that_cannot_run_is_refused_before_anyone_approves_it() {
        let task = |title: &str, after: &[&str]| NewTask {
            title: title.into(),
            description: None,
            kind: None,
            after: after.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(validate(&[]).is_err());
        let backwards = Action::CreateTasks {
            project: "P".into(),
            tasks: vec![task("review", &["draft"]), task("draft", &[])],
        };
        assert_eq!(
            validate(&[backwards]).unwrap_err(),
            "\"review\" comes after \"draft\", which is not listed before it"
        );
    }

    #[test]
    fn a_plan_the_platform_would_refuse_half_way_is_refused_whole() {
        let task = |title: &str| NewTask {
            title: title.into(),
            description: None,
            kind: None,
            after: Vec::new(),
        };
        let tasks = |project: &str, list: Vec<NewTask>| Action::CreateTasks {
            project: project.into(),
            tasks: list,
        };
        let long_name = "n".repeat(limits::PROJECT_NAME + 1);
        let refused = [
            vec![Action::CreateProject {
                name: long_name,
                description: None,
            }],
            vec![tasks("P", vec![task(&"t".repeat(limits::TASK_TITLE + 1))])],
            vec![Action::UnblockTask {
                task: "#abcdef".into(),
                note: Some("é".repeat(limits::NOTE + 1)),
            }],
            vec![tasks(
                "P",
                vec![NewTask {
                    kind: Some("code review".into()),
                    ..task("review")
                }],
            )],
            vec![tasks(
                "P",
                (0..=PLAN_TASKS_MAX)
                    .map(|i| task(&format!("t{i}")))
                    .collect(),
            )],
        ];
        for plan in refused {
            let err = validate(&plan).unwrap_err();
            assert!(!err.is_empty());
        }
        let many: Vec<NewTask> = (0..=limits::DEPENDS_ON)
            .map(|i| task(&format!("t{i}")))
            .chain([NewTask {
                after: (0..=limits::DEPENDS_ON).map(|i| format!("t{i}")).collect(),
                ..task("last")
            }])
            .collect();
        assert!(
            validate(&[tasks("P", many)])
                .unwrap_err()
                .contains("at most 100")
        );
        // Exactly at the limits it passes: counted in characters, not bytes.
        let at_limit = vec![
            Action::CreateProject {
                name: "é".repeat(limits::PROJECT_NAME),
                description: None,
            },
            tasks("P", vec![task(&"é".repeat(limits::TASK_TITLE))]),
        ];
        assert_eq!(validate(&at_limit), Ok(()));
    }

    #[test]
    fn a_title_too_long_is_shortened_and_kept_whole_in_the_description() {
        let words = "fix the footer ".repeat(50);
        let long = NewTask {
            title: words.clone(),
            description: Some("see the ticket".into()),
            kind: None,
            after: Vec::new(),
        };
        let next = NewTask {
            title: "deploy".into(),
            description: None,
            kind: None,
            after: vec![words.clone()],
        };
        let plan = Action::CreateTasks {
            project: "P".into(),
            tasks: vec![long, next],
        }
        .cleaned();
        let Action::CreateTasks { tasks, .. } = &plan else {
            unreachable!()
        };
        assert!(tasks[0].title.chars().count() <= limits::TASK_TITLE);
        // Cut between two words.
        let kept = tasks[0].title.strip_suffix('…').unwrap();
        assert!(words.starts_with(&format!("{kept} ")), "{}", tasks[0].title);
        assert_eq!(
            tasks[0].description.as_deref(),
            Some(format!("{}\n\nsee the ticket", words.trim()).as_str())
        );
        assert_eq!(tasks[1].after, vec![tasks[0].title.clone()]);
        assert_eq!(validate(&[plan]), Ok(()));
    }

    #[test]
    fn project_names_match_in_any_case_of_any_alphabet() {
        assert!(same_name("Équipe", "équipe "));
        assert!(same_name("ΟΜΑΔΑ", "ομαδα"));
        assert!(!same_name("Website", "Websites"));
    }

    #[test]
    fn short_ids_are_the_random_end_of_the_uuid() {
        let id = Uuid::parse_str("01a2314a-2459-7710-9c2e-6891fd54703c").unwrap();
        assert_eq!(short_id(id), "#54703c");
    }
}
