//! The offline brain: plain English with no LLM, for `cargo run` with no set-up and for
//! when the LLM is unreachable or out of budget.
//!
//! [`nlu::parse`] reads the message into an intent with slots; this module looks up
//! what the slots name on the platform (a project by name in any case, a task by code or
//! by title, the one blocked task for "it") and answers, proposes a plan, or — when the
//! words fit nothing that exists — asks one short question, remembering what it would
//! do on "yes" ([`Suggestion`], kept in the reply's metadata, so any replica of the
//! Chief reads it back from the conversation).

use agentops_sdk::Client;
use agentops_sdk::types::{MessageOut, MessageRole, ProjectOut, TaskOut, TaskStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::actions::{self, Action, NewTask, plural};
use super::brain::Decision;
use super::look::{self, task_label};
use super::nlu::{self, Focus, Intent, Reading, Report, TaskRef};

/// What the Chief of Staff says to "help" and "what can you do?".
pub const HELP: &str = "I am your Chief of Staff: tell me what you need and I turn it into projects and tasks for the agents, and tell you how the work goes. For example:\n\
- \"how is Website going?\", \"what's blocked?\", \"anything failed today?\", \"who is working right now?\", \"what projects do we have?\"\n\
- \"create project Website with tasks write copy, build page after write copy\" (also numbered lines, \"first … then …\", \"in order\")\n\
- \"add task fix the footer to Website\", \"in Launch, add a task to email partners\"\n\
- \"unblock #a1b2c3 with use the blue logo\", \"cancel write copy\"\n\
- \"every weekday at 9:00 send me a status report\", \"remind me tomorrow at 10 to call Ana\", \"my schedules\", \"pause the status report\"\n\
Anything that changes work waits for your OK. Times are UTC.";

/// A plan the Chief offered in a question ("Did you mean a new project called X?"),
/// proposed if the person says yes next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// What was understood, for the plan's summary.
    pub understood: String,
    /// The plan.
    pub actions: Vec<Action>,
}

/// The key of a reply's metadata that holds its [`Suggestion`].
pub const SUGGESTION: &str = "suggestion";

/// Decides on `text`, the conversation so far (`history`, oldest first) in view.
pub async fn decide(client: &Client, history: &[MessageOut], text: &str) -> Decision {
    let now = Utc::now();
    match understand(client, history, nlu::parse(text, now), now).await {
        Ok(decision) => decision,
        Err(err) => Decision::Answer(format!("Sorry: {err}")),
    }
}

fn answer(text: impl Into<String>) -> Result<Decision, String> {
    Ok(Decision::Answer(text.into()))
}

fn propose(understood: impl Into<String>, actions: Vec<Action>) -> Result<Decision, String> {
    Ok(Decision::Propose {
        understood: understood.into(),
        actions,
    })
}

fn suggest(
    question: impl Into<String>,
    understood: impl Into<String>,
    actions: Vec<Action>,
) -> Result<Decision, String> {
    Ok(Decision::Ask {
        question: question.into(),
        suggestion: Some(Suggestion {
            understood: understood.into(),
            actions,
        }),
    })
}

/// The suggestion of the Chief's last message, if it made one.
fn last_suggestion(history: &[MessageOut]) -> Option<Suggestion> {
    let last = history
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::Assistant)?;
    serde_json::from_value(last.metadata.get(SUGGESTION)?.clone()).ok()
}

/// "\"a\", \"b\" and 3 more".
fn titles(tasks: &[NewTask]) -> String {
    let shown: Vec<String> = tasks
        .iter()
        .take(5)
        .map(|t| format!("\"{}\"", t.title))
        .collect();
    let more = tasks.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn names(projects: &[ProjectOut]) -> String {
    let shown: Vec<String> = projects
        .iter()
        .take(8)
        .map(|p| format!("\"{}\"", p.name))
        .collect();
    if projects.len() > 8 {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

async fn understand(
    client: &Client,
    history: &[MessageOut],
    intent: Intent,
    now: DateTime<Utc>,
) -> Result<Decision, String> {
    match intent {
        Intent::Help => answer(HELP),
        Intent::Greeting => answer(format!(
            "Hello! {} What can I do for you?",
            look::one_line(client).await?
        )),
        Intent::Thanks => answer("You're welcome."),
        Intent::Yes => match last_suggestion(history) {
            Some(s) => propose(s.understood, s.actions),
            None => {
                answer("There is nothing waiting for a yes right now. What would you like to do?")
            }
        },
        Intent::No => answer(if last_suggestion(history).is_some() {
            "All right, I will not. What would you like instead?"
        } else {
            "All right."
        }),
        Intent::Projects => answer(projects(client).await?),
        Intent::Agents { working } => answer(look::agents(client, working, now).await?),
        Intent::Schedules => answer(actions::schedules(client).await?),
        Intent::Report(report) => self::report(client, report, now).await,
        Intent::Schedule { understood, action } => propose(understood, vec![action]),
        Intent::CreateProject { name, tasks } => create_project(client, name, tasks).await,
        Intent::AddTasks { readings } => add_tasks(client, readings).await,
        Intent::Unblock { task, note } => unblock(client, task, note).await,
        Intent::Cancel { target } => cancel(client, target).await,
        Intent::Pause { target } => match actions::resolve_schedule(client, &target).await {
            Ok(found) => propose(
                format!("the schedule \"{}\" should pause", found.name),
                vec![Action::PauseSchedule {
                    schedule: found.id.to_string(),
                }],
            ),
            Err(err) => answer(format!("Sorry: {err}.")),
        },
        Intent::Resume { target } => resume(client, target).await,
        Intent::Wish { work, request } => wish(client, work, request).await,
        Intent::Unknown { words } => unknown(client, words).await,
    }
}

/// The projects with how far each has got.
async fn projects(client: &Client) -> Result<String, String> {
    let projects = look::all_projects(client).await?;
    if projects.is_empty() {
        return Ok(
            "There are no projects yet. Say \"create project NAME with tasks A, B\" to start one."
                .into(),
        );
    }
    let summary = client
        .tasks()
        .summary(None)
        .await
        .map_err(|err| format!("cannot read the tasks: {err}"))?;
    let lines: Vec<String> = projects
        .iter()
        .take(20)
        .map(|p| {
            let counts = summary.by_project.iter().find(|c| c.project_id == p.id);
            match counts {
                Some(c) => {
                    let s = &c.by_status;
                    let total = s.total();
                    let mut line = format!(
                        "\"{}\": {} of {} done",
                        p.name,
                        s.completed,
                        plural(total as usize, "task")
                    );
                    if s.blocked > 0 {
                        line.push_str(&format!(", {} blocked", s.blocked));
                    }
                    if s.failed > 0 {
                        line.push_str(&format!(", {} failed", s.failed));
                    }
                    line
                }
                None => format!("\"{}\": no tasks yet", p.name),
            }
        })
        .collect();
    let mut text = format!(
        "{}:\n{}",
        plural(projects.len(), "project"),
        lines.join("\n")
    );
    if projects.len() > 20 {
        text.push_str(&format!(
            "\n… and {} more (all on the dashboard's Projects page).",
            projects.len() - 20
        ));
    }
    Ok(text)
}

async fn report(client: &Client, report: Report, now: DateTime<Utc>) -> Result<Decision, String> {
    let mut project: Option<ProjectOut> = None;
    let mut preface = String::new();
    if let Some(subject) = &report.subject {
        if subject.starts_with('#') {
            let task = actions::resolve_task(client, subject).await?;
            return answer(describe(&task));
        }
        let projects = look::all_projects(client).await?;
        if let Some(p) =
            look::project_named(&projects, subject).or_else(|| look::project_in(&projects, subject))
        {
            project = Some(p.clone());
        } else {
            let tasks = look::tasks_titled(client, subject).await?;
            if let [task] = tasks.as_slice() {
                return answer(describe(task));
            }
            match look::near_project(&projects, subject) {
                Some(p) => {
                    preface = format!(
                        "There is no project \"{subject}\"; here is \"{}\".\n",
                        p.name
                    );
                    project = Some(p.clone());
                }
                None if tasks.len() > 1 => {
                    let lines: Vec<String> = tasks.iter().take(10).map(describe).collect();
                    return answer(lines.join("\n"));
                }
                None if projects.is_empty() => {
                    return answer(format!(
                        "There are no projects yet, so nothing called \"{subject}\"."
                    ));
                }
                None => {
                    return answer(format!(
                        "There is no project or task called \"{subject}\". The projects are {}.",
                        names(&projects)
                    ));
                }
            }
        }
    }
    let text = match report.focus {
        Focus::Overview => {
            actions::report(client, project.as_ref().map(|p| p.name.as_str())).await?
        }
        focus => look::focused(client, project.as_ref(), focus, report.since, now).await?,
    };
    answer(format!("{preface}{text}"))
}

/// One task for people, with how to answer it if it is blocked.
fn describe(task: &TaskOut) -> String {
    let mut text = actions::describe_task(task);
    if task.status == TaskStatus::Blocked {
        text.push_str(&format!(
            "\nTo answer it: unblock {} with your answer.",
            actions::short_id(task.id)
        ));
    }
    text
}

async fn create_project(
    client: &Client,
    name: String,
    tasks: Vec<NewTask>,
) -> Result<Decision, String> {
    if name.is_empty() {
        return answer(
            "What should the project be called? For example: create project Website with tasks write copy, build page.",
        );
    }
    let projects = look::all_projects(client).await?;
    if let Some(existing) = look::project_named(&projects, &name)
        && existing.name.eq_ignore_ascii_case(&name)
    {
        if tasks.is_empty() {
            return answer(format!(
                "There is already a project called \"{}\".",
                existing.name
            ));
        }
        return suggest(
            format!(
                "There is already a project called \"{}\". Shall I add {} to it ({})?",
                existing.name,
                plural(tasks.len(), "task"),
                titles(&tasks)
            ),
            format!("new tasks for \"{}\"", existing.name),
            vec![Action::CreateTasks {
                project: existing.name.clone(),
                tasks,
            }],
        );
    }
    let mut plan = vec![Action::CreateProject {
        name: name.clone(),
        description: None,
    }];
    let understood = if tasks.is_empty() {
        format!("a new project \"{name}\"")
    } else {
        format!(
            "a new project \"{name}\" with {}",
            plural(tasks.len(), "task")
        )
    };
    if !tasks.is_empty() {
        plan.push(Action::CreateTasks {
            project: name,
            tasks,
        });
    }
    propose(understood, plan)
}

async fn add_tasks(client: &Client, readings: Vec<Reading>) -> Result<Decision, String> {
    if readings.is_empty() {
        return answer(
            "Which task, and for which project? For example: add task write copy to Website.",
        );
    }
    let projects = look::all_projects(client).await?;
    let adding = |project: &str, tasks: Vec<NewTask>| {
        propose(
            format!("{} for \"{project}\"", plural(tasks.len(), "new task")),
            vec![Action::CreateTasks {
                project: project.to_owned(),
                tasks,
            }],
        )
    };
    for reading in &readings {
        if reading.new_project && !reading.project.is_empty() {
            return create_project(client, reading.project.clone(), reading.tasks.clone()).await;
        }
        if let Some(p) = look::project_named(&projects, &reading.project) {
            return adding(&p.name, reading.tasks.clone());
        }
    }
    let first = &readings[0];
    if first.project.is_empty() {
        return match projects.as_slice() {
            [] => suggest(
                format!(
                    "There are no projects yet. Shall I create a project \"{0}\" for {1}?",
                    first.tasks[0].title,
                    titles(&first.tasks)
                ),
                format!("a new project \"{}\"", first.tasks[0].title),
                vec![
                    Action::CreateProject {
                        name: first.tasks[0].title.clone(),
                        description: None,
                    },
                    Action::CreateTasks {
                        project: first.tasks[0].title.clone(),
                        tasks: first.tasks.clone(),
                    },
                ],
            ),
            [only] => adding(&only.name, first.tasks.clone()),
            _ => answer(format!(
                "Which project should {} go to? The projects are {}. Say: add task {} to PROJECT.",
                titles(&first.tasks),
                names(&projects),
                first.tasks[0].title
            )),
        };
    }
    if let Some(near) = look::near_project(&projects, &first.project) {
        return suggest(
            format!(
                "There is no project \"{}\". Did you mean \"{}\"?",
                first.project, near.name
            ),
            format!(
                "{} for \"{}\"",
                plural(first.tasks.len(), "new task"),
                near.name
            ),
            vec![Action::CreateTasks {
                project: near.name.clone(),
                tasks: first.tasks.clone(),
            }],
        );
    }
    suggest(
        format!(
            "There is no project called \"{}\". Shall I create it, with {}?",
            first.project,
            titles(&first.tasks)
        ),
        format!("a new project \"{}\"", first.project),
        vec![
            Action::CreateProject {
                name: first.project.clone(),
                description: None,
            },
            Action::CreateTasks {
                project: first.project.clone(),
                tasks: first.tasks.clone(),
            },
        ],
    )
}

/// The tasks a person means: by code, by title (those in `prefer` first), or the
/// blocked one.
async fn find_tasks(
    client: &Client,
    reference: &TaskRef,
    prefer: impl Fn(&TaskOut) -> bool,
) -> Result<Vec<TaskOut>, String> {
    match reference {
        TaskRef::Code(code) => Ok(vec![actions::resolve_task(client, code).await?]),
        TaskRef::Title(words) => {
            let found = look::tasks_titled(client, words).await?;
            let preferred: Vec<TaskOut> = found.iter().filter(|t| prefer(t)).cloned().collect();
            Ok(if preferred.is_empty() {
                found
            } else {
                preferred
            })
        }
        TaskRef::TheBlocked => Ok(look::tasks_blocked(client).await?),
    }
}

fn which_one(tasks: &[TaskOut]) -> String {
    let lines: Vec<String> = tasks
        .iter()
        .take(10)
        .map(|t| format!("{} ({})", task_label(t), t.status))
        .collect();
    format!("Which one? Say its #code:\n{}", lines.join("\n"))
}

fn not_found(reference: &TaskRef) -> String {
    match reference {
        TaskRef::Code(code) => format!("There is no task #{code}."),
        TaskRef::Title(words) => format!("I found no task called \"{words}\"."),
        TaskRef::TheBlocked => "Nothing is blocked right now.".into(),
    }
}

async fn unblock(
    client: &Client,
    reference: TaskRef,
    note: Option<String>,
) -> Result<Decision, String> {
    let tasks = find_tasks(client, &reference, |t| t.status == TaskStatus::Blocked).await?;
    let task = match tasks.as_slice() {
        [] => return answer(not_found(&reference)),
        [one] => one,
        several => return answer(which_one(several)),
    };
    if task.status != TaskStatus::Blocked {
        return answer(format!(
            "{} is {}, not blocked: there is nothing to answer.",
            task_label(task),
            task.status
        ));
    }
    let understood = match &task.block_reason {
        Some(question) if note.is_none() => format!(
            "{} can go on (it asked: {question}; no answer given)",
            task_label(task)
        ),
        _ => format!("{} can go on", task_label(task)),
    };
    propose(
        understood,
        vec![Action::UnblockTask {
            task: task.id.to_string(),
            note,
        }],
    )
}

async fn cancel(client: &Client, target: TaskRef) -> Result<Decision, String> {
    // "stop the daily report": a schedule's words are tried when no unfinished task
    // has that title.
    let tasks = find_tasks(client, &target, |t| !t.status.is_final()).await?;
    let open: Vec<TaskOut> = tasks
        .iter()
        .filter(|t| !t.status.is_final())
        .cloned()
        .collect();
    if let TaskRef::Title(words) = &target
        && open.is_empty()
        && let Ok(schedule) = actions::resolve_schedule(client, words).await
    {
        return propose(
            format!("the schedule \"{}\" should pause", schedule.name),
            vec![Action::PauseSchedule {
                schedule: schedule.id.to_string(),
            }],
        );
    }
    let task = match (open.as_slice(), tasks.as_slice()) {
        ([one], _) => one,
        ([], []) => {
            return answer(match &target {
                TaskRef::Title(words) => {
                    format!("I found no task or schedule like \"{words}\".")
                }
                other => not_found(other),
            });
        }
        ([], [done, ..]) => {
            return answer(format!(
                "{} is already {}: there is nothing to cancel.",
                task_label(done),
                done.status
            ));
        }
        (several, _) => return answer(which_one(several)),
    };
    propose(
        format!("{} should stop", task_label(task)),
        vec![Action::CancelTask {
            task: task.id.to_string(),
            reason: Some("cancelled from a conversation with the Chief of Staff".into()),
        }],
    )
}

async fn resume(client: &Client, target: TaskRef) -> Result<Decision, String> {
    if let TaskRef::Title(words) = &target
        && let Ok(schedule) = actions::resolve_schedule(client, words).await
    {
        return propose(
            format!("the schedule \"{}\" should run again", schedule.name),
            vec![Action::ResumeSchedule {
                schedule: schedule.id.to_string(),
            }],
        );
    }
    // "continue #a1b2c3": a blocked task goes on.
    unblock(client, target, None).await
}

/// At most `max` characters of `text`, cut at a word.
fn at_most(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    match cut.rfind(' ') {
        Some(at) if at > max / 2 => cut[..at].to_owned(),
        _ => cut,
    }
}

async fn wish(client: &Client, work: String, request: String) -> Result<Decision, String> {
    let projects = look::all_projects(client).await?;
    let task = NewTask {
        title: at_most(&work, 200),
        description: Some(request.clone()),
        kind: None,
        after: Vec::new(),
    };
    if let Some(project) = look::project_in(&projects, &request) {
        return suggest(
            format!(
                "Did you mean a new task \"{}\" in \"{}\"?",
                task.title, project.name
            ),
            format!("a new task for \"{}\"", project.name),
            vec![Action::CreateTasks {
                project: project.name.clone(),
                tasks: vec![task],
            }],
        );
    }
    let name = at_most(&work, 60);
    suggest(
        format!("Did you mean a new project called \"{name}\", with a task for an agent to do it?"),
        format!("a new project \"{name}\""),
        vec![
            Action::CreateProject {
                name: name.clone(),
                description: Some(request),
            },
            Action::CreateTasks {
                project: name,
                tasks: vec![task],
            },
        ],
    )
}

async fn unknown(client: &Client, words: String) -> Result<Decision, String> {
    // A bare name: how that project (or task) is going.
    if words.split_whitespace().count() <= 6 {
        let projects = look::all_projects(client).await?;
        if let Some(p) = look::project_named(&projects, &words) {
            return answer(actions::report(client, Some(&p.name)).await?);
        }
        if let [task] = look::tasks_titled(client, &words).await?.as_slice() {
            return answer(describe(task));
        }
        if let Some(p) = look::near_project(&projects, &words) {
            return answer(format!(
                "Did you mean \"{}\"? Ask \"how is {} going?\" for its status.",
                p.name, p.name
            ));
        }
    }
    answer(format!(
        "I am not sure what you mean by \"{}\". Do you want to know how the work is going (\"status\"), or to start something (\"create project NAME with tasks A, B\")?",
        at_most(&words, 80)
    ))
}
