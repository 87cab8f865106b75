//! What a Seed task asks for: explicit steps in its input, or a goal in words.
//!
//! Explicit steps run as given. A goal goes to the LLM when one is configured; without
//! one, the built-in rule-based brain turns a goal written as plain commands (one per
//! line: `run …`, `fetch … as …`, `ask …`) into steps, and says which line it could not
//! understand otherwise.

use std::time::Duration;

use serde_json::Value;

/// One step of an explicit plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run a shell command in the workspace.
    Run {
        /// The command, for `/bin/sh -c`.
        command: String,
        /// Its own time limit (capped by the worker's).
        timeout: Option<Duration>,
        /// Extra environment variables.
        env: Vec<(String, String)>,
        /// Go on even if it exits non-zero.
        allow_failure: bool,
    },
    /// Fetch a URL with GET.
    Fetch {
        /// The URL.
        url: String,
        /// Workspace path to save the body to (else the body goes into the result).
        save_as: Option<String>,
    },
    /// Write a file in the workspace.
    Write {
        /// Workspace path.
        path: String,
        /// Its content.
        content: String,
    },
    /// Ask a human; the task blocks until someone answers (unblocks it with a note).
    Ask {
        /// The question.
        question: String,
    },
    /// Start a server in the sandbox and show it through the platform (a preview).
    Serve {
        /// The command that starts it (it keeps running).
        command: String,
        /// The port it listens on.
        port: u16,
    },
}

impl Step {
    /// A one-line description, for progress messages.
    pub fn summary(&self) -> String {
        match self {
            Step::Run { command, .. } => format!("run `{}`", shorten(command, 80)),
            Step::Fetch { url, .. } => format!("fetch {}", shorten(url, 80)),
            Step::Write { path, .. } => format!("write {path}"),
            Step::Ask { question } => format!("ask \"{}\"", shorten(question, 80)),
            Step::Serve { command, port } => {
                format!("serve `{}` on port {port}", shorten(command, 80))
            }
        }
    }
}

/// What to do for a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Run these steps in order.
    Steps(Vec<Step>),
    /// Work towards this goal (with the LLM, or the rule-based brain).
    Goal(String),
}

/// Most steps one task may list.
pub const MAX_STEPS: usize = 100;

/// Reads a task's plan: `input.steps` if present, else `input.goal`, else the task's
/// description, else its title.
///
/// # Errors
/// A message saying what is wrong with the input (the task then fails for good).
pub fn from_task(input: &Value, title: &str, description: Option<&str>) -> Result<Plan, String> {
    if let Some(steps) = input.get("steps") {
        return parse_steps(steps).map(Plan::Steps);
    }
    if let Some(goal) = input.get("goal") {
        return match goal.as_str() {
            Some(goal) if !goal.trim().is_empty() => Ok(Plan::Goal(goal.trim().to_owned())),
            _ => Err("input.goal must be a non-empty string".into()),
        };
    }
    let goal = description
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(title)
        .trim();
    if goal.is_empty() {
        return Err("the task has no steps, no goal, no description and no title".into());
    }
    Ok(Plan::Goal(goal.to_owned()))
}

fn parse_steps(steps: &Value) -> Result<Vec<Step>, String> {
    let Some(items) = steps.as_array() else {
        return Err("input.steps must be an array".into());
    };
    if items.is_empty() {
        return Err("input.steps must not be empty".into());
    }
    if items.len() > MAX_STEPS {
        return Err(format!(
            "input.steps has {} steps; at most {MAX_STEPS}",
            items.len()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_step(item).map_err(|err| format!("input.steps.{i}: {err}")))
        .collect()
}

const STEP_KEYS: &str = "`run`, `fetch`, `write`, `ask` or `serve`";

fn parse_step(item: &Value) -> Result<Step, String> {
    let Some(object) = item.as_object() else {
        return Err(format!("must be an object with {STEP_KEYS}"));
    };
    let actions: Vec<&str> = ["run", "fetch", "write", "ask", "serve"]
        .into_iter()
        .filter(|k| object.contains_key(*k))
        .collect();
    let action = match actions.as_slice() {
        [one] => *one,
        [] => return Err(format!("must have one of {STEP_KEYS}")),
        many => return Err(format!("has {} at once; one per step", many.join(" and "))),
    };
    let allowed: &[&str] = match action {
        "run" => &["run", "timeout_secs", "env", "allow_failure"],
        "fetch" => &["fetch", "save_as"],
        "write" => &["write", "content"],
        "serve" => &["serve", "port"],
        _ => &["ask"],
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `{unknown}` in a `{action}` step (allowed: {})",
            allowed.join(", ")
        ));
    }
    let text = |key: &str| -> Result<String, String> {
        match object.get(key).and_then(Value::as_str) {
            Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
            _ => Err(format!("`{key}` must be a non-empty string")),
        }
    };
    let optional_text = |key: &str| -> Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => text(key).map(Some),
        }
    };
    Ok(match action {
        "run" => {
            let timeout = match object.get("timeout_secs") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_u64() {
                    Some(secs) if (1..=86_400).contains(&secs) => Some(Duration::from_secs(secs)),
                    _ => return Err("`timeout_secs` must be a whole number from 1 to 86400".into()),
                },
            };
            let env = match object.get("env") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(vars)) => vars
                    .iter()
                    .map(|(k, v)| {
                        let valid = !k.is_empty()
                            && !k.starts_with(|c: char| c.is_ascii_digit())
                            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                        match (valid, v.as_str()) {
                            (true, Some(v)) => Ok((k.clone(), v.to_owned())),
                            (false, _) => Err(format!("`env.{k}` is not a variable name")),
                            (true, None) => Err(format!("`env.{k}` must be a string")),
                        }
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("`env` must be an object of strings".into()),
            };
            let allow_failure = match object.get("allow_failure") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err("`allow_failure` must be true or false".into()),
            };
            Step::Run {
                command: text("run")?,
                timeout,
                env,
                allow_failure,
            }
        }
        "fetch" => Step::Fetch {
            url: text("fetch")?,
            save_as: optional_text("save_as")?,
        },
        "write" => Step::Write {
            path: text("write")?,
            content: match object.get("content") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err("`content` must be a string".into()),
            },
        },
        "serve" => Step::Serve {
            command: text("serve")?,
            port: match object.get("port").and_then(Value::as_u64) {
                Some(port) if (1..=65_535).contains(&port) => port as u16,
                _ => return Err("`port` must be the port the server listens on (1-65535)".into()),
            },
        },
        _ => Step::Ask {
            question: text("ask")?,
        },
    })
}

/// The rule-based brain: a goal written as plain commands, one per line, becomes steps.
///
/// It understands `run <command>` (or `$ <command>`), `fetch <url>` (or `download`)
/// optionally followed by `as|to|into <path>`, and `ask <question>`; a `:` after the verb
/// is allowed, blank lines and `#` comments are skipped.
///
/// # Errors
/// The first line it does not understand.
pub fn rule_based(goal: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for line in goal.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let step = if let Some(command) = line.strip_prefix("$ ") {
            Some(run(command))
        } else {
            let (verb, rest) = line.split_once([' ', ':']).unwrap_or((line, ""));
            let rest = rest.trim_start_matches(':').trim();
            match (verb.to_ascii_lowercase().as_str(), rest.is_empty()) {
                (_, true) => None,
                ("run" | "exec" | "sh" | "shell", false) => Some(run(rest)),
                ("fetch" | "download" | "get", false) => Some(fetch(rest)),
                ("ask", false) => Some(Step::Ask {
                    question: rest.to_owned(),
                }),
                _ => None,
            }
        };
        match step {
            Some(step) => steps.push(step),
            None => return Err(line.to_owned()),
        }
    }
    if steps.is_empty() {
        return Err(goal.trim().to_owned());
    }
    Ok(steps)
}

fn run(command: &str) -> Step {
    let command = command.trim();
    let command = command
        .strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or(command);
    Step::Run {
        command: command.to_owned(),
        timeout: None,
        env: Vec::new(),
        allow_failure: false,
    }
}

fn fetch(rest: &str) -> Step {
    let mut words = rest.split_whitespace();
    let url = words.next().unwrap_or_default().to_owned();
    let save_as = match (words.next(), words.next()) {
        (Some("as" | "to" | "into"), Some(path)) => Some(path.to_owned()),
        _ => None,
    };
    Step::Fetch { url, save_as }
}

fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > max || line.len() < text.len() {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn explicit_steps_are_read_with_their_options() {
        let plan = from_task(
            &json!({"steps": [
                {"run": "make", "timeout_secs": 30, "env": {"MODE": "fast"}, "allow_failure": true},
                {"fetch": "https://example.com", "save_as": "out/page.html"},
                {"write": "out/a.md", "content": ""},
                {"ask": "which branch?"}
            ]}),
            "t",
            None,
        )
        .unwrap();
        assert_eq!(
            plan,
            Plan::Steps(vec![
                Step::Run {
                    command: "make".into(),
                    timeout: Some(Duration::from_secs(30)),
                    env: vec![("MODE".into(), "fast".into())],
                    allow_failure: true
                },
                Step::Fetch {
                    url: "https://example.com".into(),
                    save_as: Some("out/page.html".into())
                },
                Step::Write {
                    path: "out/a.md".into(),
                    content: String::new()
                },
                Step::Ask {
                    question: "which branch?".into()
                },
            ])
        );
    }

    #[test]
    fn bad_steps_are_refused_with_where_and_why() {
        for (input, expected) in [
            (json!({"steps": "ls"}), "input.steps must be an array"),
            (json!({"steps": []}), "input.steps must not be empty"),
            (
                json!({"steps": [{"run": "ls"}, {"nope": 1}]}),
                "input.steps.1: must have one of",
            ),
            (
                json!({"steps": [{"run": "ls", "fetch": "x"}]}),
                "input.steps.0: has run and fetch at once",
            ),
            (
                json!({"steps": [{"run": "ls", "save_as": "x"}]}),
                "unknown field `save_as` in a `run` step",
            ),
            (
                json!({"steps": [{"run": "ls", "timeout_secs": 0}]}),
                "`timeout_secs` must be a whole number",
            ),
            (
                json!({"steps": [{"run": "ls", "env": {"1X": "y"}}]}),
                "`env.1X` is not a variable name",
            ),
            (
                json!({"steps": [{"run": "  "}]}),
                "`run` must be a non-empty",
            ),
            (json!({"goal": 3}), "input.goal must be a non-empty string"),
        ] {
            let err = from_task(&input, "t", None).unwrap_err();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn without_steps_the_goal_comes_from_the_input_then_description_then_title() {
        assert_eq!(
            from_task(&json!({"goal": " count "}), "t", Some("d")).unwrap(),
            Plan::Goal("count".into())
        );
        assert_eq!(
            from_task(&json!({}), "t", Some("d")).unwrap(),
            Plan::Goal("d".into())
        );
        assert_eq!(
            from_task(&Value::Null, "title", Some(" ")).unwrap(),
            Plan::Goal("title".into())
        );
    }

    #[test]
    fn the_rule_based_brain_reads_plain_commands() {
        let steps = rule_based(
            "# a comment\nrun: echo hi\n$ ls -l\nfetch https://x.test/a as out/a.html\n\nDownload https://x.test/b\nask which one?",
        )
        .unwrap();
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[0].summary(), "run `echo hi`");
        assert_eq!(steps[1].summary(), "run `ls -l`");
        assert_eq!(
            steps[2],
            Step::Fetch {
                url: "https://x.test/a".into(),
                save_as: Some("out/a.html".into())
            }
        );
        assert_eq!(
            steps[3],
            Step::Fetch {
                url: "https://x.test/b".into(),
                save_as: None
            }
        );
        assert_eq!(
            steps[4],
            Step::Ask {
                question: "which one?".into()
            }
        );
        assert_eq!(
            rule_based("run ls\nplease summarise the news").unwrap_err(),
            "please summarise the news"
        );
        assert!(rule_based("   ").is_err());
    }
}
