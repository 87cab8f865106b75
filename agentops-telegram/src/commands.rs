//! The bot's commands, parsed by teloxide's [`BotCommands`] and shown in Telegram's
//! command menu (`setMyCommands`, see [`TelegramBot::register_commands`]).
//!
//! [`TelegramBot::register_commands`]: crate::TelegramBot::register_commands

use teloxide::utils::command::{BotCommands, ParseError};

/// A command the bot knows.
#[derive(BotCommands, Debug, Clone, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    /// `/start [persona]`: the help, or (from a persona's link) a conversation with it.
    #[command(description = "what I can do")]
    Start(String),
    /// `/help`: the help.
    #[command(description = "what I can do")]
    Help,
    /// `/status [project or #task]`.
    #[command(description = "how the work is going (a project or #task, or everything)")]
    Status(String),
    /// `/projects`.
    #[command(description = "the projects")]
    Projects,
    /// `/agents`.
    #[command(description = "the agents and when they were last seen")]
    Agents,
    /// `/task TITLE to PROJECT`.
    #[command(description = "a new task: /task TITLE to PROJECT")]
    Task(String),
    /// `/usage`: today's LLM spend.
    #[command(description = "today's LLM spend: per agent and model, and the budgets")]
    Usage,
    /// `/busy enqueue|reject|interrupt`: what a message does while the Chief of Staff
    /// is still busy with this chat.
    #[command(description = "a message sent while I am busy: /busy enqueue | reject | interrupt")]
    Busy(String),
    /// `/progress on|off`: whether the Chief says here how a plan's tasks are going while
    /// they run.
    #[command(description = "lines on a plan's tasks while they run: /progress on | off")]
    Progress(String),
    /// `/notify [on|off|KINDS]`: which news this chat gets.
    #[command(
        description = "which news this chat gets: /notify on | off | completed failed blocked cancelled budget chief deploy pairing tools"
    )]
    Notify(String),
    /// `/voice [on|off]`: whether the Chief's answers are said aloud in this chat.
    #[command(description = "my answers said aloud too: /voice on | off")]
    Voice(String),
    /// `/pair CODE`: lets the chat that was given `CODE` use the bot.
    #[command(description = "let the chat I gave a code use me: /pair CODE")]
    Pair(String),
    /// `/create`: make a persona, step by step.
    #[command(description = "make a persona (an agent anyone can talk to)")]
    Create,
    /// `/mine`: my personas and their links.
    #[command(description = "my personas and their links")]
    Mine,
    /// `/list`: the same as `/mine`.
    #[command(description = "my personas and their links")]
    List,
    /// `/talk NAME`: talk to a persona.
    #[command(description = "talk to a persona: /talk NAME")]
    Talk(String),
    /// `/exit`: back to the Chief of Staff.
    #[command(description = "stop talking to the persona")]
    Exit,
    /// `/manage`: the same as `/exit`.
    #[command(description = "stop talking to the persona")]
    Manage,
    /// `/share NAME`: a persona's link.
    #[command(description = "a persona's link to share: /share NAME")]
    Share(String),
    /// `/edit NAME`: change one of my personas (its instructions, greeting, model or
    /// bot token).
    #[command(description = "change one of my personas: /edit NAME")]
    Edit(String),
    /// `/delete NAME`: delete one of my personas (asks first).
    #[command(description = "delete one of my personas: /delete NAME")]
    Delete(String),
    /// `/cancel`: stop the `/create` wizard.
    #[command(description = "stop making a persona")]
    Cancel,
}

impl Command {
    /// Whether it is about personas (taken in any private chat).
    pub fn is_persona(&self) -> bool {
        match self {
            Command::Start(slug) => !slug.trim().is_empty(),
            Command::Create
            | Command::Mine
            | Command::List
            | Command::Talk(_)
            | Command::Exit
            | Command::Manage
            | Command::Share(_)
            | Command::Edit(_)
            | Command::Delete(_)
            | Command::Cancel => true,
            _ => false,
        }
    }
}

/// What a message starting with `/` turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// One of ours.
    Known(Command),
    /// `/name` is not a command of ours.
    Unknown(String),
    /// It names another bot (`/status@other_bot` in a group): not for us.
    ForAnotherBot,
}

/// Parses `text` (starting with `/`) as a command to the bot `@bot_name`; the command's
/// name is matched whatever its case.
pub fn parse(text: &str, bot_name: &str) -> Parsed {
    let text = text.trim();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let lowered = format!("{} {}", word.to_lowercase(), rest.trim());
    match Command::parse(lowered.trim_end(), bot_name) {
        Ok(command) => Parsed::Known(command),
        Err(ParseError::WrongBotName(_)) => Parsed::ForAnotherBot,
        // `/agents please`: words after a command that takes none are not worth a refusal.
        Err(ParseError::TooManyArguments { .. }) if !rest.trim().is_empty() => {
            parse(word, bot_name)
        }
        Err(_) => {
            let name = word
                .trim_start_matches('/')
                .split('@')
                .next()
                .unwrap_or_default();
            Parsed::Unknown(name.to_owned())
        }
    }
}

/// The bot a command names (`/status@agentops_bot` → `agentops_bot`), if it names one.
pub fn addressed_to(text: &str) -> Option<&str> {
    let word = text.split_whitespace().next()?;
    word.split_once('@').map(|(_, bot)| bot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_arguments_bot_names_and_any_case() {
        let bot = "agentops_bot";
        assert_eq!(
            parse("/start", bot),
            Parsed::Known(Command::Start(String::new()))
        );
        assert_eq!(
            parse("/start captain-byte", bot),
            Parsed::Known(Command::Start("captain-byte".into()))
        );
        assert!(Command::Start("x".into()).is_persona() && !Command::Help.is_persona());
        assert_eq!(
            parse("/status@AgentOps_Bot  Website ", bot),
            Parsed::Known(Command::Status("Website".into()))
        );
        assert_eq!(
            parse("/STATUS", bot),
            Parsed::Known(Command::Status(String::new()))
        );
        assert_eq!(
            parse("/task", bot),
            Parsed::Known(Command::Task(String::new()))
        );
        assert_eq!(
            parse("/task write copy to Website", bot),
            Parsed::Known(Command::Task("write copy to Website".into()))
        );
        assert_eq!(parse("/projects@other_bot", bot), Parsed::ForAnotherBot);
        assert_eq!(addressed_to("/projects@other_bot now"), Some("other_bot"));
        assert_eq!(addressed_to("/projects now"), None);
        assert_eq!(parse("/dance now", bot), Parsed::Unknown("dance".into()));
        assert_eq!(parse("/agents please", bot), Parsed::Known(Command::Agents));
    }

    #[test]
    fn every_command_is_in_the_menu() {
        let menu = Command::bot_commands();
        let names: Vec<&str> = menu.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(
            names,
            [
                "/start",
                "/help",
                "/status",
                "/projects",
                "/agents",
                "/task",
                "/usage",
                "/busy",
                "/progress",
                "/notify",
                "/voice",
                "/pair",
                "/create",
                "/mine",
                "/list",
                "/talk",
                "/exit",
                "/manage",
                "/share",
                "/edit",
                "/delete",
                "/cancel"
            ]
        );
        assert!(menu.iter().all(|c| !c.description.is_empty()));
    }
}
