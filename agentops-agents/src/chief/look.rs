//! Looking things up for people: a project or a task by the words someone used for it
//! (any case, a name inside a sentence, a near miss to offer as "did you mean"), and
//! the answers to status questions narrowed to what was asked (blocked, failed today,
//! who is working). Reads only, through the SDK.

use agentops_sdk::Client;
use agentops_sdk::types::{AgentOut, AgentStatus, ProjectOut, TaskOut, TaskStatus};
use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, TryStreamExt};

use super::actions::{plural, short_id};
use super::nlu::{Focus, Since, distance};

/// Projects read when looking one up by name.
const PROJECTS_SCANNED: usize = 1_000;
/// Tasks read when looking one up by title.
const TASKS_SCANNED: usize = 1_000;
/// Lines in an answer before "and N more".
const LINES: usize = 10;

/// Every project (the newest `PROJECTS_SCANNED`).
///
/// # Errors
/// If the platform cannot be read.
pub async fn all_projects(client: &Client) -> Result<Vec<ProjectOut>, String> {
    client
        .projects()
        .list()
        .limit(200)
        .stream()
        .take(PROJECTS_SCANNED)
        .try_collect()
        .await
        .map_err(|err| format!("cannot list projects: {err}"))
}

fn key(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The project `words` name: the same name in any case and punctuation, or the one
/// project whose name starts with them.
pub fn project_named<'p>(projects: &'p [ProjectOut], words: &str) -> Option<&'p ProjectOut> {
    let wanted = key(words);
    if wanted.is_empty() {
        return None;
    }
    if let Some(p) = projects.iter().find(|p| key(&p.name) == wanted) {
        return Some(p);
    }
    let starting: Vec<&ProjectOut> = projects
        .iter()
        .filter(|p| key(&p.name).starts_with(&format!("{wanted} ")))
        .collect();
    match starting.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// The project whose name is closest to `words`, if close enough to be a slip
/// ("Webiste" → "Website").
pub fn near_project<'p>(projects: &'p [ProjectOut], words: &str) -> Option<&'p ProjectOut> {
    let wanted = key(words);
    let length = wanted.chars().count();
    projects
        .iter()
        .filter_map(|p| {
            let name = key(&p.name);
            let most = (name.chars().count() / 3).clamp(1, 3);
            // Names whose length alone differs by more are never near: the edit
            // distance (quadratic) is only worked out for the few that may be.
            if name.chars().count().abs_diff(length) > most {
                return None;
            }
            let d = distance(&name, &wanted);
            (d > 0 && d <= most).then_some((d, p))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, p)| p)
}

/// The project named somewhere in `text` (the longest name that occurs as whole words).
pub fn project_in<'p>(projects: &'p [ProjectOut], text: &str) -> Option<&'p ProjectOut> {
    let text = format!(" {} ", key(text));
    projects
        .iter()
        .filter(|p| {
            let name = key(&p.name);
            !name.is_empty() && text.contains(&format!(" {name} "))
        })
        .max_by_key(|p| p.name.len())
}

/// Tasks whose title is `words` (any case), or else that hold all its words; the newest
/// first, among the newest `TASKS_SCANNED`.
///
/// # Errors
/// If the platform cannot be read.
pub async fn tasks_titled(client: &Client, words: &str) -> Result<Vec<TaskOut>, String> {
    let wanted = key(words);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let tasks: Vec<TaskOut> = client
        .tasks()
        .list()
        .limit(200)
        .stream()
        .take(TASKS_SCANNED)
        .try_collect()
        .await
        .map_err(|err| format!("cannot list tasks: {err}"))?;
    let exact: Vec<TaskOut> = tasks
        .iter()
        .filter(|t| key(&t.title) == wanted)
        .cloned()
        .collect();
    if !exact.is_empty() {
        return Ok(exact);
    }
    let words: Vec<&str> = wanted.split(' ').collect();
    Ok(tasks
        .into_iter()
        .filter(|t| {
            let title = format!(" {} ", key(&t.title));
            words.iter().all(|w| title.contains(&format!(" {w} ")))
        })
        .collect())
}

/// The blocked tasks, the newest first.
///
/// # Errors
/// If the platform cannot be read.
pub async fn tasks_blocked(client: &Client) -> Result<Vec<TaskOut>, String> {
    tasks_in(client, TaskStatus::Blocked, None).await
}

/// The tasks in `status` (of `project`, if given), the newest first, among the newest
/// [`TASKS_SCANNED`].
async fn tasks_in(
    client: &Client,
    status: TaskStatus,
    project: Option<&ProjectOut>,
) -> Result<Vec<TaskOut>, String> {
    let mut list = client.tasks().list().status(status).limit(200);
    if let Some(p) = project {
        list = list.project(p.id);
    }
    list.stream()
        .take(TASKS_SCANNED)
        .try_collect()
        .await
        .map_err(|err| format!("cannot list tasks: {err}"))
}

/// "#a1b2c3 \"write copy\"".
pub fn task_label(task: &TaskOut) -> String {
    format!("{} \"{}\"", short_id(task.id), task.title)
}

/// "3 hours", "2 days", "5 minutes".
pub fn ago(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    if minutes < 60 {
        plural(minutes.max(1) as usize, "minute")
    } else if minutes < 48 * 60 {
        plural((minutes / 60) as usize, "hour")
    } else {
        plural((minutes / 1440) as usize, "day")
    }
}

/// The start of the window `since`, at `now`.
pub fn window(since: Since, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    match since {
        Since::Ever => None,
        Since::Today => Some((midnight, now)),
        Since::Yesterday => Some((midnight - Duration::days(1), midnight)),
        Since::Week => Some((now - Duration::days(7), now)),
        Since::Hours(n) => Some((now - Duration::hours(i64::from(n)), now)),
    }
}

fn window_words(since: Since) -> String {
    match since {
        Since::Ever => String::new(),
        Since::Today => " today".into(),
        Since::Yesterday => " yesterday".into(),
        Since::Week => " in the last 7 days".into(),
        Since::Hours(1) => " in the last hour".into(),
        Since::Hours(n) => format!(" in the last {n} hours"),
    }
}

/// The tasks a status question asks about, as lines for people: blocked ones with
/// their question and for how long, failed ones with their error, running ones with
/// their progress, finished ones in the window.
///
/// # Errors
/// If the platform cannot be read.
pub async fn focused(
    client: &Client,
    project: Option<&ProjectOut>,
    focus: Focus,
    since: Since,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let statuses: &[TaskStatus] = match focus {
        Focus::Overview => &[],
        Focus::Blocked => &[TaskStatus::Blocked],
        Focus::Failed => &[TaskStatus::Failed],
        Focus::Running => &[TaskStatus::Running],
        Focus::Queued => &[TaskStatus::Queued, TaskStatus::Waiting],
        Focus::Done => &[TaskStatus::Completed],
    };
    let mut tasks: Vec<TaskOut> = Vec::new();
    for status in statuses {
        tasks.extend(tasks_in(client, *status, project).await?);
    }
    let range = window(since, now);
    if let Some((from, to)) = range {
        tasks.retain(|t| {
            let at = t.finished_at.unwrap_or(t.updated_at);
            at >= from && at < to
        });
    }
    let place = project
        .map(|p| format!(" in \"{}\"", p.name))
        .unwrap_or_default();
    let when = if range.is_some() {
        window_words(since)
    } else {
        String::new()
    };
    let (word, none) = match focus {
        Focus::Blocked => ("blocked", "Nothing is blocked"),
        Focus::Failed => ("failed", "Nothing failed"),
        Focus::Running => ("running", "Nothing is running"),
        Focus::Queued => ("waiting to run", "Nothing is waiting to run"),
        Focus::Done => ("completed", "Nothing was completed"),
        Focus::Overview => ("", ""),
    };
    if tasks.is_empty() {
        return Ok(format!("{none}{place}{when}."));
    }
    let lines: Vec<String> = tasks
        .iter()
        .take(LINES)
        .map(|t| match focus {
            Focus::Blocked => format!(
                "{} for {}: {}",
                task_label(t),
                ago(t.updated_at, now),
                t.block_reason.as_deref().unwrap_or("(no question given)")
            ),
            Focus::Failed => format!(
                "{}: {}",
                task_label(t),
                t.error.as_deref().unwrap_or("(no error given)")
            ),
            Focus::Running => format!(
                "{}{}{}",
                task_label(t),
                t.progress
                    .map(|p| format!(" {:.0}%", p * 100.0))
                    .unwrap_or_default(),
                t.progress_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            Focus::Done => format!(
                "{}, {} ago",
                task_label(t),
                ago(t.finished_at.unwrap_or(t.updated_at), now)
            ),
            _ => format!("{} ({})", task_label(t), t.status),
        })
        .collect();
    let more = tasks.len().saturating_sub(LINES);
    let mut text = format!(
        "{} {word}{place}{when}:\n{}",
        plural(tasks.len(), "task"),
        lines.join("\n")
    );
    if more > 0 {
        text.push_str(&format!("\n… and {more} more."));
    }
    if focus == Focus::Blocked {
        text.push_str("\nTo answer one: unblock #code with your answer.");
    }
    Ok(text)
}

/// The agents, online first, with what each is running; only those running something
/// when `working`.
///
/// # Errors
/// If the platform cannot be read.
pub async fn agents(client: &Client, working: bool, now: DateTime<Utc>) -> Result<String, String> {
    let agents: Vec<AgentOut> = client
        .agents()
        .list()
        .limit(200)
        .stream()
        .take(1_000)
        .try_collect()
        .await
        .map_err(|err| format!("cannot list agents: {err}"))?;
    let running = tasks_in(client, TaskStatus::Running, None).await?;
    if agents.is_empty() {
        return Ok("No agent has registered yet: start one (a Seed, or your own with the SDK) and it will show here.".into());
    }
    let online: Vec<&AgentOut> = agents
        .iter()
        .filter(|a| a.status == AgentStatus::Online)
        .collect();
    let busy = |a: &AgentOut| -> Vec<String> {
        running
            .iter()
            .filter(|t| t.agent_id == Some(a.id))
            .map(task_label)
            .collect()
    };
    if working {
        let at_work: Vec<String> = online
            .iter()
            .filter_map(|a| {
                let tasks = busy(a);
                (!tasks.is_empty()).then(|| format!("{} on {}", a.name, tasks.join(", ")))
            })
            .collect();
        if at_work.is_empty() {
            return Ok(format!(
                "No one is working on a task right now ({} online).",
                plural(online.len(), "agent")
            ));
        }
        return Ok(format!(
            "{} at work:\n{}",
            plural(at_work.len(), "agent"),
            at_work.join("\n")
        ));
    }
    let mut lines: Vec<String> = online
        .iter()
        .take(LINES)
        .map(|a| {
            let tasks = busy(a);
            let doing = if tasks.is_empty() {
                "idle".to_owned()
            } else {
                format!("on {}", tasks.join(", "))
            };
            format!("{} ({}) — {doing}", a.name, a.kind)
        })
        .collect();
    if online.len() > LINES {
        lines.push(format!("… and {} more online.", online.len() - LINES));
    }
    let offline: Vec<&AgentOut> = agents
        .iter()
        .filter(|a| a.status != AgentStatus::Online)
        .collect();
    let mut text = format!("{} online", plural(online.len(), "agent"));
    if !lines.is_empty() {
        text.push_str(&format!(":\n{}", lines.join("\n")));
    } else {
        text.push('.');
    }
    if let Some(last) = offline.iter().max_by_key(|a| a.last_heartbeat_at) {
        text.push_str(&format!(
            "\n{} offline (last seen: {}, {} ago).",
            offline.len(),
            last.name,
            ago(last.last_heartbeat_at, now)
        ));
    }
    Ok(text)
}

/// One line on where the work stands: "2 projects; 3 tasks running, 1 blocked".
///
/// # Errors
/// If the platform cannot be read.
pub async fn one_line(client: &Client) -> Result<String, String> {
    let summary = client
        .tasks()
        .summary(None)
        .await
        .map_err(|err| format!("cannot read the tasks: {err}"))?;
    let counts = &summary.by_status;
    let mut parts = Vec::new();
    for (n, word) in [
        (counts.running, "running"),
        (counts.queued + counts.waiting, "waiting to run"),
        (counts.blocked, "blocked"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    Ok(if parts.is_empty() {
        "Nothing is running right now.".into()
    } else {
        format!("Tasks: {}.", parts.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str) -> ProjectOut {
        ProjectOut {
            id: uuid::Uuid::now_v7(),
            name: name.into(),
            description: None,
            metadata: serde_json::json!({}),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_near_name_is_found_and_a_far_one_is_not() {
        let projects: Vec<ProjectOut> = (0..200)
            .map(|i| project(&format!("Project {i}")))
            .chain([project("Website")])
            .collect();
        assert_eq!(near_project(&projects, "webiste").unwrap().name, "Website");
        assert!(near_project(&projects, "Website").is_none());
        // A pasted page against 200 names: lengths this far apart are never near.
        assert!(near_project(&projects, &"word ".repeat(6_000)).is_none());
        assert_eq!(near_project(&projects, "Websites").unwrap().name, "Website");
        assert!(near_project(&projects, "Websites and more").is_none());
    }
}
