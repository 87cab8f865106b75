//! The offline brain's reading of plain English: a message becomes an [`Intent`] with
//! its slots (a project's name, task titles and their order, a task reference, a status
//! filter, a time window), with no model and no network.
//!
//! It is a small parser, not a list of sentences: a message is normalised (case,
//! punctuation, smart quotes, polite filler such as "could you please"), then read by
//! what its words do — a creation verb before "project", a list of titles (commas,
//! "and", numbered or bulleted lines, quotes) whose order words ("then", "after X",
//! "before X", "once X is done", "first … then …", "in order") become dependencies, a
//! preposition that may start a project's name, a status word ("blocked", "failed
//! today", "who is working"). Where a message can be read in several ways that only the
//! platform's state can tell apart ("add write copy to Website" — is "Website" a
//! project?), it returns every reading and the brain ([`super::brain`]) keeps the one
//! that names something that exists, or asks one short question.
//!
//! [`parse`] never touches the platform, so the corpus in the tests pins its readings.

use chrono::{DateTime, Utc};

use agentops_sdk::types::Multitask;

use super::actions::{Action, NewTask};
use super::when;

/// What a message asks for.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one intent per message, matched once; boxing the schedule would only add noise"
)]
pub enum Intent {
    /// "help", "what can you do?".
    Help,
    /// "hi", "good morning".
    Greeting,
    /// "thanks", "great, thank you".
    Thanks,
    /// A bare "yes" (nothing else said).
    Yes,
    /// A bare "no".
    No,
    /// "what projects do we have?".
    Projects,
    /// "agents", "who is working right now?" (`working`: only those at work).
    Agents {
        /// Only the agents running tasks.
        working: bool,
    },
    /// "my schedules", "what reminders do I have?".
    Schedules,
    /// A question about how the work goes.
    Report(Report),
    /// A new project, with tasks in order.
    CreateProject {
        /// Its name, as written.
        name: String,
        /// Its tasks, each after those it depends on.
        tasks: Vec<NewTask>,
    },
    /// Tasks for a project; each reading is one way to split the message into titles
    /// and a project, the likeliest first.
    AddTasks {
        /// The possible readings.
        readings: Vec<Reading>,
    },
    /// Answer a blocked task so it can go on.
    Unblock {
        /// Which task.
        task: TaskRef,
        /// The answer, if one was given.
        note: Option<String>,
    },
    /// "cancel #a1b2c3", "stop the daily report": a task or a schedule.
    Cancel {
        /// What to stop, as written (a task's code or title, a schedule's words).
        target: TaskRef,
    },
    /// "pause the weekly report".
    Pause {
        /// The schedule's words.
        target: String,
    },
    /// "resume the weekly report", "continue #a1b2c3".
    Resume {
        /// The schedule's words, or a blocked task.
        target: TaskRef,
    },
    /// A schedule asked for in words (see [`when`]).
    Schedule {
        /// What was understood.
        understood: String,
        /// The schedule to create.
        action: Action,
    },
    /// A wish for work that is not a command ("I need a landing page for our launch"):
    /// the brain asks whether it is a new project (or a task of a project it names).
    Wish {
        /// The work, as a title ("Landing page for our launch").
        work: String,
        /// The whole message, for the task's description.
        request: String,
    },
    /// Nothing recognised; `words` may still name a project or a task.
    Unknown {
        /// The message, normalised.
        words: String,
    },
}

/// A status question: about what, which tasks, since when.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// The project (or task) asked about, as written, if any.
    pub subject: Option<String>,
    /// Which tasks.
    pub focus: Focus,
    /// Since when (for finished tasks).
    pub since: Since,
}

/// Which tasks a status question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    /// All of them: counts, what is blocked, what runs.
    #[default]
    Overview,
    /// Blocked, waiting for a person.
    Blocked,
    /// Failed.
    Failed,
    /// Running now.
    Running,
    /// Queued or waiting for their dependencies.
    Queued,
    /// Completed.
    Done,
}

/// A time window for finished tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Since {
    /// Any time.
    #[default]
    Ever,
    /// Since midnight UTC.
    Today,
    /// Yesterday (UTC).
    Yesterday,
    /// The last seven days.
    Week,
    /// The last `n` hours.
    Hours(u32),
}

/// A task as a person names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRef {
    /// By the code shown next to it (`#a1b2c3`, without the `#`) or its whole id.
    Code(String),
    /// By (words of) its title.
    Title(String),
    /// "it", "the blocked task": the one task that is blocked.
    TheBlocked,
}

/// One way to read "add … to …": these tasks in this project.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The project, as written; empty if none was named.
    pub project: String,
    /// The tasks.
    pub tasks: Vec<NewTask>,
    /// "… to a new project Website": the project is to be created.
    pub new_project: bool,
}

/// Reads `text`, said at `now`.
pub fn parse(text: &str, now: DateTime<Utc>) -> Intent {
    let asked = text
        .trim_end()
        .trim_end_matches(|c: char| !c.is_ascii())
        .ends_with('?');
    let text = normalise(text);
    let lower = text.to_ascii_lowercase();
    let bare = bare_words(&lower);
    if bare.is_empty() || HELP.contains(&bare.as_str()) || help_like(&bare) {
        return Intent::Help;
    }
    if is_yes(&text) {
        return Intent::Yes;
    }
    if is_no(&text) {
        return Intent::No;
    }
    if is_greeting(&bare) {
        return Intent::Greeting;
    }
    if is_thanks(&bare) {
        return Intent::Thanks;
    }
    let text = strip_filler(&text);
    let lower = text.to_ascii_lowercase();
    if let Some(intent) = control(&text, &lower) {
        return intent;
    }
    // A new project first: schedules create tasks, never projects, so "create project
    // Gym with tasks stretch every day" is a project whose task says "every day".
    if let Some(intent) = create_project(&text, &lower) {
        return intent;
    }
    if let Some(asked) = when::parse(&text, now) {
        return Intent::Schedule {
            understood: asked.understood,
            action: asked.action,
        };
    }
    if let Some(intent) = add_tasks(&text, &lower) {
        return intent;
    }
    if !seeks_information(&lower)
        && let Some(intent) = wish(&text, &lower)
    {
        return intent;
    }
    if let Some(intent) = question(&text, &lower, asked) {
        return intent;
    }
    Intent::Unknown { words: text }
}

const HELP: [&str; 16] = [
    "help",
    "start",
    "menu",
    "commands",
    "options",
    "what can you do",
    "what do you do",
    "what can i do",
    "what can i ask",
    "what can i ask you",
    "how does this work",
    "how do i use this",
    "who are you",
    "what are you",
    "help me",
    "what can you help with",
];

fn help_like(bare: &str) -> bool {
    if bare.split(' ').count() <= 4 && has_any_word(bare, &["commands", "menu", "help"]) {
        return !has_any_word(
            bare,
            &["project", "projects", "task", "tasks", "agents", "with"],
        );
    }
    let asks = [
        "what can you",
        "what else can you",
        "how do i",
        "how can i",
        "how does",
    ];
    asks.iter().any(|a| bare.starts_with(a))
        && !has_any_word(bare, &["project", "projects", "task", "tasks", "agent"])
        || bare.starts_with("help ")
            && has_any_word(bare, &["me", "please", "with"])
            && bare.len() < 20
}

/// Words that say yes; [`is_yes`] needs one of them.
const YES: [&str; 16] = [
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "go",
    "approve",
    "approved",
    "absolutely",
    "definitely",
    "correct",
    "alright",
    "👍",
];

/// Words that may come with a yes ("yep, go ahead", "ok do it please").
const WITH_YES: [&str; 15] = [
    "ahead", "do", "it", "please", "sounds", "good", "fine", "right", "let's", "lets", "that's",
    "thats", "exactly", "great", "perfect",
];

/// Words that say no; [`is_no`] needs one of them.
const NO: [&str; 10] = [
    "no",
    "n",
    "nope",
    "nah",
    "reject",
    "don't",
    "dont",
    "never",
    "nevermind",
    "👎",
];

/// Words that may come with a no ("nope, not now", "no thanks").
const WITH_NO: [&str; 17] = [
    "not", "now", "thanks", "thank", "you", "mind", "do", "it", "please", "that", "cancel", "stop",
    "leave", "it", "alone", "skip", "for",
];

/// Whether `text` is a bare yes: only yes words ("yep, go ahead", "OK!", "👍"), so
/// "ok but rename it" is not one.
pub fn is_yes(text: &str) -> bool {
    only_words(text, &YES, &WITH_YES)
        || [
            "do it",
            "please do",
            "sounds good",
            "go for it",
            "ship it",
            "let's do it",
            "lets do it",
            "lgtm",
            "go ahead",
            "yes please",
        ]
        .contains(&bare_words(&text.to_lowercase()).as_str())
}

/// Whether `text` is a bare no ("nope, not now", "no thanks", "cancel that").
pub fn is_no(text: &str) -> bool {
    only_words(text, &NO, &WITH_NO)
        || [
            "cancel that",
            "stop",
            "not now",
            "never mind",
            "forget it",
            "don't do it",
        ]
        .contains(&bare_words(&text.to_lowercase()).as_str())
}

/// Whether `text` holds one of `core` and otherwise only words of `extra`.
fn only_words(text: &str, core: &[&str], extra: &[&str]) -> bool {
    let lower = text.trim().to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!' | ';' | ':'))
        .filter(|w| !w.is_empty())
        .collect();
    !words.is_empty()
        && words.len() <= 6
        && words.iter().any(|w| core.contains(w))
        && words.iter().all(|w| core.contains(w) || extra.contains(w))
}

fn is_greeting(bare: &str) -> bool {
    const HELLO: [&str; 16] = [
        "hi",
        "hello",
        "hey",
        "hiya",
        "howdy",
        "yo",
        "greetings",
        "morning",
        "good morning",
        "good afternoon",
        "good evening",
        "good day",
        "hi there",
        "hello there",
        "hey there",
        "sup",
    ];
    let words: Vec<&str> = bare
        .split(' ')
        .filter(|w| !["chief", "team", "bot", "again", "all", "everyone", "there"].contains(w))
        .collect();
    let trimmed = words.join(" ");
    HELLO.contains(&trimmed.as_str())
        || HELLO.iter().any(|h| {
            trimmed.strip_prefix(h).is_some_and(|rest| {
                matches!(
                    rest.trim(),
                    "how are you" | "how are you doing" | "how is it going" | "hows it going"
                )
            })
        })
}

fn is_thanks(bare: &str) -> bool {
    const THANKS: [&str; 12] = [
        "thanks",
        "thank you",
        "thx",
        "ty",
        "cheers",
        "many thanks",
        "thanks a lot",
        "thank you so much",
        "much appreciated",
        "appreciate it",
        "great",
        "perfect",
    ];
    let words: Vec<&str> = bare
        .split(' ')
        .filter(|w| {
            ![
                "ok", "okay", "great", "perfect", "cool", "nice", "awesome", "chief", "good", "so",
                "very", "much", "that's", "thats", "all", "for", "now", "the", "help", "got", "it",
            ]
            .contains(w)
        })
        .collect();
    let trimmed = words.join(" ");
    // "thanks mate", "cheers, that's brilliant": a thanks word in a short message about
    // nothing else.
    let thanked = has_any_word(
        bare,
        &["thanks", "thank", "cheers", "thx", "ty", "appreciated"],
    ) && bare.split(' ').count() <= 7
        && !has_any_word(
            bare,
            &[
                "project", "projects", "task", "tasks", "status", "create", "add", "cancel",
                "unblock", "blocked", "agents", "but", "now", "can", "could", "please",
            ],
        );
    thanked
        || THANKS.contains(&trimmed.as_str())
        || THANKS.contains(&bare)
        || (trimmed.is_empty()
            && ["cool", "nice", "awesome", "got it", "great", "perfect"]
                .iter()
                .any(|w| bare.contains(w)))
}

/// Trims, drops a leading `/`, turns smart quotes straight, keeps line breaks (lists),
/// collapses other white space and drops trailing `?`, `!` and `.`.
fn normalise(text: &str) -> String {
    let text: String = text
        .trim()
        .trim_start_matches('/')
        .chars()
        .map(|c| match c {
            '“' | '”' | '«' | '»' | '„' => '"',
            '‘' | '’' | '`' => '\'',
            c if c.is_whitespace() && c != '\n' => ' ',
            c => c,
        })
        .collect();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.is_empty())
                .map(spelled_out)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.is_empty())
        .collect();
    // A command addressed to a bot ("/status@agentops_bot") is for us.
    let mut joined = lines.join("\n");
    if let Some(at) = joined.find('@')
        && joined[..at]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !joined[..at].is_empty()
    {
        let end = joined[at..]
            .find(char::is_whitespace)
            .map_or(joined.len(), |e| at + e);
        joined.replace_range(at..end, "");
    }
    // Closing punctuation and emoji ("thanks 🙏", "status pls!!").
    joined
        .trim_end_matches(|c: char| {
            matches!(c, '?' | '!' | '.' | ' ')
                || (!c.is_alphanumeric() && !c.is_ascii() && !matches!(c, '»' | '”' | '’'))
        })
        .trim()
        .to_owned()
}

/// Chat shorthand as the words it stands for ("u" → "you", "pls" → "please"), keeping
/// any punctuation stuck to it.
fn spelled_out(word: &str) -> String {
    let core = word.trim_end_matches([',', '.', '!', '?', ':', ';']);
    let tail = &word[core.len()..];
    let full = match core.to_ascii_lowercase().as_str() {
        "u" => "you",
        "ur" => "your",
        "pls" | "plz" | "pleaseee" => "please",
        "thx" | "thnx" | "thanx" | "tx" | "ty" => "thanks",
        "tmrw" | "tmr" | "2moro" | "tomoz" => "tomorrow",
        "msg" => "message",
        "cuz" | "coz" => "because",
        "wanna" => "want to",
        "gonna" => "going to",
        "gotta" => "have to",
        "asap" => "as soon as possible",
        _ => return word.to_owned(),
    };
    format!("{full}{tail}")
}

/// `lower` without punctuation, single-spaced: for matching whole short messages.
fn bare_words(lower: &str) -> String {
    lower
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == '#' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Polite and conversational openings that change nothing.
const FILLER: [&str; 45] = [
    "please",
    "pls",
    "plz",
    "kindly",
    "could you please",
    "can you please",
    "would you please",
    "could you",
    "can you",
    "would you",
    "will you",
    "i want you to",
    "i'd like you to",
    "i would like you to",
    "i need you to",
    "go ahead and",
    "hey chief",
    "hi chief",
    "hello chief",
    "chief",
    "hi",
    "hello",
    "hey",
    "ok so",
    "okay so",
    "ok",
    "okay",
    "so",
    "um",
    "uh",
    "quick question",
    "question",
    "just",
    "now",
    "also",
    "and",
    "then",
    "good morning",
    "hi there",
    "hey there",
    "right",
    "alright",
    "you can",
    "you may",
    "feel free to",
];

/// `text` without polite openings ("could you please …", "hi chief, …") and closings
/// ("… please", "… thanks").
fn strip_filler(text: &str) -> String {
    let mut text = text.trim().to_owned();
    loop {
        let lower = text.to_ascii_lowercase();
        let Some(cut) = FILLER.iter().find_map(|f| {
            let rest = lower.strip_prefix(f)?;
            // A whole word, followed by more.
            let next = rest.chars().next()?;
            (!next.is_alphanumeric()
                && next != '\''
                && rest
                    .trim_start_matches([' ', ',', ':', '!', '-', '\n'])
                    .len()
                    > 1)
            .then(|| lower.len() - rest.len())
        }) else {
            break;
        };
        text = text[cut..]
            .trim_start_matches([' ', ',', ':', '!', '-', '\n'])
            .to_owned();
    }
    for closing in [
        " please",
        ", please",
        " pls",
        " thanks",
        ", thanks",
        " thank you",
        ", thank you",
        " for me",
        " for us",
    ] {
        let lower = text.to_ascii_lowercase();
        if lower.ends_with(closing) && text.len() > closing.len() + 1 {
            text.truncate(text.len() - closing.len());
            text = text
                .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!'))
                .to_owned();
        }
    }
    text
}

/// Whether `word` occurs in `lower` as a whole word.
fn has_word(lower: &str, word: &str) -> bool {
    find_word(lower, word, 0).is_some()
}

fn has_any_word(lower: &str, words: &[&str]) -> bool {
    words.iter().any(|w| has_word(lower, w))
}

/// The byte offset of `word` (or phrase) as a whole word in `lower`, from `from` on.
fn find_word(lower: &str, word: &str, from: usize) -> Option<usize> {
    let mut start = from;
    while let Some(found) = lower.get(start..)?.find(word) {
        let at = start + found;
        let before = lower[..at].chars().next_back();
        let after = lower[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '\'');
        if boundary(before) && boundary(after) {
            return Some(at);
        }
        start = at + word.len().max(1);
    }
    None
}

/// Whether `lower` starts with one of `prefixes` as whole words; the rest.
fn starts_with_any<'a>(lower: &str, text: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| {
        let rest = lower.strip_prefix(p)?;
        if rest.is_empty() || rest.starts_with([' ', ':', ',', '\n', '-']) {
            Some(
                text[p.len()..]
                    .trim_start_matches([' ', ':', ',', '\n'])
                    .trim(),
            )
        } else {
            None
        }
    })
}

/// A task code (`#a1b2c3`, `a1b2c3` of at least 4 hex digits with one digit, or a
/// whole UUID) at the start of `text`: the code and the rest.
fn task_code(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let hashed = text.starts_with('#');
    let body = text.trim_start_matches('#');
    let end = body
        .find(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .unwrap_or(body.len());
    let code = &body[..end];
    let rest = &body[end..];
    if !rest.is_empty() && rest.starts_with(|c: char| c.is_alphanumeric()) {
        return None;
    }
    let whole = uuid::Uuid::parse_str(code).is_ok();
    let short = code.len() >= 4
        && code.chars().all(|c| c.is_ascii_hexdigit())
        && (hashed || code.chars().any(|c| c.is_ascii_digit()));
    (whole || short).then(|| (code.to_ascii_lowercase(), rest))
}

/// A task code anywhere in `text`.
fn code_in(text: &str) -> Option<String> {
    text.match_indices('#')
        .find_map(|(at, _)| task_code(&text[at..]).map(|(code, _)| code))
        .or_else(|| {
            text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
                .find(|w| uuid::Uuid::parse_str(w).is_ok())
                .map(str::to_ascii_lowercase)
        })
}

/// Pronouns and descriptions of "the task that is blocked".
const THE_BLOCKED: [&str; 9] = [
    "it",
    "that",
    "this",
    "that one",
    "this one",
    "the blocked task",
    "the blocked one",
    "the task",
    "the stuck task",
];

fn task_ref(words: &str) -> TaskRef {
    let mut words = words.trim();
    for q in ['"', '\''] {
        if words.len() >= 2 && words.starts_with(q) && words.ends_with(q) {
            words = words[1..words.len() - 1].trim();
        }
    }
    let words = strip_leading(words, &["the task", "task"]);
    // "#a1b2c3, we don't need it anymore": the code, then why.
    if let Some((code, rest)) = task_code(words)
        && (rest.trim().is_empty()
            || rest
                .trim_start()
                .starts_with([',', ':', ';', '-', '(', '—']))
    {
        return TaskRef::Code(code);
    }
    // "#abc123 its not needed anymore": a code written with its "#" is the task,
    // whatever follows.
    if words.starts_with('#')
        && let Some((code, _)) = task_code(words)
    {
        return TaskRef::Code(code);
    }
    let lower = words.to_ascii_lowercase();
    if THE_BLOCKED.contains(&lower.as_str()) || lower.is_empty() {
        return TaskRef::TheBlocked;
    }
    let title = strip_leading(words, &["the task", "task", "the"]);
    // "'social posts' task, we don't need it": the quoted title.
    for q in ['"', '\''] {
        if let Some(inner) = title.strip_prefix(q)
            && let Some(end) = inner.find(q)
        {
            return TaskRef::Title(inner[..end].trim().to_owned());
        }
    }
    TaskRef::Title(unquote(title).to_owned())
}

/// `text` without the first of `prefixes` it starts with (whole words, any case).
fn strip_leading<'a>(text: &'a str, prefixes: &[&str]) -> &'a str {
    let lower = text.to_ascii_lowercase();
    starts_with_any(&lower, text, prefixes).unwrap_or(text)
}

fn unquote(text: &str) -> &str {
    let t = text.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].trim();
        }
    }
    t.trim_matches('"').trim()
}

/// Unblock, cancel, pause and resume: a verb first, then what it applies to.
fn control(text: &str, lower: &str) -> Option<Intent> {
    if let Some(rest) = starts_with_any(
        lower,
        text,
        &[
            "unblock",
            "unstick",
            "answer for",
            "answer to",
            "answer",
            "reply to",
            "reply for",
            "respond to",
            "resolve",
            "the answer to",
            "the answer for",
        ],
    ) {
        let rest_lower = rest.to_ascii_lowercase();
        // "the answer to #abc is blue": the answer follows "is".
        let seps: &[&str] = if lower.starts_with("the answer") {
            &[" is ", ": "]
        } else {
            &[
                " with the answer ",
                " with answer ",
                " with the note ",
                " with note: ",
                " with note ",
                " with ",
                ": ",
                " saying ",
                " by saying ",
                " and say ",
                " and tell it ",
                " answer ",
                " - ",
                " — ",
                ", ",
            ]
        };
        let split = seps
            .iter()
            .filter_map(|s| rest_lower.find(s).map(|at| (at, s.len())))
            .min_by_key(|(at, _)| *at);
        // A code may end at a colon with no space ("#abc:blue").
        let (task, note) = match split {
            Some((at, len)) => (&rest[..at], Some(rest[at + len..].trim())),
            None => match task_code(rest) {
                Some((_, after))
                    if after.trim_start().starts_with(':') || after.starts_with(' ') =>
                {
                    let code_len = rest.len() - after.len();
                    let note = after.trim_start().trim_start_matches(':').trim();
                    (&rest[..code_len], (!note.is_empty()).then_some(note))
                }
                _ => (rest, None),
            },
        };
        let note = note
            .map(|n| {
                unquote(strip_leading(
                    n,
                    &[
                        "the answer is",
                        "the answer:",
                        "answer is",
                        "answer:",
                        "tell it",
                        "say",
                        "note:",
                        "it's",
                        "its",
                    ],
                ))
                .to_owned()
            })
            .filter(|n| !n.is_empty());
        return Some(Intent::Unblock {
            task: task_ref(task),
            note,
        });
    }
    // "tell #a1b2c3 to use blue", "for the blocked one tell it the budget is 500".
    if let Some(at) = [" tell it ", " tell them ", ", tell it "]
        .iter()
        .find_map(|m| lower.find(m).map(|at| (at, m.len())))
        && let Some(reference) = starts_with_any(lower, text, &["for", "to", "on"])
    {
        let (at, len) = at;
        let end = at.saturating_sub(text.len() - reference.len());
        let reference = reference[..end.min(reference.len())].trim_end_matches([',', ' ']);
        let note = text[at + len..].trim();
        if !note.is_empty() {
            return Some(Intent::Unblock {
                task: task_ref(reference),
                note: Some(unquote(note).to_owned()),
            });
        }
    }
    if let Some(rest) = starts_with_any(lower, text, &["tell"])
        && let Some(at) = [" to ", ": ", " that "]
            .iter()
            .filter_map(|m| rest.to_ascii_lowercase().find(m).map(|at| (at, m.len())))
            .min_by_key(|(at, _)| *at)
        && (rest.starts_with('#') || rest.to_ascii_lowercase().starts_with("the blocked"))
    {
        let (at, len) = at;
        return Some(Intent::Unblock {
            task: task_ref(&rest[..at]),
            note: Some(unquote(rest[at + len..].trim()).to_owned()),
        });
    }
    if let Some(rest) = starts_with_any(
        lower,
        text,
        &[
            "pause",
            "mute",
            "turn off",
            "switch off",
            "disable",
            "suspend",
            "silence",
            "hold",
            "put on hold",
        ],
    ) {
        return Some(Intent::Pause {
            target: rest.to_owned(),
        });
    }
    if let Some(rest) = starts_with_any(
        lower,
        text,
        &[
            "resume",
            "unpause",
            "restart",
            "turn on",
            "switch on",
            "enable",
            "reactivate",
            "continue",
            "carry on with",
        ],
    ) {
        return Some(Intent::Resume {
            target: task_ref(rest),
        });
    }
    if let Some(rest) = starts_with_any(
        lower,
        text,
        &[
            "cancel",
            "stop",
            "kill",
            "abort",
            "drop",
            "scrap",
            "call off",
            "halt",
            "forget about",
            "forget",
            "remove",
            "delete",
        ],
    ) && !rest.is_empty()
    {
        return Some(Intent::Cancel {
            target: task_ref(rest),
        });
    }
    None
}

/// Words that may stand before "project" in a request to create one.
const CREATE_WORDS: [&str; 48] = [
    "create", "make", "start", "set", "setup", "up", "open", "begin", "kick", "off", "spin",
    "launch", "add", "new", "a", "an", "the", "another", "us", "me", "let's", "lets", "let", "we",
    "i", "need", "want", "to", "would", "like", "brand", "fresh", "should", "go", "ahead", "and",
    "get", "going", "'d", "i'd", "we'd", "please", "could", "can", "you", "initiate", "there's",
    "one",
];

const CREATE_VERBS: [&str; 15] = [
    "create", "make", "start", "set", "setup", "open", "begin", "kick", "spin", "launch", "add",
    "new", "need", "want", "initiate",
];

/// "create a project Website with tasks …", "let's kick off a new project called
/// \"Launch\": …", "new project Website\n1. …".
fn create_project(text: &str, lower: &str) -> Option<Intent> {
    let at = find_word(lower, "project", 0)?;
    let before: Vec<&str> = lower[..at].split_whitespace().collect();
    // "add to the Launch project: …" names a project, it does not create one: a
    // preposition before it other than the "to" of "want to start".
    let names_one = before.iter().enumerate().any(|(i, w)| {
        ["to", "into", "in", "for", "under"].contains(w)
            && !(*w == "to"
                && i > 0
                && ["want", "need", "like", "going", "have", "love"].contains(&before[i - 1]))
    });
    let creates = !names_one
        && before.iter().all(|w| CREATE_WORDS.contains(w))
        && before.iter().any(|w| CREATE_VERBS.contains(w));
    // "project Website with tasks …" (no verb) also reads as a request.
    let bare = before.is_empty() && has_any_word(lower, &["with", "tasks"]);
    if !creates && !bare {
        return None;
    }
    let rest = text[at + "project".len()..].trim_start_matches([' ', ':', '-', '—', ',']);
    let rest = strip_leading(
        rest,
        &[
            "called",
            "named",
            "titled",
            "name",
            "with the name",
            "for the",
            "for our",
            "for my",
            "for",
            "about",
            "on",
        ],
    );
    let rest = rest.trim_start_matches([' ', ':']);
    let (name, tasks_text) = if let Some(quoted) = rest.strip_prefix('"') {
        match quoted.find('"') {
            Some(end) => (&quoted[..end], &quoted[end + 1..]),
            None => (quoted, ""),
        }
    } else if let Some(quoted) = rest.strip_prefix('\'')
        && let Some(end) = quoted.find('\'')
    {
        (&quoted[..end], &quoted[end + 1..])
    } else {
        let rest_lower = rest.to_ascii_lowercase();
        let ends = [
            ":",
            "\n",
            " with ",
            " containing ",
            " having ",
            " that has ",
            " which has ",
            " including ",
            ", tasks",
            ", with",
            " - ",
            " — ",
            " and add ",
            " and create ",
            " and make ",
            " and put ",
            " and tasks",
            ". ",
            ", ",
            "; ",
        ];
        match ends
            .iter()
            .filter_map(|e| rest_lower.find(e).map(|at| (at, *e)))
            .min_by_key(|(at, _)| *at)
        {
            Some((at, end)) => (&rest[..at], &rest[at + end.len()..]),
            None => (rest, ""),
        }
    };
    let mut name = unquote(strip_trailing_word(name.trim(), "project"))
        .trim_end_matches(['.', ',', ':'])
        .trim()
        .to_owned();
    // "create project Audit in order: a, b": the order is the list's.
    let mut tasks_text = strip_list_header(tasks_text).to_owned();
    for phrase in IN_ORDER {
        if name.to_ascii_lowercase().ends_with(&format!(" {phrase}")) {
            name.truncate(name.len() - phrase.len() - 1);
            tasks_text = format!("{tasks_text} {phrase}");
        }
    }
    let tasks = task_list(&tasks_text);
    Some(Intent::CreateProject { name, tasks })
}

fn strip_trailing_word<'a>(text: &'a str, word: &str) -> &'a str {
    let lower = text.to_ascii_lowercase();
    match lower.strip_suffix(word) {
        Some(rest) if rest.ends_with(' ') => text[..rest.len()].trim_end(),
        _ => text,
    }
}

/// "the following tasks: …", "tasks …", "steps: …" → what follows.
fn strip_list_header(text: &str) -> &str {
    let mut text = text.trim_start_matches([' ', ':', ',', '-', '—', '\n']);
    loop {
        let before = text;
        text = strip_leading(
            text,
            &[
                "these",
                "the following",
                "following",
                "the",
                "some",
                "its",
                "with",
                "and",
                "tasks",
                "steps",
                "todos",
                "to-dos",
                "items",
                "jobs",
                "subtasks",
                "task:",
                "step:",
                "first",
            ],
        )
        .trim_start_matches([' ', ':', ',', '-', '—', '\n']);
        // "one task X", "2 more tasks: …", "a single step: …": a count, then the noun.
        let lower = text.to_ascii_lowercase();
        let mut words = lower.split(' ');
        let counted = words.next().is_some_and(|w| {
            [
                "one", "a", "an", "two", "three", "four", "five", "six", "single", "more", "few",
            ]
            .contains(&w)
                || w.chars().all(|c| c.is_ascii_digit()) && !w.is_empty()
        });
        if counted {
            let rest: Vec<&str> = words.take(2).collect();
            let noun_at = rest
                .iter()
                .position(|w| TASK_NOUNS.contains(&w.trim_end_matches([':', ','])));
            if let Some(n) = noun_at
                && rest[..n]
                    .iter()
                    .all(|w| ["more", "single", "new", "extra"].contains(w))
            {
                let skip: usize = lower.split(' ').take(n + 2).map(|w| w.len() + 1).sum();
                text = text
                    .get(skip.min(text.len())..)
                    .unwrap_or_default()
                    .trim_start_matches([' ', ':', ',', '-', '—', '\n']);
                continue;
            }
        }
        // "first" opens a sequence: keep it for the list.
        if before.to_ascii_lowercase().starts_with("first") {
            return before;
        }
        if text == before {
            return text;
        }
    }
}

/// Verbs that add tasks.
const ADD_VERBS: [&str; 13] = [
    "add", "create", "make", "put", "queue", "new", "open", "file", "log", "insert", "append",
    "include", "schedule",
];

/// Words that may stand between an add verb and the word "task".
const DETERMINERS: [&str; 15] = [
    "a",
    "an",
    "the",
    "another",
    "one",
    "more",
    "new",
    "some",
    "these",
    "following",
    "two",
    "three",
    "few",
    "extra",
    "couple",
];

const TASK_NOUNS: [&str; 12] = [
    "task", "tasks", "todo", "todos", "to-do", "to-dos", "item", "items", "step", "steps", "job",
    "jobs",
];

/// "add task X to P", "add X and Y to the P project", "new task for P: X", "in P, add a
/// task X", "add to P: X, Y", "put X in a new project P".
fn add_tasks(text: &str, lower: &str) -> Option<Intent> {
    add_tasks_at(text, lower, true)
}

/// [`add_tasks`]; `project_first` allows the forms that name the project first, which
/// read the rest of the message once more (never deeper: a message made of "in a, in
/// b, …" must not recurse once per group).
fn add_tasks_at(text: &str, lower: &str, project_first: bool) -> Option<Intent> {
    // "in Website, add a task …", "in Billing add fix rounding and update rates": the
    // project, then an add verb. The titles go to that project, unless the rest names
    // a project of its own ("in Website, add fix footer to Blog" reads both ways, Blog
    // first).
    if project_first
        && let Some(rest) =
            starts_with_any(lower, text, &["in", "for", "on", "to", "under", "into"])
    {
        let rest_lower = rest.to_ascii_lowercase();
        let verb_at = ADD_VERBS
            .iter()
            .filter_map(|v| find_word(&rest_lower, v, 1))
            .min();
        if let Some(at) = verb_at {
            let head = rest[..at].trim_end().trim_end_matches([',', ':']);
            let project = clean_project(head);
            let tail = rest[at..].trim();
            let tail_lower = tail.to_ascii_lowercase();
            if !head.contains([',', ':'])
                && !project.is_empty()
                && project.split_whitespace().count() <= 6
                && let Some((body, noun)) = add_body(tail, &tail_lower)
            {
                // "add a task to write copy": "to" belongs to the task, not a project.
                let body = if noun {
                    strip_leading(body, &["to"])
                } else {
                    body
                };
                let mut readings = match add_tasks_at(tail, &tail_lower, false) {
                    Some(Intent::AddTasks { readings }) => readings,
                    _ => Vec::new(),
                };
                for reading in &mut readings {
                    if reading.project.is_empty() {
                        reading.project.clone_from(&project);
                    }
                }
                let whole = Reading {
                    project,
                    tasks: task_list(strip_list_header(body)),
                    new_project: false,
                };
                if !whole.tasks.is_empty() && !readings.contains(&whole) {
                    readings.push(whole);
                }
                if !readings.is_empty() {
                    return Some(Intent::AddTasks { readings });
                }
            }
        }
    }
    // "Office Move needs 2 more tasks: label boxes, hire van".
    for need in ["needs", "need"] {
        if let Some(at) = find_word(lower, need, 1) {
            let rest = &text[at + need.len()..];
            let list = strip_list_header(rest);
            let consumed = rest[..rest.len() - list.len()].to_ascii_lowercase();
            let project = clean_project(&text[..at]);
            if consumed
                .split([' ', ':', ','])
                .any(|w| TASK_NOUNS.contains(&w))
                && !project.is_empty()
                && project.split_whitespace().count() <= 6
            {
                let tasks = task_list(list);
                if !tasks.is_empty() {
                    return Some(Intent::AddTasks {
                        readings: vec![Reading {
                            project,
                            tasks,
                            new_project: false,
                        }],
                    });
                }
            }
        }
    }
    let (body, noun) = add_body(text, lower)?;
    if body.is_empty() {
        return Some(Intent::AddTasks {
            readings: Vec::new(),
        });
    }
    let body_lower = body.to_ascii_lowercase();
    let mut readings = Vec::new();
    // "… to P: X, Y", "… for P - X": the project first, then the titles.
    if let Some(after) = starts_with_any(
        &body_lower,
        body,
        &[
            "to the", "to", "in the", "in", "into the", "into", "for the", "for", "under",
            "on the", "on",
        ],
    ) && let Some(at) = after.find([':', '\n']).or_else(|| after.find(" - "))
    {
        let (project, new_project) = project_part(&after[..at]);
        readings.push(Reading {
            project,
            tasks: task_list(strip_list_header(&after[at + 1..])),
            new_project,
        });
    }
    // "X to P": every preposition, the last first (titles may hold one: "add write
    // intro to the blog to Website").
    let preps = [" to ", " in ", " into ", " for ", " under ", " on "];
    let mut splits: Vec<(usize, usize)> = preps
        .iter()
        .flat_map(|p| {
            body_lower
                .match_indices(p)
                .map(|(at, _)| (at, p.len()))
                .collect::<Vec<_>>()
        })
        .filter(|(at, _)| !inside_quotes(body, *at))
        .collect();
    splits.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    // A project's name holds a preposition or two at most ("Back to School"): the
    // splits further left only cost time on a long message.
    for (at, len) in splits.into_iter().take(MAX_READINGS) {
        let titles = &body[..at];
        let (project, new_project) = project_part(&body[at + len..]);
        if project.is_empty() || titles.trim().is_empty() {
            continue;
        }
        readings.push(Reading {
            project,
            tasks: task_list(strip_list_header(titles)),
            new_project,
        });
    }
    // Without the word "task", "add X to P" only reads as tasks if P is a project; with
    // it and no project named, the whole body is the title and the project is asked for.
    if noun && readings.is_empty() {
        let whole = strip_leading(body, &["to"]);
        readings.push(Reading {
            project: String::new(),
            tasks: task_list(strip_list_header(whole)),
            new_project: false,
        });
    } else if readings.is_empty() {
        return None;
    }
    readings.retain(|r| !r.tasks.is_empty());
    Some(Intent::AddTasks { readings })
}

/// What follows an add verb at the start of `text` ("add a new task called X" → "X"),
/// and whether a word for "task" stood before it; `None` if `text` does not start with
/// an add verb.
fn add_body<'a>(text: &'a str, lower: &str) -> Option<(&'a str, bool)> {
    let verb = lower.split(' ').next()?.trim_end_matches([':', ',']);
    if !ADD_VERBS.contains(&verb) {
        return None;
    }
    let mut cut = verb.len();
    let mut noun = false;
    for word in lower[cut..].split([' ', '\n']).filter(|w| !w.is_empty()) {
        let plain = word.trim_end_matches([':', ',']);
        if DETERMINERS.contains(&plain) || (plain.chars().all(|c| c.is_ascii_digit()) && !noun) {
            cut = lower[cut..]
                .find(word)
                .map_or(cut, |at| cut + at + word.len());
            if plain != word {
                break;
            }
            continue;
        }
        if TASK_NOUNS.contains(&plain) {
            noun = true;
            cut = lower[cut..]
                .find(word)
                .map_or(cut, |at| cut + at + word.len());
        }
        break;
    }
    let body = text[cut..].trim_start_matches([' ', ':', ',', '-', '\n']);
    Some((strip_leading(body, &["called", "named", "titled"]), noun))
}

/// The most ways to split "add … to …" into titles and a project.
const MAX_READINGS: usize = 4;

/// Whether byte `at` of `text` is inside double quotes.
fn inside_quotes(text: &str, at: usize) -> bool {
    text[..at].matches('"').count() % 2 == 1
}

/// A project as named after a preposition: "the Website project" → "Website"; "a new
/// project Website" → ("Website", new).
fn project_part(text: &str) -> (String, bool) {
    let lower = text.trim().to_ascii_lowercase();
    for new in [
        "a new project called",
        "a new project named",
        "a new project",
        "new project",
    ] {
        if lower.starts_with(new) {
            let name = text.trim()[new.len()..].trim();
            return (clean_project(name), true);
        }
    }
    (clean_project(text), false)
}

/// A project's name as written in a sentence: without "the", "project", quotes and
/// closing punctuation.
fn clean_project(text: &str) -> String {
    let text = text.trim().trim_end_matches(['.', ',', ':', ';', '!', '?']);
    let text = strip_leading(
        text,
        &[
            "the project",
            "project",
            "the",
            "our",
            "my",
            "called",
            "named",
        ],
    );
    let mut text = strip_trailing_word(text, "project");
    // "for Spring Sale also add …", "to Website too".
    for filler in ["also", "too", "as well", "please", "then", "now", "again"] {
        text = strip_trailing_word(text, filler);
    }
    let text = strip_trailing_word(text, "project");
    unquote(text).to_owned()
}

// ---------------------------------------------------------------------------------
// Task lists.

/// Phrases that make every task of a list wait for the one before it.
const IN_ORDER: [&str; 8] = [
    "in this order",
    "in that order",
    "in order",
    "in sequence",
    "one after another",
    "one after the other",
    "sequentially",
    "step by step",
];

/// Words that open an item and make it wait for the item before.
const THEN_WORDS: [&str; 11] = [
    "and then",
    "then",
    "next",
    "after that",
    "afterwards",
    "afterward",
    "finally",
    "lastly",
    "last",
    "and finally",
    "followed by",
];

/// Words that open an item and change nothing.
const OPENERS: [&str; 8] = [
    "first of all",
    "firstly",
    "first",
    "to start",
    "start by",
    "start with",
    "begin with",
    "and",
];

/// A list of tasks: `"a, b and c"`, numbered or bulleted lines, `"first a, then b"`,
/// `"b after a"`, `"a before b"`, `"once a is done, b"`; titles in quotes keep their
/// commas. Each task comes after the tasks it depends on.
pub fn task_list(text: &str) -> Vec<NewTask> {
    let mut text = text.trim().to_owned();
    let mut chain = false;
    for phrase in IN_ORDER {
        let lower = text.to_ascii_lowercase();
        if let Some(at) = find_word(&lower, phrase, 0) {
            chain = true;
            text.replace_range(at..at + phrase.len(), "");
            text = text.trim().trim_matches([':', ',', ' ']).to_owned();
        }
    }
    // "1. pick theme 2. migrate posts": numbers inside a line start items too.
    let text = inline_numbers_to_lines(&text);
    // Items, each with whether it waits for the one before.
    let mut items: Vec<(String, bool)> = Vec::new();
    for (piece, sep) in split_outside_quotes(
        &text,
        &[
            "\n",
            ";",
            ",",
            " and then ",
            " then ",
            " followed by ",
            " and ",
            " & ",
            " plus ",
        ],
    ) {
        let mut then = matches!(sep, Some(" and then " | " then " | " followed by "));
        let mut piece = piece.trim().to_owned();
        loop {
            let before = piece.clone();
            piece = strip_marker(&piece).to_owned();
            let lower = piece.to_ascii_lowercase();
            if let Some(rest) = starts_with_any(&lower, &piece, &THEN_WORDS) {
                then = true;
                piece = rest.to_owned();
            } else if let Some(rest) = starts_with_any(&lower, &piece, &OPENERS) {
                piece = rest.to_owned();
            }
            piece = piece.trim_start_matches([',', ':', ' ']).trim().to_owned();
            if piece == before {
                break;
            }
        }
        if !piece.is_empty() {
            items.push((piece, then));
        }
    }
    // "tasks run, echo hello" (said aloud, "run:" is heard as "run,"): a bare "run" is
    // no task; it says the next item is a command.
    let mut merged: Vec<(String, bool)> = Vec::new();
    let mut bare_run: Option<bool> = None;
    for (item, then) in items {
        if let Some(run_then) = bare_run.take() {
            merged.push((format!("run {item}"), run_then));
            continue;
        }
        let word = item
            .trim_matches(['.', ',', ':', ';', '!', ' '])
            .to_ascii_lowercase();
        if matches!(word.as_str(), "run" | "execute") {
            bare_run = Some(then);
            continue;
        }
        merged.push((item, then));
    }
    if let Some(run_then) = bare_run {
        merged.push(("run".to_owned(), run_then));
    }
    let items = merged;
    // Titles, and what each waits for (as written).
    let mut titles = Listed::default();
    let mut after: Vec<Vec<String>> = Vec::new();
    let mut before: Vec<(usize, String)> = Vec::new();
    let mut raw: Vec<String> = Vec::new();
    let mut pending_after: Option<String> = None;
    let mut previous_had_after = false;
    for (i, (item, then)) in items.iter().enumerate() {
        let lower = item.to_ascii_lowercase();
        // "c after a and b": "b", already listed, is one more thing "c" waits for.
        if previous_had_after
            && !*then
            && let Some(j) = titles.find(item, titles.len())
            && key_of(&titles.titles[j]) == key_of(item)
            && let Some(last) = after.last_mut()
        {
            last.push(titles.titles[j].clone());
            continue;
        }
        // "after a, b": the item names only what the next one waits for.
        if let Some(rest) = starts_with_any(&lower, item, &["after", "once", "when"])
            && i + 1 < items.len()
        {
            let dep = strip_done(rest);
            pending_after = Some(dep.to_owned());
            continue;
        }
        let mut deps = Vec::new();
        if *then && let Some(previous) = titles.last() {
            deps.push(previous.clone());
        }
        if chain
            && deps.is_empty()
            && let Some(previous) = titles.last()
        {
            deps.push(previous.clone());
        }
        if let Some(dep) = pending_after.take() {
            deps.push(dep);
        }
        let (title, clause) = split_dependency(item);
        previous_had_after = matches!(clause, Some(Clause::After(_)));
        match clause {
            Some(Clause::After(dep)) => deps.push(dep),
            Some(Clause::Before(dep)) => before.push((titles.len(), dep)),
            None => {}
        }
        raw.push(item.clone());
        titles.push(clean_title(&title));
        after.push(deps);
    }
    // Resolve what each waits for to a title of the list; a clause naming no task of
    // the list was part of the title ("deploy after lunch").
    // A clause that starts with a verb ("migrate posts after design new theme") names
    // a task of its own, added to the list.
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); titles.len()];
    for (i, wanted) in after.iter().enumerate() {
        for name in wanted {
            // "launch ads after both", "… after all of them": every task before it.
            if ALL_BEFORE.contains(&name.trim().to_ascii_lowercase().as_str()) && i > 0 {
                deps[i].extend(0..i);
                continue;
            }
            match titles.find(name, i) {
                Some(j) => deps[i].push(j),
                None if starts_with_verb(name) => {
                    titles.push(clean_title(name));
                    deps.push(Vec::new());
                    deps[i].push(titles.len() - 1);
                }
                None if !is_previous_word(name) => titles.set(i, clean_title(&raw[i])),
                None => {}
            }
        }
    }
    for (i, name) in before {
        match titles.find(&name, i) {
            Some(j) => deps[j].push(i),
            None => titles.set(i, clean_title(&raw[i])),
        }
    }
    order(titles.titles, deps)
}

/// Common verbs that start a task's title ("design new theme"), as opposed to a moment
/// ("lunch", "the meeting").
const IMPERATIVES: [&str; 60] = [
    "write",
    "draft",
    "design",
    "build",
    "review",
    "test",
    "deploy",
    "publish",
    "record",
    "edit",
    "send",
    "email",
    "call",
    "book",
    "order",
    "hire",
    "pack",
    "load",
    "export",
    "import",
    "clean",
    "fix",
    "update",
    "create",
    "make",
    "prepare",
    "scan",
    "patch",
    "migrate",
    "plan",
    "research",
    "collect",
    "read",
    "summarise",
    "summarize",
    "present",
    "approve",
    "sign",
    "check",
    "run",
    "finish",
    "complete",
    "launch",
    "set",
    "install",
    "configure",
    "buy",
    "print",
    "upload",
    "download",
    "translate",
    "analyse",
    "analyze",
    "compile",
    "gather",
    "outline",
    "interview",
    "post",
    "share",
    "measure",
];

fn starts_with_verb(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    IMPERATIVES.contains(&first.as_str()) && text.split_whitespace().count() >= 2
}

/// The words of a title, for comparing two titles.
fn key_of(text: &str) -> String {
    bare_words(&clean_title(text).to_ascii_lowercase())
}

/// Words for "every task listed before this one".
const ALL_BEFORE: [&str; 9] = [
    "both",
    "both of them",
    "all",
    "all of them",
    "them",
    "the rest",
    "everything",
    "everything else",
    "the others",
];

fn is_previous_word(name: &str) -> bool {
    ["that", "this", "it"].contains(&name.trim().to_ascii_lowercase().as_str())
}

/// "write copy is done" → "write copy".
fn strip_done(text: &str) -> &str {
    let lower = text.to_ascii_lowercase();
    for end in [
        " is done",
        " is finished",
        " is complete",
        " is completed",
        " is ready",
        " are done",
        " has finished",
        " finishes",
        " is over",
        " done",
        " finished",
    ] {
        if lower.ends_with(end) {
            return text[..text.len() - end.len()].trim();
        }
    }
    text.trim()
}

enum Clause {
    After(String),
    Before(String),
}

/// "build page after write copy" → ("build page", after "write copy").
fn split_dependency(item: &str) -> (String, Option<Clause>) {
    let lower = item.to_ascii_lowercase();
    let afters = [
        " (after ",
        " but only after ",
        " only after ",
        " after ",
        " once ",
        " when ",
        " following ",
        " which depends on ",
        " that depends on ",
        " depends on ",
        " depending on ",
        " (depends on ",
    ];
    for marker in afters {
        if let Some(at) = lower.find(marker)
            && !inside_quotes(item, at)
        {
            let dep = item[at + marker.len()..].trim_end_matches(')');
            return (
                item[..at].to_owned(),
                Some(Clause::After(strip_done(dep).to_owned())),
            );
        }
    }
    for marker in [" (before ", " before "] {
        if let Some(at) = lower.find(marker)
            && !inside_quotes(item, at)
        {
            let dep = item[at + marker.len()..].trim_end_matches(')');
            return (
                item[..at].to_owned(),
                Some(Clause::Before(strip_done(dep).to_owned())),
            );
        }
    }
    (item.to_owned(), None)
}

/// The index of the title (other than `me`) that `name` means: the same words, or
/// words of one, or the previous task for "that".
/// A list's titles with their comparison keys, computed once per title.
#[derive(Default)]
struct Listed {
    titles: Vec<String>,
    /// " words of the title " without articles, padded for whole-word search.
    keys: Vec<String>,
}

impl Listed {
    fn key(title: &str) -> String {
        let words: Vec<String> = bare_words(&title.to_ascii_lowercase())
            .split(' ')
            .filter(|w| !["the", "a", "an", "task", "is", "are", "#", ""].contains(w))
            .map(str::to_owned)
            .collect();
        if words.is_empty() {
            String::new()
        } else {
            format!(" {} ", words.join(" "))
        }
    }

    fn len(&self) -> usize {
        self.titles.len()
    }

    fn last(&self) -> Option<&String> {
        self.titles.last()
    }

    fn push(&mut self, title: String) {
        self.keys.push(Self::key(&title));
        self.titles.push(title);
    }

    fn set(&mut self, i: usize, title: String) {
        self.keys[i] = Self::key(&title);
        self.titles[i] = title;
    }

    /// The index of the title (other than `me`) that `name` means: the same words, or
    /// words of one, or the previous task for "that".
    fn find(&self, name: &str, me: usize) -> Option<usize> {
        if is_previous_word(name) {
            return me.checked_sub(1);
        }
        let wanted = Self::key(name);
        if wanted.is_empty() {
            return None;
        }
        let others = || (0..self.keys.len()).filter(move |j| *j != me);
        if let Some(j) = others().find(|j| self.keys[*j] == wanted) {
            return Some(j);
        }
        let mut containing = others().filter(|j| {
            let key = &self.keys[*j];
            !key.is_empty() && (key.contains(&wanted) || wanted.contains(key.as_str()))
        });
        match (containing.next(), containing.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }
}

/// The tasks, each after those it waits for (stable otherwise); a dependency that would
/// close a cycle is dropped.
fn order(titles: Vec<String>, deps: Vec<Vec<usize>>) -> Vec<NewTask> {
    let n = titles.len();
    let mut placed: Vec<usize> = Vec::with_capacity(n);
    let mut done = vec![false; n];
    let mut deps = deps;
    while placed.len() < n {
        let next = (0..n).find(|i| !done[*i] && deps[*i].iter().all(|d| done[*d] || *d == *i));
        let i = match next {
            Some(i) => i,
            None => {
                // A cycle: the first unplaced task gives up what it waits for.
                let i = (0..n).find(|i| !done[*i]).unwrap_or_default();
                deps[i].retain(|d| done[*d]);
                i
            }
        };
        done[i] = true;
        placed.push(i);
    }
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut tasks: Vec<NewTask> = Vec::new();
    for i in placed {
        let title = titles[i].clone();
        if title.is_empty() || seen.contains(&title.to_ascii_lowercase()) {
            continue;
        }
        let mut after: Vec<String> = deps[i]
            .iter()
            .filter(|d| **d != i)
            .map(|d| titles[*d].clone())
            .filter(|t| seen.contains(&t.to_ascii_lowercase()))
            .collect();
        after.dedup();
        seen.insert(title.to_ascii_lowercase());
        tasks.push(NewTask {
            title,
            description: None,
            kind: None,
            after,
        });
    }
    tasks
}

/// " 2. " or " 3) " inside a line (after the list's first item) → a line break.
fn inline_numbers_to_lines(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let after = i + 1 + digits;
            if (1..=2).contains(&digits)
                && after + 1 < bytes.len()
                && matches!(bytes[after], b'.' | b')')
                && bytes[after + 1] == b' '
            {
                out.push_str(&text[last..i]);
                out.push('\n');
                last = i + 1;
                i = after + 2;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[last..]);
    out
}

/// List markers: `1.`, `2)`, `(3)`, `-`, `*`, `•`, `step 1:`.
fn strip_marker(item: &str) -> &str {
    let mut t = item.trim_start();
    let lower = t.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("step ") {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            t = t[5 + digits..].trim_start_matches([':', '.', ')', ' ']);
        }
    }
    t = t.trim_start_matches(['-', '*', '•', '·', '–', '—', ' ']);
    let digits = t
        .trim_start_matches('(')
        .chars()
        .take_while(char::is_ascii_digit)
        .count();
    if digits > 0 {
        let open = usize::from(t.starts_with('('));
        let after = &t[open + digits..];
        if after.starts_with(['.', ')', ':']) {
            return after[1..].trim_start();
        }
    }
    t
}

/// A task's title: no list marker, quotes or closing punctuation; "a task to write
/// copy" → "write copy".
fn clean_title(text: &str) -> String {
    let t = strip_marker(text).trim();
    let t = strip_leading(t, &["a task to", "task to", "a task:", "task:"]);
    unquote(t.trim_end_matches(['.', ',', ';', ':', '!']))
        .trim()
        .to_owned()
}

/// Splits `text` at each of `seps` (matched in any case) outside double quotes; each
/// piece comes with the separator before it.
fn split_outside_quotes<'s>(text: &str, seps: &[&'s str]) -> Vec<(String, Option<&'s str>)> {
    let lower = text.to_ascii_lowercase();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut sep_before = None;
    let mut i = 0;
    let mut quoted = false;
    while i < text.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        if text[i..].starts_with('"') {
            quoted = !quoted;
            i += 1;
            continue;
        }
        if !quoted && let Some(sep) = seps.iter().find(|s| lower[i..].starts_with(**s)) {
            pieces.push((text[start..i].to_owned(), sep_before));
            sep_before = Some(*sep);
            i += sep.len();
            start = i;
            continue;
        }
        i += 1;
    }
    pieces.push((text[start..].to_owned(), sep_before));
    pieces
}

// ---------------------------------------------------------------------------------
// Questions.

const BLOCKED_WORDS: [&str; 14] = [
    "blocked",
    "stuck",
    "blocking",
    "waiting on me",
    "waiting for me",
    "waiting on us",
    "need me",
    "needs me",
    "need my",
    "needs my",
    "need attention",
    "needs attention",
    "held up",
    "waiting for an answer",
];
const FAILED_WORDS: [&str; 11] = [
    "failed",
    "fail",
    "failing",
    "fails",
    "failure",
    "failures",
    "broke",
    "broken",
    "errors",
    "went wrong",
    "crashed",
];
const RUNNING_WORDS: [&str; 8] = [
    "running",
    "in progress",
    "being worked on",
    "working on",
    "active",
    "busy",
    "underway",
    "under way",
];
const QUEUED_WORDS: [&str; 8] = [
    "queued",
    "pending",
    "waiting to start",
    "not started",
    "in the queue",
    "backlog",
    "open tasks",
    "left to do",
];
const DONE_WORDS: [&str; 9] = [
    "done",
    "completed",
    "finished",
    "complete",
    "shipped",
    "accomplished",
    "finish",
    "complete",
    "accomplish",
];
const STATUS_WORDS: [&str; 32] = [
    "status",
    "going",
    "progress",
    "how far",
    "how's",
    "hows",
    "how is",
    "how are",
    "update",
    "updates",
    "report",
    "overview",
    "summary",
    "happening",
    "going on",
    "where are we",
    "where do we stand",
    "state",
    "sitrep",
    "tasks",
    "task",
    "what's up with",
    "whats up with",
    "doing",
    "coming along",
    "look like",
    "looking",
    "left",
    "happened",
    "happening",
    "changed",
    "new",
];
const QUESTION_OPENERS: [&str; 22] = [
    "what", "what's", "whats", "how", "how's", "hows", "which", "who", "who's", "whos", "is",
    "are", "any", "anything", "show", "list", "give", "tell", "where", "did", "do", "has",
];

/// A question about projects, agents, schedules or the work.
fn question(text: &str, lower: &str, asked: bool) -> Option<Intent> {
    let first = lower.split([' ', ',']).next().unwrap_or_default();
    let asks = asked
        || lower.contains('?')
        || QUESTION_OPENERS.contains(&first)
        || ["get", "see", "view", "check", "display", "count"].contains(&first);
    let words: Vec<&str> = lower.split_whitespace().collect();
    let short = words.len() <= 4;
    if let Some(code) = code_in(text)
        && !has_any_word(lower, &["projects"])
    {
        return Some(Intent::Report(Report {
            subject: Some(format!("#{code}")),
            ..Report::default()
        }));
    }
    if has_any_word(
        lower,
        &[
            "schedules",
            "schedule",
            "reminders",
            "routines",
            "recurring",
            "scheduled",
        ],
    ) && (asks || short)
    {
        return Some(Intent::Schedules);
    }
    let about_projects = has_any_word(lower, &["projects", "project list"])
        || (has_word(lower, "project")
            && has_any_word(lower, &["which", "what", "list", "how many"])
            && !has_any_word(lower, &STATUS_WORDS));
    if about_projects
        && (asks || short)
        && !has_any_word(lower, &["blocked", "failed", "status", "progress"])
    {
        return Some(Intent::Projects);
    }
    let about_agents = has_any_word(
        lower,
        &[
            "agents", "agent", "workers", "worker", "seeds", "seed", "bots", "online", "who",
            "who's", "whos", "anyone", "anybody", "somebody", "someone",
        ],
    );
    let working = has_any_word(
        lower,
        &[
            "working", "busy", "doing", "running", "active", "at work", "on it", "work on",
        ],
    );
    if about_agents
        && (asks || short)
        && !has_any_word(lower, &BLOCKED_WORDS)
        && !has_any_word(lower, &FAILED_WORDS)
    {
        return Some(Intent::Agents {
            working: working && !has_any_word(lower, &["online", "registered", "all", "list"]),
        });
    }
    let focus = if has_any_word(lower, &BLOCKED_WORDS) {
        Focus::Blocked
    } else if has_any_word(lower, &FAILED_WORDS) {
        Focus::Failed
    } else if has_any_word(lower, &RUNNING_WORDS) {
        Focus::Running
    } else if has_any_word(lower, &QUEUED_WORDS) {
        Focus::Queued
    } else if has_any_word(lower, &DONE_WORDS) && !has_any_word(lower, &["how"]) {
        Focus::Done
    } else {
        Focus::Overview
    };
    let since = since(lower);
    let statusy = has_any_word(lower, &STATUS_WORDS) || focus != Focus::Overview;
    if !statusy {
        return None;
    }
    if !(asks
        || short
        || first == "status"
        || has_any_word(
            lower,
            &["status", "report", "update", "overview", "summary"],
        ))
    {
        return None;
    }
    Some(Intent::Report(Report {
        subject: subject(text, lower),
        focus,
        since,
    }))
}

fn since(lower: &str) -> Since {
    if has_any_word(lower, &["today", "this morning", "tonight", "so far today"]) {
        Since::Today
    } else if has_word(lower, "yesterday") {
        Since::Yesterday
    } else if has_any_word(
        lower,
        &[
            "this week",
            "last week",
            "past week",
            "7 days",
            "seven days",
        ],
    ) {
        Since::Week
    } else if has_any_word(lower, &["last hour", "past hour", "the hour"]) {
        Since::Hours(1)
    } else if let Some(n) = hours(lower) {
        Since::Hours(n)
    } else if has_any_word(lower, &["recently", "lately", "just now"]) {
        Since::Hours(24)
    } else {
        Since::Ever
    }
}

/// "in the last 3 hours" → 3.
fn hours(lower: &str) -> Option<u32> {
    let words: Vec<&str> = lower.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        (w[1].starts_with("hour") || w[1].starts_with("hr"))
            .then(|| w[0].parse::<u32>().ok())
            .flatten()
            .filter(|n| (1..=24 * 30).contains(n))
    })
}

/// What a status question is about: "how is Website going" → "Website".
fn subject(text: &str, lower: &str) -> Option<String> {
    // Phrases whose next words name the subject (up to a closing phrase).
    let openers = [
        "status of",
        "status on",
        "status for",
        "update on",
        "updates on",
        "update for",
        "progress on",
        "progress of",
        "progress in",
        "progress with",
        "report on",
        "report for",
        "happening with",
        "happening in",
        "happening on",
        "going on with",
        "going on in",
        "up with",
        "where are we with",
        "where are we on",
        "where do we stand with",
        "where do we stand on",
        "tasks in",
        "tasks of",
        "tasks for",
        "tasks on",
        "left in",
        "left on",
        "left for",
        "blocked in",
        "blocked on",
        "stuck in",
        "stuck on",
        "failed in",
        "failing in",
        "running in",
        "running on",
        "queued in",
        "done in",
        "completed in",
        "finished in",
        "state of",
        "overview of",
        "summary of",
        "how is",
        "how's",
        "hows",
        "how are",
        "how does",
        "how do",
        "in",
        "on",
        "for",
        "within",
        "under",
    ];
    let closers = [
        " going",
        " doing",
        " coming along",
        " progressing",
        " looking",
        " look like",
        " looks like",
        " so far",
        " today",
        " yesterday",
        " this week",
        " right now",
        " now",
        " at the moment",
        " status",
        " project",
        " tasks",
        " at",
        " in",
        " is",
        " are",
        " blocked",
        " failed",
        " done",
    ];
    for opener in openers {
        let Some(at) = find_word(lower, opener, 0) else {
            continue;
        };
        let start = at + opener.len();
        let rest_lower = &lower[start..];
        let mut end = rest_lower.len();
        for closer in closers {
            if let Some(c) = find_word(rest_lower, closer.trim_start(), 0)
                && c > 0
            {
                end = end.min(c);
            }
        }
        let words = clean_subject(&text[start..start + end]);
        let not_a_name = [
            "last",
            "past",
            "progress",
            "the last",
            "the past",
            "the queue",
            "queue",
        ];
        if !words.is_empty()
            && !not_a_name
                .iter()
                .any(|n| words.to_ascii_lowercase().starts_with(n))
        {
            return Some(words);
        }
    }
    // "status Website".
    if let Some(rest) = lower.strip_prefix("status ") {
        let words = clean_subject(&text[text.len() - rest.len()..]);
        if !words.is_empty() {
            return Some(words);
        }
    }
    // "Website status": the words before a status word.
    for closer in [" status", " progress", " update", " report", " tasks"] {
        if let Some(at) = lower.find(closer) {
            let words = clean_subject(&text[..at]);
            if !words.is_empty() && words.split(' ').count() <= 5 {
                return Some(words);
            }
        }
    }
    None
}

/// A subject without articles, fillers and status words.
fn clean_subject(text: &str) -> String {
    const DROP: [&str; 62] = [
        "the",
        "our",
        "my",
        "project",
        "projects",
        "with",
        "what",
        "what's",
        "whats",
        "how",
        "is",
        "are",
        "it",
        "things",
        "everything",
        "work",
        "all",
        "we",
        "us",
        "going",
        "status",
        "give",
        "me",
        "show",
        "a",
        "an",
        "of",
        "on",
        "quick",
        "tell",
        "so",
        "far",
        "please",
        "any",
        "general",
        "overall",
        "in",
        "at",
        "for",
        "right",
        "now",
        "failed",
        "blocked",
        "running",
        "queued",
        "done",
        "completed",
        "finished",
        "stuck",
        "pending",
        "active",
        "open",
        "list",
        "see",
        "get",
        "which",
        "some",
        "those",
        "these",
        "still",
        "there",
        "anything",
    ];
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '#' && c != '-' && c != '_'))
        .filter(|w| !w.is_empty())
        .collect();
    // Drop leading and trailing filler only: "the new Website project" → "new Website".
    let keep = |w: &&str| !DROP.contains(&w.to_ascii_lowercase().as_str());
    let first = words.iter().position(keep);
    let last = words.iter().rposition(keep);
    match (first, last) {
        (Some(f), Some(l)) => unquote(&words[f..=l].join(" ")).to_owned(),
        _ => String::new(),
    }
}

/// Whether a wish is for information ("I want to know how Website is going"), which is a
/// question, not work.
fn seeks_information(lower: &str) -> bool {
    let Some(at) = WISHES.iter().find_map(|w| {
        lower
            .strip_prefix(w)
            .filter(|rest| rest.starts_with(' '))
            .map(|rest| rest.trim_start())
    }) else {
        return false;
    };
    [
        "know",
        "to know",
        "to see",
        "see",
        "to check",
        "to hear",
        "to understand",
        "to find out",
        "an update",
        "a status",
        "the status",
        "a summary",
        "an overview",
        "a list",
        "the list",
        "to list",
    ]
    .iter()
    .any(|p| at.starts_with(p))
}

/// Openings of a wish for work, not a command.
const WISHES: [&str; 54] = [
    "i need to",
    "i need",
    "we need to",
    "we need",
    "i want to",
    "i want",
    "we want to",
    "we want",
    "i'd like to",
    "i'd like",
    "i would like to",
    "i would like",
    "we'd like to",
    "we'd like",
    "let's",
    "lets",
    "we should",
    "i have to",
    "we have to",
    "we must",
    "i must",
    "help me",
    "help us",
    "could we",
    "can we",
    "can we get",
    "we gotta",
    "i gotta",
    "it would be nice to have",
    "we could use",
    "need to",
    "need",
    "want",
    "we'll need",
    "i'll need",
    "looking for",
    "we're looking for",
    "i'm looking for",
    "it would be great to have",
    "it'd be great to have",
    "would be nice to have",
    "i'd love",
    "we'd love",
    "would love",
    "can someone",
    "could someone",
    "can somebody",
    "could somebody",
    "someone should",
    "someone needs to",
    "somebody should",
    "someone please",
    "i need someone to",
    "we need someone to",
];

/// Verbs that, first in a message, ask for a piece of work.
const WORK_VERBS: [&str; 36] = [
    "build",
    "write",
    "design",
    "prepare",
    "draft",
    "research",
    "plan",
    "organise",
    "organize",
    "fix",
    "implement",
    "develop",
    "investigate",
    "translate",
    "review",
    "analyse",
    "analyze",
    "summarise",
    "summarize",
    "compile",
    "find",
    "look into",
    "set up",
    "migrate",
    "refactor",
    "deploy",
    "publish",
    "update",
    "clean up",
    "audit",
    "benchmark",
    "document",
    "test",
    "produce",
    "collect",
    "gather",
];

/// "I need a landing page for our launch", "write a blog post about X".
fn wish(text: &str, lower: &str) -> Option<Intent> {
    let rest = match starts_with_any(lower, text, &WISHES) {
        Some(mut rest) => {
            loop {
                let shorter = strip_leading(
                    rest,
                    &[
                        "someone to",
                        "somebody to",
                        "an agent to",
                        "you to",
                        "to",
                        "a",
                        "an",
                        "some",
                        "get",
                        "have",
                        "do",
                    ],
                );
                if shorter == rest {
                    break;
                }
                rest = shorter;
            }
            rest
        }
        // "update on Website" is a question; "update the docs" is work.
        None => starts_with_any(lower, text, &WORK_VERBS)
            .filter(|rest| {
                let next = rest
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                !["on", "of", "for", "about", "in", "with", "from"].contains(&next.as_str())
            })
            .map(|_| text)?,
    };
    let rest = rest.trim();
    if rest.split_whitespace().count() < 1 {
        return None;
    }
    let work = capitalise(rest.trim_end_matches(['.', '!', '?']));
    let work: String = work.chars().take(120).collect();
    Some(Intent::Wish {
        work: work.trim().to_owned(),
        request: text.to_owned(),
    })
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A conversation's policy for messages that arrive while the Chief is still busy with
/// it, if `text` sets one: "/busy reject", "busy: interrupt", "if I write while you're
/// working, stop and read it", "while you are busy, queue my messages".
pub fn multitask_setting(text: &str) -> Option<Multitask> {
    let lower = normalise(text).to_ascii_lowercase();
    let explicit = [
        "/busy",
        "busy:",
        "busy ",
        "multitask:",
        "multitask ",
        "double texting:",
    ]
    .iter()
    .any(|p| {
        lower.starts_with(p)
            || lower
                .trim_start_matches('/')
                .starts_with(p.trim_start_matches('/'))
    });
    // Only a message about that and nothing else: "add task review the order form while
    // you work on Website" is a request, not a setting.
    let other_intent = has_any_word(
        &lower,
        &[
            "create", "add", "project", "projects", "task", "tasks", "cancel", "unblock", "status",
            "report", "schedule", "remind",
        ],
    ) || lower.split_whitespace().count() > 16;
    let about_busy = explicit
        || [
            "while you're busy",
            "while you are busy",
            "while you're working",
            "while you are working",
            "while you work",
            "when you're busy",
            "when you are busy",
            "while you're still",
            "while you are still",
            "mid-plan",
            "mid plan",
            "double text",
            "double-text",
            "while you're in the middle",
            "while you are in the middle",
            "while you're thinking",
            "while you are thinking",
        ]
        .iter()
        .any(|p| lower.contains(p));
    if !about_busy || other_intent {
        return None;
    }
    if has_any_word(&lower, &["interrupt", "interrupts"])
        || [
            "stop what",
            "drop what",
            "stop and",
            "cancel what",
            "drop everything",
        ]
        .iter()
        .any(|p| lower.contains(p))
    {
        Some(Multitask::Interrupt)
    } else if has_any_word(&lower, &["reject", "refuse", "ignore", "decline"])
        || [
            "tell me you're busy",
            "say you're busy",
            "tell me you are busy",
            "say you are busy",
            "don't take",
        ]
        .iter()
        .any(|p| lower.contains(p))
    {
        Some(Multitask::Reject)
    } else if has_any_word(&lower, &["queue", "enqueue", "wait", "later", "order"])
        || [
            "finish first",
            "one at a time",
            "after you finish",
            "when you're done",
            "when you are done",
        ]
        .iter()
        .any(|p| lower.contains(p))
    {
        Some(Multitask::Enqueue)
    } else {
        None
    }
}

/// Whether the message turns the lines on a plan's progress on (`Some(true)`) or off
/// (`Some(false)`) in this conversation: "/progress off", "progress updates on", or one
/// of a few whole sentences ("no progress updates please", "just tell me when it's
/// done", "keep me posted"). Only the whole message counts: "any updates on the login
/// bug", "install the security updates on web-1" or "no, don't install the updates" are
/// about work, not about this setting.
pub fn progress_setting(text: &str) -> Option<bool> {
    let lower = normalise(text).to_ascii_lowercase();
    let mut said = lower
        .trim_end_matches(['.', '!'])
        .trim()
        .trim_end_matches(" please")
        .trim_end_matches(',')
        .trim()
        .to_owned();
    while let Some(rest) = ["please, ", "please ", "ok, ", "ok ", "okay, ", "okay "]
        .iter()
        .find_map(|lead| said.strip_prefix(lead))
    {
        said = rest.trim().to_owned();
    }
    let said = said.replace("dont", "don't").replace("it is", "it's");
    if let Some(rest) = ["progress updates", "progress update", "progress"]
        .iter()
        .find_map(|p| said.strip_prefix(p))
    {
        return match rest.trim_start_matches(':').trim() {
            "off" | "no" | "none" | "quiet" | "stop" => Some(false),
            "on" | "yes" => Some(true),
            _ => None,
        };
    }
    const OFF: &[&str] = &[
        "no progress updates",
        "no more progress updates",
        "no progress lines",
        "no progress messages",
        "stop the progress updates",
        "stop progress updates",
        "stop the progress lines",
        "stop sending progress updates",
        "stop sending me progress updates",
        "stop sending me updates",
        "don't send progress updates",
        "don't send me progress updates",
        "don't send me updates",
        "turn off progress updates",
        "turn progress updates off",
        "turn off the progress updates",
        "mute progress updates",
        "mute the progress updates",
        "fewer updates",
        "less updates",
        "no updates until it's done",
        "no updates until it's finished",
        "just tell me when it's done",
        "just tell me when it's finished",
        "only tell me when it's done",
        "only tell me when it's finished",
        "just tell me when they're done",
        "only tell me when they're done",
        "only the final report",
    ];
    const ON: &[&str] = &[
        "keep me posted",
        "keep me updated",
        "keep me in the loop",
        "send progress updates",
        "send me progress updates",
        "turn on progress updates",
        "turn progress updates on",
        "turn on the progress updates",
        "i want progress updates",
        "i'd like progress updates",
        "give me progress updates",
        "show me progress updates",
        "progress updates, please",
    ];
    if OFF.contains(&said.as_str()) {
        Some(false)
    } else if ON.contains(&said.as_str()) {
        Some(true)
    } else {
        None
    }
}

/// How far apart two words are (insertions, deletions, substitutions), for "did you
/// mean …".
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "nlu_corpus.rs"]
mod corpus;
