//! Tools the model may call, and the one loop that lets it call them.
//!
//! A tool is a type implementing [`Tool`]: a name, a description, its arguments as a Rust
//! type (their JSON Schema, which the model sees, is derived from it with `schemars`,
//! doc comments included) and what calling it does. A [`Toolbox`] holds the tools of one
//! agent, in the order the model is shown them; [`ToolLoop`] runs the conversation:
//! the model answers or calls tools, each call's reply goes back to it, until a tool
//! stops the loop, the model answers in plain text, or the turns run out. The Seed and
//! the Chief of Staff both think through it.
//!
//! Adding a tool is one file (the type and its `impl Tool`) and one line where the
//! agent builds its toolbox:
//!
//! ```
//! use agentops_agents::tools::{Hooks, Step, Tool, Toolbox};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// What the tools act on (here: a counter), and what a stop carries (here: text).
//! struct Counter(u64);
//! impl Hooks for Counter {}
//!
//! /// Arguments of `add`.
//! #[derive(Deserialize, JsonSchema)]
//! struct AddArgs {
//!     /// How much to add.
//!     amount: u64,
//! }
//!
//! struct Add;
//!
//! #[async_trait::async_trait]
//! impl Tool<Counter, String> for Add {
//!     type Args = AddArgs;
//!     const NAME: &'static str = "add";
//!     const DESCRIPTION: &'static str = "Add to the counter.";
//!
//!     async fn call(&self, counter: &mut Counter, args: AddArgs) -> Step<String> {
//!         counter.0 += args.amount;
//!         Step::Reply(format!("the counter is at {}", counter.0))
//!     }
//! }
//!
//! let toolbox = Toolbox::new().with(Add);
//! let specs = toolbox.specs();
//! assert_eq!(specs[0].name, "add");
//! assert_eq!(specs[0].parameters["properties"]["amount"]["description"], "How much to add.");
//! ```

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::llm::{self, Llm, LlmError, Message, ToolCall, Usage};

/// What a tool call does to the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<S> {
    /// Text for the model (the tool's answer, or why the call was refused); the loop
    /// goes on.
    Reply(String),
    /// The loop ends with this.
    Stop(S),
}

/// A tool the model may call, acting on a context `C` (what the agent is working on), its
/// stops carrying `S`.
#[async_trait::async_trait]
pub trait Tool<C: Send, S: Send>: Send + Sync {
    /// Its arguments. The model is shown their JSON Schema; a call whose arguments do not
    /// fit is answered with the reason and never reaches [`Tool::call`].
    type Args: DeserializeOwned + JsonSchema + Send;
    /// The function name the model calls.
    const NAME: &'static str;
    /// What it does, for the model.
    const DESCRIPTION: &'static str;

    /// Carries out one call.
    async fn call(&self, context: &mut C, args: Self::Args) -> Step<S>;
}

/// What an agent's context is told as the loop runs. Both have defaults that do nothing.
#[async_trait::async_trait]
pub trait Hooks: Send {
    /// Before each model turn (from 1); an error stops the loop with
    /// [`LoopError::Stopped`] (say, the work was cancelled).
    async fn before_turn(&mut self, _turn: usize) -> Result<(), String> {
        Ok(())
    }

    /// Before each tool call the model makes.
    async fn before_call(&mut self, _turn: usize, _call: &ToolCall) {}

    /// Tools the context offers besides the toolbox's (say, tools an agent wrote and
    /// stored), as they are now: asked before every turn, so a tool made during the
    /// loop is offered from the next turn on. A name the toolbox has is the toolbox's.
    fn extra_tools(&self) -> Vec<llm::Tool> {
        Vec::new()
    }

    /// Carries out a call of one of [`Hooks::extra_tools`]: its answer for the model,
    /// or `None` if the context has no tool of that name.
    async fn call_extra(&mut self, _call: &ToolCall) -> Option<String> {
        None
    }
}

/// A tool with its types erased, as a [`Toolbox`] keeps it.
#[async_trait::async_trait]
trait AnyTool<C: Send, S: Send>: Send + Sync {
    fn name(&self) -> &'static str;
    fn spec(&self) -> llm::Tool;
    async fn call_json(&self, context: &mut C, arguments: &str) -> Step<S>;
}

struct Erased<T>(T);

#[async_trait::async_trait]
impl<T, C, S> AnyTool<C, S> for Erased<T>
where
    T: Tool<C, S>,
    C: Send,
    S: Send,
{
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn spec(&self) -> llm::Tool {
        llm::Tool {
            name: T::NAME.into(),
            description: T::DESCRIPTION.into(),
            parameters: parameters_of::<T::Args>(),
        }
    }

    async fn call_json(&self, context: &mut C, arguments: &str) -> Step<S> {
        // Some models send no arguments at all, or `null`, for a tool that takes none.
        let arguments = match arguments.trim() {
            "" | "null" => "{}",
            _ => arguments,
        };
        match serde_json::from_str::<T::Args>(arguments) {
            Ok(args) => self.0.call(context, args).await,
            Err(err) => Step::Reply(format!(
                "error: the arguments of `{name}` are not valid: {err}. Fix them and call {name} again.",
                name = T::NAME
            )),
        }
    }
}

/// The JSON Schema of `A` as a tool's `parameters`: an object schema with every
/// sub-schema inlined (some providers do not follow `$ref`), without `$schema` and
/// `title`.
pub fn parameters_of<A: JsonSchema>() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<A>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
        if !object.contains_key("properties") && object.get("type") == Some(&Value::from("object"))
        {
            object.insert("properties".into(), Value::Object(Default::default()));
        }
    }
    value
}

/// The tools of one agent, in the order the model is shown them.
pub struct Toolbox<C, S> {
    tools: Vec<Box<dyn AnyTool<C, S>>>,
}

impl<C: Send, S: Send> Default for Toolbox<C, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Send, S: Send> Toolbox<C, S> {
    /// No tools.
    pub fn new() -> Self {
        Self { tools: Vec::new() }
    }

    /// The same with `tool` added last.
    #[must_use]
    pub fn with<T: Tool<C, S> + 'static>(mut self, tool: T) -> Self {
        self.tools.push(Box::new(Erased(tool)));
        self
    }

    /// What the model is shown of each tool.
    pub fn specs(&self) -> Vec<llm::Tool> {
        self.tools.iter().map(|tool| tool.spec()).collect()
    }

    /// Whether a tool of this name is in the box.
    pub fn has(&self, name: &str) -> bool {
        self.tools.iter().any(|tool| tool.name() == name)
    }

    /// Carries out one call the model made; a name no tool has is answered with the
    /// names there are.
    pub async fn call(&self, context: &mut C, call: &ToolCall) -> Step<S> {
        let name = call.function.name.as_str();
        match self.tools.iter().find(|tool| tool.name() == name) {
            Some(tool) => tool.call_json(context, &call.function.arguments).await,
            None => {
                let names: Vec<&str> = self.tools.iter().map(|tool| tool.name()).collect();
                Step::Reply(format!(
                    "error: there is no tool `{name}`; use {}",
                    names.join(", ")
                ))
            }
        }
    }
}

/// How a loop ended well.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended<S> {
    /// A tool stopped it.
    Stopped(S),
    /// The model answered in plain text (no tool call).
    Answered(String),
}

/// What a loop came to, with what it cost.
#[derive(Debug, Clone)]
pub struct LoopEnd<S> {
    /// How it ended.
    pub ended: Ended<S>,
    /// The turn it ended on (from 1).
    pub turns: usize,
    /// Model calls made.
    pub calls: u32,
    /// Tokens used, over every call.
    pub usage: Usage,
    /// The model that gave the last answer, as its provider named it (with a fallback
    /// list, not always the first one's).
    pub model: String,
}

/// Why a loop came to nothing.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// A model call failed.
    #[error("{source}")]
    Llm {
        /// Why.
        source: LlmError,
        /// Model calls answered before it.
        calls: u32,
        /// Tokens used by them.
        usage: Usage,
    },
    /// The model neither stopped nor answered within the turns it had.
    #[error("the model did not finish within {turns} turns")]
    OutOfTurns {
        /// The turns it had.
        turns: usize,
        /// Model calls made.
        calls: u32,
        /// Tokens used.
        usage: Usage,
    },
    /// [`Hooks::before_turn`] stopped it.
    #[error("{0}")]
    Stopped(String),
}

/// The conversation between a model and a toolbox.
pub struct ToolLoop<'a, C, S> {
    llm: &'a Llm,
    toolbox: &'a Toolbox<C, S>,
    max_turns: usize,
}

impl<'a, C: Hooks, S: Send> ToolLoop<'a, C, S> {
    /// `llm` with `toolbox`, for at most `max_turns` model turns.
    pub fn new(llm: &'a Llm, toolbox: &'a Toolbox<C, S>, max_turns: usize) -> Self {
        Self {
            llm,
            toolbox,
            max_turns,
        }
    }

    /// Runs the conversation from `messages` (the system prompt and what the model is
    /// asked), carrying out the model's tool calls on `context` in the order it made
    /// them. A call that stops the loop ends it at once: the calls after it in the same
    /// turn are not made.
    ///
    /// # Errors
    /// [`LoopError`]: a failed model call, no end within the turns, or a hook's stop.
    pub async fn run(
        &self,
        context: &mut C,
        mut messages: Vec<Message>,
    ) -> Result<LoopEnd<S>, LoopError> {
        let mut usage = Usage::default();
        let mut calls = 0u32;
        for turn in 1..=self.max_turns {
            context
                .before_turn(turn)
                .await
                .map_err(LoopError::Stopped)?;
            let mut tools = self.toolbox.specs();
            tools.extend(
                context
                    .extra_tools()
                    .into_iter()
                    .filter(|extra| !self.toolbox.has(&extra.name)),
            );
            let completion = match self.llm.chat(&messages, &tools).await {
                Ok(completion) => completion,
                Err(source) => {
                    return Err(LoopError::Llm {
                        source,
                        calls,
                        usage,
                    });
                }
            };
            calls += 1;
            usage += completion.usage;
            let model = completion.model;
            let message = completion.message;
            messages.push(message.clone());
            if message.tool_calls.is_empty() {
                return Ok(LoopEnd {
                    ended: Ended::Answered(message.content.unwrap_or_default()),
                    turns: turn,
                    calls,
                    usage,
                    model,
                });
            }
            for call in &message.tool_calls {
                context.before_call(turn, call).await;
                let name = call.function.name.as_str();
                let step = if self.toolbox.has(name) {
                    self.toolbox.call(context, call).await
                } else if let Some(reply) = context.call_extra(call).await {
                    Step::Reply(reply)
                } else {
                    let names: Vec<_> = tools.iter().map(|tool| tool.name.as_ref()).collect();
                    Step::Reply(format!(
                        "error: there is no tool `{name}`; use {}",
                        names.join(", ")
                    ))
                };
                match step {
                    Step::Reply(text) => messages.push(Message::tool(&call.id, text)),
                    Step::Stop(stop) => {
                        return Ok(LoopEnd {
                            ended: Ended::Stopped(stop),
                            turns: turn,
                            calls,
                            usage,
                            model,
                        });
                    }
                }
            }
        }
        Err(LoopError::OutOfTurns {
            turns: self.max_turns,
            calls,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use serde::Deserialize;

    use super::*;
    use crate::llm::{ChatModel, Completion, FunctionCall};

    /// A model that answers from a script and keeps what it was sent.
    #[derive(Debug, Default)]
    struct Scripted {
        replies: Mutex<VecDeque<Message>>,
        seen: Mutex<Vec<Vec<Message>>>,
        offered: Mutex<Vec<Vec<String>>>,
    }

    #[async_trait::async_trait]
    impl ChatModel for Scripted {
        fn model(&self) -> &str {
            "scripted"
        }

        async fn chat(
            &self,
            messages: &[Message],
            tools: &[llm::Tool],
        ) -> Result<Completion, LlmError> {
            self.seen.lock().unwrap().push(messages.to_vec());
            self.offered
                .lock()
                .unwrap()
                .push(tools.iter().map(|t| t.name.to_string()).collect());
            let message = self
                .replies
                .lock()
                .unwrap()
                .pop_front()
                .ok_or_else(|| LlmError::Malformed("the script is over".into()))?;
            Ok(Completion {
                message,
                usage: Usage {
                    prompt_tokens: 10,
                    completion_tokens: 1,
                },
                model: "scripted".into(),
            })
        }
    }

    fn calls(calls: &[(&str, &str)]) -> Message {
        Message {
            role: "assistant".into(),
            content: None,
            tool_calls: calls
                .iter()
                .enumerate()
                .map(|(i, (name, arguments))| ToolCall {
                    id: format!("call-{i}"),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: (*name).into(),
                        arguments: (*arguments).into(),
                    },
                })
                .collect(),
            tool_call_id: None,
            images: Vec::new(),
        }
    }

    #[derive(Default)]
    struct Tally {
        total: u64,
        turns_seen: Vec<usize>,
        stop_before: Option<usize>,
        /// Whether `twice` is offered (an extra tool, as one an agent stored).
        learned: bool,
    }

    #[async_trait::async_trait]
    impl Hooks for Tally {
        async fn before_turn(&mut self, turn: usize) -> Result<(), String> {
            self.turns_seen.push(turn);
            match self.stop_before {
                Some(at) if at == turn => Err("cancelled".into()),
                _ => Ok(()),
            }
        }

        fn extra_tools(&self) -> Vec<llm::Tool> {
            let twice = llm::Tool {
                name: "twice".into(),
                description: "Double the total.".into(),
                parameters: serde_json::json!({"type": "object", "properties": {}}),
            };
            // A context's tool never shadows the toolbox's.
            let add = llm::Tool {
                name: "add".into(),
                ..twice.clone()
            };
            if self.learned {
                vec![twice, add]
            } else {
                Vec::new()
            }
        }

        async fn call_extra(&mut self, call: &ToolCall) -> Option<String> {
            (self.learned && call.function.name == "twice").then(|| {
                self.total *= 2;
                self.total.to_string()
            })
        }
    }

    /// Offers `twice` from the next turn on.
    struct Learn;

    #[async_trait::async_trait]
    impl Tool<Tally, u64> for Learn {
        type Args = Nothing;
        const NAME: &'static str = "learn";
        const DESCRIPTION: &'static str = "Learn to double.";

        async fn call(&self, tally: &mut Tally, _: Nothing) -> Step<u64> {
            tally.learned = true;
            Step::Reply("learned".into())
        }
    }

    /// Arguments of `add`.
    #[derive(Deserialize, JsonSchema)]
    struct AddArgs {
        /// How much.
        amount: u64,
    }

    struct Add;

    #[async_trait::async_trait]
    impl Tool<Tally, u64> for Add {
        type Args = AddArgs;
        const NAME: &'static str = "add";
        const DESCRIPTION: &'static str = "Add.";

        async fn call(&self, tally: &mut Tally, args: AddArgs) -> Step<u64> {
            tally.total += args.amount;
            Step::Reply(tally.total.to_string())
        }
    }

    /// No arguments.
    #[derive(Deserialize, JsonSchema)]
    struct Nothing {}

    struct Done;

    #[async_trait::async_trait]
    impl Tool<Tally, u64> for Done {
        type Args = Nothing;
        const NAME: &'static str = "done";
        const DESCRIPTION: &'static str = "Stop with the total.";

        async fn call(&self, tally: &mut Tally, _: Nothing) -> Step<u64> {
            Step::Stop(tally.total)
        }
    }

    fn setup(script: Vec<Message>) -> (Arc<Scripted>, Llm, Toolbox<Tally, u64>) {
        let model = Arc::new(Scripted {
            replies: Mutex::new(script.into()),
            ..Scripted::default()
        });
        let llm = Llm::from_model(model.clone());
        (model, llm, Toolbox::new().with(Add).with(Done))
    }

    #[tokio::test]
    async fn calls_run_in_order_replies_go_back_and_a_stop_ends_the_turn_at_once() {
        let (model, llm, toolbox) = setup(vec![
            calls(&[("add", r#"{"amount": 2}"#), ("add", r#"{"amount": 3}"#)]),
            calls(&[("done", ""), ("add", r#"{"amount": 100}"#)]),
        ]);
        let mut tally = Tally::default();
        let end = ToolLoop::new(&llm, &toolbox, 5)
            .run(&mut tally, vec![Message::user("count")])
            .await
            .unwrap();
        assert_eq!(end.ended, Ended::Stopped(5));
        assert_eq!((end.turns, end.calls), (2, 2));
        assert_eq!(end.usage.prompt_tokens, 20);
        assert_eq!(tally.total, 5, "the call after the stop was not made");
        let second = &model.seen.lock().unwrap()[1];
        let replies: Vec<(&str, &str)> = second
            .iter()
            .filter(|m| m.role == "tool")
            .map(|m| {
                (
                    m.tool_call_id.as_deref().unwrap(),
                    m.content.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(replies, [("call-0", "2"), ("call-1", "5")]);
    }

    #[tokio::test]
    async fn bad_arguments_and_unknown_tools_are_answered_and_a_plain_answer_ends_the_loop() {
        let (model, llm, toolbox) = setup(vec![
            calls(&[("add", r#"{"amount": "many"}"#), ("subtract", "{}")]),
            Message {
                role: "assistant".into(),
                content: Some("nothing to add".into()),
                tool_calls: Vec::new(),
                tool_call_id: None,
                images: Vec::new(),
            },
        ]);
        let mut tally = Tally::default();
        let end = ToolLoop::new(&llm, &toolbox, 5)
            .run(&mut tally, vec![Message::user("count")])
            .await
            .unwrap();
        assert_eq!(end.ended, Ended::Answered("nothing to add".into()));
        let second = &model.seen.lock().unwrap()[1];
        let replies: Vec<&str> = second
            .iter()
            .filter(|m| m.role == "tool")
            .map(|m| m.content.as_deref().unwrap())
            .collect();
        assert!(
            replies[0].starts_with("error: the arguments of `add` are not valid: invalid type"),
            "{replies:?}"
        );
        assert!(replies[0].ends_with("Fix them and call add again."));
        assert_eq!(
            replies[1],
            "error: there is no tool `subtract`; use add, done"
        );
        assert_eq!(tally.total, 0);
    }

    #[tokio::test]
    async fn the_loop_ends_when_turns_run_out_a_hook_stops_it_or_the_model_fails() {
        let again = || calls(&[("add", r#"{"amount": 1}"#)]);
        let (_, llm, toolbox) = setup(vec![again(), again(), again()]);
        let err = ToolLoop::new(&llm, &toolbox, 2)
            .run(&mut Tally::default(), vec![Message::user("go")])
            .await
            .unwrap_err();
        assert!(
            matches!(err, LoopError::OutOfTurns { turns: 2, calls: 2, usage } if usage.prompt_tokens == 20),
            "{err:?}"
        );

        let (_, llm, toolbox) = setup(vec![again(), again()]);
        let mut tally = Tally {
            stop_before: Some(2),
            ..Tally::default()
        };
        let err = ToolLoop::new(&llm, &toolbox, 5)
            .run(&mut tally, vec![Message::user("go")])
            .await
            .unwrap_err();
        assert!(
            matches!(err, LoopError::Stopped(ref why) if why == "cancelled"),
            "{err:?}"
        );
        assert_eq!((tally.turns_seen, tally.total), (vec![1, 2], 1));

        let (_, llm, toolbox) = setup(vec![again()]);
        let err = ToolLoop::new(&llm, &toolbox, 5)
            .run(&mut Tally::default(), vec![Message::user("go")])
            .await
            .unwrap_err();
        assert!(
            matches!(err, LoopError::Llm { calls: 1, usage, .. } if usage.prompt_tokens == 10),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_tool_the_context_adds_is_offered_from_the_next_turn_and_called() {
        let (model, llm, toolbox) = setup(vec![
            calls(&[("add", r#"{"amount": 3}"#), ("twice", "{}"), ("learn", "")]),
            calls(&[("twice", "{}"), ("add", r#"{"amount": 1}"#)]),
            calls(&[("done", "")]),
        ]);
        let toolbox = toolbox.with(Learn);
        let mut tally = Tally::default();
        let end = ToolLoop::new(&llm, &toolbox, 5)
            .run(&mut tally, vec![Message::user("count")])
            .await
            .unwrap();
        assert_eq!(end.ended, Ended::Stopped(7), "3, doubled, plus 1");
        let offered = model.offered.lock().unwrap().clone();
        assert_eq!(offered[0], ["add", "done", "learn"]);
        assert_eq!(offered[1], ["add", "done", "learn", "twice"]);
        let second = &model.seen.lock().unwrap()[1];
        let replies: Vec<&str> = second
            .iter()
            .filter(|m| m.role == "tool")
            .map(|m| m.content.as_deref().unwrap())
            .collect();
        assert_eq!(
            replies,
            [
                "3",
                "error: there is no tool `twice`; use add, done, learn",
                "learned"
            ]
        );
    }

    #[test]
    fn parameters_are_an_inlined_object_schema_with_the_doc_comments() {
        let add = parameters_of::<AddArgs>();
        assert_eq!(add["type"], "object");
        assert_eq!(add["required"], serde_json::json!(["amount"]));
        assert_eq!(add["properties"]["amount"]["description"], "How much.");
        assert!(add.get("$schema").is_none() && add.get("title").is_none());
        let nothing = parameters_of::<Nothing>();
        assert_eq!(nothing["properties"], serde_json::json!({}));
        let plan = parameters_of::<Vec<crate::chief::actions::Action>>();
        assert!(!plan.to_string().contains("$ref"), "{plan}");
    }
}
