//! The LLM reasoning loop: the model works towards the goal with tools (shell, fetch,
//! files, asking a human) until it calls `finish` or runs out of turns.

use std::time::Duration;

use agentops_sdk::{TaskContext, TaskError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use agentops_sdk::types::{ToolIn, ToolOut, ToolReviewIn, ToolRunIn, ToolRuntime, ToolTest};

use std::sync::Arc;

use super::sandbox::{Sandbox, StepError};
use super::toolsmith;
use super::{Answer, Outcome, block};
use crate::llm::{self, Llm, LlmError, Message, ToolCall, Usage};
use crate::tools::{Ended, Hooks, LoopError, Step, Tool, ToolLoop, Toolbox};

/// How much of a file `read_file` hands the model.
const READ_MAX: usize = 32 * 1024;

const SYSTEM: &str = "You are Seed, a worker agent on the AgentOps platform. You carry out one task \
in a private Linux workspace (your current directory) using the tools given. Work step by step: \
run commands, fetch URLs, read and write files. Every file you leave under out/ is attached to the \
task as an artifact when you finish. If you cannot go on without a human (a missing secret, a \
decision that is not yours), call ask_human with one clear question. When the task is done, call \
finish with a short summary of what you did and what you found. Be concise.\n\n\
Tools you may reuse: when a job is one you or other agents are likely to need again (parsing, \
counting, converting a format), write it once as a tool with create_tool: a short sh or python \
script that reads its arguments as JSON on standard input (or each top-level one as \
$ARG_<NAME>) and prints its answer, with tests. It is stored only if its tests pass, and you \
can then call it like any other tool. Tools beyond the built-in ones were written earlier: \
prefer them to writing the same code again, and retire_tool one that is wrong.";

/// What the model must know of the sandbox its commands run in, so that it does not
/// try what cannot work (installing from the network without it, writing outside).
fn sandbox_facts(limits: &super::Limits) -> String {
    let network = if limits.network {
        "Commands may reach the network."
    } else {
        "Commands have NO network (fetch_url still works: use it to download)."
    };
    let isolation = match limits.isolation {
        super::Isolation::Bubblewrap => {
            "Commands run in an isolated sandbox: only the workspace is writable (and a \
             private /tmp); the system is read-only, so nothing can be installed system-wide."
        }
        _ => "Commands run with limits; write only inside the workspace.",
    };
    format!(
        "{isolation} {network} Each command may run {} s at most, use {} MiB of memory, \
         write files of up to {} MiB, and nothing it starts outlives it (no servers left \
         running between commands): to show a web server to people, start it with \
         start_preview, which keeps it running and gives you its URL.",
        limits.step_timeout.as_secs(),
        limits.memory_mb,
        limits.max_file_mb
    )
}

/// What the Seed's tools act on: the task, its workspace, and the log of what was done
/// (the task's result carries it).
struct Work<'a> {
    task: &'a TaskContext,
    sandbox: &'a Arc<Sandbox>,
    seed: &'a super::Seed,
    /// Previews started, as the result shows them.
    previews: Vec<Value>,
    log: Vec<Value>,
    max_turns: usize,
    /// Stored tools this task may call (see [`toolsmith`]), the ones it makes included.
    stored: Vec<ToolOut>,
    /// `create_tool` calls that failed so far.
    failed_creates: usize,
}

/// How a tool ends the Seed's loop.
enum SeedStop {
    /// `finish`, with its summary.
    Finished(String),
    /// `ask_human`: the task now waits for a person.
    Blocked,
    /// Blocking the task failed.
    Failed(TaskError),
}

#[async_trait::async_trait]
impl Hooks for Work<'_> {
    async fn before_turn(&mut self, _turn: usize) -> Result<(), String> {
        if self.task.is_cancelled() {
            return Err("cancelled".to_owned());
        }
        Ok(())
    }

    async fn before_call(&mut self, turn: usize, call: &ToolCall) {
        let _ = self
            .task
            .progress(
                turn as f64 / self.max_turns as f64,
                format!("turn {turn}: {}", describe(call)),
            )
            .await;
    }

    fn extra_tools(&self) -> Vec<llm::Tool> {
        self.stored.iter().map(toolsmith::spec).collect()
    }

    async fn call_extra(&mut self, call: &ToolCall) -> Option<String> {
        let tool = self
            .stored
            .iter()
            .find(|tool| tool.name == call.function.name)?
            .clone();
        Some(self.use_stored(&tool, &call.function.arguments).await)
    }
}

impl Work<'_> {
    /// Runs a stored tool in this task's sandbox and reports the run.
    async fn use_stored(&mut self, tool: &ToolOut, arguments: &str) -> String {
        let input = match toolsmith::arguments(tool, arguments) {
            Ok(input) => input,
            Err(why) => return format!("error: {why}"),
        };
        let outcome =
            toolsmith::run(self.sandbox, &tool.name, tool.runtime, &tool.source, &input).await;
        let (reply, error) = match &outcome {
            Ok(out) if out.succeeded() => (serde_json::to_string(out).unwrap_or_default(), None),
            Ok(out) => (
                serde_json::to_string(out).unwrap_or_default(),
                Some(format!(
                    "exited with {}: {}",
                    out.exit_status(),
                    super::last_words(&out.stdout, &out.stderr)
                )),
            ),
            Err(err) => (tool_error(err), Some(err.to_string())),
        };
        let run = ToolRunIn {
            error: error.map(|e| e.chars().take(2_000).collect()),
            task_id: Some(self.task.id()),
        };
        if let Err(err) = self.task.client().tools().record_run(tool.id, run).await {
            tracing::warn!(tool = %tool.name, "the run of a stored tool was not recorded: {err}");
        }
        self.log.push(json!({
            "tool": tool.name,
            "version": tool.version,
            "input": input,
            "outcome": outcome.as_ref().ok(),
        }));
        reply
    }
}

/// The Seed's tools, in the order the model is shown them.
fn toolbox<'a>() -> Toolbox<Work<'a>, SeedStop> {
    Toolbox::new()
        .with(RunShell)
        .with(FetchUrl)
        .with(WriteFile)
        .with(ReadFile)
        .with(AskHuman)
        .with(Finish)
        .with(CreateTool)
        .with(RetireTool)
        .with(StartPreview)
}

/// Arguments of `start_preview`.
#[derive(Deserialize, JsonSchema)]
struct StartPreviewArgs {
    /// The command that starts the server in the workspace; it must keep running (e.g. `python3 -m http.server 8000`).
    command: String,
    /// The port the server listens on.
    #[schemars(range(min = 1, max = 65535))]
    port: u16,
}

struct StartPreview;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for StartPreview {
    type Args = StartPreviewArgs;
    const NAME: &'static str = "start_preview";
    const DESCRIPTION: &'static str = "Start a web server in the workspace and show it to people through the platform for a limited time: returns the preview's URL. The server keeps running after the task finishes, until the preview expires.";

    async fn call(&self, work: &mut Work<'a>, args: StartPreviewArgs) -> Step<SeedStop> {
        Step::Reply(
            match work
                .seed
                .show_preview(work.task, work.sandbox, &args.command, args.port)
                .await
            {
                Ok(shown) => {
                    let reply = format!(
                        "the preview runs: {} (until {} UTC). Give this URL to the person in your summary.",
                        shown["url"].as_str().unwrap_or_default(),
                        shown["expires_at"].as_str().unwrap_or_default()
                    );
                    work.log
                        .push(json!({"serve": args.command, "port": args.port, "preview": shown}));
                    work.previews.push(shown);
                    reply
                }
                Err(err) => tool_error(&err),
            },
        )
    }
}

/// What runs a new tool's script.
#[derive(Deserialize, JsonSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum Runtime {
    /// `/bin/sh`.
    #[default]
    Sh,
    /// `python3`.
    Python,
}

/// One test of a new tool.
#[derive(Deserialize, JsonSchema)]
struct TestArgs {
    /// The tool's arguments for this test (a JSON object).
    input: Value,
    /// What its output must contain.
    expect: String,
    /// Whether the whole output (trimmed) must equal `expect` instead.
    #[serde(default)]
    exact: bool,
}

/// Arguments of `create_tool`.
#[derive(Deserialize, JsonSchema)]
struct CreateToolArgs {
    /// The function name: a lower-case letter, then lower-case letters, digits and `_`.
    name: String,
    /// What it does and when to use it.
    description: String,
    /// JSON Schema of its arguments, e.g. {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}.
    input_schema: Value,
    /// `sh` or `python`.
    #[serde(default)]
    runtime: Runtime,
    /// The script: it reads its arguments as JSON on standard input (or each top-level one as $ARG_<NAME>) and prints its answer; a non-zero exit is a failure.
    source: String,
    /// 1 to 20 tests; each runs the tool with `input` and checks its output.
    tests: Vec<TestArgs>,
}

struct CreateTool;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for CreateTool {
    type Args = CreateToolArgs;
    const NAME: &'static str = "create_tool";
    const DESCRIPTION: &'static str = "Write a reusable tool (a sh or python script with tests). Its tests run in your sandbox; if they all pass the tool is stored and you (and, once an operator approves it, later tasks) can call it like any other tool.";

    async fn call(&self, work: &mut Work<'a>, args: CreateToolArgs) -> Step<SeedStop> {
        if work.failed_creates >= toolsmith::MAX_FAILED_CREATES {
            return Step::Reply(format!(
                "error: {} attempts at creating tools failed in this task; go on without one",
                toolsmith::MAX_FAILED_CREATES
            ));
        }
        let reply = work.create_tool(args).await;
        if reply.starts_with("error:") {
            work.failed_creates += 1;
        }
        Step::Reply(reply)
    }
}

impl Work<'_> {
    /// Checks a new tool, runs its tests, and stores it if every one passes.
    async fn create_tool(&mut self, args: CreateToolArgs) -> String {
        if let Err(why) = toolsmith::check_name(&args.name) {
            return format!("error: {why}");
        }
        if args.tests.is_empty() || args.tests.len() > 20 {
            return "error: give 1 to 20 tests".to_owned();
        }
        if !args.input_schema.is_object() || args.tests.iter().any(|t| !t.input.is_object()) {
            return "error: `input_schema` and every test's `input` must be JSON objects"
                .to_owned();
        }
        let runtime = match args.runtime {
            Runtime::Sh => ToolRuntime::Sh,
            Runtime::Python => ToolRuntime::Python,
        };
        let mut tests: Vec<ToolTest> = args
            .tests
            .into_iter()
            .map(|t| ToolTest {
                input: t.input,
                expect: t.expect,
                exact: t.exact,
                result: Default::default(),
            })
            .collect();
        for test in &mut tests {
            let outcome =
                toolsmith::run(self.sandbox, &args.name, runtime, &args.source, &test.input).await;
            test.result = toolsmith::judge(test, outcome.as_ref());
        }
        let failed: Vec<String> = tests
            .iter()
            .map(|t| &t.result)
            .enumerate()
            .filter(|(_, r)| !r.passed)
            .map(|(i, r)| {
                format!(
                    "test {} ({}): {}; output: {}",
                    i + 1,
                    tests[i].input,
                    r.error.as_deref().unwrap_or("failed"),
                    if r.output.is_empty() {
                        "(none)"
                    } else {
                        &r.output
                    }
                )
            })
            .collect();
        self.log.push(json!({
            "create_tool": args.name,
            "tests": tests.len(),
            "passed": tests.len() - failed.len(),
        }));
        if !failed.is_empty() {
            return format!(
                "error: the tool was not stored: {} of {} tests failed.\n{}\nFix the script \
                 (or the tests) and call create_tool again.",
                failed.len(),
                tests.len(),
                failed.join("\n")
            );
        }
        let input = ToolIn {
            name: args.name.clone(),
            description: args.description,
            input_schema: args.input_schema,
            runtime,
            source: args.source,
            tests,
            task_id: Some(self.task.id()),
        };
        match self.task.client().tools().create(input).await {
            Ok(tool) => {
                let review = match tool.status {
                    agentops_sdk::types::ToolStatus::Approved => {
                        "It is approved: later tasks are offered it too."
                    }
                    _ => {
                        "It waits for an operator's review: until approved, only this task \
                         can use it."
                    }
                };
                let reply = format!(
                    "stored `{}` v{}: every test passed. Call it as `{}` from now on. {review}",
                    tool.name, tool.version, tool.name
                );
                self.stored.retain(|t| t.name != tool.name);
                self.stored.push(tool);
                reply
            }
            Err(err) => format!("error: the tool passed its tests but was not stored: {err}"),
        }
    }
}

/// Arguments of `retire_tool`.
#[derive(Deserialize, JsonSchema)]
struct RetireToolArgs {
    /// The stored tool's name.
    name: String,
    /// Why (what is wrong with it).
    reason: String,
}

struct RetireTool;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for RetireTool {
    type Args = RetireToolArgs;
    const NAME: &'static str = "retire_tool";
    const DESCRIPTION: &'static str = "Take a stored tool out of use because it is wrong or keeps failing; it is no longer offered to any task.";

    async fn call(&self, work: &mut Work<'a>, args: RetireToolArgs) -> Step<SeedStop> {
        let Some(tool) = work.stored.iter().find(|t| t.name == args.name).cloned() else {
            let names: Vec<&str> = work.stored.iter().map(|t| t.name.as_str()).collect();
            return Step::Reply(format!(
                "error: there is no stored tool `{}` (stored tools here: {})",
                args.name,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        };
        let review = ToolReviewIn {
            reason: Some(args.reason.chars().take(2_000).collect()),
            by: Some(format!(
                "agent:{}",
                work.task
                    .task()
                    .agent_id
                    .map_or_else(String::new, |a| a.to_string())
            )),
        };
        Step::Reply(
            match work.task.client().tools().retire(tool.id, review).await {
                Ok(_) => {
                    work.stored.retain(|t| t.id != tool.id);
                    work.log
                        .push(json!({"retire_tool": tool.name, "version": tool.version}));
                    format!(
                        "retired `{}` v{}: it is no longer offered",
                        tool.name, tool.version
                    )
                }
                Err(err) => format!("error: `{}` was not retired: {err}", tool.name),
            },
        )
    }
}

/// Arguments of `run_shell`.
#[derive(Deserialize, JsonSchema)]
struct RunShellArgs {
    /// The shell command.
    command: String,
    /// Optional time limit, in seconds.
    #[serde(default)]
    #[schemars(range(min = 1))]
    timeout_secs: Option<u64>,
}

struct RunShell;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for RunShell {
    type Args = RunShellArgs;
    const NAME: &'static str = "run_shell";
    const DESCRIPTION: &'static str = "Run a command with /bin/sh -c in the workspace. Returns the exit code and the end of stdout and stderr.";

    async fn call(&self, work: &mut Work<'a>, args: RunShellArgs) -> Step<SeedStop> {
        let timeout = args.timeout_secs.map(Duration::from_secs);
        Step::Reply(
            match work.sandbox.shell(&args.command, &[], timeout).await {
                Ok(out) => {
                    let reply = serde_json::to_string(&out).unwrap_or_default();
                    work.log.push(json!({"run": args.command, "outcome": out}));
                    reply
                }
                Err(err) => tool_error(&err),
            },
        )
    }
}

/// Arguments of `fetch_url`.
#[derive(Deserialize, JsonSchema)]
struct FetchUrlArgs {
    /// The http(s) URL.
    url: String,
    /// Workspace path to save the body to, e.g. out/page.html.
    #[serde(default)]
    save_as: Option<String>,
}

struct FetchUrl;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for FetchUrl {
    type Args = FetchUrlArgs;
    const NAME: &'static str = "fetch_url";
    const DESCRIPTION: &'static str = "GET an http(s) URL. With save_as, the body is saved to that workspace path; otherwise the start of the body is returned.";

    async fn call(&self, work: &mut Work<'a>, args: FetchUrlArgs) -> Step<SeedStop> {
        Step::Reply(
            match work.sandbox.fetch(&args.url, args.save_as.as_deref()).await {
                Ok(out) => {
                    let reply = serde_json::to_string(&out).unwrap_or_default();
                    work.log.push(json!({"fetch": args.url, "outcome": out}));
                    reply
                }
                Err(err) => tool_error(&err),
            },
        )
    }
}

/// Arguments of `write_file`.
#[derive(Deserialize, JsonSchema)]
struct WriteFileArgs {
    /// Workspace path; files under out/ become the task's artifacts.
    path: String,
    /// The text to write.
    content: String,
}

struct WriteFile;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for WriteFile {
    type Args = WriteFileArgs;
    const NAME: &'static str = "write_file";
    const DESCRIPTION: &'static str = "Write a text file in the workspace (directories are created). Files under out/ become the task's artifacts.";

    async fn call(&self, work: &mut Work<'a>, args: WriteFileArgs) -> Step<SeedStop> {
        Step::Reply(match work.sandbox.write(&args.path, &args.content).await {
            Ok(bytes) => {
                let reply = format!("wrote {bytes} bytes to {}", args.path);
                work.log.push(json!({"write": args.path, "bytes": bytes}));
                reply
            }
            Err(err) => tool_error(&err),
        })
    }
}

/// Arguments of `read_file`.
#[derive(Deserialize, JsonSchema)]
struct ReadFileArgs {
    /// Workspace path.
    path: String,
}

struct ReadFile;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for ReadFile {
    type Args = ReadFileArgs;
    const NAME: &'static str = "read_file";
    const DESCRIPTION: &'static str = "Read a text file from the workspace (the first 32 KiB).";

    async fn call(&self, work: &mut Work<'a>, args: ReadFileArgs) -> Step<SeedStop> {
        Step::Reply(
            work.sandbox
                .read(&args.path, READ_MAX)
                .await
                .unwrap_or_else(|err| tool_error(&err)),
        )
    }
}

/// Arguments of `ask_human`.
#[derive(Deserialize, JsonSchema)]
struct AskHumanArgs {
    /// One clear question.
    question: String,
}

struct AskHuman;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for AskHuman {
    type Args = AskHumanArgs;
    const NAME: &'static str = "ask_human";
    const DESCRIPTION: &'static str = "Stop and ask a human one question. The task pauses until they answer; you will then start again with their answer.";

    async fn call(&self, work: &mut Work<'a>, args: AskHumanArgs) -> Step<SeedStop> {
        if args.question.trim().is_empty() {
            return Step::Reply("error: `question` is required".to_owned());
        }
        Step::Stop(match block(work.task, &args.question).await {
            Ok(()) => SeedStop::Blocked,
            Err(err) => SeedStop::Failed(err),
        })
    }
}

/// Arguments of `finish`.
#[derive(Deserialize, JsonSchema)]
struct FinishArgs {
    /// What was done and what was found.
    summary: String,
}

struct Finish;

#[async_trait::async_trait]
impl<'a> Tool<Work<'a>, SeedStop> for Finish {
    type Args = FinishArgs;
    const NAME: &'static str = "finish";
    const DESCRIPTION: &'static str = "End the task with a summary of what was done.";

    async fn call(&self, _: &mut Work<'a>, args: FinishArgs) -> Step<SeedStop> {
        Step::Stop(SeedStop::Finished(args.summary))
    }
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
    sandbox: &Arc<Sandbox>,
    seed: &super::Seed,
    llm: &Llm,
    goal: &str,
    answers: &[Answer],
    max_turns: usize,
) -> Result<Outcome, TaskError> {
    let messages = vec![
        Message::system(format!("{SYSTEM}\n\n{}", sandbox_facts(sandbox.limits()))),
        Message::user(brief(task, goal, answers)),
    ];
    let stored = toolsmith::usable(task)
        .await
        .map_err(|err| TaskError::new(format!("cannot list the stored tools: {err}")))?;
    let mut work = Work {
        task,
        sandbox,
        seed,
        previews: Vec::new(),
        log: Vec::new(),
        max_turns,
        stored,
        failed_creates: 0,
    };
    let toolbox = toolbox();
    let end = match ToolLoop::new(llm, &toolbox, max_turns)
        .run(&mut work, messages)
        .await
    {
        Ok(end) => Ok(end),
        // Out of budget: the work is not at fault, and another attempt now would be
        // refused too. Pause it with the reason; a person unblocks it once there is room.
        Err(LoopError::Llm {
            source: LlmError::Budget { message, .. },
            ..
        }) => {
            super::block(
                task,
                &format!("Paused, out of LLM budget: {message}. Unblock this task to go on."),
            )
            .await?;
            return Ok(Outcome::Blocked);
        }
        Err(err) => Err(err),
    }
    .map_err(|err| match err {
        LoopError::Llm { source, .. } if source.is_transient() => {
            TaskError::new(source.to_string())
        }
        LoopError::Llm { source, .. } => TaskError::permanent(source.to_string()),
        LoopError::OutOfTurns { turns, usage, .. } => TaskError::permanent(format!(
            "the model did not finish within {turns} turns ({} prompt + {} completion tokens used)",
            usage.prompt_tokens, usage.completion_tokens
        )),
        LoopError::Stopped(why) => TaskError::new(why),
    })?;
    let summary = match end.ended {
        // A plain answer ends the work too: the model has nothing more to do.
        Ended::Answered(summary) | Ended::Stopped(SeedStop::Finished(summary)) => summary,
        Ended::Stopped(SeedStop::Blocked) => return Ok(Outcome::Blocked),
        Ended::Stopped(SeedStop::Failed(err)) => return Err(err),
    };
    let mut outcome = done(
        summary, end.turns, work.log, &end.model, end.usage, end.calls,
    );
    if let Outcome::Done(result) = &mut outcome
        && !work.previews.is_empty()
    {
        // Whatever the model said, the person gets the address.
        let urls: Vec<&str> = work
            .previews
            .iter()
            .filter_map(|p| p["url"].as_str())
            .collect();
        let summary = result["summary"].as_str().unwrap_or_default().to_owned();
        let missing: Vec<&str> = urls
            .into_iter()
            .filter(|url| !summary.contains(url))
            .collect();
        if !missing.is_empty() {
            result["summary"] = json!(format!("{summary}\n\nPreview: {}", missing.join(" ")));
        }
        result["previews"] = Value::Array(work.previews);
    }
    Ok(outcome)
}

fn tool_error(err: &StepError) -> String {
    format!("error: {err}")
}

fn describe(call: &ToolCall) -> String {
    let args: Value = serde_json::from_str(&call.function.arguments).unwrap_or(Value::Null);
    let detail = ["command", "url", "path", "question", "summary", "name"]
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
    model: &str,
    usage: Usage,
    calls: u32,
) -> Outcome {
    Outcome::Done(json!({
        "summary": summary,
        "turns": turns,
        "steps": log,
        "llm": {
            "model": model,
            "calls": calls,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_names_stored_tools_may_not_take_are_the_toolbox_s() {
        let names: Vec<String> = toolbox()
            .specs()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        assert_eq!(names, toolsmith::BUILT_IN);
    }
}
