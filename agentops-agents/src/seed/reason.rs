//! The LLM reasoning loop: the model works towards the goal with tools (shell, fetch,
//! files, asking a human) until it calls `finish` or runs out of turns.

use std::time::Duration;

use agentops_sdk::{TaskContext, TaskError};
use serde_json::{Value, json};

use super::sandbox::{Sandbox, StepError};
use super::{Answer, Outcome, block};
use crate::llm::{Llm, Message, Tool, ToolCall, Usage};

/// How much of a file `read_file` hands the model.
const READ_MAX: usize = 32 * 1024;

const SYSTEM: &str = "You are Seed, a worker agent on the AgentOps platform. You carry out one task \
in a private Linux workspace (your current directory) using the tools given. Work step by step: \
run commands, fetch URLs, read and write files. Every file you leave under out/ is attached to the \
task as an artifact when you finish. If you cannot go on without a human (a missing secret, a \
decision that is not yours), call ask_human with one clear question. When the task is done, call \
finish with a short summary of what you did and what you found. Be concise.";

fn tools() -> Vec<Tool> {
    vec![
        Tool {
            name: "run_shell",
            description: "Run a command with /bin/sh -c in the workspace. Returns the exit code and the end of stdout and stderr.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The shell command."},
                    "timeout_secs": {"type": "integer", "minimum": 1, "description": "Optional time limit."}
                },
                "required": ["command"]
            }),
        },
        Tool {
            name: "fetch_url",
            description: "GET an http(s) URL. With save_as, the body is saved to that workspace path; otherwise the start of the body is returned.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "save_as": {"type": "string", "description": "Workspace path, e.g. out/page.html."}
                },
                "required": ["url"]
            }),
        },
        Tool {
            name: "write_file",
            description: "Write a text file in the workspace (directories are created). Files under out/ become the task's artifacts.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string"}
                },
                "required": ["path", "content"]
            }),
        },
        Tool {
            name: "read_file",
            description: "Read a text file from the workspace (the first 32 KiB).",
            parameters: json!({
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"]
            }),
        },
        Tool {
            name: "ask_human",
            description: "Stop and ask a human one question. The task pauses until they answer; you will then start again with their answer.",
            parameters: json!({
                "type": "object",
                "properties": {"question": {"type": "string"}},
                "required": ["question"]
            }),
        },
        Tool {
            name: "finish",
            description: "End the task with a summary of what was done.",
            parameters: json!({
                "type": "object",
                "properties": {"summary": {"type": "string"}},
                "required": ["summary"]
            }),
        },
    ]
}

fn brief(task: &TaskContext, goal: &str, answers: &[Answer]) -> String {
    let t = task.task();
    let mut text = format!("Task: {}\n", t.title);
    if let Some(description) = t.description.as_deref().filter(|d| d.trim() != goal) {
        text.push_str(&format!("Description: {description}\n"));
    }
    text.push_str(&format!("Goal: {goal}\n"));
    if !(t.input.is_null() || t.input.as_object().is_some_and(|o| o.is_empty())) {
        text.push_str(&format!("Input: {}\n", t.input));
    }
    if !answers.is_empty() {
        text.push_str(
            "\nYou asked a human before, and they answered (this is a fresh workspace):\n",
        );
        for a in answers {
            let answer = if a.answer.trim().is_empty() {
                "(none: they unblocked the task without a note; carry on as best you can)"
            } else {
                &a.answer
            };
            text.push_str(&format!("Q: {}\nA: {answer}\n", a.question));
        }
    }
    text
}

/// Runs the loop for one task.
pub(crate) async fn run(
    task: &TaskContext,
    sandbox: &Sandbox,
    llm: &Llm,
    goal: &str,
    answers: &[Answer],
    max_turns: usize,
) -> Result<Outcome, TaskError> {
    let tools = tools();
    let mut messages = vec![
        Message::system(SYSTEM),
        Message::user(brief(task, goal, answers)),
    ];
    let mut usage = Usage::default();
    let mut calls = 0u32;
    let mut log = Vec::new();
    for turn in 1..=max_turns {
        if task.is_cancelled() {
            return Err(TaskError::new("cancelled"));
        }
        let completion = llm.chat(&messages, &tools).await.map_err(|err| {
            if err.is_transient() {
                TaskError::new(err.to_string())
            } else {
                TaskError::permanent(err.to_string())
            }
        })?;
        calls += 1;
        usage += completion.usage;
        let message = completion.message;
        messages.push(message.clone());
        if message.tool_calls.is_empty() {
            // A plain answer ends the work: the model has nothing more to do.
            let summary = message.content.unwrap_or_default();
            return Ok(done(summary, turn, log, llm, usage, calls));
        }
        for call in &message.tool_calls {
            let _ = task
                .progress(
                    turn as f64 / max_turns as f64,
                    format!("turn {turn}: {}", describe(call)),
                )
                .await;
            let args: Value = serde_json::from_str(&call.function.arguments).unwrap_or(Value::Null);
            let text = |key: &str| args.get(key).and_then(Value::as_str).map(str::to_owned);
            let reply = match call.function.name.as_str() {
                "finish" => {
                    let summary = text("summary").unwrap_or_default();
                    return Ok(done(summary, turn, log, llm, usage, calls));
                }
                "ask_human" => {
                    let Some(question) = text("question").filter(|q| !q.trim().is_empty()) else {
                        messages.push(Message::tool(&call.id, "error: `question` is required"));
                        continue;
                    };
                    block(task, &question).await?;
                    return Ok(Outcome::Blocked);
                }
                "run_shell" => match text("command") {
                    Some(command) => {
                        let timeout = args
                            .get("timeout_secs")
                            .and_then(Value::as_u64)
                            .map(Duration::from_secs);
                        match sandbox.shell(&command, &[], timeout).await {
                            Ok(out) => {
                                log.push(json!({"run": command, "outcome": out}));
                                serde_json::to_string(&out).unwrap_or_default()
                            }
                            Err(err) => tool_error(&err),
                        }
                    }
                    None => "error: `command` is required".to_owned(),
                },
                "fetch_url" => match text("url") {
                    Some(url) => match sandbox.fetch(&url, text("save_as").as_deref()).await {
                        Ok(out) => {
                            log.push(json!({"fetch": url, "outcome": out}));
                            serde_json::to_string(&out).unwrap_or_default()
                        }
                        Err(err) => tool_error(&err),
                    },
                    None => "error: `url` is required".to_owned(),
                },
                "write_file" => match (text("path"), text("content")) {
                    (Some(path), Some(content)) => match sandbox.write(&path, &content).await {
                        Ok(bytes) => {
                            log.push(json!({"write": path, "bytes": bytes}));
                            format!("wrote {bytes} bytes to {path}")
                        }
                        Err(err) => tool_error(&err),
                    },
                    _ => "error: `path` and `content` are required".to_owned(),
                },
                "read_file" => match text("path") {
                    Some(path) => sandbox
                        .read(&path, READ_MAX)
                        .await
                        .unwrap_or_else(|err| tool_error(&err)),
                    None => "error: `path` is required".to_owned(),
                },
                other => format!(
                    "error: there is no tool `{other}`; use run_shell, fetch_url, write_file, read_file, ask_human or finish"
                ),
            };
            messages.push(Message::tool(&call.id, reply));
        }
    }
    Err(TaskError::permanent(format!(
        "the model did not finish within {max_turns} turns ({} prompt + {} completion tokens used)",
        usage.prompt_tokens, usage.completion_tokens
    )))
}

fn tool_error(err: &StepError) -> String {
    format!("error: {err}")
}

fn describe(call: &ToolCall) -> String {
    let args: Value = serde_json::from_str(&call.function.arguments).unwrap_or(Value::Null);
    let detail = ["command", "url", "path", "question", "summary"]
        .iter()
        .find_map(|key| args.get(*key).and_then(Value::as_str))
        .unwrap_or_default();
    let detail: String = detail.chars().take(80).collect();
    format!("{} {detail}", call.function.name).trim().to_owned()
}

fn done(
    summary: String,
    turns: usize,
    log: Vec<Value>,
    llm: &Llm,
    usage: Usage,
    calls: u32,
) -> Outcome {
    Outcome::Done(json!({
        "summary": summary,
        "turns": turns,
        "steps": log,
        "llm": {
            "model": llm.model(),
            "calls": calls,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        },
    }))
}
