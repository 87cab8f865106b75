//! Tools the Seed writes for itself: `create_tool` runs a script's tests in the task's
//! sandbox and stores it (`/api/v1/tools`) only if every test passes; stored tools are
//! offered to later tasks as functions beside the built-in ones, run in the sandbox of
//! the task that calls them, and every run is reported (usage count, last error).
//!
//! A tool's script gets its arguments as JSON on standard input and each top-level
//! scalar argument as `$ARG_<NAME>` (upper case); what it prints is its answer, and a
//! non-zero exit is a failure. Which tools a task is offered is the server's answer to
//! "usable by this task": approved ones, and those this task made that still wait for
//! review. Of several versions of one name, the highest is offered.

use std::collections::HashMap;

use agentops_sdk::TaskContext;
use agentops_sdk::types::{ToolOut, ToolRuntime, ToolStatus, ToolTest, ToolTestResult};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use super::sandbox::{Sandbox, ShellOutcome, StepError};
use crate::llm;

/// The Seed's built-in tools: a stored tool of one of these names is never offered.
pub(crate) const BUILT_IN: [&str; 9] = [
    "run_shell",
    "fetch_url",
    "write_file",
    "read_file",
    "ask_human",
    "finish",
    "create_tool",
    "retire_tool",
    "start_preview",
];

/// Failed `create_tool` calls one task may make; after them the model is told to go on
/// without a tool.
pub(crate) const MAX_FAILED_CREATES: usize = 3;

/// Characters of a test's output or error kept in its result.
const RESULT_MAX: usize = 4_000;

/// Where scripts and their inputs are written in the workspace (not under `out/`, so
/// they are not uploaded as artifacts).
const TOOLS_DIR: &str = ".agentops-tools";

/// The tools `task` may use, highest version of each name first come. Transient
/// failures are the caller's to retry; a server that has no tools resource offers none.
pub(crate) async fn usable(task: &TaskContext) -> Result<Vec<ToolOut>, agentops_sdk::Error> {
    let listed: Vec<ToolOut> = match task
        .client()
        .tools()
        .list()
        .usable_by_task(task.id())
        .limit(200)
        .stream()
        .try_collect()
        .await
    {
        Ok(listed) => listed,
        Err(err) if err.is_retryable() => return Err(err),
        Err(err) => {
            tracing::warn!("no stored tools offered: listing them failed: {err}");
            Vec::new()
        }
    };
    Ok(newest_per_name(listed))
}

/// Of several versions of one name, the highest; built-in names dropped; sorted by name.
fn newest_per_name(tools: Vec<ToolOut>) -> Vec<ToolOut> {
    let mut newest: HashMap<String, ToolOut> = HashMap::new();
    for tool in tools {
        if BUILT_IN.contains(&tool.name.as_str()) {
            continue;
        }
        match newest.get(&tool.name) {
            Some(kept) if kept.version >= tool.version => {}
            _ => {
                newest.insert(tool.name.clone(), tool);
            }
        }
    }
    let mut tools: Vec<ToolOut> = newest.into_values().collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// What the model is shown of a stored tool.
pub(crate) fn spec(tool: &ToolOut) -> llm::Tool {
    let review = if tool.status == ToolStatus::PendingReview {
        "; waiting for review, usable in this task only"
    } else {
        ""
    };
    let mut parameters = tool.input_schema.clone();
    if let Some(object) = parameters.as_object_mut() {
        object.insert("type".into(), json!("object"));
        object.entry("properties").or_insert_with(|| json!({}));
    } else {
        parameters = json!({"type": "object", "properties": {}});
    }
    llm::Tool {
        name: tool.name.clone().into(),
        description: format!(
            "{} (a stored tool, v{}{review})",
            tool.description, tool.version
        )
        .into(),
        parameters,
    }
}

/// Whether `name` can name a tool: a lower-case letter, then lower-case letters, digits
/// and `_`, at most 64, and not a built-in.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!(
            "`{name}` cannot name a tool: use a lower-case letter, then lower-case letters, \
             digits and `_` (at most 64)"
        ));
    }
    if BUILT_IN.contains(&name) {
        return Err(format!("`{name}` is a built-in tool: choose another name"));
    }
    Ok(())
}

/// The arguments a call gives, as a JSON object, checked against the `required` list of
/// the tool's schema.
pub(crate) fn arguments(tool: &ToolOut, raw: &str) -> Result<Value, String> {
    let raw = match raw.trim() {
        "" | "null" => "{}",
        raw => raw,
    };
    let args: Value = serde_json::from_str(raw)
        .map_err(|err| format!("the arguments of `{}` are not JSON: {err}", tool.name))?;
    let Some(object) = args.as_object() else {
        return Err(format!(
            "the arguments of `{}` must be a JSON object",
            tool.name
        ));
    };
    let missing: Vec<&str> = tool.input_schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|key| !object.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "`{}` needs the arguments {}",
            tool.name,
            missing.join(", ")
        ));
    }
    Ok(args)
}

/// Runs a tool's script with `input` in the task's sandbox, with the sandbox's limits.
pub(crate) async fn run(
    sandbox: &Sandbox,
    name: &str,
    runtime: ToolRuntime,
    source: &str,
    input: &Value,
) -> Result<ShellOutcome, StepError> {
    let (extension, interpreter) = match runtime {
        ToolRuntime::Sh => ("sh", "/bin/sh"),
        ToolRuntime::Python => ("py", "python3"),
    };
    let script = format!("{TOOLS_DIR}/{name}.{extension}");
    let stdin = format!("{TOOLS_DIR}/{name}.input.json");
    sandbox.write(&script, source).await?;
    sandbox.write(&stdin, &input.to_string()).await?;
    sandbox
        .shell(
            &format!("{interpreter} {script} < {stdin}"),
            &argument_variables(input),
            None,
        )
        .await
}

/// `ARG_<NAME>` for each top-level scalar argument whose name is a variable name.
fn argument_variables(input: &Value) -> Vec<(String, String)> {
    let Some(object) = input.as_object() else {
        return Vec::new();
    };
    object
        .iter()
        .filter(|(key, _)| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .filter_map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => return None,
            };
            Some((format!("ARG_{}", key.to_ascii_uppercase()), text))
        })
        .collect()
}

/// How a test went: the script succeeded and its output (trimmed) contains `expect`, or
/// equals it with `exact`.
pub(crate) fn judge(test: &ToolTest, outcome: Result<&ShellOutcome, &StepError>) -> ToolTestResult {
    let out = match outcome {
        Ok(out) => out,
        Err(err) => {
            return ToolTestResult {
                passed: false,
                output: String::new(),
                error: Some(clean(&err.to_string())),
            };
        }
    };
    let output = out.stdout.trim();
    let expect = test.expect.trim();
    let matched = if test.exact {
        output == expect
    } else {
        output.contains(expect)
    };
    let error = if out.timed_out {
        Some("ran over its time limit".to_owned())
    } else if let Some(why) = &out.killed {
        Some(format!("killed: {why}"))
    } else if out.exit_code != Some(0) {
        Some(format!(
            "exited with {}: {}",
            out.exit_status(),
            clean(out.stderr.trim())
        ))
    } else if !matched {
        Some(format!(
            "the output {} `{expect}`",
            if test.exact {
                "is not"
            } else {
                "does not contain"
            }
        ))
    } else {
        None
    };
    ToolTestResult {
        passed: error.is_none(),
        output: clean(output),
        error: error.map(|e| clean(&e)),
    }
}

/// Text fit for a test result: no control characters but tab and line breaks, the last
/// [`RESULT_MAX`] characters.
fn clean(text: &str) -> String {
    let kept: Vec<char> = text
        .chars()
        .filter(|&c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .collect();
    kept[kept.len().saturating_sub(RESULT_MAX)..]
        .iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(name: &str, version: i32) -> ToolOut {
        serde_json::from_value(json!({
            "id": uuid::Uuid::now_v7(), "name": name, "version": version,
            "description": "d", "input_schema": {"type": "object", "required": ["text"]},
            "runtime": "sh", "source": "cat", "tests": [],
            "status": "approved", "author_agent_id": null, "task_id": null, "project_id": null,
            "usage_count": 0, "failure_count": 0, "last_error": null, "last_used_at": null,
            "reviewed_by": null, "review_reason": null, "reviewed_at": null,
            "created_at": "2026-12-05T10:00:00Z", "updated_at": "2026-12-05T10:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn the_newest_version_of_each_name_is_offered_and_built_in_names_never() {
        let offered = newest_per_name(vec![
            stored("word_freq", 1),
            stored("word_freq", 3),
            stored("run_shell", 1),
            stored("word_freq", 2),
            stored("csv_sum", 1),
        ]);
        let names: Vec<(&str, i32)> = offered
            .iter()
            .map(|t| (t.name.as_str(), t.version))
            .collect();
        assert_eq!(names, [("csv_sum", 1), ("word_freq", 3)]);
    }

    #[test]
    fn names_and_arguments_are_checked_before_anything_runs() {
        assert!(check_name("word_freq2").is_ok());
        for bad in ["", "Word", "2words", "with-dash", "finish", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let tool = stored("word_freq", 1);
        assert_eq!(
            arguments(&tool, r#"{"text": "a"}"#).unwrap(),
            json!({"text": "a"})
        );
        assert!(
            arguments(&tool, "{}")
                .unwrap_err()
                .contains("needs the arguments text")
        );
        assert!(arguments(&tool, "[1]").is_err());
        assert!(arguments(&tool, "{oops").is_err());
    }

    #[test]
    fn scalar_arguments_become_variables() {
        let vars = argument_variables(&json!({
            "text": "a b", "top": 3, "exact": true, "list": [1], "bad-name": "x"
        }));
        let mut vars: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        vars.sort();
        assert_eq!(
            vars,
            [("ARG_EXACT", "true"), ("ARG_TEXT", "a b"), ("ARG_TOP", "3")]
        );
    }

    #[test]
    fn a_test_passes_only_on_success_with_the_expected_output() {
        let out = |code: i32, stdout: &str| ShellOutcome {
            exit_code: Some(code),
            timed_out: false,
            killed: None,
            stdout: stdout.to_owned(),
            stderr: "boom".to_owned(),
            duration_ms: 1,
        };
        let contains = ToolTest {
            input: json!({}),
            expect: "the 2".into(),
            exact: false,
            result: ToolTestResult::default(),
        };
        let exact = ToolTest {
            exact: true,
            ..contains.clone()
        };
        assert!(judge(&contains, Ok(&out(0, "the 2\nof 1\n"))).passed);
        assert!(!judge(&exact, Ok(&out(0, "the 2\nof 1\n"))).passed);
        assert!(judge(&exact, Ok(&out(0, "  the 2\n"))).passed);
        let failed = judge(&contains, Ok(&out(1, "the 2")));
        assert!(!failed.passed);
        assert_eq!(failed.error.as_deref(), Some("exited with 1: boom"));
        let bell = judge(&contains, Ok(&out(0, "\u{7}the 2")));
        assert_eq!(bell.output, "the 2", "control characters dropped");
    }
}
